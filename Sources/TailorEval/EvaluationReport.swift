import Foundation

/// The result of ``Evaluator/evaluate(_:train:test:configuration:)``: metric means over the
/// evaluated users, per cut-off K. Encodes to JSON for scripts.
public struct EvaluationReport: Sendable, Codable, Equatable {
    /// Metric values at one cut-off.
    public struct AtK: Sendable, Codable, Equatable {
        /// The cut-off.
        public var k: Int
        /// `precision`, `recall`, `ndcg`, `mrr`, `hit_rate`, `map`, `coverage`.
        public var metrics: [String: Double]
    }

    /// The model family evaluated (or a label chosen by the caller).
    public var model: String
    /// Users with at least one test item (the averages run over them).
    public var users: Int
    /// Test (user, item) pairs used.
    public var testInteractions: Int
    /// Test pairs dropped because the user already had the item in training.
    public var testInteractionsAlreadyInTrain: Int
    /// Mean per-user AUC over the full ranking, if computed.
    public var auc: Double?
    /// Metrics per cut-off, increasing K.
    public var atK: [AtK]

    /// The value of `metric` at `k`, if computed.
    public func value(_ metric: String, at k: Int) -> Double? {
        atK.first { $0.k == k }?.metrics[metric]
    }

    /// Metric names in display order.
    public static let metricOrder = ["precision", "recall", "ndcg", "mrr", "hit_rate", "map", "coverage"]

    /// A plain-text table comparing several reports (one row per model and K).
    public static func table(_ reports: [(label: String, report: EvaluationReport)]) -> String {
        let header = ["model", "K"] + metricOrder.map { $0 == "hit_rate" ? "hitrate" : $0 } + ["auc"]
        var rows: [[String]] = []
        for (label, report) in reports {
            for at in report.atK {
                rows.append([label, String(at.k)] + metricOrder.map { String(format: "%.4f", at.metrics[$0] ?? .nan) }
                            + [report.auc.map { String(format: "%.4f", $0) } ?? "-"])
            }
        }
        let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, s in
                c == 0 ? s.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: widths[c] - s.count) + s
            }.joined(separator: "  ")
        }
        return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line))
            .joined(separator: "\n")
    }
}
