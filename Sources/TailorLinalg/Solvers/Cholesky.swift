import Foundation

extension Kernels {
    /// In-place Cholesky factorization `A = Uᵀ·U` of a symmetric positive-definite `n×n` row-major
    /// matrix, `U` upper triangular. Only the upper triangle (diagonal included) is read; on return
    /// it holds `U`, and the strictly lower triangle holds scratch values. Returns `false` if `A`
    /// is not positive definite.
    ///
    /// Right-looking ("outer product") order on the upper triangle: after row `j` of `U` is
    /// final, each later row `i` is updated by `A[i, ·] −= U[j,i]·U[j, ·]`, a contiguous axpy. Each
    /// axpy starts at `i` rounded down to 16, so it runs in whole SIMD vectors; the few extra
    /// entries it touches lie in the unused lower triangle. O(n³/3).
    @inlinable
    public static func choleskyFactor(_ a: UnsafeMutablePointer<Float>, n: Int) -> Bool {
        for j in 0..<n {
            let rowJ = a + j &* n
            let d = rowJ[j]
            guard d > 0, d.isFinite else { return false }
            let root = d.squareRoot()
            rowJ[j] = root
            let inverse = 1 / root
            for c in (j &+ 1)..<max(j &+ 1, n) { rowJ[c] *= inverse }
            var i = j &+ 1
            while i < n {
                let start = i & ~15
                axpy(-rowJ[i], rowJ + start, a + i &* n + start, count: n &- start)
                i &+= 1
            }
        }
        return true
    }

    /// Solves `Uᵀ·U·x = b` in place (`b` becomes `x`) given the factor from
    /// ``choleskyFactor(_:n:)``. O(n²), every step a contiguous SIMD axpy or dot.
    @inlinable
    public static func choleskySolve(_ u: UnsafePointer<Float>, n: Int, _ b: UnsafeMutablePointer<Float>) {
        // Forward: Uᵀ·y = b, column-oriented (column j of Uᵀ is row j of U).
        for j in 0..<n {
            let row = u + j &* n
            let yj = b[j] / row[j]
            b[j] = yj
            axpy(-yj, row + (j &+ 1), b + (j &+ 1), count: n &- j &- 1)
        }
        // Backward: U·x = y.
        var i = n - 1
        while i >= 0 {
            let row = u + i &* n
            b[i] = (b[i] - dot(row + (i &+ 1), b + (i &+ 1), count: n &- i &- 1)) / row[i]
            i -= 1
        }
    }
}
