import Foundation

/// A problem row while reading events, items or users.
public struct RowProblem: Sendable, Codable, Equatable, CustomStringConvertible {
    /// 1-based line.
    public var line: Int
    /// Why the row was skipped.
    public var reason: String
    /// `line 12: …`
    public var description: String { "line \(line): \(reason)" }
}

/// Counts from reading a table.
public struct TableReadReport: Sendable, Codable, Equatable {
    /// The file.
    public var file: String
    /// The column used for each role.
    public var columns: [String: String] = [:]
    /// Data rows seen.
    public var rowsRead = 0
    /// Rows accepted.
    public var rowsAccepted = 0
    /// Rows skipped as malformed.
    public var rowsSkipped = 0
    /// The first few problems.
    public var problems: [RowProblem] = []

    /// One line for people, plus the first problems.
    public var summary: String {
        var s = "\(file): \(rowsRead) rows, \(rowsAccepted) accepted"
        if rowsSkipped > 0 { s += ", \(rowsSkipped) skipped; first:\n" + problems.map { "  \($0)" }.joined(separator: "\n") }
        return s
    }

    mutating func problem(_ line: Int, _ reason: String, strict: Bool, limit: Int = 5) throws {
        if strict {
            throw DataError(file: file, line: line, reason: reason,
                            hint: "fix or delete that row, or drop --strict to skip malformed rows and report them")
        }
        rowsSkipped += 1
        if problems.count < limit { problems.append(RowProblem(line: line, reason: reason)) }
    }
}

/// Reads event logs (CSV/TSV with a header, or JSON Lines) into ``Event`` values, in batches.
///
/// Columns are found by name: `user`/`user_id`…, `item`/`item_id`…, `type`/`event_type`/`action`,
/// `value`/`dwell`/`rating`/`amount`, `timestamp`/`time`…, `event_id`, `device`, `platform`,
/// `country`/`location`, `session`/`session_id`, `referrer`; every other column becomes a context
/// key-value. Without a type column every event has ``Configuration/defaultType`` (or `rating`
/// when the value column is called `rating`). Times are Unix seconds, Unix milliseconds (13
/// digits) or dates.
public enum EventReader {
    /// Reading options.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Type for files without a type column.
        public var defaultType = EventType.click
        /// Stop at the first malformed row.
        public var strict = false
        /// Events per batch handed to the caller.
        public var batchSize = 50_000
        /// The defaults.
        public init() {}
    }

    static let roles: [String: [String]] = [
        "id": ["event_id", "eventid", "event_uuid", "id"],
        "user": InteractionReader.knownNames["user"]!,
        "item": InteractionReader.knownNames["item"]!,
        "type": ["type", "event_type", "eventtype", "event", "action", "behavior", "behaviour", "interaction", "kind"],
        "value": ["value", "dwell", "dwell_time", "dwell_seconds", "duration", "seconds", "rating", "amount", "price", "score", "stars"],
        "time": InteractionReader.knownNames["time"]! + ["timestamp_ms", "time_ms"],
        "device": ["device", "device_type", "devicetype"],
        "platform": ["platform", "os", "app"],
        "country": ["country", "location", "region", "geo", "city", "country_code"],
        "session": ["session", "session_id", "sessionid", "visit_id"],
        "referrer": ["referrer", "referer", "source", "campaign", "utm_source"],
    ]

    /// Reads events from `path`, calling `batch` with up to `batchSize` events at a time.
    @discardableResult
    public static func read(path: String, configuration: Configuration = .init(), batch: ([Event]) throws -> Void) throws -> TableReadReport {
        let data = try readFile(path)
        return try data.withUnsafeBytes { raw in
            try read(bytes: raw.bindMemory(to: UInt8.self), name: path, configuration: configuration, batch: batch)
        }
    }

    /// Reads events from text (for tests and small inputs).
    @discardableResult
    public static func read(text: String, name: String = "<text>", configuration: Configuration = .init(), batch: ([Event]) throws -> Void) throws -> TableReadReport {
        var copy = text
        return try copy.withUTF8 { try read(bytes: $0, name: name, configuration: configuration, batch: batch) }
    }

    static func read(bytes: UnsafeBufferPointer<UInt8>, name: String, configuration c: Configuration, batch: ([Event]) throws -> Void) throws -> TableReadReport {
        var report = TableReadReport(file: name)
        var column: [String: Int] = [:]
        var extras: [(Int, String)] = []
        var pending: [Event] = []
        pending.reserveCapacity(min(c.batchSize, 1 << 16))
        var valueIsRating = false
        var typeCache: [String: EventType] = [:]
        try TableReader.read(bytes: bytes, name: name, prepare: { columns in
            guard !columns.isEmpty else { return }
            for (role, names) in roles { if let i = TableReader.find(names, in: columns) { column[role] = i } }
            // 'id' only counts as the event id when it is not also the user or item column.
            if let id = column["id"], id == column["user"] || id == column["item"] { column["id"] = nil }
            guard column["user"] != nil, column["item"] != nil else {
                throw DataError(file: name, field: "header", reason: "cannot tell which columns hold users and items; the columns are \(columns.joined(separator: ", "))",
                                hint: "name them user and item (or user_id, item_id…)")
            }
            let used = Set(column.values)
            extras = columns.enumerated().filter { !used.contains($0.offset) }.map { ($0.offset, $0.element) }
            for (role, i) in column { report.columns[role] = columns[i] }
            valueIsRating = column["value"].map { ["rating", "stars"].contains(columns[$0].lowercased()) } ?? false
        }, body: { record in
            report.rowsRead += 1
            guard let user = record.text(column["user"]) else { try report.problem(record.line, "empty user id", strict: c.strict); return }
            guard let item = record.text(column["item"]) else { try report.problem(record.line, "empty item id", strict: c.strict); return }
            var value: Double?
            if let text = record.text(column["value"]) {
                var t = text
                guard let v = t.withUTF8({ ValueParsing.double($0) }) else {
                    try report.problem(record.line, "value '\(text)' is not a number", strict: c.strict); return
                }
                value = v
            }
            var ms: Int64 = 0
            if let text = record.text(column["time"]) {
                guard let t = parseMilliseconds(text) else {
                    try report.problem(record.line, "time '\(text)' is not a Unix time or a date", strict: c.strict); return
                }
                ms = t
            } else if column["time"] != nil {
                try report.problem(record.line, "missing time", strict: c.strict); return
            }
            let type: EventType
            if let raw = record.text(column["type"]) {
                if let cached = typeCache[raw] { type = cached } else { type = EventType(raw); typeCache[raw] = type }
            } else {
                type = valueIsRating ? .rating : c.defaultType
            }
            var context = EventContext(device: record.text(column["device"]), platform: record.text(column["platform"]),
                                       country: record.text(column["country"]), session: record.text(column["session"]),
                                       referrer: record.text(column["referrer"]))
            for (i, key) in extras { if let v = record.text(i) { context.extra[key] = v } }
            pending.append(Event(id: record.text(column["id"]), user: user, item: item, type: type, value: value,
                                 timestampMilliseconds: ms, context: context))
            report.rowsAccepted += 1
            if pending.count >= c.batchSize { try batch(pending); pending.removeAll(keepingCapacity: true) }
        }, malformed: { line, reason in
            report.rowsRead += 1
            try report.problem(line, reason, strict: c.strict)
        })
        if !pending.isEmpty { try batch(pending) }
        return report
    }

    /// Unix milliseconds from seconds (up to 11 digits), milliseconds (12–13 digits), or a date.
    public static func parseMilliseconds(_ text: String) -> Int64? {
        var t = text
        if let v = t.withUTF8({ ValueParsing.double($0) }) {
            guard v.isFinite, abs(v) < 1e16 else { return nil }
            return abs(v) >= 1e11 ? Int64(v) : Int64((v * 1000).rounded())
        }
        return Timestamp.parse(text).map { $0 * 1000 }
    }
}

/// Reads a whole file, with a clear error for a missing or unreadable one (the package's one
/// file reader for user-named files: logs, catalogues, run and configuration files).
package func readFile(_ path: String) throws -> Data {
    do {
        return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
    } catch {
        let exists = FileManager.default.fileExists(atPath: path)
        throw DataError(exists ? .unreadableFile : .missingFile, file: path,
                        reason: exists ? "cannot be read (\(error.localizedDescription))" : "no such file",
                        hint: exists ? "check its permissions" : "check the path")
    }
}
