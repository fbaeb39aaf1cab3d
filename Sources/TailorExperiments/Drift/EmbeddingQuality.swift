import Foundation
import TailorData
import TailorLinalg
import TailorModels

/// How well a served model's embeddings still fit: its NDCG@10 on what users did in a recent
/// window (a rolling validation set, the window's events on items the user did not have in
/// training), and how clearly its user vectors cluster (the mean silhouette of their segments).
public struct EmbeddingQuality: Sendable, Codable, Equatable {
    /// NDCG@10 of the model's rankings (training items excluded) against each sampled user's new
    /// items in the window; nil when no known user has one.
    public var rollingNDCG: Double?
    /// Standard error of that mean (the spread of the users' NDCG over √users).
    public var rollingNDCGStandardError: Double?
    /// Users it was measured on.
    public var rollingUsers: Int
    /// Mean silhouette of the user vectors' segments (k by silhouette, 2 to 8), nil without user
    /// vectors.
    public var silhouette: Double?

    /// Measures `bundle` on the events of `log` from `since` (Unix milliseconds) on; the
    /// silhouette only with `clustering`.
    public static func measure(_ bundle: ModelBundle, log: EventLog, since: Int64, users sample: Int = 500, seed: UInt64 = 1,
                               clustering: Bool = true) throws -> EmbeddingQuality {
        let positive = ExperimentReport.clickTypes
        var fresh: [Int32: Set<Int32>] = [:]
        for i in 0..<log.count where log.timestamps[i] >= since && (log.untimed.isEmpty || !log.untimed[i]) {
            guard positive.contains(log.typeNames[Int(log.types[i])].name),
                  let u = bundle.userIDs.position(of: log.userIDs[log.users[i]]),
                  let item = bundle.itemIDs.position(of: log.itemIDs[log.items[i]]) else { continue }
            if !bundle.seen.columns(inRow: Int(u)).contains(item) { fresh[u, default: []].insert(item) }
        }
        var rng = TailorRandom(seed: seed, stream: 0x2011)
        var users = fresh.keys.sorted()
        for t in 0..<min(sample, users.count) { users.swapAt(t, t + rng.nextInt(below: users.count - t)) }
        users = Array(users.prefix(sample))
        var ndcg: Double?, standardError: Double?
        if !users.isEmpty {
            let lists = try bundle.recommend(userIDs: users.map { bundle.userIDs[$0] }, k: 10, excludeSeen: true, unknownUsers: .skip)
            var total = 0.0, squares = 0.0
            for (u, list) in zip(users, lists) {
                let relevant = fresh[u]!
                var dcg = 0.0
                for (rank, entry) in list.items.enumerated() where relevant.contains(bundle.itemIDs.position(of: entry.item) ?? -1) {
                    dcg += 1 / log2(Double(rank) + 2)
                }
                let ideal = (0..<min(10, relevant.count)).reduce(0.0) { $0 + 1 / log2(Double($1) + 2) }
                total += dcg / ideal
                squares += (dcg / ideal) * (dcg / ideal)
            }
            let n = Double(users.count), mean = total / n
            ndcg = mean
            standardError = n > 1 ? (max(0, squares / n - mean * mean) * n / (n - 1) / n).squareRoot() : nil
        }
        var silhouette: Double?
        if clustering, let factors = bundle.model as? any FactorModel, factors.userFactors.rows >= 10 {
            var order = Array(0..<factors.userFactors.rows)
            let n = min(1_000, order.count)
            for t in 0..<n { order.swapAt(t, t + rng.nextInt(below: order.count - t)) }
            var c = UserSegments.Configuration()
            c.minK = 2; c.maxK = min(8, n - 1); c.silhouetteSample = 500; c.steps = 60; c.restarts = 1
            silhouette = (try? UserSegments.fit(UserSegments.rows(factors.userFactors, Array(order.prefix(n)).sorted()), configuration: c))?.silhouette
        }
        return EmbeddingQuality(rollingNDCG: ndcg, rollingNDCGStandardError: standardError, rollingUsers: users.count, silhouette: silhouette)
    }
}
