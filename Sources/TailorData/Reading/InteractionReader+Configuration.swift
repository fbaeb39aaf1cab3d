/// A column of an input file, by header name or by 1-based position.
public enum ColumnReference: Sendable, Codable, Equatable, CustomStringConvertible {
    /// The column whose header is this name (case-insensitive).
    case name(String)
    /// The column at this 1-based position (like `cut -f` and `awk`).
    case position(Int)

    /// `userId` or `#2`.
    public var description: String {
        switch self {
        case .name(let n): n
        case .position(let p): "#\(p)"
        }
    }
}

/// Which columns hold the user, item, rating and time. `nil` roles are found automatically.
public struct ColumnSelection: Sendable, Codable, Equatable {
    /// The user column.
    public var user: ColumnReference?
    /// The item column.
    public var item: ColumnReference?
    /// The rating or strength column (absent: every row has strength 1).
    public var rating: ColumnReference?
    /// The time column.
    public var time: ColumnReference?
    /// Roles the user said to ignore even if a column looks like them (`rating=none`).
    public var ignored: Set<String> = []

    /// Find every column automatically.
    public init(user: ColumnReference? = nil, item: ColumnReference? = nil, rating: ColumnReference? = nil,
                time: ColumnReference? = nil) {
        self.user = user
        self.item = item
        self.rating = rating
        self.time = time
    }

    /// Parses `user=userId,item=movieId,rating=rating,time=timestamp`. Values are header names
    /// or 1-based positions; `none` ignores a role. Roles: `user`, `item`, `rating` (also
    /// `value`, `weight`), `time` (also `timestamp`).
    public init(parsing text: String) throws {
        self.init()
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            let pieces = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pieces.count == 2, !pieces[1].isEmpty else {
                throw DataError(field: "--columns", reason: "'\(part)' is not ROLE=COLUMN",
                                hint: "write for example --columns user=userId,item=movieId,rating=rating,time=timestamp (or positions: user=1,item=2)")
            }
            let reference: ColumnReference? = pieces[1].lowercased() == "none" ? nil
                : Int(pieces[1]).map { .position($0) } ?? .name(pieces[1])
            if case .position(let p)? = reference, p < 1 {
                throw DataError(field: "--columns", reason: "column positions count from 1, got \(p)")
            }
            switch pieces[0].lowercased() {
            case "user", "users": user = reference
            case "item", "items": item = reference
            case "rating", "value", "weight", "score": rating = reference; if reference == nil { ignored.insert("rating") }
            case "time", "timestamp": time = reference; if reference == nil { ignored.insert("time") }
            default:
                throw DataError(field: "--columns", reason: "unknown role '\(pieces[0])'", hint: "roles are user, item, rating and time")
            }
        }
    }

    var usesNames: Bool {
        [user, item, rating, time].contains { if case .name? = $0 { true } else { false } }
    }
}

/// Whether the first row of a delimited file holds column names.
public enum HeaderMode: String, Sendable, Codable, CaseIterable {
    /// Decide from the first rows (known column names, or text above numbers).
    case auto
    /// The first row is a header.
    case present
    /// There is no header.
    case absent
}

/// The layout of an input file.
public enum LogFormat: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Decide from the content.
    case auto
    /// Delimited text.
    case delimited(Delimiter)
    /// One JSON object per line.
    case jsonLines
    /// One user per line, then their items in time order, separated by spaces or tabs
    /// (`user item1 item2 …`, the S3-Rec and CoSeRec files). Each item's position on its line
    /// is its time, so time-ordered splits and sequence models see the order.
    case sequences

    /// `csv (,)`, `json lines`…
    public var description: String {
        switch self {
        case .auto: "auto"
        case .delimited(let d): "delimited (\(d.symbol))"
        case .jsonLines: "JSON Lines"
        case .sequences: "sequences (user item1 item2 …)"
        }
    }
}

extension InteractionReader {
    /// How to read a log. Every field has a sensible default; the defaults read the MovieLens
    /// files (`u.data`, `ratings.csv`, `ratings.dat`) without options.
    public struct Configuration: Sendable, Codable, Equatable {
        /// File layout; `.auto` detects JSON Lines and the delimiter.
        public var format: LogFormat = .auto
        /// Whether there is a header row.
        public var header: HeaderMode = .auto
        /// Which columns play which role.
        public var columns = ColumnSelection()
        /// Stop at the first malformed row (naming file:line) instead of skipping it.
        public var strict = false
        /// If set, rows rated below this are dropped and the rest become implicit feedback
        /// (strength 1).
        public var minimumRating: Float?
        /// How repeated (user, item) rows are combined.
        public var duplicates: DuplicateRule = .sum
        /// How many malformed rows are described in the report (all are counted).
        public var reportedProblemLimit = 5
        /// Accept a file with no data rows (by default that is an error, since nothing can be
        /// learned from it).
        public var allowEmpty = false

        /// The defaults.
        public init() {}
    }
}
