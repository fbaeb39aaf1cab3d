/// A two-way map between external identifiers (strings, as in the user's files) and dense
/// `Int32` positions `0..<count` used inside Tailor.
///
/// Positions are assigned in first-seen order. Identifiers that are canonical decimal integers
/// (`"0"`, `"42"`, no sign, no leading zeros, at most 18 digits) are looked up through an
/// integer table, which lets the reader map millions of numeric IDs without creating a `String`
/// per row; any other identifier goes through a string table. The two never collide because
/// a canonical decimal string has exactly one spelling.
public struct IDMap: Sendable, Equatable {
    /// External identifiers by position.
    public private(set) var ids: [String] = []
    var numeric: [Int: Int32] = [:]
    var strings: [String: Int32] = [:]

    /// An empty map.
    public init() {}

    /// A map assigning positions `0..<ids.count` to `ids` in order (they must be distinct).
    public init<S: Sequence>(_ ids: S) where S.Element == String {
        for id in ids {
            let before = count
            let position = insert(id)
            precondition(Int(position) == before, "IDMap ids must be distinct; '\(id)' repeats")
        }
    }

    /// Number of identifiers.
    @inlinable public var count: Int { ids.count }

    /// The external identifier at `position`.
    @inlinable public subscript(position: Int32) -> String { ids[Int(position)] }

    /// The position of `id`, or `nil` if it is unknown.
    public func position(of id: String) -> Int32? {
        if let n = IDMap.canonicalInteger(id.utf8) { return numeric[n] }
        return strings[id]
    }

    /// The position of `id`, adding it at the end if it is new.
    @discardableResult
    public mutating func insert(_ id: String) -> Int32 {
        if let n = IDMap.canonicalInteger(id.utf8) {
            if let p = numeric[n] { return p }
            let p = Int32(ids.count)
            numeric[n] = p
            ids.append(id)
            return p
        }
        if let p = strings[id] { return p }
        let p = Int32(ids.count)
        strings[id] = p
        ids.append(id)
        return p
    }

    /// Position for a canonical decimal integer identifier whose text is `text()`; creates
    /// the string only when the identifier is new.
    mutating func insert(canonicalInteger n: Int, text: () -> String) -> Int32 {
        if let p = numeric[n] { return p }
        let p = Int32(ids.count)
        numeric[n] = p
        ids.append(text())
        return p
    }

    /// The value of `bytes` if they spell a canonical non-negative decimal integer.
    static func canonicalInteger<C: Collection>(_ bytes: C) -> Int? where C.Element == UInt8 {
        let n = bytes.count
        guard n > 0, n <= 18 else { return nil }
        var value = 0
        var first = true
        for b in bytes {
            guard b >= 48 && b <= 57 else { return nil }
            if first && b == 48 && n > 1 { return nil }
            first = false
            value = value &* 10 &+ Int(b &- 48)
        }
        return value
    }
}
