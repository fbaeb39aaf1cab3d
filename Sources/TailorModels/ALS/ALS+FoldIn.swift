import TailorData
import TailorLinalg

extension ALS {
    /// The vector a user with `history` would get from one more ALS user step: the exact
    /// least-squares solution against the fixed item factors (Hu et al.'s fold-in). O(n·k² + k³).
    public func foldIn(_ history: UserHistory) -> [Float] {
        let pairs = history.items.indices.map { (index: history.items[$0], value: history.values[$0]) }
        return solveRow(pairs, against: itemFactors, gram: itemGram)
    }

    /// One exact ALS row step against fixed factors: repeated indices summed (as training
    /// does), confidences `1 + α·v` (negative strengths as negative confidences), then
    /// `(G + Σ (c−1) f fᵀ) x = Σ c f` with `G` the fixed side's regularized Gram matrix.
    /// The user fold-in and the item fold-in are this with the roles swapped. O(n·k² + k³).
    func solveRow(_ entries: [(index: Int32, value: Float)], against fixed: Matrix, gram: Matrix) -> [Float] {
        let k = factors
        var x = [Float](repeating: 0, count: k)
        var merged: [Int32: Float] = [:]
        for (i, v) in entries where i >= 0 && Int(i) < fixed.rows { merged[i, default: 0] += v }
        let rows = merged.keys.sorted()
        guard !rows.isEmpty else { return x }
        let confidences = rows.map { r -> Float in
            let v = merged[r]!
            return v >= 0 ? 1 + configuration.alpha * v : -(1 + configuration.alpha * -v)
        }
        var scratch = [Float](repeating: 0, count: Kernels.implicitExactScratchCount(k: k, count: 256))
        gram.withUnsafeBufferPointer { g in
            fixed.withUnsafeBufferPointer { f in
                _ = Kernels.implicitLeastSquaresExactOrCG(gram: g.baseAddress!, factors: f.baseAddress!, k: k, indices: rows,
                                                          confidences: confidences, count: rows.count, x: &x, scratch: &scratch)
            }
        }
        return x
    }

    /// Scores from the folded-in vector: `itemFactors · foldIn(history)`.
    public func scores(for history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let x = foldIn(history)
        itemFactors.withUnsafeBufferPointer { y in
            x.withUnsafeBufferPointer { xp in
                Kernels.gemv(y.baseAddress!, lda: factors, rows: itemCount, columns: factors, xp.baseAddress!, scores.baseAddress!)
            }
        }
    }

    /// A copy with the vectors of `users` re-solved exactly against the fixed item factors, from
    /// their rows in `matrix`. `matrix` may have more users than the model (new users are
    /// appended, with zero vectors unless listed); it must have the model's items.
    public func refitting(users: [Int32], from matrix: InteractionMatrix) throws -> ALS {
        guard matrix.itemCount == itemCount else {
            throw ModelError(reason: "the new data has \(matrix.itemCount) items but the model has \(itemCount); refit items first (refitting(items:from:))")
        }
        guard matrix.userCount >= userCount else {
            throw ModelError(reason: "the new data has fewer users (\(matrix.userCount)) than the model (\(userCount))")
        }
        var x = grown(userFactors, to: matrix.userCount)
        try ALS.solveRows(users, of: &x, fixed: itemFactors, gram: itemGram, confidence: ALS.confidence(matrix.userItems, alpha: configuration.alpha), configuration)
        return ALS(configuration: configuration, userFactors: x, itemFactors: itemFactors, history: history)
    }

    /// A copy with the vectors of `items` re-solved exactly against the fixed user factors, from
    /// their columns in `matrix` (which may have more items than the model; they are appended).
    public func refitting(items: [Int32], from matrix: InteractionMatrix) throws -> ALS {
        guard matrix.userCount == userCount else {
            throw ModelError(reason: "the new data has \(matrix.userCount) users but the model has \(userCount); refit users first (refitting(users:from:))")
        }
        guard matrix.itemCount >= itemCount else {
            throw ModelError(reason: "the new data has fewer items (\(matrix.itemCount)) than the model (\(itemCount))")
        }
        var y = grown(itemFactors, to: matrix.itemCount)
        var gram = userFactors.gram(threads: configuration.threads)
        for i in 0..<factors { gram[i, i] += configuration.regularization }
        try ALS.solveRows(items, of: &y, fixed: userFactors, gram: gram, confidence: ALS.confidence(matrix.itemUsers, alpha: configuration.alpha), configuration)
        return ALS(configuration: configuration, userFactors: userFactors, itemFactors: y, history: history)
    }

    /// `m` with zero rows appended up to `rows`.
    func grown(_ m: Matrix, to rows: Int) -> Matrix {
        rows == m.rows ? m : Matrix(rows: rows, columns: m.columns, storage: m.storage + [Float](repeating: 0, count: (rows - m.rows) * m.columns))
    }

    /// Exact solves of the listed rows of `target`.
    static func solveRows(_ rows: [Int32], of target: inout Matrix, fixed: Matrix, gram: Matrix, confidence: CSRMatrix, _ c: Configuration) throws {
        let k = c.factors
        for r in rows where r < 0 || Int(r) >= target.rows {
            throw ModelError(reason: "row \(r) is outside 0..<\(target.rows)")
        }
        var scratch = [Float](repeating: 0, count: Kernels.implicitExactScratchCount(k: k, count: 256))
        gram.withUnsafeBufferPointer { g in
            fixed.withUnsafeBufferPointer { f in
                target.withUnsafeMutableBufferPointer { t in
                    for r in rows {
                        let range = confidence.range(ofRow: Int(r))
                        let x = t.baseAddress! + Int(r) * k
                        if range.isEmpty { x.update(repeating: 0, count: k); continue }
                        confidence.columnIndices.withUnsafeBufferPointer { idx in
                            confidence.values.withUnsafeBufferPointer { val in
                                _ = Kernels.implicitLeastSquaresExactOrCG(gram: g.baseAddress!, factors: f.baseAddress!, k: k,
                                                                      indices: idx.baseAddress! + range.lowerBound,
                                                                      confidences: val.baseAddress! + range.lowerBound,
                                                                      count: range.count, x: x, scratch: &scratch)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Factor models that compute a vector for a new item from the users who interacted with it,
/// against their fixed user vectors, so a new item with a few events is recommended without
/// retraining.
public protocol ItemFolding: FactorModel {
    /// What ``foldInItem(_:gram:)`` needs precomputed (for ALS: the regularized Gram matrix of
    /// the user vectors, `XᵀX + λI`). O(users · k²) once per model.
    func itemFoldingGram() -> Matrix
    /// The vector of an item with these (user position, strength) interactions.
    func foldInItem(_ interactions: [(user: Int32, value: Float)], gram: Matrix) -> [Float]
}

extension ALS: ItemFolding {
    /// `XᵀX + λI` over the user vectors.
    public func itemFoldingGram() -> Matrix {
        var gram = userFactors.gram(threads: 1)
        for i in 0..<gram.rows { gram[i, i] += configuration.regularization }
        return gram
    }

    /// The exact least-squares item vector against the fixed user factors: an ALS item step
    /// for one item (the user-side fold-in with the roles swapped). O(n·k² + k³).
    public func foldInItem(_ interactions: [(user: Int32, value: Float)], gram: Matrix) -> [Float] {
        solveRow(interactions.map { (index: $0.user, value: $0.value) }, against: userFactors, gram: gram)
    }
}
