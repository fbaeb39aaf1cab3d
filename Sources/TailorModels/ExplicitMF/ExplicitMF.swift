import Foundation
import TailorData
import TailorLinalg

/// A model that predicts the rating a user would give an item (for RMSE and MAE).
public protocol RatingPredictor: Recommender {
    /// The predicted rating of `item` by `user`.
    func predictRating(user: Int32, item: Int32) -> Float
}

/// Matrix factorization of explicit ratings: `r̂ᵤᵢ = μ + bᵤ + bᵢ + pᵤ·qᵢ`.
///
/// Two solvers: stochastic gradient descent over the ratings with user and item biases
/// ("Funk SVD"; Koren, Bell and Volinsky, "Matrix Factorization Techniques for Recommender
/// Systems", IEEE Computer 2009), parallel and deterministic by stratification; and ALS with
/// weighted-λ regularization (Zhou, Wilkinson, Schreiber and Pan, "Large-Scale Parallel
/// Collaborative Filtering for the Netflix Prize", AAIM 2008), which solves each user's and
/// item's ridge regression exactly with penalty `λ·nᵤ` (biases stay zero; ratings are centred on
/// μ). Unlike implicit-feedback models it learns only from observed ratings, so it predicts
/// ratings well (RMSE, MAE) but ranks the whole catalogue less well than ALS or BPR.
public struct ExplicitMF: FactorModel, TrainableRecommender, HistoryScoring, RatingPredictor {
    /// The model family name, `mf`.
    public static let kind = "mf"

    /// The solver.
    public enum Solver: String, Sendable, Codable, CaseIterable {
        /// SGD with biases.
        case sgd
        /// ALS with weighted-λ regularization.
        case alsWR = "als-wr"
    }

    /// Explicit MF hyperparameters.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Vector length.
        public var factors = 32
        /// SGD epochs or ALS iterations.
        public var epochs = 20
        /// SGD step size.
        public var learningRate: Float = 0.01
        /// L2 penalty on the vectors (SGD: per step; ALS-WR: λ, scaled by each row's count).
        public var regularization: Float = 0.05
        /// L2 penalty on the biases (SGD).
        public var biasRegularization: Float = 0.01
        /// Solver.
        public var solver: Solver = .sgd
        /// Standard deviation of the initial vectors.
        public var initialScale: Float = 0.1
        /// Seed.
        public var seed: UInt64 = 1
        /// Worker threads (0: all cores); deterministic for a given value.
        public var threads = 0

        /// A configuration; every parameter has the documented default.
        public init(factors: Int = 32, epochs: Int = 20, learningRate: Float = 0.01, regularization: Float = 0.05,
                    solver: Solver = .sgd, seed: UInt64 = 1, threads: Int = 0) {
            self.factors = factors
            self.epochs = epochs
            self.learningRate = learningRate
            self.regularization = regularization
            self.solver = solver
            self.seed = seed
            self.threads = threads
        }
    }

    /// The configuration used.
    public let configuration: Configuration
    /// Mean training rating μ.
    public let globalMean: Float
    /// User biases bᵤ.
    public let userBias: [Float]
    /// `users × (factors + 1)`: pᵤ and a constant 1.
    public let userFactors: Matrix
    /// `items × (factors + 1)`: qᵢ and the item bias bᵢ, so `userFactors·itemFactorsᵀ = pᵤ·qᵢ + bᵢ`
    /// ranks items exactly as the predicted rating does.
    public let itemFactors: Matrix

    /// A model from known parameters.
    public init(configuration: Configuration, globalMean: Float, userBias: [Float], userFactors: Matrix, itemFactors: Matrix) {
        precondition(userBias.count == userFactors.rows && userFactors.columns == itemFactors.columns, "MF parameter shapes disagree")
        self.configuration = configuration
        self.globalMean = globalMean
        self.userBias = userBias
        self.userFactors = userFactors
        self.itemFactors = itemFactors
    }

    /// `μ + bᵤ + pᵤ·qᵢ + bᵢ`.
    public func predictRating(user: Int32, item: Int32) -> Float {
        let d = userFactors.columns
        let dot = userFactors.withUnsafeBufferPointer { u in
            itemFactors.withUnsafeBufferPointer { v in Kernels.dot(u.baseAddress! + Int(user) * d, v.baseAddress! + Int(item) * d, count: d) }
        }
        return globalMean + userBias[Int(user)] + dot
    }

    /// Fits the ratings in `data.matrix` (its values are the ratings).
    public static func fit(_ data: TrainingData, configuration c: Configuration = .init(), progress: ProgressHandler? = nil) throws -> ExplicitMF {
        let m = data.matrix.userItems
        guard m.nonZeroCount > 0 else {
            throw ModelError(reason: "no ratings to learn from (\(data.userCount) users, \(data.itemCount) items)")
        }
        guard c.factors >= 1, c.epochs >= 0, c.learningRate > 0, c.regularization >= 0, c.biasRegularization >= 0 else {
            throw ModelError(reason: "explicit MF needs factors ≥ 1, epochs ≥ 0, a positive learning rate and non-negative regularization")
        }
        let start = monotonicSeconds()
        let k = c.factors, d = k + 1
        let mean = Float(m.values.reduce(0.0) { $0 + Double($1) } / Double(m.nonZeroCount))
        var rng = TailorRandom(seed: c.seed)
        var users = Matrix(rows: data.userCount, columns: d, storage: (0..<(data.userCount * d)).map { _ in Float(rng.nextGaussian()) * c.initialScale })
        var items = Matrix(rows: data.itemCount, columns: d, storage: (0..<(data.itemCount * d)).map { _ in Float(rng.nextGaussian()) * c.initialScale })
        for u in 0..<data.userCount { users[u, k] = 1 }
        for i in 0..<data.itemCount { items[i, k] = 0 }
        var userBias = [Float](repeating: 0, count: data.userCount)
        let owner = rowOfEachEntry(m)
        let threads = effectiveThreadCount(c.threads)
        let blocks = strataBlocks(threads: threads, users: data.userCount, items: data.itemCount)
        for epoch in 0..<c.epochs {
            switch c.solver {
            case .sgd:
                let strata = Strata(m, blocks: blocks, userOfPosition: owner, threads: threads, rng: &rng)
                users.withUnsafeMutableBufferPointer { up in
                    items.withUnsafeMutableBufferPointer { ip in
                        userBias.withUnsafeMutableBufferPointer { bp in
                            let shared = SharedParameters(users: up.baseAddress!, items: ip.baseAddress!)
                            let bias = UnsafeSendable(bp.baseAddress!)
                            strata.runEpoch(epoch: epoch, seed: c.seed, threads: threads) { entries, _, _, rng in
                                // Every rating of the cell once, in random order.
                                var order = Array(entries)
                                for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
                                for e in order {
                                    let u = Int(strata.users[e]), i = Int(strata.items[e])
                                    ExplicitMF.sgdStep(shared.users + u * d, shared.items + i * d, bias.value + u, rating: strata.values[e],
                                                       mean: mean, k: k, c)
                                }
                            }
                        }
                    }
                }
            case .alsWR:
                try alternate(&users, fixed: items, m, mean: mean, c)
                try alternate(&items, fixed: users, data.matrix.itemUsers, mean: mean, c)
            }
            let model = ExplicitMF(configuration: c, globalMean: mean, userBias: userBias, userFactors: users, itemFactors: items)
            progress?(TrainingEvent(model: kind, step: epoch + 1, totalSteps: c.epochs, elapsedSeconds: monotonicSeconds() - start,
                                    metrics: ["train_rmse": model.rootMeanSquaredError(on: m)]))
        }
        return ExplicitMF(configuration: c, globalMean: mean, userBias: userBias, userFactors: users, itemFactors: items)
    }

    /// One SGD step on a rating.
    @inline(__always)
    static func sgdStep(_ p: UnsafeMutablePointer<Float>, _ q: UnsafeMutablePointer<Float>, _ bu: UnsafeMutablePointer<Float>,
                        rating: Float, mean: Float, k: Int, _ c: Configuration) {
        let lr = c.learningRate, reg = c.regularization, regB = c.biasRegularization
        let prediction = mean + bu.pointee + q[k] + Kernels.dot(p, q, count: k)
        let e = rating - prediction
        bu.pointee += lr * (e - regB * bu.pointee)
        q[k] += lr * (e - regB * q[k])
        for f in 0..<k {
            let pf = p[f], qf = q[f]
            p[f] = pf + lr * (e * qf - reg * pf)
            q[f] = qf + lr * (e * pf - reg * qf)
        }
    }

    /// One ALS-WR half-step: every row of `target` solves its ridge regression against `fixed`
    /// with penalty λ·(row count) on the vector part; the last column is kept (1 or 0).
    static func alternate(_ target: inout Matrix, fixed: Matrix, _ ratings: CSRMatrix, mean: Float, _ c: Configuration) throws {
        let k = c.factors, d = k + 1
        let threads = effectiveThreadCount(c.threads)
        let fixedVectors = Matrix(rows: fixed.rows, columns: k, storage: (0..<fixed.rows).flatMap { fixed.row($0).prefix(k) })
        let block = 256
        let scratchSize = Kernels.ridgeScratchCount(k: k, block: block) + 2 * k
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchSize * threads)
        defer { scratch.deallocate() }
        let targets = ratings.values.map { $0 - mean }
        fixedVectors.withUnsafeBufferPointer { f in
            target.withUnsafeMutableBufferPointer { t in
                targets.withUnsafeBufferPointer { tv in
                    ratings.columnIndices.withUnsafeBufferPointer { idx in
                        let shared = UnsafeSendable((f.baseAddress!, t.baseAddress!, tv.baseAddress, idx.baseAddress, scratch))
                        parallelFor(ratings.rows, chunkSize: 64, threads: threads) { chunk in
                            let (f, t, tv, idx, scratch) = shared.value
                            let s = scratch + chunk.worker * scratchSize
                            let penalty = s + Kernels.ridgeScratchCount(k: k, block: block), x = penalty + k
                            for r in chunk.range {
                                let range = ratings.range(ofRow: r)
                                let row = t + r * d
                                guard let idx, let tv, !range.isEmpty else { row.update(repeating: 0, count: k); continue }
                                penalty.update(repeating: c.regularization * Float(range.count), count: k)
                                if Kernels.ridgeLeastSquares(factors: f, k: k, indices: idx + range.lowerBound, targets: tv + range.lowerBound,
                                                             count: range.count, penalty: penalty, x: x, scratch: s, block: block) {
                                    row.update(from: x, count: k)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Root mean squared error on the stored ratings of `ratings` (users × items).
    public func rootMeanSquaredError(on ratings: CSRMatrix) -> Double {
        var sum = 0.0
        for u in 0..<min(ratings.rows, userCount) {
            for p in ratings.range(ofRow: u) where Int(ratings.columnIndices[p]) < itemCount {
                let e = Double(ratings.values[p] - predictRating(user: Int32(u), item: ratings.columnIndices[p]))
                sum += e * e
            }
        }
        return (sum / Double(max(1, ratings.nonZeroCount))).squareRoot()
    }
}

extension ExplicitMF {
    /// The vector and bias a new user with `history` (whose values are ratings) would get: the
    /// ridge regression of `r − μ − bᵢ` on `[qᵢ, 1]`, penalties λ·n and bias-λ·n. O(n·k² + k³).
    public func foldIn(_ history: UserHistory) -> (vector: [Float], bias: Float) {
        let k = configuration.factors
        let kept = history.items.indices.filter { history.items[$0] >= 0 && Int(history.items[$0]) < itemCount }
        guard !kept.isEmpty else { return ([Float](repeating: 0, count: k) + [1], 0) }
        // Features [qᵢ, 1] for the history items.
        var features = Matrix(rows: kept.count, columns: k + 1)
        var targets = [Float]()
        for (r, t) in kept.enumerated() {
            let i = Int(history.items[t])
            for f in 0..<k { features[r, f] = itemFactors[i, f] }
            features[r, k] = 1
            targets.append(history.values[t] - globalMean - itemFactors[i, k])
        }
        let n = Float(kept.count)
        let penalty = [Float](repeating: configuration.regularization * n, count: k) + [configuration.biasRegularization * n]
        var x = [Float](repeating: 0, count: k + 1)
        var scratch = [Float](repeating: 0, count: Kernels.ridgeScratchCount(k: k + 1, block: 256))
        let indices = (0..<Int32(kept.count)).map { $0 }
        _ = features.withUnsafeBufferPointer { fp in
            Kernels.ridgeLeastSquares(factors: fp.baseAddress!, k: k + 1, indices: indices, targets: targets, count: kept.count,
                                      penalty: penalty, x: &x, scratch: &scratch)
        }
        return (Array(x.prefix(k)) + [1], x[k])
    }

    /// Scores (predicted ratings less the constant μ + bᵤ) for a folded-in user.
    public func scores(for history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let (x, _) = foldIn(history)
        itemFactors.withUnsafeBufferPointer { y in
            x.withUnsafeBufferPointer { xp in
                Kernels.gemv(y.baseAddress!, lda: itemFactors.columns, rows: itemCount, columns: itemFactors.columns,
                             xp.baseAddress!, scores.baseAddress!)
            }
        }
    }

    /// Parameters as tensors.
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        ["user_factors": .init(userFactors), "item_factors": .init(itemFactors), "user_bias": .init(userBias, shape: [userBias.count]),
         "global_mean": .init([globalMean], shape: [1])]
    }

    /// The configuration.
    public func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try ConfigurationPatch.encode(configuration)])
    }

    /// Restores a model written by ``archiveTensors()``.
    public init(archiveTensors t: [String: SafeTensors.Tensor], configuration: JSONValue) throws {
        guard let users = t["user_factors"]?.matrix(), let items = t["item_factors"]?.matrix(), users.columns == items.columns,
              let bias = t["user_bias"]?.floats(), bias.count == users.rows, let mean = t["global_mean"]?.floats().first else {
            throw ModelError(reason: "the MF model file lacks consistent factors, biases and mean")
        }
        guard case .object(let fields) = configuration, let c = fields["configuration"] else {
            throw ModelError(reason: "the MF manifest lacks its configuration")
        }
        let decoded = try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration")
        try ArchiveChecks.factorWidth(users.columns, configured: decoded.factors + 1, model: "MF")  // + the bias column
        self.init(configuration: decoded, globalMean: mean, userBias: bias, userFactors: users, itemFactors: items)
    }
}
