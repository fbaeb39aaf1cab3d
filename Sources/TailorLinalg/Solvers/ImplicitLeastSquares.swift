// The per-row least-squares problem of implicit-feedback ALS (Hu, Koren and Volinsky 2008).
//
// For one user u with observed items I(u), confidences c_ui and item factors Y, the new user
// vector minimises  Σ_i c_ui (p_ui − x·y_i)² + λ‖x‖²  over all items, where p_ui = 1 for observed
// items and 0 otherwise and c_ui = 1 for unobserved ones. Its normal equations are
//
//     (YᵀY + λI + Σ_{i∈I(u)} (c_ui − 1) y_i y_iᵀ) x = Σ_{i∈I(u)} c_ui p_ui y_i.
//
// `gram` below is YᵀY + λI, computed once per half-iteration. A negative stored value marks
// negative feedback (implicit's convention): confidence |c|, preference 0.
//
// Two solvers: a few steps of conjugate gradient warm-started from the previous x (Takács,
// Pilászy and Tikk 2011), O(steps·(k² + n_u·k)); and the exact Cholesky solve, O(n_u·k² + k³).

extension Kernels {
    /// Scratch floats needed by ``implicitLeastSquaresCG(gram:factors:k:indices:confidences:count:x:steps:scratch:gatherRows:)``
    /// (`gatherRows`: the most observed rows copied into scratch, 0 for none).
    @inlinable public static func implicitCGScratchCount(k: Int, gatherRows: Int = 0) -> Int { 3 * k + gatherRows * k }

    /// Approximately solves the implicit-ALS normal equations for one row by `steps` iterations
    /// of conjugate gradient, starting from and overwriting `x`.
    ///
    /// - Parameters:
    ///   - gram: `k×k` symmetric matrix `YᵀY + λI` (row-major; `Matrix.gram()` is exactly
    ///     symmetric, and `symmetricGemv` reads its rows as columns).
    ///   - factors: the other side's factors, row `i` at `factors + i·k`.
    ///   - indices/confidences: the row's observed columns and their confidences `c` (> 0
    ///     positive feedback, < 0 negative feedback with confidence `|c|`).
    ///   - x: the row's vector: the starting point on entry, the solution on return.
    ///   - scratch: at least ``implicitCGScratchCount(k:gatherRows:)`` floats.
    ///   - gatherRows: rows with at most this many observations first copy their factor rows
    ///     into scratch, one independent load after another, so the CPU fetches many from memory
    ///     at once; every CG pass then reads them contiguously from cache. The arithmetic is the
    ///     same.
    @inlinable
    public static func implicitLeastSquaresCG(
        gram: UnsafePointer<Float>, factors: UnsafePointer<Float>, k: Int,
        indices: UnsafePointer<Int32>, confidences: UnsafePointer<Float>, count: Int,
        x: UnsafeMutablePointer<Float>, steps: Int, scratch: UnsafeMutablePointer<Float>, gatherRows: Int = 0
    ) {
        let r = scratch, p = scratch + k, ap = scratch + 2 &* k
        // The observed rows: gathered into scratch (stride k) or read in place.
        let gathered = count <= gatherRows
        let rows: UnsafePointer<Float>? = gathered ? UnsafePointer(scratch + 3 &* k) : nil
        if gathered {
            let destination = scratch + 3 &* k
            for t in 0..<count { copyRow(factors + Int(indices[t]) &* k, destination + t &* k, count: k) }
        }
        // r = b − A·x
        symmetricGemv(gram, n: k, x, r)
        scale(-1, r, count: k)
        implicitProjections(.residual, rows: rows, factors: factors, indices: indices, confidences: confidences,
                            count: count, k: k, v: x, out: r)
        for i in 0..<k { p[i] = r[i] }
        var rsOld = dot(r, r, count: k)
        if rsOld < 1e-20 { return }
        for _ in 0..<steps {
            // ap = A·p
            symmetricGemv(gram, n: k, p, ap)
            implicitProjections(.step, rows: rows, factors: factors, indices: indices, confidences: confidences,
                                count: count, k: k, v: p, out: ap)
            let pAp = dot(p, ap, count: k)
            guard pAp > 0 else { return }
            let alpha = rsOld / pAp
            axpy(alpha, p, x, count: k)
            axpy(-alpha, ap, r, count: k)
            let rsNew = dot(r, r, count: k)
            if rsNew < 1e-20 { return }
            let beta = rsNew / rsOld
            for i in 0..<k { p[i] = madd(r[i], beta, p[i]) }
            rsOld = rsNew
        }
    }

    /// Scratch floats needed by ``implicitLeastSquaresExact(gram:factors:k:indices:confidences:count:x:scratch:block:)``
    /// when observations are processed `block` at a time.
    @inlinable public static func implicitExactScratchCount(k: Int, count block: Int) -> Int { k * k + k + 2 * block * k }

    /// Solves the implicit-ALS normal equations for one row exactly by Cholesky, writing `x`.
    ///
    /// The matrix `YᵀY + λI + Σ (|c|−1)·y yᵀ` is built by GEMMs over the row's observed factors,
    /// gathered `block` at a time (so scratch stays bounded for very popular items). Returns
    /// `false` (leaving `x` unchanged) if the system is not positive definite, which happens only
    /// when `λ = 0` and the factors are degenerate.
    @inlinable
    public static func implicitLeastSquaresExact(
        gram: UnsafePointer<Float>, factors: UnsafePointer<Float>, k: Int,
        indices: UnsafePointer<Int32>, confidences: UnsafePointer<Float>, count: Int,
        x: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, block: Int = 256
    ) -> Bool {
        let a = scratch, rhs = scratch + k &* k
        let gathered = rhs + k, weighted = gathered + block &* k
        a.update(from: gram, count: k &* k)
        rhs.update(repeating: 0, count: k)
        var first = 0
        while first < count {
            let n = min(block, count - first)
            for t in 0..<n {
                let y = factors + Int(indices[first &+ t]) &* k
                let c = confidences[first &+ t]
                let w = abs(c) - 1
                let g = gathered + t &* k, wg = weighted + t &* k
                for i in 0..<k { g[i] = y[i]; wg[i] = w * y[i] }
                if c > 0 { axpy(c, y, rhs, count: k) }
            }
            // A += weightedᵀ · gathered
            gemm(transposeA: true, m: k, n: k, k: n, a: weighted, lda: k, b: gathered, ldb: k,
                 beta: 1, c: a, ldc: k)
            first += n
        }
        guard choleskyFactor(a, n: k) else { return false }
        choleskySolve(a, n: k, rhs)
        x.update(from: rhs, count: k)
        return true
    }

    /// The exact solve, or, when its system is not positive definite (λ = 0 with degenerate
    /// factors), `max(steps, k)` conjugate-gradient steps from `x`. Returns whether the exact
    /// solve succeeded, so callers can count fallbacks instead of keeping a stale `x`.
    /// `scratch` holds at least ``implicitExactScratchCount(k:count:)`` floats.
    @inlinable
    public static func implicitLeastSquaresExactOrCG(
        gram: UnsafePointer<Float>, factors: UnsafePointer<Float>, k: Int,
        indices: UnsafePointer<Int32>, confidences: UnsafePointer<Float>, count: Int,
        x: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, block: Int = 256, steps: Int = 3
    ) -> Bool {
        if implicitLeastSquaresExact(gram: gram, factors: factors, k: k, indices: indices, confidences: confidences,
                                     count: count, x: x, scratch: scratch, block: block) {
            return true
        }
        implicitLeastSquaresCG(gram: gram, factors: factors, k: k, indices: indices, confidences: confidences,
                               count: count, x: x, steps: max(steps, k), scratch: scratch)
        return false
    }
}
