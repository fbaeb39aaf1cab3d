/// Slow, obviously-correct twins of the fast kernels in ``Kernels``.
///
/// Each function here is written for clarity, accumulates in `Double`, and exists so tests can
/// compare the fast kernel against it on seeded random inputs (habit 7). Never use these in
/// production paths.
public enum Reference {
    /// `Σ x[i]·y[i]`.
    public static func dot(_ x: [Float], _ y: [Float]) -> Float {
        precondition(x.count == y.count)
        var s = 0.0
        for i in x.indices { s += Double(x[i]) * Double(y[i]) }
        return Float(s)
    }

    /// `alpha·x + y`.
    public static func axpy(_ alpha: Float, _ x: [Float], _ y: [Float]) -> [Float] {
        precondition(x.count == y.count)
        return x.indices.map { Float(Double(alpha) * Double(x[$0]) + Double(y[$0])) }
    }

    /// `A·x` for a dense matrix.
    public static func gemv(_ a: Matrix, _ x: [Float]) -> [Float] {
        precondition(a.columns == x.count)
        return (0..<a.rows).map { r in
            var s = 0.0
            for c in 0..<a.columns { s += Double(a[r, c]) * Double(x[c]) }
            return Float(s)
        }
    }

    /// `alpha·op(A)·op(B) + beta·C` by the triple loop.
    public static func gemm(
        _ a: Matrix, _ b: Matrix, transposeA: Bool = false, transposeB: Bool = false,
        alpha: Float = 1, beta: Float = 0, c: Matrix? = nil
    ) -> Matrix {
        let opA = transposeA ? a.transposed() : a
        let opB = transposeB ? b.transposed() : b
        precondition(opA.columns == opB.rows)
        var out = Matrix(rows: opA.rows, columns: opB.columns)
        for i in 0..<opA.rows {
            for j in 0..<opB.columns {
                var s = 0.0
                for p in 0..<opA.columns { s += Double(opA[i, p]) * Double(opB[p, j]) }
                let prior = c.map { Double(beta) * Double($0[i, j]) } ?? 0
                out[i, j] = Float(Double(alpha) * s + prior)
            }
        }
        return out
    }

    /// The best `k` of `scores` by a full sort (higher score first, ties by lower index),
    /// skipping −∞ and NaN.
    public static func topK(_ scores: [Float], k: Int) -> [(index: Int32, score: Float)] {
        let candidates = scores.indices.filter { scores[$0] > -.infinity }
        let sorted = candidates.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        return sorted.prefix(k).map { (Int32($0), scores[$0]) }
    }

    /// Solves `A·x = b` by Gaussian elimination with partial pivoting, in `Double`.
    public static func solve(_ a: Matrix, _ b: [Float]) -> [Float]? {
        let n = a.rows
        precondition(a.columns == n && b.count == n)
        var m = (0..<n).map { r in (0..<n).map { Double(a[r, $0]) } + [Double(b[r])] }
        for col in 0..<n {
            guard let pivot = (col..<n).max(by: { abs(m[$0][col]) < abs(m[$1][col]) }),
                  abs(m[pivot][col]) > 1e-12 else { return nil }
            m.swapAt(col, pivot)
            for r in 0..<n where r != col {
                let f = m[r][col] / m[col][col]
                if f != 0 { for c in col...n { m[r][c] -= f * m[col][c] } }
            }
        }
        return (0..<n).map { Float(m[$0][n] / m[$0][$0]) }
    }

    /// The inverse of a square matrix by Gauss–Jordan elimination with partial pivoting, in
    /// `Double`; `nil` if it is singular.
    public static func inverse(_ a: Matrix) -> Matrix? {
        let n = a.rows
        precondition(a.columns == n)
        // Augmented [A | I], row-major, n × 2n.
        let w = 2 * n
        var m = [Double](repeating: 0, count: n * w)
        for r in 0..<n {
            for c in 0..<n { m[r * w + c] = Double(a[r, c]) }
            m[r * w + n + r] = 1
        }
        for col in 0..<n {
            var pivot = col
            for r in col..<n where abs(m[r * w + col]) > abs(m[pivot * w + col]) { pivot = r }
            guard abs(m[pivot * w + col]) > 1e-12 else { return nil }
            if pivot != col { for c in 0..<w { m.swapAt(col * w + c, pivot * w + c) } }
            let scale = 1 / m[col * w + col]
            for c in 0..<w { m[col * w + c] *= scale }
            for r in 0..<n where r != col {
                let f = m[r * w + col]
                if f != 0 { for c in 0..<w { m[r * w + c] -= f * m[col * w + c] } }
            }
        }
        var out = Matrix(rows: n, columns: n)
        for r in 0..<n { for c in 0..<n { out[r, c] = Float(m[r * w + n + c]) } }
        return out
    }

    /// Ridge regression `(Σ yᵢyᵢᵀ + diag(penalty)) x = Σ tᵢ yᵢ`, built term by term and solved densely.
    public static func ridge(factors: Matrix, indices: [Int32], targets: [Float], penalty: [Float]) -> [Float]? {
        let k = factors.columns
        var a = Matrix(rows: k, columns: k)
        var b = [Float](repeating: 0, count: k)
        for i in 0..<k { a[i, i] = penalty[i] }
        for (t, item) in indices.enumerated() {
            let y = factors.row(Int(item))
            for r in 0..<k {
                for s in 0..<k { a[r, s] += y[r] * y[s] }
                b[r] += targets[t] * y[r]
            }
        }
        return solve(a, b)
    }

    /// `gradient + g·output` and `output + g·input`, computed separately.
    public static func skipGramUpdate(_ g: Float, input: [Float], output: [Float], gradient: [Float]) -> (output: [Float], gradient: [Float]) {
        (axpy(g, input, output), axpy(g, output, gradient))
    }

    /// The BPR update, element by element in `Double`.
    public static func bprUpdate(x: [Float], yi: [Float], yj: [Float], learningRate lr: Float, gradient g: Float, regularization reg: Float)
        -> (x: [Float], yi: [Float], yj: [Float]) {
        let (l, gg, r) = (Double(lr), Double(g), Double(reg))
        var nx = x, ni = yi, nj = yj
        for f in x.indices {
            let (a, b, c) = (Double(x[f]), Double(yi[f]), Double(yj[f]))
            nx[f] = Float(a + l * (gg * (b - c) - r * a))
            ni[f] = Float(b + l * (gg * a - r * b))
            nj[f] = Float(c + l * (-gg * a - r * c))
        }
        return (nx, ni, nj)
    }

    /// The dense implicit-ALS system `(G + Σ (|c|−1) y yᵀ, Σ_{c>0} c·y)` for one row, built
    /// term by term.
    public static func implicitSystem(
        gram: Matrix, factors: Matrix, indices: [Int32], confidences: [Float]
    ) -> (matrix: Matrix, rhs: [Float]) {
        let k = gram.rows
        var a = gram
        var b = [Float](repeating: 0, count: k)
        for (t, item) in indices.enumerated() {
            let y = factors.row(Int(item))
            let c = confidences[t]
            let w = abs(c) - 1
            for r in 0..<k {
                for s in 0..<k { a[r, s] += w * y[r] * y[s] }
                if c > 0 { b[r] += c * y[r] }
            }
        }
        return (a, b)
    }

    /// The exact implicit-ALS solution for one row.
    public static func implicitLeastSquares(
        gram: Matrix, factors: Matrix, indices: [Int32], confidences: [Float]
    ) -> [Float]? {
        let (a, b) = implicitSystem(gram: gram, factors: factors, indices: indices, confidences: confidences)
        return solve(a, b)
    }

    /// `out + Σ_t coef_t·y_t` over the observed rows `y_t = factors[indices[t]]`, where
    /// `coef_t = (c > 0 ? |c| : 0) − (|c| − 1)·(y_t·v)` (`residual`) or `(|c| − 1)·(y_t·v)`
    /// (`step`), in `Double`: the twin of `Kernels.implicitProjections`.
    public static func implicitProjections(
        residual: Bool, factors: Matrix, indices: [Int32], confidences: [Float], v: [Float], out: [Float]
    ) -> [Float] {
        var result = out.map(Double.init)
        for (t, index) in indices.enumerated() {
            let y = factors.row(Int(index))
            let d = zip(y, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let c = Double(confidences[t])
            let coefficient = residual ? (c > 0 ? abs(c) : 0) - (abs(c) - 1) * d : (abs(c) - 1) * d
            for i in 0..<result.count { result[i] += coefficient * Double(y[i]) }
        }
        return result.map(Float.init)
    }

    /// Textbook conjugate gradient on the dense implicit-ALS system, `steps` iterations from `x0`,
    /// in `Double`.
    public static func implicitLeastSquaresCG(
        gram: Matrix, factors: Matrix, indices: [Int32], confidences: [Float], x0: [Float], steps: Int
    ) -> [Float] {
        let (a, b) = implicitSystem(gram: gram, factors: factors, indices: indices, confidences: confidences)
        let n = b.count
        func mul(_ v: [Double]) -> [Double] {
            (0..<n).map { r in (0..<n).reduce(0.0) { $0 + Double(a[r, $1]) * v[$1] } }
        }
        func dot(_ u: [Double], _ v: [Double]) -> Double { zip(u, v).reduce(0) { $0 + $1.0 * $1.1 } }
        var x = x0.map(Double.init)
        let ax = mul(x)
        var r = (0..<n).map { Double(b[$0]) - ax[$0] }
        var p = r
        var rsOld = dot(r, r)
        if rsOld < 1e-20 { return x.map(Float.init) }
        for _ in 0..<steps {
            let ap = mul(p)
            let pAp = dot(p, ap)
            if pAp <= 0 { break }
            let alpha = rsOld / pAp
            for i in 0..<n { x[i] += alpha * p[i]; r[i] -= alpha * ap[i] }
            let rsNew = dot(r, r)
            if rsNew < 1e-20 { break }
            for i in 0..<n { p[i] = r[i] + rsNew / rsOld * p[i] }
            rsOld = rsNew
        }
        return x.map(Float.init)
    }

    /// Top-`k` inner products by scoring every item and sorting.
    public static func topKInnerProducts(
        queries: Matrix, items: Matrix, k: Int, exclude: ((Int) -> Set<Int32>)? = nil
    ) -> [[(index: Int32, score: Float)]] {
        (0..<queries.rows).map { q in
            let banned = exclude?(q) ?? []
            let scores = (0..<items.rows).map { i -> Float in
                banned.contains(Int32(i)) ? -.infinity : dot(queries.row(q), items.row(i))
            }
            return topK(scores, k: k)
        }
    }

    /// Builds CSR arrays from coordinate triples by sorting, summing duplicates.
    public static func csr(
        rows: Int, entries: [(row: Int32, column: Int32, value: Float)]
    ) -> (rowPointers: [Int], columnIndices: [Int32], values: [Float]) {
        var merged: [Int64: Float] = [:]
        for e in entries { merged[Int64(e.row) << 32 | Int64(e.column), default: 0] += e.value }
        let keys = merged.keys.sorted()
        var pointers = [Int](repeating: 0, count: rows + 1)
        for key in keys { pointers[Int(key >> 32) + 1] += 1 }
        for r in 0..<rows { pointers[r + 1] += pointers[r] }
        return (pointers, keys.map { Int32(truncatingIfNeeded: $0 & 0xFFFF_FFFF) }, keys.map { merged[$0]! })
    }
}
