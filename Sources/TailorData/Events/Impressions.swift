import Foundation
import TailorLinalg

/// Items shown to users and whether each was clicked: what a click-through ranker learns from.
///
/// Each row is one (user, item) shown together in an impression (a page, a feed refresh, a
/// search): ``rows`` holds them as interactions whose value is the label (1 clicked or otherwise
/// acted on, 0 shown and skipped) and whose time is the impression's, and ``groups`` says which
/// impression each row belongs to (precision@K ranks within it).
public struct Impressions: Sendable {
    /// The shown items: value 1 clicked, 0 not; timestamps in seconds when known.
    public var rows: Interactions
    /// The impression of each row (an index; −1 when unknown).
    public var groups: [Int32]

    /// Impressions from rows and their groups.
    public init(rows: Interactions, groups: [Int32]) {
        precondition(groups.count == rows.count, "one group per row")
        self.rows = rows
        self.groups = groups
    }

    /// Number of rows.
    public var count: Int { rows.count }
    /// Number of clicked rows.
    public var positives: Int { rows.values.reduce(0) { $0 + ($1 > 0 ? 1 : 0) } }

    /// The rows at `positions`, same ID maps.
    public func selecting(_ positions: [Int]) -> Impressions {
        Impressions(rows: rows.selecting(positions), groups: positions.map { groups[$0] })
    }

    // MARK: From events

    /// The impressions in an event log: every session holding at least one event of a passive
    /// type (`skip`: shown, not clicked) is an impression; its passive events are negatives and
    /// its events with a positive weight (click, like, purchase…) positives. A (user, item) both
    /// skipped and clicked in one impression counts as clicked. `nil` when there are none.
    public static func from(_ log: EventLog, weights: EventWeights, passiveTypes: Set<String> = ["skip"]) -> Impressions? {
        let passive = log.typeNames.map { passiveTypes.contains($0.name) }
        var shown = Set<Int32>()
        for i in 0..<log.count where passive[Int(log.types[i])] && log.sessions[i] >= 0 { shown.insert(log.sessions[i]) }
        guard !shown.isEmpty else { return nil }
        // (session, user, item) → its row, first time seen.
        struct Key: Hashable { var session: Int32, user: Int32, item: Int32 }
        var slot: [Key: Int] = [:]
        var sessions: [Int32] = [], users: [Int32] = [], items: [Int32] = [], labels: [Float] = [], times: [Int64] = []
        for i in 0..<log.count where log.sessions[i] >= 0 && shown.contains(log.sessions[i]) {
            let label: Float
            if passive[Int(log.types[i])] {
                label = 0
            } else if let w = weights.weight(type: log.typeNames[Int(log.types[i])], value: log.values[i]), w > 0 {
                label = 1
            } else {
                continue
            }
            let key = Key(session: log.sessions[i], user: log.users[i], item: log.items[i])
            if let s = slot[key] {
                labels[s] = max(labels[s], label)
            } else {
                slot[key] = users.count
                sessions.append(log.sessions[i]); users.append(log.users[i]); items.append(log.items[i])
                labels.append(label); times.append(log.timestamps[i] / 1000)
            }
        }
        guard !users.isEmpty else { return nil }
        // Renumber groups densely in order of first appearance.
        var dense: [Int32: Int32] = [:]
        let groups = sessions.map { s in
            if let d = dense[s] { return d }
            let d = Int32(dense.count)
            dense[s] = d
            return d
        }
        let rows = Interactions(users: users, items: items, values: labels, timestamps: times, userIDs: log.userIDs, itemIDs: log.itemIDs)
        return Impressions(rows: rows, groups: groups).compacted()
    }

    /// The same rows over ID maps holding only their users and items.
    public func compacted() -> Impressions {
        Impressions(rows: rows.compacted(), groups: groups)
    }

    // MARK: From a file

    /// Reads impressions from a table with a header: user and item columns (as for logs), a
    /// label column (`clicked`, `click`, `label`: 1/0, true/false, yes/no), and optionally a time
    /// (`timestamp`, `time`: Unix seconds or a date) and an impression id (`impression`,
    /// `impression_id`, `request_id`, `session`).
    ///
    /// - Throws: ``DataError`` naming the file, and the line for a bad label or time (rows with
    ///   problems are otherwise skipped and counted in the report).
    public static func read(path: String, strict: Bool = false) throws -> (Impressions, TableReadReport) {
        let data = try readFile(path)
        return try data.withUnsafeBytes { try read(bytes: $0.bindMemory(to: UInt8.self), name: path, strict: strict) }
    }

    /// Reads impressions from text (see ``read(path:strict:)``).
    public static func read(text: String, name: String = "<text>", strict: Bool = false) throws -> (Impressions, TableReadReport) {
        var copy = text
        return try copy.withUTF8 { try read(bytes: $0, name: name, strict: strict) }
    }

    static func read(bytes: UnsafeBufferPointer<UInt8>, name: String, strict: Bool) throws -> (Impressions, TableReadReport) {
        var report = TableReadReport(file: name)
        var userColumn = 0, itemColumn = 0, labelColumn = 0, timeColumn: Int?, groupColumn: Int?
        var userIDs = IDMap(), itemIDs = IDMap(), groupIDs: [String: Int32] = [:]
        var users: [Int32] = [], items: [Int32] = [], labels: [Float] = [], times: [Int64] = [], groups: [Int32] = []
        try TableReader.read(bytes: bytes, name: name, prepare: { columns in
            func column(_ names: [String], _ role: String, _ hint: String) throws -> Int {
                guard let c = TableReader.find(names, in: columns) else {
                    throw DataError(file: name, field: "header", reason: "no \(role) column; the columns are \(columns.joined(separator: ", "))", hint: hint)
                }
                report.columns[role] = columns[c]
                return c
            }
            userColumn = try column(["user_id", "userid", "user", "uid", "customer_id", "visitorid"], "user", "name it user or user_id")
            itemColumn = try column(["item_id", "itemid", "item", "news_id", "newsid", "movieid", "movie_id", "product_id", "article_id"], "item", "name it item or item_id")
            labelColumn = try column(["clicked", "click", "label", "clicks", "converted", "is_click"], "label", "name it clicked (1 shown and clicked, 0 shown only)")
            timeColumn = TableReader.find(["timestamp", "time", "ts", "datetime", "date"], in: columns)
            groupColumn = TableReader.find(["impression", "impression_id", "impressionid", "request_id", "request", "session", "session_id"], in: columns)
            if let t = timeColumn { report.columns["time"] = columns[t] }
            if let g = groupColumn { report.columns["impression"] = columns[g] }
        }, body: { record in
            report.rowsRead += 1
            guard let user = record.text(userColumn), let item = record.text(itemColumn) else {
                try report.problem(record.line, "empty user or item", strict: strict); return
            }
            guard let text = record.text(labelColumn) else { try report.problem(record.line, "empty label", strict: strict); return }
            let label: Float
            switch text.lowercased() {
            case "1", "true", "yes", "y", "1.0": label = 1
            case "0", "false", "no", "n", "0.0": label = 0
            default:
                try report.problem(record.line, "label '\(text)' is not 1/0, true/false or yes/no", strict: strict); return
            }
            var time: Int64 = 0
            if let t = record.text(timeColumn) {
                guard let ms = EventReader.parseMilliseconds(t) else {
                    try report.problem(record.line, "time '\(t)' is not a Unix time or a date", strict: strict); return
                }
                time = ms / 1000
            }
            users.append(userIDs.insert(user)); items.append(itemIDs.insert(item)); labels.append(label); times.append(time)
            if let g = record.text(groupColumn) {
                if let id = groupIDs[g] { groups.append(id) } else { let id = Int32(groupIDs.count); groupIDs[g] = id; groups.append(id) }
            } else {
                groups.append(-1)
            }
            report.rowsAccepted += 1
        }, malformed: { line, reason in
            report.rowsRead += 1
            try report.problem(line, reason, strict: strict)
        })
        guard !users.isEmpty else {
            throw DataError(.emptyData, file: name, reason: "holds no impressions", hint: "give rows of user, item, clicked (1/0)")
        }
        let rows = Interactions(users: users, items: items, values: labels, timestamps: timeColumn == nil ? nil : times, userIDs: userIDs, itemIDs: itemIDs)
        return (Impressions(rows: rows, groups: groups), report)
    }

    // MARK: Splitting and sampling

    /// The latest `testFraction` of impressions (by time; whole impressions stay together) as
    /// test, the rest as training. Without times, the last rows in file order are the test.
    public func splitByTime(testFraction: Double) -> (train: Impressions, test: Impressions) {
        // One time per group (its earliest row); rows without a group are their own group.
        var groupTime: [Int64: Int64] = [:]
        func key(_ r: Int) -> Int64 { groups[r] >= 0 ? Int64(groups[r]) : -1 - Int64(r) }
        for r in 0..<count {
            let t = rows.timestamps?[r] ?? Int64(r)
            groupTime[key(r), default: t] = min(groupTime[key(r)] ?? t, t)
        }
        let ordered = groupTime.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map(\.key)
        let testGroups = Set(ordered.suffix(Int((Double(ordered.count) * testFraction).rounded())))
        var train: [Int] = [], test: [Int] = []
        for r in 0..<count { if testGroups.contains(key(r)) { test.append(r) } else { train.append(r) } }
        return (selecting(train), selecting(test))
    }

    /// Impressions made up from interactions when none were logged: every interaction is a
    /// click, and `negatives` items the user never interacted with, drawn uniformly, are shown
    /// beside it (one group per interaction, at its time). A stand-in: real skips carry what
    /// the user saw and passed over, random items mostly do not.
    public static func sampled(from interactions: Interactions, negatives: Int, seed: UInt64) -> Impressions {
        var rng = TailorRandom(seed: seed, stream: 17)
        var had = Set<Int64>()
        for r in 0..<interactions.count { had.insert(Int64(interactions.users[r]) << 32 | Int64(interactions.items[r])) }
        let itemCount = interactions.itemIDs.count
        var users: [Int32] = [], items: [Int32] = [], labels: [Float] = [], times: [Int64] = [], groups: [Int32] = []
        for r in 0..<interactions.count {
            let u = interactions.users[r], t = interactions.timestamps?[r] ?? 0
            users.append(u); items.append(interactions.items[r]); labels.append(1); times.append(t); groups.append(Int32(r))
            var drawn = 0, attempts = 0
            while drawn < negatives && attempts < negatives * 20 {
                attempts += 1
                let j = Int32(rng.nextInt(below: itemCount))
                if had.contains(Int64(u) << 32 | Int64(j)) { continue }
                users.append(u); items.append(j); labels.append(0); times.append(t); groups.append(Int32(r))
                drawn += 1
            }
        }
        let rows = Interactions(users: users, items: items, values: labels, timestamps: interactions.timestamps == nil ? nil : times,
                                userIDs: interactions.userIDs, itemIDs: interactions.itemIDs)
        return Impressions(rows: rows, groups: groups)
    }
}
