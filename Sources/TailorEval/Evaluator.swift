import Foundation
import TailorData
import TailorLinalg
import TailorModels

/// Full-ranking offline evaluation: every user with held-out items gets a ranking of the whole
/// catalogue (minus their training items), and the ranking metrics of ``Metrics`` are averaged
/// over those users.
///
/// No sampling of negatives: sampled metrics can reorder models (Krichene and Rendle, "On
/// Sampled Metrics for Item Recommendation", KDD 2020).
public enum Evaluator {
    /// What to compute.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Cut-offs; each metric is reported at each K.
        public var ks: [Int] = [5, 10, 20]
        /// Compute AUC (needs one pass over all scores per user).
        public var computeAUC = true
        /// Worker threads (0: all cores).
        public var threads = 0

        /// A configuration.
        public init(ks: [Int] = [5, 10, 20], computeAUC: Bool = true, threads: Int = 0) {
            self.ks = ks
            self.computeAUC = computeAUC
            self.threads = threads
        }
    }

    /// Evaluates `model` on `test`, excluding `train` items from every ranking.
    ///
    /// - Parameters:
    ///   - train: users × items in the model's positions; items a user has here are never
    ///     recommended to them, and never count as test items.
    ///   - test: users × items in the model's positions, the held-out interactions.
    /// - Returns: per-K means over users with at least one test item not in train.
    public static func evaluate(_ model: any Recommender, train: CSRMatrix, test: CSRMatrix,
                                configuration: Configuration = .init()) -> EvaluationReport {
        evaluate(name: type(of: model).kind, userCount: model.userCount, itemCount: model.itemCount, train: train, test: test,
                 configuration: configuration) { users, buffer in model.scores(users: users, into: buffer, threads: 1) }
    }

    /// Evaluates any scorer: `scores(users, buffer)` writes the score of every one of
    /// `itemCount` items for each of `users` (row-major). Used for protocols where the "users"
    /// or "items" are not a model's own rows (cold users scored from profiles, cold items from
    /// content). Called from several threads at once.
    public static func evaluate(name: String, userCount: Int, itemCount n: Int, train: CSRMatrix, test: CSRMatrix,
                                configuration: Configuration = .init(),
                                scores: @escaping @Sendable ([Int32], UnsafeMutableBufferPointer<Float>) -> Void) -> EvaluationReport {
        let ks = Array(Set(configuration.ks.filter { $0 > 0 })).sorted()
        precondition(!ks.isEmpty, "evaluation needs at least one positive K")
        let maxK = ks.last!
        // Users with test items that are not in their training set.
        var users: [Int32] = []
        var relevant: [[Int32]] = []
        var overlapping = 0
        for u in 0..<min(test.rows, userCount) {
            let items = test.columns(inRow: u).filter { Int($0) < n && !(u < train.rows && contains(train.columns(inRow: u), $0)) }
            overlapping += test.count(ofRow: u) - items.count
            if !items.isEmpty { users.append(Int32(u)); relevant.append(items) }
        }
        let metricNames = ["precision", "recall", "ndcg", "mrr", "hit_rate", "map"]
        let threads = effectiveThreadCount(configuration.threads)
        let block = 32
        let chunks = (users.count + block - 1) / block
        // Per chunk: sums per (metric, K), AUC sum and count, recommended item sets per K.
        struct Partial { var sums: [Double]; var aucSum = 0.0; var aucUsers = 0; var recommended: [Set<Int32>] }
        let partials = UnsafeMutableBufferPointer<Partial>.allocate(capacity: max(1, chunks))
        partials.initialize(repeating: Partial(sums: [], recommended: []))
        defer { partials.deallocate() }
        let buffers = (0..<threads).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: block * n) }
        defer { buffers.forEach { $0.deallocate() } }
        let shared = UnsafeSendable((partials, buffers))
        parallelFor(users.count, chunkSize: block, threads: threads) { chunk in
            let (partials, buffers) = shared.value
            let batch = Array(users[chunk.range])
            let buffer = buffers[chunk.worker]
            scores(batch, UnsafeMutableBufferPointer(rebasing: buffer[0..<(batch.count * n)]))
            var partial = Partial(sums: [Double](repeating: 0, count: metricNames.count * ks.count),
                                  recommended: [Set<Int32>](repeating: [], count: ks.count))
            var topIndices = [Int32](repeating: 0, count: maxK), topScores = [Float](repeating: 0, count: maxK)
            for (r, user) in batch.enumerated() {
                let row = buffer.baseAddress! + r * n
                if Int(user) < train.rows {
                    for item in train.columns(inRow: Int(user)) where Int(item) < n { row[Int(item)] = -.infinity }
                }
                let found = Kernels.topK(row, count: n, k: maxK, outIndices: &topIndices, outScores: &topScores)
                let ranked = Array(topIndices.prefix(found))
                let rel = relevant[chunk.range.lowerBound + r]
                let relSet = Set(rel)
                for (ki, k) in ks.enumerated() {
                    let values = [Metrics.precision(ranked, relSet, k: k), Metrics.recall(ranked, relSet, k: k),
                                  Metrics.ndcg(ranked, relSet, k: k), Metrics.reciprocalRank(ranked, relSet, k: k),
                                  Metrics.hitRate(ranked, relSet, k: k), Metrics.averagePrecision(ranked, relSet, k: k)]
                    for (mi, v) in values.enumerated() { partial.sums[mi * ks.count + ki] += v }
                    partial.recommended[ki].formUnion(ranked.prefix(k))
                }
                if configuration.computeAUC, let auc = Metrics.auc(scores: UnsafeBufferPointer(start: row, count: n), relevant: rel) {
                    partial.aucSum += auc
                    partial.aucUsers += 1
                }
            }
            partials[chunk.index] = partial
        }
        var sums = [Double](repeating: 0, count: metricNames.count * ks.count)
        var aucSum = 0.0, aucUsers = 0
        var recommended = [Set<Int32>](repeating: [], count: ks.count)
        for p in partials where !p.sums.isEmpty {
            for i in sums.indices { sums[i] += p.sums[i] }
            aucSum += p.aucSum; aucUsers += p.aucUsers
            for ki in ks.indices { recommended[ki].formUnion(p.recommended[ki]) }
        }
        let denominator = Double(max(1, users.count))
        var atK: [EvaluationReport.AtK] = []
        for (ki, k) in ks.enumerated() {
            var values: [String: Double] = [:]
            for (mi, name) in metricNames.enumerated() { values[name] = sums[mi * ks.count + ki] / denominator }
            values["coverage"] = n == 0 ? 0 : Double(recommended[ki].count) / Double(n)
            atK.append(.init(k: k, metrics: values))
        }
        return EvaluationReport(model: name, users: users.count,
                                testInteractions: relevant.reduce(0) { $0 + $1.count },
                                testInteractionsAlreadyInTrain: overlapping,
                                auc: configuration.computeAUC && aucUsers > 0 ? aucSum / Double(aucUsers) : nil,
                                atK: atK)
    }

    /// Root mean squared and mean absolute error of predicted ratings on the stored values of
    /// `test` (users × items in the model's positions).
    public static func ratingErrors(_ model: any RatingPredictor, test: CSRMatrix) -> RatingErrors {
        var squared = 0.0, absolute = 0.0, count = 0
        for u in 0..<min(test.rows, model.userCount) {
            for p in test.range(ofRow: u) where Int(test.columnIndices[p]) < model.itemCount {
                let e = Double(test.values[p] - model.predictRating(user: Int32(u), item: test.columnIndices[p]))
                squared += e * e
                absolute += abs(e)
                count += 1
            }
        }
        let n = Double(max(1, count))
        return RatingErrors(rmse: (squared / n).squareRoot(), mae: absolute / n, count: count)
    }

    static func contains(_ sorted: ArraySlice<Int32>, _ x: Int32) -> Bool {
        var lo = sorted.startIndex, hi = sorted.endIndex
        while lo < hi { let m = (lo + hi) / 2; if sorted[m] < x { lo = m + 1 } else { hi = m } }
        return lo < sorted.endIndex && sorted[lo] == x
    }
}

/// Errors of predicted ratings.
public struct RatingErrors: Sendable, Codable, Equatable {
    /// √(mean (r − r̂)²).
    public var rmse: Double
    /// mean |r − r̂|.
    public var mae: Double
    /// Ratings compared.
    public var count: Int
}


