import Foundation

/// How events become implicit-feedback strengths: a documented, configurable mapping from
/// event type and value to a weight. The weights of a user's events on an item are summed into
/// one strength `r`; ALS then uses confidence `1 + α·r`, and a negative total is negative
/// feedback.
///
/// Defaults: view 0.5, click 1, dwell `min(4, 0.5·ln(1 + seconds))` (10 s ≈ 1.2, 1 min ≈ 2.1),
/// like 3, favorite 3, share 4, add_to_cart 3, purchase 5, review 2, rating `value − 3` (5 → 2,
/// 4 → 1, 3 → 0, 1 → −2), skip −0.5, dislike −3. With ``NegativeFeedback/exclude`` (the default)
/// negative weights are dropped; with ``NegativeFeedback/negative`` they are summed in.
public struct EventWeights: Sendable, Codable, Equatable {
    /// One type's rule.
    public enum Rule: Sendable, Codable, Equatable {
        /// The same weight for every event.
        case constant(Double)
        /// `min(cap, scale · ln(1 + value))` for a value in seconds.
        case logSeconds(scale: Double, cap: Double)
        /// `scale · (value − center)`, for ratings.
        case centered(center: Double, scale: Double)
        /// `scale · value` (for example an amount).
        case proportional(scale: Double)

        /// The weight of an event with `value` (NaN when it has none).
        public func weight(_ value: Double) -> Double? {
            switch self {
            case .constant(let w): return w
            case .logSeconds(let scale, let cap): return value.isNaN || value < 0 ? nil : min(cap, scale * log1p(value))
            case .centered(let center, let scale): return value.isNaN ? nil : scale * (value - center)
            case .proportional(let scale): return value.isNaN ? nil : scale * value
            }
        }
    }

    /// What to do with negative weights.
    public enum NegativeFeedback: String, Sendable, Codable, CaseIterable {
        /// Drop events with negative weight.
        case exclude
        /// Sum them in; a negative total becomes negative feedback.
        case negative
    }

    /// Rules by type name.
    public var rules: [String: Rule]
    /// Negative weights.
    public var negativeFeedback: NegativeFeedback = .exclude
    /// Weight for custom types with no rule (`nil`: they are unknown, see cleaning).
    public var customTypeWeight: Double?

    /// The documented defaults.
    public init() {
        rules = [
            "view": .constant(0.5), "click": .constant(1), "dwell": .logSeconds(scale: 0.5, cap: 4),
            "like": .constant(3), "favorite": .constant(3), "share": .constant(4), "add_to_cart": .constant(3),
            "purchase": .constant(5), "review": .constant(2), "rating": .centered(center: 3, scale: 1),
            "skip": .constant(-0.5), "dislike": .constant(-3),
        ]
    }

    /// Types with a rule (plus every type when custom types have a weight).
    public var knownTypes: Set<EventType> { Set(rules.keys.map(EventType.init)) }

    /// The weight of one event, or `nil` if it has none (no rule, no value where one is needed,
    /// or negative under ``NegativeFeedback/exclude``).
    public func weight(type: EventType, value: Double) -> Double? {
        let weight: Double?
        if let rule = rules[type.name] { weight = rule.weight(value) } else { weight = customTypeWeight }
        guard let w = weight else { return nil }
        if w < 0 && negativeFeedback == .exclude { return nil }
        return w
    }

    /// The per-(user, item) summed strengths of `log` as ``Interactions`` (times in seconds: the
    /// latest event of each pair, and its device, platform and country). Pairs whose total is 0 are dropped, and so are users and items
    /// left without any pair (for example bots removed by cleaning).
    public func interactions(from log: EventLog) -> Interactions {
        let weights = log.typeNames.map { type in { (v: Double) in weight(type: type, value: v) } }
        var us: [Int32] = [], its: [Int32] = [], vs: [Float] = [], ts: [Int64] = [], kept: [Int] = []
        for i in 0..<log.count {
            guard let w = weights[Int(log.types[i])](log.values[i]), w != 0 else { continue }
            us.append(log.users[i]); its.append(log.items[i]); vs.append(Float(w)); ts.append(log.timestamps[i] / 1000); kept.append(i)
        }
        let raw = Interactions(users: us, items: its, values: vs, timestamps: ts, userIDs: log.userIDs, itemIDs: log.itemIDs,
                               context: log.context.isEmpty ? nil : log.context.selecting(kept))
        let (merged, _) = raw.mergingDuplicates(.sum)
        return merged.filter { merged.values[$0] != 0 }.compacted()
    }
}
