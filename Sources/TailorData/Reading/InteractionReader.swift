import Foundation

/// Reads interaction logs (CSV, TSV, `::`- or whitespace-separated, JSON Lines) into
/// ``Interactions``.
///
/// Tolerates a UTF-8 byte-order mark, CRLF line endings, Latin-1 text, quoted fields and blank
/// lines. Malformed rows are counted and the first few described with their line numbers in the
/// ``ReadReport``; they are skipped unless ``Configuration/strict`` is set, in which case the
/// first one throws a ``DataError`` naming `file:line`.
///
/// ```swift
/// let (log, report) = try InteractionReader.read(path: "ml-latest-small/ratings.csv")
/// print(report.summary)
/// ```
public enum InteractionReader {
    /// What happened while reading a file.
    public struct ReadReport: Sendable, Codable, Equatable {
        /// A row that could not be used.
        public struct Problem: Sendable, Codable, Equatable, CustomStringConvertible {
            /// 1-based line where the row starts.
            public var line: Int
            /// Why it was skipped.
            public var reason: String
            /// `line 12: rating 'abc' is not a number`
            public var description: String { "line \(line): \(reason)" }
        }

        /// The file read.
        public var file: String
        /// The layout used.
        public var format: String
        /// Whether a header row was used.
        public var header: Bool
        /// The column used for each role (`user: userId`, `rating: #3`…).
        public var columns: [String: String]
        /// Data rows seen (blank lines and the header excluded).
        public var rowsRead = 0
        /// Rows turned into interactions before duplicate merging.
        public var rowsAccepted = 0
        /// Malformed rows skipped.
        public var rowsSkipped = 0
        /// Rows dropped because their rating was below the minimum.
        public var rowsBelowMinimumRating = 0
        /// Rows folded into an earlier row with the same user and item.
        public var duplicatesMerged = 0
        /// Fields that were not valid UTF-8 and were read as Latin-1.
        public var latin1Fields = 0
        /// The first few malformed rows.
        public var problems: [Problem] = []
        /// Distinct users.
        public var users = 0
        /// Distinct items.
        public var items = 0
        /// Interactions after merging duplicates.
        public var interactions = 0

        /// A report for `file` read as `format`.
        public init(file: String, format: String, header: Bool, columns: [String: String]) {
            self.file = file
            self.format = format
            self.header = header
            self.columns = columns
        }

        /// A few lines for people.
        public var summary: String {
            var lines = ["\(file): \(format)\(header ? " with header" : ""), columns " +
                         columns.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")]
            lines.append("read \(rowsRead) rows: \(interactions) interactions, \(users) users, \(items) items" +
                         (duplicatesMerged > 0 ? ", \(duplicatesMerged) duplicate rows merged" : "") +
                         (rowsBelowMinimumRating > 0 ? ", \(rowsBelowMinimumRating) below the minimum rating" : ""))
            if latin1Fields > 0 { lines.append("\(latin1Fields) fields were not UTF-8 and were read as Latin-1") }
            if rowsSkipped > 0 {
                lines.append("skipped \(rowsSkipped) malformed rows" + (problems.isEmpty ? "" : ", first:"))
                lines += problems.map { "  \($0)" }
            }
            return lines.joined(separator: "\n")
        }
    }

    /// Reads the log at `path`.
    public static func read(path: String, configuration: Configuration = .init()) throws -> (Interactions, ReadReport) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            let exists = FileManager.default.fileExists(atPath: path)
            throw DataError(file: path, reason: exists ? "cannot be read (\(error.localizedDescription))" : "no such file",
                            hint: exists ? "check its permissions" : "check the path; MovieLens files are named u.data, ratings.csv or ratings.dat")
        }
        return try data.withUnsafeBytes { raw in
            try read(bytes: raw.bindMemory(to: UInt8.self), name: path, configuration: configuration)
        }
    }

    /// Reads a log held in memory; `name` stands for the file in messages.
    public static func read(text: String, name: String = "<text>", configuration: Configuration = .init()) throws -> (Interactions, ReadReport) {
        var copy = text
        return try copy.withUTF8 { try read(bytes: $0, name: name, configuration: configuration) }
    }

    /// Reads a log from raw bytes; `name` stands for the file in messages.
    public static func read(bytes all: UnsafeBufferPointer<UInt8>, name: String, configuration: Configuration) throws -> (Interactions, ReadReport) {
        var start = 0
        if all.count >= 3 && all[0] == 0xEF && all[1] == 0xBB && all[2] == 0xBF { start = 3 }
        if all.count >= 2 && ((all[0] == 0xFF && all[1] == 0xFE) || (all[0] == 0xFE && all[1] == 0xFF)) {
            throw DataError(file: name, reason: "is UTF-16 text", hint: "convert it to UTF-8, e.g. `iconv -f UTF-16 -t UTF-8 \(name) > out.csv`")
        }
        let bytes = UnsafeBufferPointer(rebasing: all[start...])
        if let minimum = configuration.minimumRating, !minimum.isFinite {
            throw DataError(field: "--min-rating", reason: "must be a finite number")
        }
        var format = configuration.format
        if format == .auto { format = detectFormat(bytes) }
        var builder = Builder(name: name, configuration: configuration)
        switch format {
        case .jsonLines:
            try builder.readJSONLines(bytes)
        case .delimited(let delimiter):
            try builder.readDelimited(bytes, delimiter: delimiter)
        case .sequences:
            try builder.readSequences(bytes)
        case .auto:
            preconditionFailure("format detection returned .auto")
        }
        return try builder.finish(format: format)
    }

    /// Guesses the layout from the first lines: JSON Lines if the first character is `{`;
    /// otherwise the delimiter that appears the same non-zero number of times on the first few
    /// lines (`::` first, then tab, comma, semicolon, pipe), else whitespace.
    static func detectFormat(_ bytes: UnsafeBufferPointer<UInt8>) -> LogFormat {
        var i = 0
        while i < bytes.count && (bytes[i] == 32 || bytes[i] == 9 || bytes[i] == 10 || bytes[i] == 13) { i += 1 }
        if i < bytes.count && bytes[i] == 123 { return .jsonLines }
        // Look at up to 10 non-blank lines, counting delimiters outside quotes.
        var lines: [[Delimiter: Int]] = []
        var counts: [Delimiter: Int] = [:]
        var inQuotes = false
        var lineHasText = false
        var spacedLines = 0  // lines with a space between two non-space characters
        var lineSpaced = false, sawSpaceAfterText = false
        var p = i
        while p < bytes.count && lines.count < 10 && p < i + 65_536 {
            let c = bytes[p]
            if c == 34 { inQuotes.toggle() }
            if !inQuotes {
                switch c {
                case 10, 13:
                    if lineHasText { lines.append(counts); if lineSpaced { spacedLines += 1 } }
                    counts = [:]; lineHasText = false; lineSpaced = false; sawSpaceAfterText = false
                case 9: counts[.tab, default: 0] += 1
                case 44: counts[.comma, default: 0] += 1
                case 59: counts[.semicolon, default: 0] += 1
                case 124: counts[.pipe, default: 0] += 1
                case 58 where p + 1 < bytes.count && bytes[p + 1] == 58:
                    counts[.doubleColon, default: 0] += 1
                    p += 1
                default: break
                }
            }
            if c == 32 || c == 9 {
                if lineHasText { sawSpaceAfterText = true }
            } else if c != 10 && c != 13 {
                if sawSpaceAfterText { lineSpaced = true }
                lineHasText = true
            }
            p += 1
        }
        if lineHasText { lines.append(counts); if lineSpaced { spacedLines += 1 } }
        guard !lines.isEmpty else { return .delimited(.comma) }
        for d in [Delimiter.doubleColon, .tab, .comma, .semicolon, .pipe] {
            let first = lines[0][d] ?? 0
            if first > 0 && lines.allSatisfy({ ($0[d] ?? 0) == first }) { return .delimited(d) }
        }
        // No delimiter is consistent. Text split by spaces on every line is whitespace-separated;
        // otherwise take the first delimiter the first line has.
        if looksLikeSequences(bytes) { return .sequences }
        if spacedLines == lines.count { return .delimited(.whitespace) }
        for d in [Delimiter.doubleColon, .tab, .comma, .semicolon, .pipe] where (lines[0][d] ?? 0) > 0 {
            return .delimited(d)
        }
        return .delimited(.whitespace)
    }

    /// Whether the first lines are sequence lines: integers only, split by spaces or tabs, some
    /// line holding at least four fields (a user and three items), and either differing numbers
    /// of fields or at least six on every line. A log of `user item rating time` rows has four
    /// on every line.
    static func looksLikeSequences(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var counts: [Int] = []
        var fields = 0, inField = false, p = 0
        while p < bytes.count && counts.count < 10 && p < 65_536 {
            let c = bytes[p]
            switch c {
            case 10:
                if inField { fields += 1 }
                if fields > 0 { counts.append(fields) }
                fields = 0; inField = false
            case 32, 9, 13:
                if inField { fields += 1 }
                inField = false
            case 48...57: inField = true
            default: return false
            }
            p += 1
        }
        if inField { fields += 1 }
        if fields > 0 && counts.count < 10 { counts.append(fields) }
        return counts.count >= 2 && (counts.max() ?? 0) >= 4 && (Set(counts).count > 1 || (counts.min() ?? 0) >= 6)
    }

    /// Header names recognized for each role, lower-cased, in order of preference.
    static let knownNames: [String: [String]] = [
        "user": ["user", "userid", "user_id", "user id", "uid", "users", "u", "customer", "customer_id", "customerid",
                 "visitorid", "visitor_id", "member_id", "account_id", "reviewerid", "reviewer_id"],
        "item": ["item", "itemid", "item_id", "item id", "iid", "items", "i", "movieid", "movie_id", "movie", "product",
                 "productid", "product_id", "asin", "sku", "article_id", "articleid", "news_id", "newsid", "track",
                 "track_id", "trackid", "song", "song_id", "artist", "artist_id", "book_id", "isbn", "content_id"],
        "rating": ["rating", "ratings", "score", "value", "weight", "stars", "count", "plays", "playcount",
                   "play_count", "quantity", "strength", "book-rating", "overall", "r"],
        "time": ["timestamp", "time", "ts", "datetime", "date", "event_time", "eventtime", "created_at",
                 "createdat", "unixreviewtime", "unix_time", "time_stamp", "t"],
    ]
}
