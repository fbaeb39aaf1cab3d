import Foundation
import TailorData
import TailorLinalg

/// Popularity within a user's demographic segments: for each attribute of a profile (numbers
/// bucketed by tens), the share of the users with the same value who interacted with each item,
/// averaged over the attributes; plain popularity for values seen in fewer than `minimumUsers`
/// users, and for users without a profile.
///
/// It is the cold-user baseline `tailor evaluate` prints, and the prior a two-tower model adds
/// to the scores of users it has never seen (``logPrior(for:into:)``). The counts are kept
/// sparse (segments × items), so a model file holds them at the cost of the interactions.
public struct DemographicPopularity: Sendable, Equatable {
    /// The share of all users who interacted with each item.
    public let global: [Float]
    /// Users counted.
    public let userCount: Int
    /// Each segment's attribute name and bucketed value, in name-then-value order.
    let segments: [Segment]
    /// How many users each segment has (at least `minimumUsers`).
    let segmentUsers: [Int]
    /// Segments × items: how many of the segment's users interacted with each item.
    let counts: CSRMatrix
    /// Segment row by attribute name and bucketed value.
    let index: [String: [String: Int]]

    struct Segment: Sendable, Hashable, Codable {
        var attribute: String
        var value: String
    }

    /// Counts `seen` (users × items) by the attribute values of `profiles` (one per row).
    public init(seen: CSRMatrix, profiles: [UserProfile?], minimumUsers: Int = 5) {
        precondition(profiles.count == seen.rows, "one profile (or nil) per row of seen")
        let n = seen.columns
        var counts = [Float](repeating: 0, count: n)
        var members: [Segment: [Int]] = [:]
        for u in 0..<seen.rows {
            for i in seen.columns(inRow: u) { counts[Int(i)] += 1 }
            guard let profile = profiles[u] else { continue }
            for (name, value) in profile.attributes {
                members[Segment(attribute: name, value: Self.bucket(value)), default: []].append(u)
            }
        }
        let kept = members.filter { $0.value.count >= max(1, minimumUsers) }.keys.sorted { ($0.attribute, $0.value) < ($1.attribute, $1.value) }
        var rows: [Int32] = [], columns: [Int32] = []
        for (s, segment) in kept.enumerated() {
            for u in members[segment]! {
                for i in seen.columns(inRow: u) { rows.append(Int32(s)); columns.append(i) }
            }
        }
        self.init(global: counts, userCount: seen.rows, segments: kept, segmentUsers: kept.map { members[$0]!.count },
                  counts: CSRMatrix(rows: kept.count, columns: n, rowIndices: rows, columnIndices: columns, values: rows.map { _ in 1 }))
    }

    /// `global` holds item counts here; it is stored as shares.
    init(global counts: [Float], userCount: Int, segments: [Segment], segmentUsers: [Int], counts segmentCounts: CSRMatrix) {
        self.global = counts.map { $0 / Float(max(1, userCount)) }
        self.userCount = userCount
        self.segments = segments
        self.segmentUsers = segmentUsers
        self.counts = segmentCounts
        var index: [String: [String: Int]] = [:]
        for (s, segment) in segments.enumerated() { index[segment.attribute, default: [:]][segment.value] = s }
        self.index = index
    }

    static func bucket(_ value: String) -> String {
        if let x = Double(value), x.isFinite, abs(x) < 1e15 { return "≈\(Int((x / 10).rounded(.down)) * 10)" }
        return value
    }

    /// The segment rows of `profile`'s attributes, in attribute-name order (values in no
    /// segment left out).
    func segmentRows(of profile: UserProfile?) -> [Int] {
        guard let profile else { return [] }
        return profile.attributes.sorted { $0.key < $1.key }.compactMap { index[$0.key]?[Self.bucket($0.value)] }
    }

    /// Scores of every item for `profile`: the mean of its segments' shares (``global`` when
    /// none is known).
    public func scores(for profile: UserProfile?) -> [Float] {
        let rows = segmentRows(of: profile)
        guard !rows.isEmpty else { return global }
        var total = [Float](repeating: 0, count: global.count)
        // Attributes in name order, so the sum is the same in every run.
        for s in rows {
            let share = 1 / Float(segmentUsers[s])
            for p in counts.rowPointers[s]..<counts.rowPointers[s + 1] {
                total[Int(counts.columnIndices[p])] += counts.values[p] * share
            }
        }
        let scale = 1 / Float(rows.count)
        return total.map { $0 * scale }
    }

    /// Writes `log(score + 1/users)` of every item for `profile` (``scores(for:)`` smoothed by
    /// one user's worth, so an item nobody in the segments touched is unlikely, not impossible).
    public func logPrior(for profile: UserProfile?, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(out.count >= global.count, "one slot per item")
        let smoothing = 1 / Float(max(1, userCount))
        let s = scores(for: profile)
        for i in s.indices { out[i] = log(s[i] + smoothing) }
    }
}

extension DemographicPopularity {
    /// The counts as tensors named `PREFIX_global`, `PREFIX_segment_users`,
    /// `PREFIX_segment_offsets`, `PREFIX_items` and `PREFIX_counts`; the segments' names go in
    /// the configuration (``archiveSegments``).
    public func archiveTensors(prefix: String) -> [String: SafeTensors.Tensor] {
        [prefix + "_global": .init(global.map { $0 * Float(userCount) }, shape: [global.count]),
         prefix + "_segment_users": .init(segmentUsers.map(Int64.init), shape: [segmentUsers.count]),
         prefix + "_segment_offsets": .init(counts.rowPointers.map(Int64.init), shape: [counts.rowPointers.count]),
         prefix + "_items": .init(counts.columnIndices, shape: [counts.columnIndices.count]),
         prefix + "_counts": .init(counts.values, shape: [counts.values.count])]
    }

    /// The segments and the user count, for a model's configuration JSON.
    public var archiveSegments: JSONValue {
        get throws {
            .object(["users": .number(Double(userCount)), "attributes": try JSONValue(encoding: segments.map(\.attribute)),
                     "values": try JSONValue(encoding: segments.map(\.value))])
        }
    }

    /// Reads what ``archiveTensors(prefix:)`` and ``archiveSegments`` wrote, checking every
    /// shape and index (a damaged or crafted file gets a ``ModelError`` naming the tensor).
    public init(archiveTensors tensors: [String: SafeTensors.Tensor], prefix: String, segments json: JSONValue, items: Int, model: String) throws {
        func fail(_ why: String) -> ModelError {
            ModelError(.invalidModelFile, reason: "the \(model) model file's demographic prior \(why)", hint: "the model directory is damaged; retrain the model")
        }
        guard case .object(let fields) = json, case .number(let users)? = fields["users"], users >= 0, users < 1e12,
              let attributes = try fields["attributes"]?.decode([String].self), let values = try fields["values"]?.decode([String].self),
              attributes.count == values.count else {
            throw fail("lacks its segments (users, attributes, values)")
        }
        guard let global = tensors[prefix + "_global"]?.floats(), global.count == items, global.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw fail("'\(prefix)_global' is missing or is not \(items) counts")
        }
        guard let segmentUsers = tensors[prefix + "_segment_users"]?.int64s(), segmentUsers.count == attributes.count,
              segmentUsers.allSatisfy({ $0 > 0 && Double($0) <= users }) else {
            throw fail("'\(prefix)_segment_users' is missing or does not hold one positive count per segment")
        }
        let columns = tensors[prefix + "_items"]?.int32s() ?? []
        guard let counts = tensors[prefix + "_counts"]?.floats(), counts.count == columns.count, counts.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw fail("'\(prefix)_counts' is missing or does not match '\(prefix)_items'")
        }
        let offsets = try ArchiveChecks.pointers(tensors[prefix + "_segment_offsets"]?.int64s(), count: columns.count,
                                                 name: prefix + "_segment_offsets", model: model)
        guard offsets.count == attributes.count + 1 else { throw fail("'\(prefix)_segment_offsets' has \(offsets.count - 1) rows for \(attributes.count) segments") }
        try ArchiveChecks.indices(columns, below: items, name: prefix + "_items", model: model)
        self.init(global: global, userCount: Int(users), segments: zip(attributes, values).map { Segment(attribute: $0, value: $1) },
                  segmentUsers: segmentUsers.map { Int($0) },
                  counts: CSRMatrix(rows: attributes.count, columns: items, rowPointers: offsets, columnIndices: columns, values: counts))
    }
}
