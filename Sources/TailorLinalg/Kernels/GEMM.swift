// General matrix multiply, C ← α·op(A)·op(B) + β·C, in the style of BLIS (Van Zee and van de
// Geijn, 2015): the operands are packed into cache-sized blocks, and a 6×16 register-blocked
// micro-kernel does the arithmetic with twelve AVX2 accumulators. A packed block of B is shared
// by all workers; each worker packs its own blocks of A and writes disjoint rows of C.

extension Kernels {
    /// Rows of C computed by one micro-kernel call.
    @usableFromInline static let gemmMR = 6
    /// Columns of C computed by one micro-kernel call (one `SIMD16<Float>`).
    @usableFromInline static let gemmNR = 16
    /// Depth of one packed block (the K dimension).
    @usableFromInline static let gemmKC = 256
    /// Rows of A packed per block (a multiple of `gemmMR`; 96×256 floats = 96 KiB, L2-sized).
    @usableFromInline static let gemmMC = 96
    /// Columns of B packed at once (a multiple of `gemmNR`; 256×4096 floats = 4 MiB, L3-sized).
    @usableFromInline static let gemmNC = 4096

    /// General matrix multiply `C ← alpha·op(A)·op(B) + beta·C` on row-major buffers.
    ///
    /// `op(A)` is `m×k`: `A` itself (`m×k`, leading dimension `lda`) or, with `transposeA`, the
    /// transpose of a stored `k×m` matrix. Likewise `op(B)` is `k×n`. With `beta == 0`, C is not
    /// read (it may hold garbage or NaN). O(m·n·k); parallel over output tiles when `threads`
    /// allows and the problem is large enough to pay for it.
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        threads: Int = 1
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "gemm shapes must be non-negative: m=\(m) n=\(n) k=\(k)")
        if m == 0 || n == 0 { return }
        if k == 0 || alpha == 0 {
            for i in 0..<m {
                let row = c + i &* ldc
                for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
            }
            return
        }
        let mc = gemmMC, nc = gemmNC, kc = min(gemmKC, k)
        // 2-thread GEMM is slower than 1 thread for small problems (NUMERICS.md rule 5).
        let workers = (m * n * k) < 2_000_000 ? 1 : effectiveThreadCount(threads)
        // Packed blocks sized to the problem (a small product must not pay for a large buffer),
        // rounded to whole panels, 64-byte aligned so SIMD loads never split cache lines.
        let packAStride = roundUp(roundUp(min(mc, m), gemmMR) * kc, 16)
        let ncHere = min(nc, roundUp(n, gemmNR))
        let packA = allocateAligned(packAStride * workers)
        let packB = allocateAligned(ncHere * kc)
        defer { packA.deallocate(); packB.deallocate() }
        let shared = UnsafeSendable((a, b, c, packA, packB))
        // BLIS loop nest: jc (NC columns) → pc (KC depth) → pack B once → ic (MC rows, parallel,
        // each worker packs its own A block) → jr (16 columns) → ir (6 rows) → micro-kernel.
        var j0 = 0
        while j0 < n {
            let nb = min(nc, n - j0)
            var p0 = 0
            while p0 < k {
                let kb = min(kc, k - p0)
                let betaHere: Float = p0 == 0 ? beta : 1
                let bPanels = (nb + gemmNR - 1) / gemmNR
                // Pack B in parallel, panel groups per chunk.
                parallelFor(bPanels, chunkSize: max(1, bPanels / (4 * workers)), threads: workers) { chunk in
                    let (_, b, _, _, packB) = shared.value
                    let first = chunk.range.lowerBound * gemmNR
                    let cols = min(nb, chunk.range.upperBound * gemmNR) - first
                    packPanelsB(transposeB, b, ldb, p0, kb, j0 + first, cols, packB + first * kb)
                }
                let blocksM = (m + mc - 1) / mc
                parallelFor(blocksM, chunkSize: 1, threads: workers) { chunk in
                    let (a, _, c, packA, packB) = shared.value
                    let i0 = chunk.index * mc
                    let mb = min(mc, m - i0)
                    let pa = packA + chunk.worker * packAStride
                    packPanelsA(transposeA, a, lda, i0, mb, p0, kb, pa)
                    var jr = 0
                    while jr < nb {
                        let nr = min(gemmNR, nb - jr)
                        let bPanel = UnsafePointer(packB + jr * kb)
                        var ir = 0
                        while ir < mb {
                            microKernel6x16(kb, UnsafePointer(pa + ir * kb), bPanel,
                                            c + (i0 + ir) * ldc + j0 + jr, ldc, min(gemmMR, mb - ir), nr, alpha, betaHere)
                            ir &+= gemmMR
                        }
                        jr &+= gemmNR
                    }
                }
                p0 += kb
            }
            j0 += nb
        }
    }

    /// Packs rows `i0..<i0+mb`, depth `p0..<p0+kb` of op(A) into panels of `gemmMR` rows,
    /// layout `[panel][p][r]`, zero-padding the last panel.
    @usableFromInline
    static func packPanelsA(
        _ transposed: Bool, _ a: UnsafePointer<Float>, _ lda: Int,
        _ i0: Int, _ mb: Int, _ p0: Int, _ kb: Int, _ dst: UnsafeMutablePointer<Float>
    ) {
        let mr = gemmMR
        var panel = 0
        while panel * mr < mb {
            let out = dst + panel * mr * kb
            let rowsHere = min(mr, mb - panel * mr)
            let base = i0 + panel * mr
            if transposed {
                for p in 0..<kb {
                    let src = a + (p0 + p) * lda + base
                    let o = out + p &* mr
                    for r in 0..<rowsHere { o[r] = src[r] }
                    for r in rowsHere..<mr { o[r] = 0 }
                }
            } else {
                for r in 0..<mr {
                    if r < rowsHere {
                        let src = a + (base + r) * lda + p0
                        for p in 0..<kb { out[p &* mr &+ r] = src[p] }
                    } else {
                        for p in 0..<kb { out[p &* mr &+ r] = 0 }
                    }
                }
            }
            panel += 1
        }
    }

    /// Packs depth `p0..<p0+kb`, columns `j0..<j0+nb` of op(B) into panels of `gemmNR`
    /// columns, layout `[panel][p][j]`, zero-padding the last panel.
    @usableFromInline
    static func packPanelsB(
        _ transposed: Bool, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ p0: Int, _ kb: Int, _ j0: Int, _ nb: Int, _ dst: UnsafeMutablePointer<Float>
    ) {
        let nr = gemmNR
        var panel = 0
        while panel * nr < nb {
            let out = dst + panel * nr * kb
            let colsHere = min(nr, nb - panel * nr)
            let base = j0 + panel * nr
            if transposed {
                for j in 0..<nr {
                    if j < colsHere {
                        let src = b + (base + j) * ldb + p0
                        for p in 0..<kb { out[p &* nr &+ j] = src[p] }
                    } else {
                        for p in 0..<kb { out[p &* nr &+ j] = 0 }
                    }
                }
            } else if colsHere == nr {
                for p in 0..<kb {
                    store16(load16(b + (p0 + p) * ldb + base), out + p &* nr)
                }
            } else {
                for p in 0..<kb {
                    let src = b + (p0 + p) * ldb + base
                    let o = out + p &* nr
                    for j in 0..<colsHere { o[j] = src[j] }
                    for j in colsHere..<nr { o[j] = 0 }
                }
            }
            panel += 1
        }
    }

    /// The 6×16 micro-kernel: `C[0..<mr, 0..<nr] ← alpha·(Ã·B̃) + beta·C` for one packed A panel
    /// (`kb×6`) and one packed B panel (`kb×16`). Twelve 8-wide accumulators stay in registers.
    @inlinable @inline(__always)
    public static func microKernel6x16(
        _ kb: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ mr: Int, _ nr: Int,
        _ alpha: Float, _ beta: Float
    ) {
        var c0 = F16(), c1 = F16(), c2 = F16(), c3 = F16(), c4 = F16(), c5 = F16()
        var pa = a, pb = b
        var p = 0
        while p < kb {
            let bv = load16(pb)
            c0 = madd(c0, F16(repeating: pa[0]), bv)
            c1 = madd(c1, F16(repeating: pa[1]), bv)
            c2 = madd(c2, F16(repeating: pa[2]), bv)
            c3 = madd(c3, F16(repeating: pa[3]), bv)
            c4 = madd(c4, F16(repeating: pa[4]), bv)
            c5 = madd(c5, F16(repeating: pa[5]), bv)
            pa += 6; pb += 16; p &+= 1
        }
        if mr == 6 && nr == 16 {
            let av = F16(repeating: alpha)
            if beta == 0 {
                store16(c0 * av, c); store16(c1 * av, c + ldc)
                store16(c2 * av, c + 2 &* ldc); store16(c3 * av, c + 3 &* ldc)
                store16(c4 * av, c + 4 &* ldc); store16(c5 * av, c + 5 &* ldc)
            } else {
                let bv = F16(repeating: beta)
                @inline(__always) func put(_ v: F16, _ q: UnsafeMutablePointer<Float>) {
                    store16(madd(v * av, bv, load16(q)), q)
                }
                put(c0, c); put(c1, c + ldc); put(c2, c + 2 &* ldc)
                put(c3, c + 3 &* ldc); put(c4, c + 4 &* ldc); put(c5, c + 5 &* ldc)
            }
            return
        }
        // Edge tile: go through a small buffer and copy the valid part.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 96) { tmp in
            let t = tmp.baseAddress!
            store16(c0, t); store16(c1, t + 16); store16(c2, t + 32)
            store16(c3, t + 48); store16(c4, t + 64); store16(c5, t + 80)
            for r in 0..<mr {
                let row = c + r &* ldc
                for j in 0..<nr {
                    let v = alpha * t[r &* 16 &+ j]
                    row[j] = beta == 0 ? v : v + beta * row[j]
                }
            }
        }
    }
}

/// `x` rounded up to a multiple of `m`.
@inlinable @inline(__always)
func roundUp(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }

/// Uninitialized `Float` storage aligned to a 64-byte cache line.
@inlinable
func allocateAligned(_ count: Int) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64).bindMemory(to: Float.self, capacity: max(1, count))
}

extension Matrix {
    /// Matrix product `op(self)·op(other)`, with optional transposes. O(m·n·k).
    public func multiplied(
        by other: Matrix, transposeSelf: Bool = false, transposeOther: Bool = false, threads: Int = 1
    ) -> Matrix {
        let m = transposeSelf ? columns : rows
        let k = transposeSelf ? rows : columns
        let k2 = transposeOther ? other.columns : other.rows
        let n = transposeOther ? other.rows : other.columns
        precondition(k == k2, "matrix product needs matching inner dimensions, got \(m)×\(k) · \(k2)×\(n)")
        var result = Matrix(rows: m, columns: n)
        if m == 0 || n == 0 || k == 0 { return result }
        withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                result.withUnsafeMutableBufferPointer { c in
                    Kernels.gemm(transposeA: transposeSelf, transposeB: transposeOther, m: m, n: n, k: k,
                                 a: a.baseAddress!, lda: columns, b: b.baseAddress!, ldb: other.columns,
                                 c: c.baseAddress!, ldc: n, threads: threads)
                }
            }
        }
        return result
    }

    /// The Gram matrix `selfᵀ·self` (columns × columns). O(rows·columns²).
    public func gram(threads: Int = 1) -> Matrix {
        multiplied(by: self, transposeSelf: true, threads: threads)
    }
}
