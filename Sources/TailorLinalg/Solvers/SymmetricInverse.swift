// In-place inverse of a symmetric positive-definite matrix by the blocked sweep operator
// (Gauss–Jordan elimination without pivoting, which is stable for SPD matrices).
//
// Sweeping block K of a symmetric matrix A (R the other indices, P = A_KK⁻¹) gives
//     A_KK ← −P,   A_KR ← P·A_KR,   A_RK ← A_RK·P,   A_RR ← A_RR − A_RK·P·A_KR,
// and sweeping every block leaves −A⁻¹. Each step is one symmetric rank-b update, done as GEMMs
// on the upper-triangle tiles only (about n³ flops in all, the same as Cholesky followed by a
// triangular inverse and product), parallel over tiles. Only the upper triangle is kept current;
// the lower triangle is filled in at the end.

extension Kernels {
    /// Replaces the symmetric positive-definite `n×n` row-major matrix `a` by its inverse.
    ///
    /// Reads the upper triangle; returns `false` (leaving `a` partly overwritten) if a pivot
    /// block is not positive definite. O(n³) flops, O(n·blockSize) extra memory.
    public static func symmetricInverse(_ a: UnsafeMutablePointer<Float>, n: Int, blockSize: Int = 256, threads: Int = 0) -> Bool {
        guard n > 0 else { return true }
        let b = max(1, min(blockSize, n))
        let column = allocateAligned(n * b)   // C = A[:, K], n × kb
        let rowPanel = allocateAligned(b * n) // R = P · A[K, :], kb × n
        let pivot = allocateAligned(b * b)    // P = A_KK⁻¹
        let work = allocateAligned(b * b + b)
        defer { column.deallocate(); rowPanel.deallocate(); pivot.deallocate(); work.deallocate() }
        let tile = 256
        let tiles = (n + tile - 1) / tile
        // Upper-triangle tile pairs (ti ≤ tj).
        var pairs: [(Int, Int)] = []
        for ti in 0..<tiles { for tj in ti..<tiles { pairs.append((ti, tj)) } }
        let workers = effectiveThreadCount(threads)
        var k0 = 0
        while k0 < n {
            let kb = min(b, n - k0), k1 = k0 + kb
            // C[i, :] = A[i, K] from the upper triangle (transpose where i lies below K).
            for i in 0..<n {
                let dst = column + i * kb
                if i < k1 {
                    for c in 0..<kb {
                        let j = k0 + c
                        dst[c] = i <= j ? a[i * n + j] : a[j * n + i]
                    }
                } else {
                    for c in 0..<kb { dst[c] = a[(k0 + c) * n + i] }
                }
            }
            // P = A_KK⁻¹ by Cholesky and kb solves against unit vectors.
            let factor = work
            for r in 0..<kb { for c in 0..<kb { factor[r * kb + c] = column[(k0 + r) * kb + c] } }
            guard choleskyFactor(factor, n: kb) else { return false }
            let rhs = work + kb * kb
            for c in 0..<kb {
                for r in 0..<kb { rhs[r] = r == c ? 1 : 0 }
                choleskySolve(factor, n: kb, rhs)
                for r in 0..<kb { pivot[r * kb + c] = rhs[r] }
            }
            // R = P · Cᵀ  (kb × n): row r of R holds (P·A_K,:)[r, ·].
            gemm(transposeB: true, m: kb, n: n, k: kb, a: pivot, lda: kb, b: column, ldb: kb, c: rowPanel, ldc: n,
                 threads: workers)
            // A ← A − C·R on upper tiles.
            let shared = UnsafeSendable((a, UnsafePointer(column), UnsafePointer(rowPanel)))
            parallelFor(pairs.count, chunkSize: 1, threads: workers) { chunk in
                let (a, column, rowPanel) = shared.value
                let (ti, tj) = pairs[chunk.index]
                let i0 = ti * tile, j0 = tj * tile
                let mi = min(tile, n - i0), nj = min(tile, n - j0)
                gemm(m: mi, n: nj, k: kb, alpha: -1, a: column + i0 * kb, lda: kb, b: rowPanel + j0, ldb: n,
                     beta: 1, c: a + i0 * n + j0, ldc: n, threads: 1)
            }
            // Fix the swept rows and columns: A[K, j] = R[:, j] for j ≥ k1, A[i, K] = R[:, i]ᵀ for
            // i < k0, A_KK = −P (upper parts only).
            for r in 0..<kb {
                let row = a + (k0 + r) * n
                for j in k1..<n { row[j] = rowPanel[r * n + j] }
                for c in r..<kb { row[k0 + c] = -pivot[r * kb + c] }
            }
            for i in 0..<k0 {
                let row = a + i * n
                for c in 0..<kb { row[k0 + c] = rowPanel[c * n + i] }
            }
            k0 = k1
        }
        // −A⁻¹ → A⁻¹, and mirror the upper triangle into the lower.
        for i in 0..<n {
            for j in i..<n {
                let v = -a[i * n + j]
                a[i * n + j] = v
                a[j * n + i] = v
            }
        }
        return true
    }
}
