import Foundation
import TailorData

/// How well predicted click probabilities fit what was clicked: the metrics of a second-stage
/// ranker, computed on held-out impressions.
public struct ClickReport: Sendable, Codable, Equatable {
    /// Rows scored, and how many were clicked.
    public var rows: Int
    public var clicks: Int
    /// Area under the ROC curve over all rows (ties count half; 0.5 is chance).
    public var auc: Double
    /// Mean AUC within impressions that have both a click and a skip (how well each page is
    /// ordered; `nil` without such impressions).
    public var impressionAUC: Double?
    /// Mean binary log loss (probabilities clipped to [1e-7, 1 − 1e-7]).
    public var logLoss: Double
    /// Expected calibration error: the row-weighted mean |mean prediction − click rate| over ten
    /// equal-width probability bins.
    public var calibrationError: Double
    /// Mean predicted probability ÷ observed click rate (1 is calibrated on average).
    public var predictedOverObserved: Double
    /// Precision@K within impressions, for each K: the share of the K best-scored shown items
    /// that were clicked, averaged over impressions with at least one click and at least K items.
    public var precisionAtK: [Int: Double]

    /// Metrics of `probabilities` against `labels` (1 clicked), with `groups` the impression of
    /// each row (−1: none; precision@K and impression AUC use only grouped rows).
    public init(probabilities p: [Float], labels: [Float], groups: [Int32], ks: [Int] = [1, 5]) {
        precondition(p.count == labels.count && labels.count == groups.count, "one probability, label and group per row")
        rows = p.count
        clicks = labels.filter { $0 > 0 }.count
        auc = ClickReport.auc(p.map(Double.init), labels)
        var loss = 0.0
        for (x, y) in zip(p, labels) {
            let q = min(max(Double(x), 1e-7), 1 - 1e-7)
            loss -= y > 0 ? Foundation.log(q) : Foundation.log(1 - q)
        }
        logLoss = rows == 0 ? 0 : loss / Double(rows)
        var binSum = [Double](repeating: 0, count: 10), binClicks = [Double](repeating: 0, count: 10), binCount = [Double](repeating: 0, count: 10)
        for (x, y) in zip(p, labels) {
            let b = min(9, max(0, Int(Double(x) * 10)))
            binSum[b] += Double(x); binClicks[b] += y > 0 ? 1 : 0; binCount[b] += 1
        }
        calibrationError = rows == 0 ? 0 : (0..<10).reduce(0.0) { $0 + (binCount[$1] > 0 ? abs(binSum[$1] - binClicks[$1]) : 0) } / Double(rows)
        let meanP = p.reduce(0.0) { $0 + Double($1) } / Double(max(1, rows))
        predictedOverObserved = clicks == 0 ? .infinity : meanP / (Double(clicks) / Double(rows))
        var members: [Int32: [Int]] = [:]
        for (r, g) in groups.enumerated() where g >= 0 { members[g, default: []].append(r) }
        var aucs: [Double] = []
        var precision: [Int: (sum: Double, n: Int)] = [:]
        for g in members.keys.sorted() {
            let rows = members[g]!
            let clicked = rows.filter { labels[$0] > 0 }.count
            guard clicked > 0 else { continue }
            if clicked < rows.count { aucs.append(ClickReport.auc(rows.map { Double(p[$0]) }, rows.map { labels[$0] })) }
            let ranked = rows.sorted { (p[$0], -$0) > (p[$1], -$1) }
            for k in ks where rows.count >= k {
                let hits = ranked.prefix(k).filter { labels[$0] > 0 }.count
                precision[k, default: (0, 0)].sum += Double(hits) / Double(k)
                precision[k, default: (0, 0)].n += 1
            }
        }
        impressionAUC = aucs.isEmpty ? nil : aucs.reduce(0, +) / Double(aucs.count)
        precisionAtK = precision.mapValues { $0.n == 0 ? 0 : $0.sum / Double($0.n) }
    }

    /// ROC AUC by the rank-sum formula, ties counted half; 0.5 without both classes.
    public static func auc(_ scores: [Double], _ labels: [Float]) -> Double {
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0, positives = 0.0, r = 0
        while r < order.count {
            var e = r
            while e + 1 < order.count && scores[order[e + 1]] == scores[order[r]] { e += 1 }
            let mid = Double(r + e) / 2 + 1
            for k in r...e where labels[order[k]] > 0 { rankSum += mid; positives += 1 }
            r = e + 1
        }
        let negatives = Double(order.count) - positives
        guard positives > 0, negatives > 0 else { return 0.5 }
        return (rankSum - positives * (positives + 1) / 2) / (positives * negatives)
    }
}

/// The baseline a ranker must beat: each item's click-through rate in the training
/// impressions, smoothed toward the overall rate (`prior` pseudo-impressions), so an item never
/// shown gets the overall rate.
public struct ItemClickRate: Sendable {
    /// Click rate by item id.
    public let rates: [String: Double]
    /// The overall click rate.
    public let overall: Double

    /// Rates from training impressions.
    public init(_ impressions: Impressions, prior: Double = 20) {
        var shown: [Int32: Double] = [:], clicked: [Int32: Double] = [:]
        for r in 0..<impressions.count {
            let i = impressions.rows.items[r]
            shown[i, default: 0] += 1
            if impressions.rows.values[r] > 0 { clicked[i, default: 0] += 1 }
        }
        overall = Double(impressions.positives) / Double(max(1, impressions.count))
        var rates: [String: Double] = [:]
        for (i, n) in shown { rates[impressions.rows.itemIDs[i]] = ((clicked[i] ?? 0) + prior * overall) / (n + prior) }
        self.rates = rates
    }

    /// Predicted probabilities for the rows of `impressions`.
    public func probabilities(_ impressions: Impressions) -> [Float] {
        (0..<impressions.count).map { Float(rates[impressions.rows.itemIDs[impressions.rows.items[$0]]] ?? overall) }
    }
}
