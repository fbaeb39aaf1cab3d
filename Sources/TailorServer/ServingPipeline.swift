import Foundation
import Synchronization
import TailorData
import TailorLinalg
import TailorModels

/// Exact retrieval for one query, and the steps after retrieval: diversification.
enum ServingPipeline {
    /// The `k` items with the largest inner product with `vector`, never one in `exclude`, only
    /// `allowed` ones if given: one matrix-vector product and a selection. For a single query
    /// this avoids the batched kernel's packing of the whole item matrix (a copy per call).
    static func exactTopK(_ vector: [Float], items: Matrix, k: Int, exclude: Set<Int32>, allowed: CandidateItems?) -> [(index: Int32, score: Float)] {
        let n = items.rows, d = items.columns
        guard n > 0, k > 0, vector.count == d else { return [] }
        var scores: [Float]
        var positions: [Int32]?
        if let allowed {
            positions = allowed.positions
            scores = items.withUnsafeBufferPointer { m in vector.withUnsafeBufferPointer { q in
                allowed.positions.map { Kernels.dot(q.baseAddress!, m.baseAddress! + Int($0) * d, count: d) }
            } }
        } else {
            scores = [Float](repeating: 0, count: n)
            items.withUnsafeBufferPointer { m in vector.withUnsafeBufferPointer { q in scores.withUnsafeMutableBufferPointer { y in
                Kernels.gemv(m.baseAddress!, lda: d, rows: n, columns: d, q.baseAddress!, y.baseAddress!)
            } } }
        }
        if !exclude.isEmpty {
            if let positions {
                for (slot, p) in positions.enumerated() where exclude.contains(p) { scores[slot] = -.infinity }
            } else {
                for p in exclude where Int(p) < n { scores[Int(p)] = -.infinity }
            }
        }
        let want = min(k, scores.count)
        var idx = [Int32](repeating: 0, count: want), top = [Float](repeating: 0, count: want)
        let found = Kernels.topK(scores, count: scores.count, k: want, outIndices: &idx, outScores: &top)
        return (0..<found).compactMap { j in
            guard top[j] > -.infinity else { return nil }
            return (positions.map { $0[Int(idx[j])] } ?? idx[j], top[j])
        }
    }

    /// Maximal marginal relevance (Carbonell & Goldstein 1998): repeatedly picks the item that
    /// maximizes `(1 − diversity) · relevance − diversity · (highest cosine to an item already
    /// picked)`, relevance being the score rescaled to [0, 1] within `ranked`. Returns up to
    /// `k` items in pick order with their original scores. O(k · |ranked| · d).
    static func mmr(_ ranked: [(index: Int32, score: Float)], items: Matrix, k: Int, diversity: Float) -> [(index: Int32, score: Float)] {
        guard ranked.count > 1, diversity > 0 else { return Array(ranked.prefix(k)) }
        let lo = ranked.map(\.score).min()!, hi = ranked.map(\.score).max()!
        let span = hi > lo ? hi - lo : 1
        let d = items.columns
        var remaining = Array(ranked.indices)
        var picked: [Int] = []
        var maxSimilarity = [Float](repeating: -.infinity, count: ranked.count)
        items.withUnsafeBufferPointer { v in
            let base = v.baseAddress!
            while picked.count < k && !remaining.isEmpty {
                var best = 0, bestValue = -Float.infinity
                for (slot, r) in remaining.enumerated() {
                    let relevance = (ranked[r].score - lo) / span
                    let redundancy = picked.isEmpty ? 0 : maxSimilarity[r]
                    let value = (1 - diversity) * relevance - diversity * redundancy
                    if value > bestValue { bestValue = value; best = slot }
                }
                let chosen = remaining.remove(at: best)
                picked.append(chosen)
                let c = base + Int(ranked[chosen].index) * d
                for r in remaining {
                    let s = Kernels.dot(c, base + Int(ranked[r].index) * d, count: d)
                    if s > maxSimilarity[r] { maxSimilarity[r] = s }
                }
            }
        }
        return picked.map { ranked[$0] }
    }
}

/// Rankings by (model version, user generation, request), least recently used dropped first
/// once full. Entries for an old version or generation are never asked for again and age out.
final class RankingCache: Sendable {
    struct Key: Hashable, Sendable {
        var version: String
        var generation: Int
        var request: RecommendationRequest
    }

    struct Entry {
        var items: [RankedItem]
        var used: UInt64
    }

    struct Storage {
        var entries: [Key: Entry] = [:]
        var clock: UInt64 = 0
        var hits = 0, misses = 0
    }

    let capacity: Int
    let storage = Mutex(Storage())

    init(capacity: Int) { self.capacity = capacity }

    func get(_ key: Key) -> [RankedItem]? {
        guard capacity > 0 else { return nil }
        return storage.withLock { s in
            s.clock += 1
            guard var e = s.entries[key] else { s.misses += 1; return nil }
            e.used = s.clock
            s.entries[key] = e
            s.hits += 1
            return e.items
        }
    }

    func set(_ key: Key, _ items: [RankedItem]) {
        guard capacity > 0 else { return }
        storage.withLock { s in
            s.clock += 1
            s.entries[key] = Entry(items: items, used: s.clock)
            if s.entries.count > capacity {
                // Drop the least recently used tenth at once: O(n log n) every n/10 inserts.
                let victims = s.entries.sorted { $0.value.used < $1.value.used }.prefix(max(1, capacity / 10))
                for (k, _) in victims { s.entries.removeValue(forKey: k) }
            }
        }
    }

    func removeAll() { storage.withLock { $0.entries.removeAll(keepingCapacity: true) } }

    var statistics: (entries: Int, hits: Int, misses: Int) { storage.withLock { ($0.entries.count, $0.hits, $0.misses) } }
}

/// Items with the most events recently: per-minute counts over a sliding window, fed by the
/// events the server receives. The ranked list is recomputed at most once a second.
final class TrendingItems: Sendable {
    struct Counts {
        var minutes: [Int64: [String: Int]] = [:]
        var totals: [String: Int] = [:]
        var ranked: [(item: String, count: Int)] = []
        var rankedAt: ContinuousClock.Instant?
    }

    let window: Duration
    let counts = Mutex(Counts())

    init(window: Duration) { self.window = window }

    static func minute(_ date: Date = Date()) -> Int64 { Int64(date.timeIntervalSince1970 / 60) }

    /// Counts one event per item, now.
    func add(_ items: [String], at date: Date = Date()) {
        guard !items.isEmpty else { return }
        let m = TrendingItems.minute(date)
        counts.withLock { c in
            for item in items {
                c.minutes[m, default: [:]][item, default: 0] += 1
                c.totals[item, default: 0] += 1
            }
            expire(&c, now: m)
        }
    }

    func expire(_ c: inout Counts, now m: Int64) {
        let oldest = m - Int64(window.components.seconds / 60)
        for (minute, items) in c.minutes where minute <= oldest {
            for (item, n) in items {
                let left = (c.totals[item] ?? 0) - n
                c.totals[item] = left > 0 ? left : nil
            }
            c.minutes.removeValue(forKey: minute)
        }
    }

    /// The trending items (at least two events in the window), most events first.
    func ranked(at date: Date = Date()) -> [(item: String, count: Int)] {
        let now = ContinuousClock.now
        return counts.withLock { c in
            if let at = c.rankedAt, now - at < .seconds(1) { return c.ranked }
            expire(&c, now: TrendingItems.minute(date))
            c.ranked = c.totals.filter { $0.value >= 2 }.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(1_000).map { ($0.key, $0.value) }
            c.rankedAt = now
            return c.ranked
        }
    }

    /// The trending items the model knows, as positions.
    func top(model: ServingModel) -> [(index: Int32, score: Float)] {
        ranked().compactMap { entry in model.bundle.itemIDs.position(of: entry.item).map { ($0, Float(entry.count)) } }
    }
}

/// The optional second stage of the serving pipeline: a click model (``ClickScoring``, e.g. a
/// `ranker`) that re-orders the retrieval model's shortlist for each request.
///
/// It reads users and items by id, so it need not share the retrieval model's id maps: users
/// and items it never saw (new, anonymous, erased) read as unknown. It scores with what it
/// learned at training (its copy of the retrieval vectors, attributes, popularity), not with
/// the user's live events; those shape the shortlist it is given.
public struct RankerStage: Sendable {
    /// The click model.
    public let bundle: ModelBundle
    /// Its name in responses (`ranker` field) and logs.
    public let name: String
    /// Items of the model's ranking it re-orders (at least the `offset + k` asked for).
    public let shortlist: Int
    /// Unix seconds to score at instead of the request's time (tests).
    var fixedTime: Int64?

    /// A stage over `bundle`, re-ordering the model's top `shortlist`.
    ///
    /// - Throws: ``ModelError`` `.unsupported` when `bundle` does not predict clicks, or for a
    ///   shortlist below 1.
    public init(bundle: ModelBundle, name: String, shortlist: Int = 100) throws {
        guard bundle.model is any ClickScoring else {
            throw ModelError(.unsupported, reason: "the \(bundle.manifest.kind) model '\(name)' does not predict clicks, so it cannot re-rank",
                             hint: "train one with `tailor train --model ranker` and pass its directory")
        }
        guard shortlist >= 1 else { throw ModelError(reason: "the ranker's shortlist must be at least 1, got \(shortlist)") }
        self.bundle = bundle
        self.name = name
        self.shortlist = shortlist
    }

    /// Click probabilities of `items` shown to `user` at `seconds` (Unix time), in order.
    func clickProbabilities(user: String, items: [String], at seconds: Int64) -> [Float] {
        guard !items.isEmpty, let model = bundle.model as? any ClickScoring else { return [] }
        var users = IDMap(), ids = IDMap()
        let u = users.insert(user)
        let positions = items.map { ids.insert($0) }
        let seconds = fixedTime ?? seconds
        let rows = Interactions(users: [Int32](repeating: u, count: items.count), items: positions,
                                values: [Float](repeating: 0, count: items.count), timestamps: [Int64](repeating: seconds, count: items.count),
                                userIDs: users, itemIDs: ids)
        return model.clickProbabilities(Impressions(rows: rows, groups: [Int32](repeating: 0, count: items.count)))
    }
}
