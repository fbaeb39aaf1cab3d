import Foundation
import TailorData
import TailorLinalg

/// Bayesian personalized ranking (Rendle, Freudenthaler, Gantner and Schmidt-Thieme, "BPR:
/// Bayesian Personalized Ranking from Implicit Feedback", UAI 2009), trained by SGD.
///
/// For a user `u`, an item `i` they interacted with and a sampled item `j` they did not, BPR
/// maximises `ln σ(xᵤ·yᵢ − xᵤ·yⱼ) − λ‖θ‖²`. Items carry a learned bias (an extra vector
/// component whose user side is fixed at 1). Negatives are sampled uniformly or by popularity
/// (`count^exponent`), and resampled when they turn out to be positives. Training is parallel,
/// lock-free and deterministic for a seed and thread count (see stratified SGD in `Strata`).
public struct BPR: FactorModel, TrainableRecommender, HistoryScoring {
    /// The model family name, `bpr`.
    public static let kind = "bpr"

    /// How negative items are drawn.
    public enum NegativeSampling: String, Sendable, Codable, CaseIterable {
        /// Every non-positive item equally likely.
        case uniform
        /// Proportional to `interactions^popularityExponent`: popular items make harder negatives.
        case popularity
    }

    /// BPR hyperparameters.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Vector length (the item bias is one more component).
        public var factors = 64
        /// Passes over the positive interactions.
        public var epochs = 50
        /// SGD step size.
        public var learningRate: Float = 0.05
        /// L2 penalty on the vectors and biases touched by each step.
        public var regularization: Float = 0.001
        /// Negative sampling scheme.
        public var negativeSampling: NegativeSampling = .uniform
        /// Exponent for popularity-based sampling.
        public var popularityExponent: Float = 0.75
        /// Seed for initialization and sampling.
        public var seed: UInt64 = 1
        /// Worker threads (0: all cores); results are deterministic for a given value.
        public var threads = 0

        /// A configuration; every parameter has the documented default.
        public init(factors: Int = 64, epochs: Int = 50, learningRate: Float = 0.05, regularization: Float = 0.001,
                    negativeSampling: NegativeSampling = .uniform, seed: UInt64 = 1, threads: Int = 0) {
            self.factors = factors
            self.epochs = epochs
            self.learningRate = learningRate
            self.regularization = regularization
            self.negativeSampling = negativeSampling
            self.seed = seed
            self.threads = threads
        }
    }

    /// The configuration used.
    public let configuration: Configuration
    /// `users × (factors + 1)`; the last column is 1.
    public let userFactors: Matrix
    /// `items × (factors + 1)`; the last column is the item bias.
    public let itemFactors: Matrix

    /// A model from known factors (the extra bias column included).
    public init(configuration: Configuration, userFactors: Matrix, itemFactors: Matrix) {
        precondition(userFactors.columns == itemFactors.columns, "user and item factors differ in width")
        self.configuration = configuration
        self.userFactors = userFactors
        self.itemFactors = itemFactors
    }

    /// Trains by stratified SGD. O(epochs · nnz · factors).
    ///
    /// Each epoch draws as many (user, positive) pairs as there are interactions, uniformly with
    /// replacement within each stratum (as implicit does overall), each with one negative.
    public static func fit(_ data: TrainingData, configuration c: Configuration = .init(), progress: ProgressHandler? = nil) throws -> BPR {
        let m = data.matrix.userItems
        guard m.nonZeroCount > 0 else {
            throw ModelError(.emptyData, reason: "no interactions to learn from (\(data.userCount) users, \(data.itemCount) items)")
        }
        guard c.factors >= 1, c.epochs >= 0, c.learningRate > 0, c.regularization >= 0 else {
            throw ModelError(reason: "BPR needs factors ≥ 1, epochs ≥ 0, a positive learning rate and regularization ≥ 0")
        }
        guard data.itemCount >= 2 else { throw ModelError(reason: "BPR needs at least two items to rank") }
        let start = monotonicSeconds()
        let k = c.factors
        var rng = TailorRandom(seed: c.seed)
        // Vectors k wide (rows stay cache-line friendly); item biases apart.
        var users = Matrix(rows: data.userCount, columns: k, storage: (0..<(data.userCount * k)).map { _ in (rng.nextFloat() - 0.5) / Float(k) })
        var items = Matrix(rows: data.itemCount, columns: k, storage: (0..<(data.itemCount * k)).map { _ in (rng.nextFloat() - 0.5) / Float(k) })
        var bias = [Float](repeating: 0, count: data.itemCount)
        let threads = effectiveThreadCount(c.threads)
        let blocks = strataBlocks(threads: threads, users: data.userCount, items: data.itemCount)
        let owner = rowOfEachEntry(m)
        let popularity: [Float] = {
            var counts = [Float](repeating: 0, count: data.itemCount)
            for i in m.columnIndices { counts[Int(i)] += 1 }
            return counts.map { pow($0, c.popularityExponent) }
        }()
        let stats = UnsafeMutablePointer<Double>.allocate(capacity: 2 * blocks * blocks)
        defer { stats.deallocate() }
        // Raw pointers taken once for the whole fit: an ArraySlice per sample would retain and
        // release the shared buffers, an atomic operation whose cache line bounces between workers.
        m.rowPointers.withUnsafeBufferPointer { rowPointers in
        m.columnIndices.withUnsafeBufferPointer { columnIndices in
        let positives = PositiveLookup(rowPointers: rowPointers.baseAddress!, columnIndices: columnIndices.baseAddress!)
        for epoch in 0..<c.epochs {
            let strata = Strata(m, blocks: blocks, userOfPosition: owner, threads: threads, rng: &rng)
            // Cumulative popularity per item block, for popularity sampling.
            let cumulative = c.negativeSampling == .uniform ? [] : strata.itemsInBlock.map { members -> [Float] in
                var s: Float = 0
                return members.map { s += popularity[Int($0)] + 1e-6; return s }
            }
            stats.initialize(repeating: 0, count: 2 * blocks * blocks)
            users.withUnsafeMutableBufferPointer { up in
                items.withUnsafeMutableBufferPointer { ip in
                    bias.withUnsafeMutableBufferPointer { bp in
                        let shared = UnsafeSendable((up.baseAddress!, ip.baseAddress!, bp.baseAddress!, stats))
                        strata.runEpoch(epoch: epoch, seed: c.seed, threads: threads) { entries, block, cell, rng in
                            let (up, ip, bp, stats) = shared.value
                            let members = strata.itemsInBlock[block]
                            guard !members.isEmpty, !entries.isEmpty else { return }
                            var correct = 0.0, loss = 0.0
                            let cumulativeHere = cumulative.isEmpty ? [] : cumulative[block]
                            strata.users.withUnsafeBufferPointer { cu in
                            strata.items.withUnsafeBufferPointer { ci in
                            members.withUnsafeBufferPointer { mp in
                            cumulativeHere.withUnsafeBufferPointer { cp in
                                    for _ in 0..<entries.count {
                                        let e = entries.lowerBound + rng.nextInt(below: entries.count)
                                        let u = Int(cu[e]), i = Int(ci[e])
                                        guard let j = BPR.sampleNegative(for: u, members: mp, cumulative: cp,
                                                                         sampling: c.negativeSampling, positives: positives, rng: &rng) else { continue }
                                        let z = BPR.step(up + u * k, ip + i * k, ip + j * k, bp + i, bp + j, factors: k,
                                                         learningRate: c.learningRate, regularization: c.regularization)
                                        if z > 0 { correct += 1 }
                                        if progress != nil { loss += Double(log1p(exp(-z))) }
                                    }
                            }
                            }
                            }
                            }
                            stats[2 * cell] = correct
                            stats[2 * cell + 1] = loss
                        }
                    }
                }
            }
            var correct = 0.0, loss = 0.0
            for cell in 0..<(blocks * blocks) { correct += stats[2 * cell]; loss += stats[2 * cell + 1] }
            let n = Double(max(1, m.nonZeroCount))
            progress?(TrainingEvent(model: kind, step: epoch + 1, totalSteps: c.epochs, elapsedSeconds: monotonicSeconds() - start,
                                    metrics: ["loss": loss / n, "train_auc": correct / n]))
        }
        }
        }
        // Scoring form: users [x, 1], items [y, bias].
        var userFactors = Matrix(rows: data.userCount, columns: k + 1)
        var itemFactors = Matrix(rows: data.itemCount, columns: k + 1)
        for u in 0..<data.userCount { for f in 0..<k { userFactors[u, f] = users[u, f] }; userFactors[u, k] = 1 }
        for i in 0..<data.itemCount { for f in 0..<k { itemFactors[i, f] = items[i, f] }; itemFactors[i, k] = bias[i] }
        return BPR(configuration: c, userFactors: userFactors, itemFactors: itemFactors)
    }

    /// A negative for `user` from the cell's items, resampled up to 16 times if it is a positive.
    @inline(__always)
    static func sampleNegative(for user: Int, members: UnsafeBufferPointer<Int32>, cumulative: UnsafeBufferPointer<Float>,
                               sampling: NegativeSampling, positives: PositiveLookup, rng: inout TailorRandom) -> Int? {
        for _ in 0..<16 {
            let candidate: Int32
            switch sampling {
            case .uniform:
                candidate = members[rng.nextInt(below: members.count)]
            case .popularity:
                let target = rng.nextFloat() * cumulative[cumulative.count - 1]
                var lo = 0, hi = cumulative.count - 1
                while lo < hi { let mid = (lo + hi) / 2; if cumulative[mid] > target { hi = mid } else { lo = mid + 1 } }
                candidate = members[lo]
            }
            if !positives.contains(user: user, item: candidate) { return Int(candidate) }
        }
        return nil
    }

    /// One SGD step on the triple (u, i, j) with item biases `bi`, `bj`; returns
    /// `xᵤ·(yᵢ − yⱼ) + bᵢ − bⱼ` before the update.
    @inline(__always)
    static func step(_ x: UnsafeMutablePointer<Float>, _ yi: UnsafeMutablePointer<Float>, _ yj: UnsafeMutablePointer<Float>,
                     _ bi: UnsafeMutablePointer<Float>, _ bj: UnsafeMutablePointer<Float>,
                     factors k: Int, learningRate lr: Float, regularization reg: Float) -> Float {
        let z = bi.pointee - bj.pointee + Kernels.dot(x, yi, count: k) - Kernels.dot(x, yj, count: k)
        let g = 1 / (1 + exp(z))  // σ(−z): the gradient weight of ln σ(z)
        Kernels.bprUpdate(x, yi, yj, count: k, learningRate: lr, gradient: g, regularization: reg)
        bi.pointee += lr * (g - reg * bi.pointee)
        bj.pointee += lr * (-g - reg * bj.pointee)
        return z
    }
}

/// Membership tests on a users × items CSR matrix through raw pointers (no ARC traffic in hot
/// loops). Only valid inside the `withUnsafeBufferPointer` scopes the pointers came from.
struct PositiveLookup: @unchecked Sendable {
    let rowPointers: UnsafePointer<Int>
    let columnIndices: UnsafePointer<Int32>

    /// Whether `user` has `item`. O(log row length).
    @inline(__always)
    func contains(user: Int, item: Int32) -> Bool {
        var lo = rowPointers[user], hi = rowPointers[user + 1]
        while lo < hi {
            let mid = (lo + hi) >> 1
            if columnIndices[mid] < item { lo = mid + 1 } else { hi = mid }
        }
        return lo < rowPointers[user + 1] && columnIndices[lo] == item
    }
}
