// General matrix multiply, C ← α·op(A)·op(B) + β·C, in the style of BLIS (Van Zee and van de
// Geijn, 2015): the operands are packed into cache-friendly panels, and a 6×16 register-blocked
// micro-kernel does the arithmetic with twelve AVX2 accumulators.
//
// Threading (measured on the 2-core machine, Benchmarks/gemm_vs_numpy.py): B is packed once for
// the whole depth, then C is cut into tasks of rows × columns handed out dynamically. One
// `parallelFor` per call, no barrier per depth block (GCD takes ~0.15 ms to wake a worker, and
// the old shared-block design paid that twice per 256 of depth), and a core slowed by a noisy
// neighbour simply takes fewer tasks instead of holding up a static half.

import Foundation
import Synchronization
import TailorLinalgAVX512

extension Kernels {
    /// The register-blocked micro-kernels GEMM can run on.
    public enum GEMMKernel: String, Sendable, CaseIterable {
        /// 6×16 tiles in twelve 8-wide AVX2 accumulators: every x86-64 CPU since Haswell.
        case avx2
        /// 12×32 tiles in twenty-four 16-wide AVX-512 accumulators: about twice the
        /// throughput per core where the CPU has two 512-bit FMA units (`TailorLinalgAVX512`).
        case avx512

        /// Rows of C per micro-kernel call.
        public var rows: Int { self == .avx2 ? 6 : 12 }
        /// Columns of C per micro-kernel call (the width of a packed B panel).
        public var columns: Int { self == .avx2 ? 16 : 32 }

        @inline(__always)
        func run(_ kb: Int, _ a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, _ b: UnsafePointer<Float>,
                 _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ mr: Int, _ nr: Int, _ alpha: Float, _ beta: Float) {
            switch self {
            case .avx2: Kernels.microKernel6x16(kb, a, rowStride: rowStride, depthStride: depthStride, b, c, ldc, mr, nr, alpha, beta)
            case .avx512: microKernel12x32(kb, a, rowStride: rowStride, depthStride: depthStride, b, c, ldc, mr, nr, alpha, beta)
            }
        }
    }

    /// The kernel ``gemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:threads:kernel:)``
    /// uses by default, chosen once: AVX-512 when this is an optimized x86-64 build and the CPU
    /// reports AVX-512F (`/proc/cpuinfo`), else AVX2. `TAILOR_GEMM_KERNEL=avx2` (or `avx512`)
    /// in the environment overrides the choice.
    public static let gemmKernel: GEMMKernel = {
        if let forced = ProcessInfo.processInfo.environment["TAILOR_GEMM_KERNEL"], let kernel = GEMMKernel(rawValue: forced) { return kernel }
        #if TAILOR_FMA && arch(x86_64)
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
           flags.split(separator: " ").contains("avx512f") {
            return .avx512
        }
        #endif
        return .avx2
    }()

    /// Rows of C computed by one micro-kernel call.
    @usableFromInline static let gemmMR = 6
    /// Columns of C computed by one micro-kernel call (one `SIMD16<Float>`).
    @usableFromInline static let gemmNR = 16
    /// Depth of one packed block (the K dimension).
    @usableFromInline static let gemmKC = 256
    /// Rows of C per block (a multiple of `gemmMR`): their 96×256 floats of A stay in L2 while
    /// every panel of B passes.
    @usableFromInline static let gemmMC = 96
    /// Most floats of packed B held at once (4 MiB, a 1024 × 1024 B): deeper products are cut
    /// into depth slices accumulated into C, wider ones into column blocks. (At 16 MiB, ALS's
    /// Gram matrices over 100k users kept 17 MB of packing buffers alive in the scratch pool.)
    @usableFromInline static let gemmPackedBLimit = 1 << 20

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
        threads: Int = 1,
        kernel: GEMMKernel = gemmKernel
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
        // A deep product (a Gram matrix over many rows) in depth slices, so packed B stays small.
        let nr = kernel.columns
        let panelsTotal = (n + nr - 1) / nr
        let sliceDepth = max(gemmKC, gemmPackedBLimit / (nr * panelsTotal) / gemmKC * gemmKC)
        if k > sliceDepth {
            var p0 = 0
            while p0 < k {
                let depth = min(sliceDepth, k - p0)
                gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: depth, alpha: alpha,
                     a: transposeA ? a + p0 &* lda : a + p0, lda: lda,
                     b: transposeB ? b + p0 : b + p0 &* ldb, ldb: ldb,
                     beta: p0 == 0 ? beta : 1, c: c, ldc: ldc, threads: threads, kernel: kernel)
                p0 += depth
            }
            return
        }
        // Threads only pay for themselves above ~1 M multiply-adds (NUMERICS.md rule 5).
        let workers = (m * n * k) < 1_000_000 ? 1 : effectiveThreadCount(threads)
        let kc = min(gemmKC, k)
        let panelsPerBlock = max(1, min(panelsTotal, gemmPackedBLimit / (nr * k)))
        let packBCount = panelsPerBlock * nr * k
        ScratchPool.shared.withBuffer(count: packBCount) { packB in
            var q0 = 0
            while q0 < panelsTotal {
                let panels = min(panelsPerBlock, panelsTotal - q0)
                let j0 = q0 * nr, nb = min(n - j0, panels * nr)
                let block = GEMMBlock(
                    kernel: kernel, transposeA: transposeA, transposeB: transposeB, m: m, k: k, kc: kc, j0: j0, nb: nb,
                    alpha: alpha, beta: beta, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, packB: packB)
                if workers == 1 {
                    block.packB(panels: 0..<panels)
                    block.compute(rows: 0..<m, panels: 0..<panels)
                } else {
                    block.runParallel(panels: panels, workers: workers)
                }
                q0 += panels
            }
        }
    }
}

extension Kernels {
    /// The B operand of many products, packed once into the micro-kernel's panel layout: a
    /// weight matrix multiplied by every batch of activations. Packing B costs O(k·n) per
    /// product, which at a transformer's sizes (a few hundred rows of A) was 9 % of inference.
    public struct PackedB: Sendable {
        /// Depth (rows of op(B)).
        public let k: Int
        /// Columns of op(B).
        public let n: Int
        /// The micro-kernel the layout is for.
        public let kernel: GEMMKernel
        /// `[depth block][panel][p][columns]`, the layout GEMM packs into.
        let storage: [Float]

        /// Packs op(B) (`k × n`; with `transposed`, B is stored `n × k`, as a linear layer's
        /// `[out, in]` weight is) for `kernel`.
        public init(transposed: Bool, k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int, kernel: GEMMKernel = gemmKernel) {
            precondition(k > 0 && n > 0, "PackedB needs a non-empty matrix, got k=\(k) n=\(n)")
            self.k = k
            self.n = n
            self.kernel = kernel
            let nr = kernel.columns, panels = (n + nr - 1) / nr
            var storage = [Float](repeating: 0, count: panels * nr * k)
            storage.withUnsafeMutableBufferPointer { out in
                let block = GEMMBlock(kernel: kernel, transposeA: false, transposeB: transposed, m: 0, k: k, kc: min(gemmKC, k), j0: 0, nb: n,
                                      alpha: 1, beta: 0, a: b, lda: 0, b: b, ldb: ldb, c: out.baseAddress!, ldc: 0, packB: out.baseAddress!)
                block.packB(panels: 0..<panels)
            }
            self.storage = storage
        }
    }

    /// `C ← alpha·op(A)·B + beta·C` with B packed beforehand (``PackedB``); otherwise as
    /// ``gemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:threads:kernel:)``,
    /// with the same results bit for bit.
    public static func gemm(
        transposeA: Bool = false, m: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, packedB: PackedB,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = 1
    ) {
        if m == 0 { return }
        let k = packedB.k, n = packedB.n, nr = packedB.kernel.columns
        let panels = (n + nr - 1) / nr
        let workers = (m * n * k) < 1_000_000 ? 1 : effectiveThreadCount(threads)
        packedB.storage.withUnsafeBufferPointer { storage in
            let packed = UnsafeMutablePointer(mutating: storage.baseAddress!)
            let block = GEMMBlock(kernel: packedB.kernel, transposeA: transposeA, transposeB: false, m: m, k: k, kc: min(gemmKC, k), j0: 0, nb: n,
                                  alpha: alpha, beta: beta, a: a, lda: lda, b: UnsafePointer(packed), ldb: 0, c: c, ldc: ldc, packB: packed)
            if workers == 1 {
                block.compute(rows: 0..<m, panels: 0..<panels)
            } else {
                block.runParallel(panels: panels, workers: workers, prepacked: true)
            }
        }
    }
}

/// One block of columns of a GEMM with its fully packed B: layout `[depth block][panel][p][16]`,
/// the depth block starting at `p0` at offset `p0 · panels · 16`.
@usableFromInline
struct GEMMBlock: @unchecked Sendable {
    let kernel: Kernels.GEMMKernel
    let transposeA: Bool, transposeB: Bool
    let m: Int, k: Int, kc: Int, j0: Int, nb: Int
    let alpha: Float, beta: Float
    let a: UnsafePointer<Float>, lda: Int
    let b: UnsafePointer<Float>, ldb: Int
    let c: UnsafeMutablePointer<Float>, ldc: Int
    let packB: UnsafeMutablePointer<Float>

    var mr: Int { kernel.rows }
    var nr: Int { kernel.columns }
    var panelCount: Int { (nb + nr - 1) / nr }

    /// Start of panel `q` of the depth block starting at `p0`.
    @inline(__always)
    func packedB(_ p0: Int, _ q: Int) -> UnsafeMutablePointer<Float> {
        packB + p0 &* panelCount &* nr + q &* nr &* min(kc, k - p0)
    }

    /// Packs the given panels of B over the whole depth.
    func packB(panels: Range<Int>) {
        var p0 = 0
        while p0 < k {
            let kb = min(kc, k - p0)
            let first = panels.lowerBound * nr
            let cols = min(nb, panels.upperBound * nr) - first
            Kernels.packPanelsB(transposeB, b, ldb, p0, kb, j0 + first, cols, packedB(p0, panels.lowerBound), panelWidth: nr)
            p0 += kb
        }
    }

    /// C[rows, panels] for all depth blocks. Narrow products read A in place (the micro-kernel
    /// takes its strides): packing it cost 7 % of a transformer step, whose products are 64 deep
    /// with A used for only a few panels of B. Wide ones pack each A block into contiguous
    /// 6-row panels, which keeps rows of a large-stride A from fighting over L1 sets (in place,
    /// n = 1024 ran 15 % slower).
    func compute(rows: Range<Int>, panels: Range<Int>) {
        if panels.count * nr >= 512 {
            let kcHere = min(kc, k)
            ScratchPool.shared.withBuffer(count: roundUp(min(Kernels.gemmMC, rows.count), mr) * kcHere) { packA in
                compute(rows: rows, panels: panels, packA: packA)
            }
        } else {
            compute(rows: rows, panels: panels, packA: nil)
        }
    }

    func compute(rows: Range<Int>, panels: Range<Int>, packA: UnsafeMutablePointer<Float>?) {
        let nr = nr, mr = mr
        var i0 = rows.lowerBound
        while i0 < rows.upperBound {
            let mb = min(Kernels.gemmMC, rows.upperBound - i0)
            var p0 = 0
            while p0 < k {
                let kb = min(kc, k - p0)
                let betaHere: Float = p0 == 0 ? beta : 1
                let aBlock: UnsafePointer<Float>, rowStride: Int, depthStride: Int, panelStep: Int
                if let packA {
                    Kernels.packPanelsA(transposeA, a, lda, i0, mb, p0, kb, packA, panelHeight: mr)
                    (aBlock, rowStride, depthStride, panelStep) = (UnsafePointer(packA), 1, mr, kb)
                } else if transposeA {
                    (aBlock, rowStride, depthStride, panelStep) = (a + p0 &* lda + i0, 1, lda, 1)
                } else {
                    (aBlock, rowStride, depthStride, panelStep) = (a + i0 &* lda + p0, lda, 1, lda)
                }
                for q in panels {
                    let jr = q &* nr
                    let cols = min(nr, nb - jr)
                    let bPanel = UnsafePointer(packedB(p0, q))
                    var ir = 0
                    while ir < mb {
                        kernel.run(kb, aBlock + ir &* panelStep, rowStride: rowStride, depthStride: depthStride, bPanel,
                                   c + (i0 + ir) &* ldc + j0 + jr, ldc, min(mr, mb - ir), cols, alpha, betaHere)
                        ir &+= mr
                    }
                }
                p0 += kb
            }
            i0 += mb
        }
    }

    /// Packing tasks first, then compute tasks that wait (spinning, they are short) until all of
    /// B is packed: workers take tasks in order, so every packing task is already running when
    /// the first compute task starts, and the wait always ends.
    func runParallel(panels: Int, workers: Int, prepacked: Bool = false) {
        let mr = mr
        let packTasks = prepacked ? 0 : min(panels, 2 * workers)
        // About four compute tasks per worker: rows in multiples of 6 (at least 24 rows), then
        // columns in multiples of 16 (at least 64) when rows alone give too few.
        let target = 4 * workers
        let rowUnits = (m + mr - 1) / mr
        // A multiple of the worker count, so the last round of tasks is not one worker alone.
        let rowBlocks = min(rowUnits, roundUp(max((m + Kernels.gemmMC - 1) / Kernels.gemmMC, min(target, (rowUnits + 3) / 4)), workers))
        let colBlocks = max(1, min((target + rowBlocks - 1) / rowBlocks, panels / 4))
        let packed = Atomic<Int>(0)
        parallelFor(packTasks + rowBlocks * colBlocks, chunkSize: 1, threads: workers) { chunk in
            let t = chunk.index
            if t < packTasks {
                packB(panels: (panels * t / packTasks)..<(panels * (t + 1) / packTasks))
                packed.wrappingAdd(1, ordering: .releasing)
                return
            }
            while packed.load(ordering: .acquiring) < packTasks {}
            let task = t - packTasks
            let r = task / colBlocks, q = task % colBlocks
            let rows = min(m, rowUnits * r / rowBlocks * mr)..<min(m, rowUnits * (r + 1) / rowBlocks * mr)
            let cols = (panels * q / colBlocks)..<(panels * (q + 1) / colBlocks)
            if rows.isEmpty || cols.isEmpty { return }
            compute(rows: rows, panels: cols)
        }
    }
}

extension Kernels {
    /// Packs rows `i0..<i0+mb`, depth `p0..<p0+kb` of op(A) into panels of `panelHeight` rows,
    /// layout `[panel][p][r]`, zero-padding the last panel.
    @usableFromInline
    static func packPanelsA(
        _ transposed: Bool, _ a: UnsafePointer<Float>, _ lda: Int,
        _ i0: Int, _ mb: Int, _ p0: Int, _ kb: Int, _ dst: UnsafeMutablePointer<Float>, panelHeight mr: Int = gemmMR
    ) {
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

    /// Packs depth `p0..<p0+kb`, columns `j0..<j0+nb` of op(B) into panels of `panelWidth`
    /// columns, layout `[panel][p][j]`, zero-padding the last panel.
    @usableFromInline
    static func packPanelsB(
        _ transposed: Bool, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ p0: Int, _ kb: Int, _ j0: Int, _ nb: Int, _ dst: UnsafeMutablePointer<Float>, panelWidth nr: Int = gemmNR
    ) {
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
                    var v = 0
                    while v < nr { store16(load16(b + (p0 + p) * ldb + base + v), out + p &* nr + v); v &+= 16 }
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

    // Never inlined: inside the callers' loops LLVM lost track of the twelve accumulators and added
    // four register moves per twelve FMAs; a call per 256-deep tile costs nothing in comparison.
    /// The 6×16 micro-kernel: `C[0..<mr, 0..<nr] ← alpha·(A·B̃) + beta·C` for six rows of A and
    /// one packed B panel (`kb×16`). Element `(r, p)` of A is at `a[r·rowStride + p·depthStride]`:
    /// `(lda, 1)` reads A in place, `(1, lda)` reads a stored transpose in place, `(1, 6)` a packed
    /// panel. Rows `mr..<6` are not read. Twelve 8-wide accumulators stay in registers.
    @inline(never)
    public static func microKernel6x16(
        _ kb: Int, _ a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ mr: Int, _ nr: Int,
        _ alpha: Float, _ beta: Float
    ) {
        // Missing rows re-read the last real one (the results are dropped), so A is never read
        // past its end.
        let o1 = min(1, mr - 1) &* rowStride, o2 = min(2, mr - 1) &* rowStride, o3 = min(3, mr - 1) &* rowStride
        let o4 = min(4, mr - 1) &* rowStride, o5 = min(5, mr - 1) &* rowStride
        // Twelve 8-wide accumulators written out (not six SIMD16s): LLVM then keeps them in
        // place instead of shuffling registers every iteration (4 extra moves per 12 FMAs).
        var c00 = F8(), c01 = F8(), c10 = F8(), c11 = F8(), c20 = F8(), c21 = F8()
        var c30 = F8(), c31 = F8(), c40 = F8(), c41 = F8(), c50 = F8(), c51 = F8()
        var pa = a, pb = b
        var p = 0
        while p < kb {
            let b0 = load8(pb), b1 = load8(pb + 8)
            var av = F8(repeating: pa[0])
            c00 = madd(c00, av, b0); c01 = madd(c01, av, b1)
            av = F8(repeating: pa[o1])
            c10 = madd(c10, av, b0); c11 = madd(c11, av, b1)
            av = F8(repeating: pa[o2])
            c20 = madd(c20, av, b0); c21 = madd(c21, av, b1)
            av = F8(repeating: pa[o3])
            c30 = madd(c30, av, b0); c31 = madd(c31, av, b1)
            av = F8(repeating: pa[o4])
            c40 = madd(c40, av, b0); c41 = madd(c41, av, b1)
            av = F8(repeating: pa[o5])
            c50 = madd(c50, av, b0); c51 = madd(c51, av, b1)
            pa += depthStride; pb += 16; p &+= 1
        }
        let c0 = F16(lowHalf: c00, highHalf: c01), c1 = F16(lowHalf: c10, highHalf: c11)
        let c2 = F16(lowHalf: c20, highHalf: c21), c3 = F16(lowHalf: c30, highHalf: c31)
        let c4 = F16(lowHalf: c40, highHalf: c41), c5 = F16(lowHalf: c50, highHalf: c51)
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

    /// The Gram matrix `selfᵀ·self` (columns × columns), exactly symmetric: the GEMM may round
    /// `(i, j)` and `(j, i)` differently, so the lower triangle is a copy of the upper one
    /// (`Kernels.symmetricGemv` reads rows as columns). O(rows·columns²).
    public func gram(threads: Int = 1) -> Matrix {
        var g = multiplied(by: self, transposeSelf: true, threads: threads)
        let n = g.rows
        g.withUnsafeMutableBufferPointer { p in
            for i in 0..<n { for j in 0..<i { p[i &* n &+ j] = p[j &* n &+ i] } }
        }
        return g
    }
}

