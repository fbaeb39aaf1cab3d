import Foundation
import TailorData
import TailorModels

/// Offline replay of logged data for a candidate model before it goes live: every logged list
/// (the items one response showed a user, stored as exposures) that was clicked is re-ranked by
/// the candidate, and the clicks' positions under the candidate are compared with their logged
/// positions. A candidate that would have put what people clicked higher scores above 1.
///
/// Re-ranking logged lists measures the order only, not what the candidate would have shown
/// instead (items outside the logged lists have no outcome): a check before an A/B test, not a
/// substitute for one.
public struct ReplayReport: Sendable, Codable, Equatable {
    /// Logged lists with at least one click, re-ranked.
    public var lists: Int
    /// Clicked lists the candidate could not score (a user it does not know).
    public var skipped: Int
    /// NDCG and MRR of the clicks at their logged positions, and under the candidate.
    public var loggedNDCG: Double
    public var candidateNDCG: Double
    public var loggedMRR: Double
    public var candidateMRR: Double
    /// candidate NDCG / logged NDCG.
    public var ratio: Double

    /// Replays the exposures among `events` (in stored order), optionally only those of an
    /// experiment's variant, against `candidate`; clicks count within `window` seconds.
    public static func make(events: [Event], candidate: ModelBundle, experiment: String? = nil, variant: String? = nil,
                            window: Double = 86_400) throws -> ReplayReport {
        // Logged lists: exposures of one user at one time, in the order they were stored.
        var order: [String] = []
        var lists: [String: (user: String, t: Int64, items: [String])] = [:]
        var actions: [String: [(item: String, t: Int64)]] = [:]
        for e in events {
            if e.type.name == "exposure" {
                if let experiment, e.context.extra[Experiment.experimentKey] != experiment { continue }
                if let variant, e.context.extra[Experiment.variantKey] != variant { continue }
                let key = "\(e.user)\u{1F}\(e.timestampMilliseconds)"
                if lists[key] == nil { order.append(key); lists[key] = (e.user, e.timestampMilliseconds, []) }
                if !lists[key]!.items.contains(e.item) { lists[key]!.items.append(e.item) }
            } else if ExperimentReport.clickTypes.contains(e.type.name) {
                actions[e.user, default: []].append((e.item, e.timestampMilliseconds))
            }
        }
        let span = Int64(window * 1000)
        var scoresByUser: [String: [String: Float]?] = [:]
        func scores(_ user: String) throws -> [String: Float]? {
            if let cached = scoresByUser[user] { return cached }
            let ranked = try candidate.recommend(userIDs: [user], k: candidate.itemIDs.count, excludeSeen: false, unknownUsers: .skip).first
            let table = ranked.map { Dictionary($0.items.map { ($0.item, $0.score) }, uniquingKeysWith: { a, _ in a }) }
            scoresByUser[user] = table
            return table
        }
        func dcg(_ positions: [Int]) -> Double { positions.reduce(0) { $0 + 1 / log2(Double($1) + 2) } }
        var n = 0, skipped = 0
        var logged = 0.0, replayed = 0.0, loggedRR = 0.0, replayedRR = 0.0
        for key in order {
            let list = lists[key]!
            let clicked = Set((actions[list.user] ?? []).filter { $0.t >= list.t && $0.t <= list.t + span }.map(\.item)).intersection(list.items)
            guard !clicked.isEmpty else { continue }
            guard let table = try scores(list.user) else { skipped += 1; continue }
            let reranked = list.items.indices.sorted { a, b in
                let x = table[list.items[a]] ?? -.infinity, y = table[list.items[b]] ?? -.infinity
                return x != y ? x > y : a < b
            }.map { list.items[$0] }
            let ideal = dcg(Array(0..<clicked.count))
            let before = list.items.indices.filter { clicked.contains(list.items[$0]) }
            let after = reranked.indices.filter { clicked.contains(reranked[$0]) }
            logged += dcg(before) / ideal
            replayed += dcg(after) / ideal
            loggedRR += 1 / Double(before[0] + 1)
            replayedRR += 1 / Double(after[0] + 1)
            n += 1
        }
        guard n > 0 else {
            throw ExperimentError(field: "events", "no logged list with a click to replay (\(order.count) lists, \(skipped) of the clicked ones for users the candidate does not know)",
                                  hint: "exposures are logged by experiments and by write_exposures=true")
        }
        let d = Double(n)
        return ReplayReport(lists: n, skipped: skipped, loggedNDCG: logged / d, candidateNDCG: replayed / d,
                            loggedMRR: loggedRR / d, candidateMRR: replayedRR / d, ratio: logged > 0 ? replayed / logged : 0)
    }
}
