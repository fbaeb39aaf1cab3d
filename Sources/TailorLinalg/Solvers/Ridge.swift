extension Kernels {
    /// Scratch floats for ``ridgeLeastSquares(factors:k:indices:targets:count:penalty:x:scratch:block:)``.
    @inlinable public static func ridgeScratchCount(k: Int, block: Int) -> Int { k * k + k + block * k }

    /// Solves the ridge regression `(Σ yᵢyᵢᵀ + diag(penalty)) x = Σ tᵢ yᵢ` over the rows `yᵢ` of
    /// `factors` listed in `indices`, with targets `tᵢ`, writing `x`. Rows are gathered `block`
    /// at a time into one GEMM; the system is solved by Cholesky. Returns `false` if it is not
    /// positive definite. O(count·k² + k³).
    @inlinable
    public static func ridgeLeastSquares(
        factors: UnsafePointer<Float>, k: Int, indices: UnsafePointer<Int32>, targets: UnsafePointer<Float>, count: Int,
        penalty: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, block: Int = 256
    ) -> Bool {
        let a = scratch, rhs = scratch + k &* k, gathered = rhs + k
        a.update(repeating: 0, count: k &* k)
        for i in 0..<k { a[i &* k &+ i] = penalty[i] }
        rhs.update(repeating: 0, count: k)
        var first = 0
        while first < count {
            let n = min(block, count - first)
            for t in 0..<n {
                let y = factors + Int(indices[first &+ t]) &* k
                (gathered + t &* k).update(from: y, count: k)
                axpy(targets[first &+ t], y, rhs, count: k)
            }
            gemm(transposeA: true, m: k, n: k, k: n, a: gathered, lda: k, b: gathered, ldb: k, beta: 1, c: a, ldc: k)
            first += n
        }
        guard choleskyFactor(a, n: k) else { return false }
        choleskySolve(a, n: k, rhs)
        x.update(from: rhs, count: k)
        return true
    }
}
