import Foundation

extension Kernels {
    /// In-place Cholesky factorization `A = L·Lᵀ` of a symmetric positive-definite `n×n` row-major
    /// matrix. Only the lower triangle is read; on return it holds `L` (the upper triangle is left
    /// as it was). Returns `false`, leaving `a` partly overwritten, if `A` is not positive
    /// definite. O(n³/3), each step a SIMD dot of two contiguous row prefixes.
    @inlinable
    public static func choleskyFactor(_ a: UnsafeMutablePointer<Float>, n: Int) -> Bool {
        for i in 0..<n {
            let rowI = a + i &* n
            for j in 0...i {
                let rowJ = a + j &* n
                let s = rowI[j] - dot(rowI, rowJ, count: j)
                if i == j {
                    guard s > 0, s.isFinite else { return false }
                    rowI[i] = s.squareRoot()
                } else {
                    rowI[j] = s / rowJ[j]
                }
            }
        }
        return true
    }

    /// Solves `L·Lᵀ·x = b` in place (`b` becomes `x`) given the factor from
    /// ``choleskyFactor(_:n:)``. O(n²).
    @inlinable
    public static func choleskySolve(_ l: UnsafePointer<Float>, n: Int, _ b: UnsafeMutablePointer<Float>) {
        // Forward: L·y = b, row prefixes are contiguous.
        for i in 0..<n {
            let row = l + i &* n
            b[i] = (b[i] - dot(row, b, count: i)) / row[i]
        }
        // Backward: Lᵀ·x = y, column-oriented so each step is an axpy over a row prefix of L.
        var i = n - 1
        while i >= 0 {
            let row = l + i &* n
            let xi = b[i] / row[i]
            b[i] = xi
            axpy(-xi, row, b, count: i)
            i -= 1
        }
    }
}
