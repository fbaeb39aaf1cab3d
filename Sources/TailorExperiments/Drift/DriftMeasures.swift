import Foundation
import TailorLinalg

/// The measures drift reports are made of, each on its own and tested alone.
public enum DriftMeasures {
    /// Rank-biased overlap of two rankings (Webber, Moffat & Zobel 2010), extrapolated to
    /// their depth: `(X_k / k)·pᵏ + ((1 − p)/p)·Σ_{d≤k} (X_d / d)·pᵈ`, `X_d` the items the first
    /// `d` of each share. 1 for identical lists, 0 for disjoint ones; `p` weights the top
    /// (0.9: the first 10 ranks carry about 86 % of the weight). Lists of unequal length are
    /// compared to the shorter one's depth.
    public static func rbo(_ a: [String], _ b: [String], p: Double = 0.9) -> Double {
        let k = min(a.count, b.count)
        guard k > 0 else { return a.isEmpty && b.isEmpty ? 1 : 0 }
        var seenA = Set<String>(), seenB = Set<String>()
        var overlap = 0, sum = 0.0, weight = 1.0
        for d in 1...k {
            let x = a[d - 1], y = b[d - 1]
            if x == y {
                overlap += 1
            } else {
                if seenB.contains(x) { overlap += 1 }
                if seenA.contains(y) { overlap += 1 }
            }
            seenA.insert(x); seenB.insert(y)
            weight *= p
            sum += Double(overlap) / Double(d) * weight
        }
        return Double(overlap) / Double(k) * weight + (1 - p) / p * sum
    }

    /// |A ∩ B| / |A ∪ B| of two lists as sets (1 for two empty lists).
    public static func jaccard(_ a: [String], _ b: [String]) -> Double {
        let x = Set(a), y = Set(b)
        let union = x.union(y).count
        return union == 0 ? 1 : Double(x.intersection(y).count) / Double(union)
    }

    /// The population stability index of two distributions over the same bins:
    /// `Σ (aᵢ − bᵢ)·ln(aᵢ / bᵢ)` over shares, each floored at `floor` so an empty bin does not
    /// make it infinite. Rules of thumb: below 0.1 stable, 0.1–0.25 a shift worth a look, above
    /// 0.25 a real change.
    ///
    /// - Throws: ``ExperimentError`` when the bins differ in number or a count is negative.
    public static func psi(_ a: [Double], _ b: [Double], floor: Double = 1e-4) throws -> Double {
        guard a.count == b.count, !a.isEmpty else {
            throw ExperimentError(field: "bins", "the two distributions have \(a.count) and \(b.count) bins; they must share the same bins")
        }
        guard a.allSatisfy({ $0 >= 0 && $0.isFinite }), b.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw ExperimentError(field: "bins", "counts must be finite and not negative")
        }
        let sa = a.reduce(0, +), sb = b.reduce(0, +)
        guard sa > 0, sb > 0 else { throw ExperimentError(field: "bins", "a distribution with no mass has no shape to compare") }
        var total = 0.0
        for i in a.indices {
            let x = max(a[i] / sa, floor), y = max(b[i] / sb, floor)
            total += (x - y) * log(x / y)
        }
        return total
    }

    /// PSI of two samples of a score, binned at the deciles (or `bins` quantiles) of `reference`.
    public static func psi(reference: [Float], current: [Float], bins: Int = 10) throws -> Double {
        guard !reference.isEmpty, !current.isEmpty else { throw ExperimentError(field: "scores", "both samples need at least one score") }
        let sorted = reference.sorted()
        var edges: [Float] = []
        for q in 1..<bins { edges.append(sorted[min(sorted.count - 1, q * sorted.count / bins)]) }
        func histogram(_ xs: [Float]) -> [Double] {
            var h = [Double](repeating: 0, count: bins)
            for x in xs {
                var lo = 0, hi = edges.count  // first edge greater than x
                while lo < hi { let mid = (lo + hi) / 2; if edges[mid] <= x { lo = mid + 1 } else { hi = mid } }
                h[lo] += 1
            }
            return h
        }
        return try psi(histogram(reference), histogram(current))
    }

    /// The orthogonal map `R` (d_a × d_b, `RᵀR = I` when d_a ≥ d_b) that best carries the rows of
    /// `a` onto the rows of `b` (orthogonal Procrustes, Schönemann 1966): `R = M (MᵀM)^{-1/2}` for
    /// `M = aᵀb`, the polar factor of `M` (equal to `UVᵀ` from its SVD). Factor models are
    /// unique only up to such a rotation, so vectors are compared after it.
    ///
    /// - Throws: ``ExperimentError`` when the row counts differ.
    public static func procrustes(_ a: Matrix, onto b: Matrix) throws -> Matrix {
        guard a.rows == b.rows, a.rows > 0 else {
            throw ExperimentError(field: "vectors", "Procrustes needs the same rows in both (got \(a.rows) and \(b.rows))")
        }
        let m = a.multiplied(by: b, transposeSelf: true)  // d_a × d_b
        let n = m.columns
        // MᵀM = V Λ Vᵀ; (MᵀM)^{-1/2} = V Λ^{-1/2} Vᵀ over the eigenvalues that are not ~0.
        let mtm = m.multiplied(by: m, transposeSelf: true)
        let (values, vectors) = symmetricEigen((0..<(n * n)).map { Double(mtm.storage[$0]) }, n: n)
        let largest = values.map(abs).max() ?? 0
        var inverseRoot = [Double](repeating: 0, count: n * n)
        for e in 0..<n where values[e] > largest * 1e-10 {
            let s = 1 / values[e].squareRoot()
            for i in 0..<n { for j in 0..<n { inverseRoot[i * n + j] += vectors[i * n + e] * s * vectors[j * n + e] } }
        }
        var r = Matrix(rows: m.rows, columns: n)
        for i in 0..<m.rows {
            for j in 0..<n {
                var sum = 0.0
                for t in 0..<n { sum += Double(m[i, t]) * inverseRoot[t * n + j] }
                r[i, j] = Float(sum)
            }
        }
        return r
    }

    /// Eigenvalues and eigenvectors (columns of the row-major `n × n` result) of a symmetric
    /// matrix by cyclic Jacobi rotations, in double precision. O(n³) per sweep; converges in a
    /// handful of sweeps for the factor counts of recommenders.
    public static func symmetricEigen(_ matrix: [Double], n: Int) -> (values: [Double], vectors: [Double]) {
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        for _ in 0..<100 {
            var off = 0.0, diagonal = 0.0
            for i in 0..<n {
                diagonal += a[i * n + i] * a[i * n + i]
                for j in 0..<n where j != i { off += a[i * n + j] * a[i * n + j] }
            }
            if off <= 1e-24 * max(diagonal, 1e-300) { break }
            for p in 0..<n {
                for q in (p + 1)..<n {
                    let apq = a[p * n + q]
                    guard abs(apq) > 1e-300 else { continue }
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {  // columns p, q
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {  // rows p, q
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq
                        v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<n).map { a[$0 * n + $0] }, v)
    }
}
