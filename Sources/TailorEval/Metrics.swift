import Foundation

/// Ranking metrics for one user, with binary relevance.
///
/// Notation: `ranked` is the user's recommendation list, best first (items they had in training
/// already removed); `relevant` is the set of the user's held-out test items; `K` is the
/// cut-off; `hits@K = |ranked[0..<K] ∩ relevant|`; ranks count from 1. Every function returns 0
/// when `relevant` is empty (the evaluator skips such users instead). Averages over users are
/// taken by ``Evaluator``.
public enum Metrics {
    /// Relevant items among the first `k` of `ranked`.
    public static func hits(_ ranked: [Int32], _ relevant: Set<Int32>, k: Int) -> Int {
        ranked.prefix(k).reduce(0) { $0 + (relevant.contains($1) ? 1 : 0) }
    }

    /// **Precision@K** = `hits@K / K`. A list shorter than K counts its missing slots as misses.
    public static func precision(_ ranked: [Int32], _ relevant: Set<Int32>, k: Int) -> Double {
        guard !relevant.isEmpty, k > 0 else { return 0 }
        return Double(hits(ranked, relevant, k: k)) / Double(k)
    }

    /// **Recall@K** = `hits@K / |relevant|`.
    public static func recall(_ ranked: [Int32], _ relevant: Set<Int32>, k: Int) -> Double {
        guard !relevant.isEmpty else { return 0 }
        return Double(hits(ranked, relevant, k: k)) / Double(relevant.count)
    }

    /// **HitRate@K** = 1 if `hits@K > 0`, else 0.
    public static func hitRate(_ ranked: [Int32], _ relevant: Set<Int32>, k: Int) -> Double {
        hits(ranked, relevant, k: k) > 0 ? 1 : 0
    }

    /// **NDCG@K** = `DCG@K / IDCG@K` with `DCG@K = Σ_{r ≤ K, ranked[r] relevant} 1 / log₂(r + 1)`
    /// and `IDCG@K = Σ_{r = 1}^{min(K, |relevant|)} 1 / log₂(r + 1)` (the DCG of a perfect list).
    public static func ndcg(_ ranked: [Int32], _ relevant: Set<Int32>, k: Int) -> Double {
        guard !relevant.isEmpty, k > 0 else { return 0 }
        var dcg = 0.0
        for (i, item) in ranked.prefix(k).enumerated() where relevant.contains(item) {
            dcg += 1 / log2(Double(i + 2))
        }
        var idcg = 0.0
        for r in 0..<min(k, relevant.count) { idcg += 1 / log2(Double(r + 2)) }
        return dcg / idcg
    }

    /// **MRR@K** (reciprocal rank) = `1 / r` for the rank `r ≤ K` of the first relevant item,
    /// 0 if none is in the first K.
    public static func reciprocalRank(_ ranked: [Int32], _ relevant: Set<Int32>, k: Int) -> Double {
        for (i, item) in ranked.prefix(k).enumerated() where relevant.contains(item) { return 1 / Double(i + 1) }
        return 0
    }

    /// **MAP@K** (average precision) = `(1 / min(K, |relevant|)) · Σ_{r ≤ K, ranked[r] relevant} Precision@r`.
    public static func averagePrecision(_ ranked: [Int32], _ relevant: Set<Int32>, k: Int) -> Double {
        guard !relevant.isEmpty, k > 0 else { return 0 }
        var found = 0, sum = 0.0
        for (i, item) in ranked.prefix(k).enumerated() where relevant.contains(item) {
            found += 1
            sum += Double(found) / Double(i + 1)
        }
        return sum / Double(min(k, relevant.count))
    }

    /// **AUC**: the probability that a random relevant item scores above a random non-relevant
    /// candidate, over the full ranking: `(#{(p, n): s_p > s_n} + ½·#{(p, n): s_p = s_n}) /
    /// (|P|·|N|)`, where `P` are the relevant candidates and `N` the other candidates (every item
    /// not excluded). Returns `nil` when `P` or `N` is empty. O(|candidates| · log |P|).
    ///
    /// - Parameters:
    ///   - scores: the score of every item; excluded items hold −∞ or NaN and are not candidates.
    ///   - relevant: positions of the relevant items (not excluded).
    public static func auc(scores: UnsafeBufferPointer<Float>, relevant: [Int32]) -> Double? {
        guard !relevant.isEmpty else { return nil }
        let positives = relevant.map { scores[Int($0)] }.sorted()
        let isRelevant = Set(relevant)
        var correct = 0.0
        var negatives = 0
        for i in 0..<scores.count {
            let s = scores[i]
            guard s > -.infinity, !isRelevant.contains(Int32(i)) else { continue }
            negatives += 1
            // Positives strictly above s, and tied with s.
            let below = lowerBound(positives, s), upTo = upperBound(positives, s)
            correct += Double(positives.count - upTo) + 0.5 * Double(upTo - below)
        }
        guard negatives > 0 else { return nil }
        return correct / (Double(positives.count) * Double(negatives))
    }

    static func lowerBound(_ a: [Float], _ x: Float) -> Int {
        var lo = 0, hi = a.count
        while lo < hi { let m = (lo + hi) / 2; if a[m] < x { lo = m + 1 } else { hi = m } }
        return lo
    }

    static func upperBound(_ a: [Float], _ x: Float) -> Int {
        var lo = 0, hi = a.count
        while lo < hi { let m = (lo + hi) / 2; if a[m] <= x { lo = m + 1 } else { hi = m } }
        return lo
    }
}
