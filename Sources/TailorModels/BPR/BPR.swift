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
    public static func fit(_ data: TrainingData, configuration c: Configuration = .init(), progress: ProgressHandler? = nil) throws -> BPR {
        let m = data.matrix.userItems
        guard m.nonZeroCount > 0 else {
            throw ModelError(reason: "no interactions to learn from (\(data.userCount) users, \(data.itemCount) items)")
        }
        guard c.factors >= 1, c.epochs >= 0, c.learningRate > 0, c.regularization >= 0 else {
            throw ModelError(reason: "BPR needs factors ≥ 1, epochs ≥ 0, a positive learning rate and regularization ≥ 0")
        }
        guard data.itemCount >= 2 else { throw ModelError(reason: "BPR needs at least two items to rank") }
        let start = monotonicSeconds()
        let d = c.factors + 1
        var rng = TailorRandom(seed: c.seed)
        var users = Matrix(rows: data.userCount, columns: d, storage: (0..<(data.userCount * d)).map { _ in (rng.nextFloat() - 0.5) / Float(c.factors) })
        var items = Matrix(rows: data.itemCount, columns: d, storage: (0..<(data.itemCount * d)).map { _ in (rng.nextFloat() - 0.5) / Float(c.factors) })
        for u in 0..<data.userCount { users[u, c.factors] = 1 }
        for i in 0..<data.itemCount { items[i, c.factors] = 0 }
        let blocks = max(1, min(effectiveThreadCount(c.threads), data.userCount, data.itemCount))
        let owner = rowOfEachEntry(m)
        let popularity: [Float] = {
            var counts = [Float](repeating: 0, count: data.itemCount)
            for i in m.columnIndices { counts[Int(i)] += 1 }
            return counts.map { pow($0, c.popularityExponent) }
        }()
        for epoch in 0..<c.epochs {
            let strata = Strata(m, blocks: blocks, userOfPosition: owner, rng: &rng)
            // Cumulative popularity per item block, for popularity sampling.
            let cumulative = strata.itemsInBlock.map { members -> [Float] in
                var s: Float = 0
                return members.map { s += popularity[Int($0)] + 1e-6; return s }
            }
            let stats = UnsafeMutablePointer<Double>.allocate(capacity: 2 * blocks * blocks)
            stats.initialize(repeating: 0, count: 2 * blocks * blocks)
            defer { stats.deallocate() }
            users.withUnsafeMutableBufferPointer { up in
                items.withUnsafeMutableBufferPointer { ip in
                    let shared = SharedParameters(users: up.baseAddress!, items: ip.baseAddress!)
                    let statsBox = UnsafeSendableBox(stats)
                    strata.runEpoch(epoch: epoch, seed: c.seed) { positions, block, cell, rng in
                        let members = strata.itemsInBlock[block]
                        guard !members.isEmpty else { return }
                        var order = Array(positions)
                        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
                        var correct = 0.0, loss = 0.0
                        for p in order {
                            let u = Int(owner[p]), i = Int(m.columnIndices[p])
                            guard let j = BPR.sampleNegative(for: u, members: members, cumulative: cumulative[block],
                                                             sampling: c.negativeSampling, positives: m, rng: &rng) else { continue }
                            let z = BPR.step(shared.users + u * d, shared.items + i * d, shared.items + j * d,
                                             factors: c.factors, learningRate: c.learningRate, regularization: c.regularization)
                            if z > 0 { correct += 1 }
                            loss += Double(log1p(exp(-z)))
                        }
                        statsBox.value[2 * cell] = correct
                        statsBox.value[2 * cell + 1] = loss
                    }
                }
            }
            var correct = 0.0, loss = 0.0
            for cell in 0..<(blocks * blocks) { correct += stats[2 * cell]; loss += stats[2 * cell + 1] }
            let n = Double(max(1, m.nonZeroCount))
            progress?(TrainingEvent(model: kind, step: epoch + 1, totalSteps: c.epochs, elapsedSeconds: monotonicSeconds() - start,
                                    metrics: ["loss": loss / n, "train_auc": correct / n]))
        }
        return BPR(configuration: c, userFactors: users, itemFactors: items)
    }

    /// A negative for `user` from the cell's items, resampled up to 16 times if it is a positive.
    @inline(__always)
    static func sampleNegative(for user: Int, members: [Int32], cumulative: [Float], sampling: NegativeSampling,
                               positives: CSRMatrix, rng: inout TailorRandom) -> Int? {
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
            if !binarySearch(positives.columns(inRow: user), candidate) { return Int(candidate) }
        }
        return nil
    }

    /// One SGD step on the triple (u, i, j); returns `xᵤ·(yᵢ − yⱼ)` before the update.
    @inline(__always)
    static func step(_ x: UnsafeMutablePointer<Float>, _ yi: UnsafeMutablePointer<Float>, _ yj: UnsafeMutablePointer<Float>,
                     factors k: Int, learningRate lr: Float, regularization reg: Float) -> Float {
        var z = yi[k] - yj[k]
        z += Kernels.dot(x, yi, count: k) - Kernels.dot(x, yj, count: k)
        let g = 1 / (1 + exp(z))  // σ(−z): the gradient weight of ln σ(z)
        for f in 0..<k {
            let xf = x[f], yif = yi[f], yjf = yj[f]
            x[f] = xf + lr * (g * (yif - yjf) - reg * xf)
            yi[f] = yif + lr * (g * xf - reg * yif)
            yj[f] = yjf + lr * (-g * xf - reg * yjf)
        }
        yi[k] += lr * (g - reg * yi[k])
        yj[k] += lr * (-g - reg * yj[k])
        return z
    }
}
