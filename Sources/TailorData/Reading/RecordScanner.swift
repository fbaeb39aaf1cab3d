// Splits a delimited text buffer into records and fields, RFC 4180 style: fields may be quoted
// with `"`, a doubled `""` inside quotes is one quote, and quoted fields may span lines.
// Handles LF, CRLF and lone CR line endings, single-byte delimiters, `::`, and runs of
// whitespace.

/// The separator between fields of a delimited log.
public enum Delimiter: String, Sendable, Codable, CaseIterable {
    /// `,`
    case comma
    /// Tab.
    case tab
    /// `;`
    case semicolon
    /// `|`
    case pipe
    /// `::` (MovieLens 1M/10M `ratings.dat`).
    case doubleColon
    /// One or more spaces or tabs.
    case whitespace

    /// The delimiter as people write it.
    public var symbol: String {
        switch self {
        case .comma: ","
        case .tab: "\\t"
        case .semicolon: ";"
        case .pipe: "|"
        case .doubleColon: "::"
        case .whitespace: "whitespace"
        }
    }

    var byte: UInt8 {
        switch self {
        case .comma: 44
        case .tab: 9
        case .semicolon: 59
        case .pipe: 124
        case .doubleColon: 58
        case .whitespace: 32
        }
    }
}

/// Where one field lies in the buffer.
struct FieldRange {
    var start: Int
    var end: Int
    /// The field was quoted and contains `""` escapes that must be undone.
    var needsUnescape: Bool
}

struct RecordScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    let delimiter: Delimiter
    private(set) var position: Int
    /// 1-based line number where the next record starts.
    private(set) var line = 1

    init(bytes: UnsafeBufferPointer<UInt8>, delimiter: Delimiter, start: Int = 0) {
        self.bytes = bytes
        self.delimiter = delimiter
        self.position = start
    }

    enum Outcome {
        /// A record; its fields are in the buffer passed to `next`. `line` is where it starts.
        case record(line: Int)
        /// A line with nothing on it.
        case blank(line: Int)
        /// A record that cannot be split (for example an unterminated quote); scanning resumes
        /// on the line after the one the record started on, so later rows are kept.
        case malformed(line: Int, reason: String)
    }

    @inline(__always) private func isLineEnd(_ c: UInt8) -> Bool { c == 10 || c == 13 }

    /// Consumes a line ending at `position` if there is one.
    private mutating func skipLineEnd() {
        guard position < bytes.count else { return }
        if bytes[position] == 13 {
            position += 1
            if position < bytes.count && bytes[position] == 10 { position += 1 }
            line += 1
        } else if bytes[position] == 10 {
            position += 1
            line += 1
        }
    }

    /// Skips to just after the end of the current line.
    private mutating func skipRestOfLine() {
        while position < bytes.count && !isLineEnd(bytes[position]) { position += 1 }
        skipLineEnd()
    }

    /// Continues after a broken quoted field: just after the line end at `lineEnd` (the end of the
    /// line the quote opened on), or at the end of the buffer when that line was the last.
    private mutating func resume(atLineEnd lineEnd: Int?, line lineAtQuote: Int) {
        guard let lineEnd else { position = bytes.count; return }
        position = lineEnd
        line = lineAtQuote
        skipLineEnd()
    }

    /// Scans the next record into `fields`, or returns `nil` at the end of the buffer.
    mutating func next(_ fields: inout [FieldRange]) -> Outcome? {
        fields.removeAll(keepingCapacity: true)
        guard position < bytes.count else { return nil }
        let startLine = line
        let n = bytes.count
        let sep = delimiter.byte
        let whitespace = delimiter == .whitespace
        let doubleColon = delimiter == .doubleColon

        // Blank line (possibly only spaces)?
        var probe = position
        while probe < n && (bytes[probe] == 32 || bytes[probe] == 9) { probe += 1 }
        if probe >= n || isLineEnd(bytes[probe]) {
            position = probe
            skipLineEnd()
            return .blank(line: startLine)
        }
        if whitespace { position = probe }

        while true {
            // Start of a field.
            if whitespace {
                while position < n && (bytes[position] == 32 || bytes[position] == 9) { position += 1 }
            }
            if position < n && bytes[position] == 34 {
                // Quoted field. It may span lines (RFC 4180), but a quote that is never closed, or
                // whose "closing" quote is followed by more text, is a broken field: then the field
                // ends at the end of the line it started on, that row is reported, and scanning
                // resumes on the next line, so no good row after a stray quote is lost.
                let lineAtQuote = line
                position += 1
                let start = position
                var escaped = false
                var closed = false
                var firstLineEnd: Int?
                while position < n {
                    let c = bytes[position]
                    if c == 34 {
                        if position + 1 < n && bytes[position + 1] == 34 {
                            escaped = true
                            position += 2
                            continue
                        }
                        closed = true
                        break
                    }
                    if isLineEnd(c) && firstLineEnd == nil { firstLineEnd = position }
                    if c == 10 || (c == 13 && !(position + 1 < n && bytes[position + 1] == 10)) { line += 1 }
                    position += 1
                }
                guard closed else {
                    resume(atLineEnd: firstLineEnd, line: lineAtQuote)
                    return .malformed(line: startLine, reason: "a quoted field is not closed on its line (missing \"); the row was skipped")
                }
                fields.append(FieldRange(start: start, end: position, needsUnescape: escaped))
                position += 1  // closing quote
                // Allow spaces before the delimiter.
                while position < n && bytes[position] == 32 && !whitespace { position += 1 }
                if position < n && !isLineEnd(bytes[position]) && !isSeparator(at: position, sep, whitespace, doubleColon) {
                    if firstLineEnd != nil {
                        resume(atLineEnd: firstLineEnd, line: lineAtQuote)
                        return .malformed(line: startLine, reason: "a quoted field is not closed on its line (missing \"); the row was skipped")
                    }
                    skipRestOfLine()
                    return .malformed(line: startLine, reason: "unexpected text after a closing quote")
                }
            } else {
                let start = position
                while position < n {
                    let c = bytes[position]
                    if isLineEnd(c) { break }
                    if whitespace {
                        if c == 32 || c == 9 { break }
                    } else if c == sep && (!doubleColon || (position + 1 < n && bytes[position + 1] == 58)) {
                        break
                    }
                    position += 1
                }
                fields.append(FieldRange(start: start, end: position, needsUnescape: false))
            }
            // After a field: end of line, or a delimiter and another field.
            if whitespace {
                while position < n && (bytes[position] == 32 || bytes[position] == 9) { position += 1 }
                if position >= n || isLineEnd(bytes[position]) { skipLineEnd(); return .record(line: startLine) }
                continue
            }
            if position >= n { return .record(line: startLine) }
            if isLineEnd(bytes[position]) { skipLineEnd(); return .record(line: startLine) }
            position += doubleColon ? 2 : 1  // the delimiter
        }
    }

    @inline(__always)
    private func isSeparator(at p: Int, _ sep: UInt8, _ whitespace: Bool, _ doubleColon: Bool) -> Bool {
        let c = bytes[p]
        if whitespace { return c == 32 || c == 9 }
        if doubleColon { return c == 58 && p + 1 < bytes.count && bytes[p + 1] == 58 }
        return c == sep
    }
}
