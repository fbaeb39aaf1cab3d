import Foundation
import Synchronization
import TailorLinalg

/// The steps after retrieval: diversification.
enum ServingPipeline {
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
