/// The context of each event or interaction in columnar form: device, platform and country,
/// each a code into its own vocabulary (−1: not known). Carried by ``EventLog`` and
/// ``Interactions`` so context-aware models (a two-tower's user tower) can learn what people do
/// where, and survives filtering, splitting and the merging of repeated pairs (the latest
/// event's context wins).
///
/// Empty until the first event with any of the three fields arrives, so logs without context
/// cost nothing.
public struct ContextColumns: Sendable, Equatable {
    /// The fields, in column order.
    public static let fields = ["device", "platform", "country"]

    /// Distinct values per field, in order of first appearance.
    public private(set) var vocabularies: [[String]] = [[], [], []]
    /// Per field, the code of each row (an index into the field's vocabulary, −1 when unknown);
    /// no columns at all when no row has context.
    public private(set) var codes: [[Int32]] = []
    private var index: [[String: Int32]] = [[:], [:], [:]]
    /// Rows appended so far (counted even while no row has context).
    public private(set) var count = 0

    /// No rows.
    public init() {}

    /// Whether no row has any context.
    public var isEmpty: Bool { codes.isEmpty }

    /// Whether some row has a value for `field` (one of ``fields``).
    public func has(_ field: String) -> Bool {
        guard let f = Self.fields.firstIndex(of: field) else { return false }
        return !vocabularies[f].isEmpty
    }

    /// Appends the context of one row.
    public mutating func append(_ context: EventContext) {
        append([context.device, context.platform, context.country])
    }

    /// Appends one row's values in ``fields`` order (`nil`: unknown).
    public mutating func append(_ values: [String?]) {
        if isEmpty && values.contains(where: { $0 != nil }) {
            codes = [[Int32]](repeating: [Int32](repeating: -1, count: count), count: Self.fields.count)
        }
        count += 1
        guard !isEmpty else { return }
        for f in Self.fields.indices { codes[f].append(code(values[f], field: f)) }
    }

    private mutating func code(_ value: String?, field f: Int) -> Int32 {
        guard let value else { return -1 }
        if let c = index[f][value] { return c }
        let c = Int32(vocabularies[f].count)
        vocabularies[f].append(value)
        index[f][value] = c
        return c
    }

    /// The value of `field` (an index into ``fields``) at `row`, or `nil`.
    public func value(field f: Int, row: Int) -> String? {
        guard !isEmpty else { return nil }
        let c = codes[f][row]
        return c < 0 ? nil : vocabularies[f][Int(c)]
    }

    /// The rows at `positions`, in that order (vocabularies unchanged).
    public func selecting(_ positions: [Int]) -> ContextColumns {
        var out = self
        out.count = positions.count
        if !isEmpty { out.codes = codes.map { column in positions.map { column[$0] } } }
        return out
    }
}

extension ContextColumns {
    /// Hour of day (0–23, UTC) of Unix seconds `t`.
    public static func hour(_ t: Int64) -> Int { Int(((t % 86_400) + 86_400) % 86_400 / 3600) }

    /// Day of the week (0 Monday … 6 Sunday, UTC) of Unix seconds `t` (1970-01-01 was a Thursday).
    public static func weekday(_ t: Int64) -> Int {
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        return Int(((days + 3) % 7 + 7) % 7)
    }
}
