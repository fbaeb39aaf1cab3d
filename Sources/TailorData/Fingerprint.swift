/// A 64-bit FNV-1a hash, for fingerprints of data (change detection, not security).
public struct FNV1a64: Sendable {
    /// The running hash.
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    /// A fresh hash.
    public init() {}

    /// Mixes raw bytes in.
    public mutating func combine(bytes: UnsafeRawBufferPointer) {
        var h = value
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        value = h
    }

    /// Mixes the bytes of an array of trivial values in.
    public mutating func combine<T>(_ values: [T]) {
        values.withUnsafeBytes { combine(bytes: $0) }
    }

    /// Mixes a string in, with a terminator so `["ab","c"]` ≠ `["a","bc"]`.
    public mutating func combine(_ s: String) {
        var s = s
        s.withUTF8 { combine(bytes: UnsafeRawBufferPointer($0)) }
        withUnsafeBytes(of: UInt8(0)) { combine(bytes: $0) }
    }
}

extension Interactions {
    /// `fnv1a64:` and 16 hex digits over the identifiers, users, items and values (not
    /// timestamps). Reading the same file with the same options gives the same fingerprint.
    public func fingerprint() -> String {
        var h = FNV1a64()
        for id in userIDs.ids { h.combine(id) }
        for id in itemIDs.ids { h.combine(id) }
        h.combine(users)
        h.combine(items)
        h.combine(values)
        let hex = String(h.value, radix: 16)
        return "fnv1a64:" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
