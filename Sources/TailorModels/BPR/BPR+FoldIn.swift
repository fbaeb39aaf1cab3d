import Foundation
import TailorData
import TailorLinalg

extension BPR {
    /// Epochs of SGD over a history when folding in a user.
    static let foldInEpochs = 60

    /// A vector for a user with `history`, learned by BPR SGD steps against the fixed item
    /// vectors (uniform negatives outside the history), deterministic for the model's seed.
    /// O(foldInEpochs · history · factors).
    public func foldIn(_ history: UserHistory) -> [Float] {
        let k = configuration.factors, d = k + 1
        var x = [Float](repeating: 0, count: d)
        x[k] = 1
        let positives = Array(Set(history.items.filter { $0 >= 0 && Int($0) < itemCount })).sorted()
        guard !positives.isEmpty, positives.count < itemCount else { return x }
        var rng = TailorRandom(seed: configuration.seed, stream: 0xF01D)
        var order = positives
        var scratchI = [Float](repeating: 0, count: d), scratchJ = [Float](repeating: 0, count: d)
        var biasI: Float = 0, biasJ: Float = 0
        itemFactors.withUnsafeBufferPointer { y in
            for _ in 0..<BPR.foldInEpochs {
                for t in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(t, rng.nextInt(below: t + 1)) }
                for i in order {
                    var j: Int32 = -1
                    for _ in 0..<16 {
                        let c = Int32(rng.nextInt(below: itemCount))
                        if !binarySearch(positives[...], c) { j = c; break }
                    }
                    guard j >= 0 else { continue }
                    // Copy the item rows so the step leaves the model's items untouched.
                    for f in 0..<d { scratchI[f] = y[Int(i) * d + f]; scratchJ[f] = y[Int(j) * d + f] }
                    biasI = scratchI[k]; biasJ = scratchJ[k]
                    x.withUnsafeMutableBufferPointer { xp in
                        scratchI.withUnsafeMutableBufferPointer { yi in
                            scratchJ.withUnsafeMutableBufferPointer { yj in
                                _ = BPR.step(xp.baseAddress!, yi.baseAddress!, yj.baseAddress!, &biasI, &biasJ, factors: k,
                                             learningRate: configuration.learningRate, regularization: configuration.regularization)
                            }
                        }
                    }
                }
            }
        }
        x[k] = 1
        return x
    }

    /// Scores from the folded-in vector.
    public func scores(for history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let x = foldIn(history)
        itemFactors.withUnsafeBufferPointer { y in
            x.withUnsafeBufferPointer { xp in
                Kernels.gemv(y.baseAddress!, lda: itemFactors.columns, rows: itemCount, columns: itemFactors.columns,
                             xp.baseAddress!, scores.baseAddress!)
            }
        }
    }

    /// A copy with the listed users' vectors re-learned by fold-in from their rows in `matrix`
    /// (which may add users; they are appended with zero vectors unless listed).
    public func refitting(users: [Int32], from matrix: InteractionMatrix) throws -> BPR {
        guard matrix.itemCount == itemCount, matrix.userCount >= userCount else {
            throw ModelError(reason: "the new data must have the model's \(itemCount) items and at least its \(userCount) users")
        }
        let d = userFactors.columns
        var x = Matrix(rows: matrix.userCount, columns: d, storage: userFactors.storage + [Float](repeating: 0, count: (matrix.userCount - userCount) * d))
        for u in userCount..<matrix.userCount { x[u, d - 1] = 1 }
        for u in users {
            guard u >= 0 && Int(u) < matrix.userCount else { throw ModelError(reason: "user \(u) is outside 0..<\(matrix.userCount)") }
            let vector = foldIn(UserHistory(items: Array(matrix.userItems.columns(inRow: Int(u)))))
            for f in 0..<d { x[Int(u), f] = vector[f] }
        }
        return BPR(configuration: configuration, userFactors: x, itemFactors: itemFactors)
    }

    /// `user_factors` and `item_factors` (the last column: 1 for users, the bias for items).
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        ["user_factors": .init(userFactors), "item_factors": .init(itemFactors)]
    }

    /// The configuration.
    public func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try ConfigurationPatch.encode(configuration)])
    }

    /// Restores a model written by ``archiveTensors()``.
    public init(archiveTensors t: [String: SafeTensors.Tensor], configuration: JSONValue) throws {
        guard let users = t["user_factors"]?.matrix(), let items = t["item_factors"]?.matrix(), users.columns == items.columns else {
            throw ModelError(reason: "the BPR model file lacks consistent user_factors and item_factors")
        }
        guard case .object(let fields) = configuration, let c = fields["configuration"] else {
            throw ModelError(reason: "the BPR manifest lacks its configuration")
        }
        let decoded = try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration")
        try ArchiveChecks.factorWidth(users.columns, configured: decoded.factors + 1, model: "BPR")  // + the bias column
        try ArchiveChecks.finite(users, name: "user_factors", model: "BPR")
        try ArchiveChecks.finite(items, name: "item_factors", model: "BPR")
        self.init(configuration: decoded, userFactors: users, itemFactors: items)
    }
}

extension BPR: ItemFolding {
    /// BPR's item fold-in needs nothing precomputed: an empty matrix.
    public func itemFoldingGram() -> Matrix { Matrix(rows: 0, columns: 0) }

    /// A vector (and bias, the last column) for a new item from the users who interacted with
    /// it, learned by BPR SGD steps against the fixed user vectors: each of its users should score
    /// it above an item drawn at random. Only the new item moves; deterministic for the model's
    /// seed. `gram` is unused. O(foldInEpochs · users · factors).
    public func foldInItem(_ interactions: [(user: Int32, value: Float)], gram: Matrix) -> [Float] {
        let k = configuration.factors, d = k + 1
        var y = [Float](repeating: 0, count: d)
        let users = Array(Set(interactions.filter { $0.value > 0 && $0.user >= 0 && Int($0.user) < userCount }.map(\.user))).sorted()
        guard !users.isEmpty, itemCount > 0 else { return y }
        var rng = TailorRandom(seed: configuration.seed, stream: 0xF01E)
        var order = users
        var scratchX = [Float](repeating: 0, count: d), scratchJ = [Float](repeating: 0, count: d)
        var biasI: Float = 0, biasJ: Float = 0
        userFactors.withUnsafeBufferPointer { x in
            itemFactors.withUnsafeBufferPointer { items in
                for _ in 0..<BPR.foldInEpochs {
                    for t in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(t, rng.nextInt(below: t + 1)) }
                    for u in order {
                        let j = rng.nextInt(below: itemCount)
                        // Copies of the user's and the other item's rows: only the new item learns.
                        for f in 0..<d { scratchX[f] = x[Int(u) * d + f]; scratchJ[f] = items[j * d + f] }
                        biasJ = scratchJ[k]
                        scratchX.withUnsafeMutableBufferPointer { xp in
                            y.withUnsafeMutableBufferPointer { yi in
                                scratchJ.withUnsafeMutableBufferPointer { yj in
                                    _ = BPR.step(xp.baseAddress!, yi.baseAddress!, yj.baseAddress!, &biasI, &biasJ, factors: k,
                                                 learningRate: configuration.learningRate, regularization: configuration.regularization)
                                }
                            }
                        }
                    }
                }
            }
        }
        y[k] = biasI
        return y
    }
}
