import Foundation

/// Reads a table with named columns (delimited text with a header, or JSON Lines) record by
/// record, handing each to a caller that picks fields by column index. Used for event, item and
/// user files, where columns are found by name.
struct TableReader {
    /// Column names, in order (for JSON Lines: the keys of the first object, then any new key
    /// as it appears).
    private(set) var columns: [String] = []
    let name: String

    /// Fields of the current record.
    struct Record {
        let line: Int
        fileprivate let texts: [String?]

        /// The field in `column` (already trimmed of spaces and tabs); `nil` if absent or empty.
        func text(_ column: Int?) -> String? {
            guard let column, column < texts.count, let t = texts[column], !t.isEmpty else { return nil }
            return t
        }
        /// Number of fields.
        var count: Int { texts.count }
    }

    /// Reads `bytes`. `prepare` is called with the column names before the first record (for
    /// JSON Lines, again whenever an object brings new keys; earlier columns keep their positions);
    /// `body` once per record. Blank lines are skipped; records that cannot be split are passed
    /// to `malformed` with their line and reason.
    static func read(bytes all: UnsafeBufferPointer<UInt8>, name: String, format: LogFormat = .auto,
                     prepare: ([String]) throws -> Void,
                     body: (Record) throws -> Void,
                     malformed: (Int, String) throws -> Void) throws {
        var start = 0
        if all.count >= 3 && all[0] == 0xEF && all[1] == 0xBB && all[2] == 0xBF { start = 3 }
        let bytes = UnsafeBufferPointer(rebasing: all[start...])
        var layout = format == .auto ? InteractionReader.detectFormat(bytes) : format
        if layout == .sequences { layout = .delimited(.whitespace) }   // a table's rows: fields split by spaces
        switch layout {
        case .jsonLines:
            var columns: [String] = []
            var index: [String: Int] = [:]
            var prepared = false
            var line = 0, p = 0
            let n = bytes.count
            while p < n {
                var end = p
                while end < n && bytes[end] != 10 { end += 1 }
                line += 1
                var e = end
                if e > p && bytes[e - 1] == 13 { e -= 1 }
                defer { p = end + 1 }
                let raw = UnsafeBufferPointer(rebasing: bytes[p..<e])
                if raw.allSatisfy({ $0 == 32 || $0 == 9 }) { continue }
                guard let object = (try? JSONSerialization.jsonObject(with: Data(raw))) as? [String: Any] else {
                    try malformed(line, "not a JSON object")
                    continue
                }
                var grew = false
                for key in object.keys.sorted() where index[key] == nil {
                    index[key] = columns.count
                    columns.append(key)
                    grew = true
                }
                // Keys first seen in a later object join the mapping (positions never move).
                if !prepared || grew { try prepare(columns); prepared = true }
                var texts = [String?](repeating: nil, count: columns.count)
                for (key, value) in object { texts[index[key]!] = jsonText(value).map(trimmed) }
                try body(Record(line: line, texts: texts))
            }
            if !prepared { try prepare([]) }
        case .delimited(let delimiter):
            var scanner = RecordScanner(bytes: bytes, delimiter: delimiter)
            var fields: [FieldRange] = []
            var header: [String]?
            var texts: [String?] = []
            while let outcome = scanner.next(&fields) {
                switch outcome {
                case .blank: continue
                case .malformed(let line, let reason): try malformed(line, reason)
                case .record(let line):
                    // Trim spaces and tabs on the bytes: Foundation's trimming is slow on Linux.
                    texts.removeAll(keepingCapacity: true)  // one buffer reused for every record
                    for f in fields {
                        var s = f.start, e = f.end
                        while s < e && (bytes[s] == 32 || bytes[s] == 9) { s += 1 }
                        while e > s && (bytes[e - 1] == 32 || bytes[e - 1] == 9) { e -= 1 }
                        var (t, _) = ValueParsing.text(UnsafeBufferPointer(rebasing: bytes[s..<e]))
                        if f.needsUnescape { t = t.replacingOccurrences(of: "\"\"", with: "\"") }
                        texts.append(t)
                    }
                    if header == nil {
                        header = texts.map { ($0 ?? "").trimmingCharacters(in: .whitespaces) }
                        try prepare(header!)
                        continue
                    }
                    try body(Record(line: line, texts: texts))
                }
            }
            if header == nil { try prepare([]) }
        case .auto, .sequences:
            preconditionFailure("format detection returned .auto (sequences were mapped to whitespace above)")
        }
    }

    /// `s` without leading and trailing spaces and tabs.
    static func trimmed(_ s: String) -> String {
        let u = s.utf8
        guard let first = u.first, let last = u.last, first == 32 || first == 9 || last == 32 || last == 9 else { return s }
        return s.trimmingCharacters(in: .whitespaces)
    }

    /// A JSON value as text: strings as they are, integral numbers without a fraction, arrays
    /// joined with `|`, objects as JSON.
    static func jsonText(_ value: Any) -> String? {
        switch value {
        case let s as String: return s
        case let n as NSNumber:
            let d = n.doubleValue
            return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : n.stringValue
        case let a as [Any]: return a.compactMap(jsonText).joined(separator: "|")
        case is NSNull: return nil
        default:
            guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else { return nil }
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// The index of the first column whose lower-cased name is in `names` (in preference order).
    static func find(_ names: [String], in columns: [String]) -> Int? {
        let lowered = columns.map { $0.lowercased() }
        for n in names { if let i = lowered.firstIndex(of: n) { return i } }
        return nil
    }
}

/// Splits a multi-valued field (`Action|Comedy`, `a;b`, `x, y`) into trimmed values.
func splitMultiValued(_ text: String?) -> [String] {
    guard let text else { return [] }
    let separators: Set<Character> = text.contains("|") ? ["|"] : text.contains(";") ? [";"] : [","]
    return text.split(whereSeparator: { separators.contains($0) }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}
