/// When drift should raise an alert (and a server retrain): any threshold crossed. Each is
/// optional; with none set, drift is measured on request only.
public struct DriftThresholds: Sendable, Codable, Equatable {
    /// PSI of the event-type mix, latest window against the one before (0.25 is a common
    /// "significant shift").
    public var eventMixPSI: Double?
    /// Share of the latest window's items absent from the window before (0–1).
    public var newItemShare: Double?
    /// Share of the latest window's users absent from the window before (0–1).
    public var newUserShare: Double?
    /// Relative fall of the active model's rolling NDCG@10 below its first measurement after
    /// it was activated (0.2: a fifth lower).
    public var ndcgDrop: Double?

    public init(eventMixPSI: Double? = nil, newItemShare: Double? = nil, newUserShare: Double? = nil, ndcgDrop: Double? = nil) {
        self.eventMixPSI = eventMixPSI
        self.newItemShare = newItemShare
        self.newUserShare = newUserShare
        self.ndcgDrop = ndcgDrop
    }

    /// Whether no threshold is set.
    public var isEmpty: Bool { eventMixPSI == nil && newItemShare == nil && newUserShare == nil && ndcgDrop == nil }

    /// - Throws: ``ExperimentError`` naming the threshold out of its range.
    public func validate() throws {
        if let v = eventMixPSI, !(v > 0 && v.isFinite) {
            throw ExperimentError(field: "eventMixPSI", "the event-mix PSI threshold must be a positive number, got \(v)")
        }
        for (name, value) in [("newItemShare", newItemShare), ("newUserShare", newUserShare), ("ndcgDrop", ndcgDrop)] {
            if let v = value, !(v > 0 && v < 1) {
                throw ExperimentError(field: name, "\(name) is a share between 0 and 1 (exclusive), got \(v)", hint: "e.g. 0.3 for 30 %")
            }
        }
    }

    /// The thresholds `drift` and `ndcg` cross, each as a sentence (empty: no alert). `baseline`
    /// is the active model's first rolling NDCG@10.
    public func crossed(_ drift: DataDrift, ndcg: Double?, baseline: Double?) -> [String] {
        var out: [String] = []
        func pct(_ x: Double) -> String { String(format: "%.1f %%", 100 * x) }
        if let t = eventMixPSI, drift.eventMixPSI > t {
            out.append(String(format: "event-mix PSI %.3f above %.3f", drift.eventMixPSI, t))
        }
        if let t = newItemShare, drift.newItemShare > t { out.append("new items \(pct(drift.newItemShare)) of the window, above \(pct(t))") }
        if let t = newUserShare, drift.newUserShare > t { out.append("new users \(pct(drift.newUserShare)) of the window, above \(pct(t))") }
        if let t = ndcgDrop, let ndcg, let baseline, baseline > 0, ndcg < baseline * (1 - t) {
            out.append(String(format: "rolling NDCG@10 %.4f is %@ below the model's first %.4f (limit %@)", ndcg, pct(1 - ndcg / baseline), baseline, pct(t)))
        }
        return out
    }
}
