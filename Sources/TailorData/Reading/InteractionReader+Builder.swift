import Foundation

extension InteractionReader {
    /// Accumulates rows into columns while reading.
    struct Builder {
        let name: String
        let configuration: Configuration
        var users: [Int32] = []
        var items: [Int32] = []
        var values: [Float] = []
        var times: [Int64] = []
        var userIDs = IDMap()
        var itemIDs = IDMap()
        var report: ReadReport
        var hasRating = false
        var hasTime = false

        init(name: String, configuration: Configuration) {
            self.name = name
            self.configuration = configuration
            report = ReadReport(file: name, format: "", header: false, columns: [:])
        }

        /// Records a malformed row, or throws in strict mode.
        mutating func problem(line: Int, _ reason: String) throws {
            if configuration.strict {
                throw DataError(file: name, line: line, reason: reason,
                                hint: "fix or delete that row, or drop --strict to skip malformed rows and report them")
            }
            report.rowsSkipped += 1
            if report.problems.count < configuration.reportedProblemLimit {
                report.problems.append(.init(line: line, reason: reason))
            }
        }

        // MARK: Delimited text

        /// Resolved column positions (0-based) for each role.
        struct Layout {
            var user = 0, item = 1
            var rating: Int?
            var time: Int?
            var needed: Int { max(user, item, rating ?? 0, time ?? 0) + 1 }
        }

        mutating func readDelimited(_ bytes: UnsafeBufferPointer<UInt8>, delimiter: Delimiter) throws {
            var scanner = RecordScanner(bytes: bytes, delimiter: delimiter)
            var fields: [FieldRange] = []
            // Gather the first two records to decide on the header and the columns.
            var firstRecords: [(line: Int, fields: [FieldRange])] = []
            var pendingProblems: [(Int, String)] = []
            var probe = scanner
            while firstRecords.count < 2, let outcome = probe.next(&fields) {
                switch outcome {
                case .record(let line): firstRecords.append((line, fields))
                case .malformed(let line, let reason): pendingProblems.append((line, reason))
                case .blank: break
                }
            }
            _ = pendingProblems
            guard let first = firstRecords.first else {
                report.format = LogFormat.delimited(delimiter).description
                return  // empty; finish() decides whether that is an error
            }
            let headerNames = first.fields.map { field in
                fieldText(bytes, field).0.trimmingCharacters(in: .whitespaces)
            }
            let hasHeader = try decideHeader(names: headerNames, bytes: bytes, records: firstRecords)
            let layout = try resolveColumns(header: hasHeader ? headerNames : nil, columnCount: first.fields.count,
                                            sample: firstRecords.dropFirst(hasHeader ? 1 : 0).first.map { ($0.fields, bytes) })
            report.format = LogFormat.delimited(delimiter).description
            report.header = hasHeader
            hasRating = layout.rating != nil
            hasTime = layout.time != nil
            if configuration.minimumRating != nil && !hasRating {
                throw DataError(file: name, field: "--min-rating", reason: "the file has no rating column",
                                hint: "name it with --columns rating=COLUMN, or drop --min-rating")
            }
            var skippedHeader = !hasHeader
            let estimate = bytes.count / 24
            users.reserveCapacity(estimate); items.reserveCapacity(estimate); values.reserveCapacity(estimate)
            if hasTime { times.reserveCapacity(estimate) }
            while let outcome = scanner.next(&fields) {
                switch outcome {
                case .blank:
                    continue
                case .malformed(let line, let reason):
                    report.rowsRead += 1
                    try problem(line: line, reason)
                case .record(let line):
                    if !skippedHeader { skippedHeader = true; continue }
                    report.rowsRead += 1
                    try addRow(bytes, fields, layout: layout, line: line)
                }
            }
        }

        func fieldText(_ bytes: UnsafeBufferPointer<UInt8>, _ f: FieldRange) -> (String, latin1: Bool) {
            let slice = UnsafeBufferPointer(rebasing: bytes[f.start..<f.end])
            var (text, latin1) = ValueParsing.text(slice)
            if f.needsUnescape { text = text.replacingOccurrences(of: "\"\"", with: "\"") }
            return (text, latin1)
        }

        /// Whether the first record is a header: forced by configuration, implied by column
        /// names in `--columns`, or guessed (a known column name, or text where the next row
        /// has numbers).
        func decideHeader(names: [String], bytes: UnsafeBufferPointer<UInt8>,
                          records: [(line: Int, fields: [FieldRange])]) throws -> Bool {
            switch configuration.header {
            case .present: return true
            case .absent:
                if configuration.columns.usesNames {
                    throw DataError(file: name, field: "--columns", reason: "columns are named but the file is read without a header",
                                    hint: "use positions (user=1,item=2) or drop --no-header")
                }
                return false
            case .auto: break
            }
            if configuration.columns.usesNames { return true }
            let lower = Set(names.map { $0.lowercased() })
            if InteractionReader.knownNames.values.contains(where: { $0.contains(where: lower.contains) }) { return true }
            guard records.count > 1 else {
                // A single row: a header if nothing in it is a number.
                return names.allSatisfy { Double($0) == nil } && names.count > 1
            }
            let second = records[1].fields
            for (i, field) in records[0].fields.enumerated() where i < second.count {
                let a = UnsafeBufferPointer(rebasing: bytes[field.start..<field.end])
                let b = UnsafeBufferPointer(rebasing: bytes[second[i].start..<second[i].end])
                if ValueParsing.double(a) == nil && ValueParsing.timestamp(a) == nil && ValueParsing.double(b) != nil {
                    return true
                }
            }
            return false
        }

        /// Maps roles to 0-based column positions.
        mutating func resolveColumns(header: [String]?, columnCount: Int,
                                     sample: ([FieldRange], UnsafeBufferPointer<UInt8>)?) throws -> Layout {
            let selection = configuration.columns
            let lowered = header?.map { $0.lowercased() }
            func locate(_ reference: ColumnReference, role: String) throws -> Int {
                switch reference {
                case .position(let p):
                    guard p <= columnCount else {
                        throw DataError(file: name, field: "--columns", reason: "\(role) column #\(p) does not exist: the first row has \(columnCount) columns")
                    }
                    return p - 1
                case .name(let n):
                    guard let lowered else {
                        throw DataError(file: name, field: "--columns", reason: "\(role) column '\(n)' is named but the file has no header",
                                        hint: "use a 1-based position instead, e.g. \(role)=1")
                    }
                    guard let p = lowered.firstIndex(of: n.lowercased()) else {
                        throw DataError(file: name, field: "--columns", reason: "no column named '\(n)' for \(role); the header has \(header!.joined(separator: ", "))",
                                        hint: "pick one of those names")
                    }
                    return p
                }
            }
            func guess(_ role: String) -> Int? {
                guard let lowered else { return nil }
                for candidate in InteractionReader.knownNames[role]! {
                    if let p = lowered.firstIndex(of: candidate) { return p }
                }
                return nil
            }
            var layout = Layout()
            let explicit = selection.user != nil || selection.item != nil
            if columnCount < 2 && !explicit {
                throw DataError(file: name, reason: "has only one column; a log needs a user and an item on every row",
                                hint: "check the delimiter (CSV, TSV, '::', '|' and whitespace are recognized)")
            }
            // With a header, known names decide; names nobody recognizes fall back to positions.
            if header != nil, let u = try selection.user.map({ try locate($0, role: "user") }) ?? guess("user"),
               let i = try selection.item.map({ try locate($0, role: "item") }) ?? guess("item") {
                layout.user = u; layout.item = i
                layout.rating = try selection.rating.map { try locate($0, role: "rating") }
                    ?? (selection.ignored.contains("rating") ? nil : guess("rating"))
                layout.time = try selection.time.map { try locate($0, role: "time") }
                    ?? (selection.ignored.contains("time") ? nil : guess("time"))
            } else {
                // By position: user, item, then rating and time (the MovieLens order) unless told
                // otherwise. A third column of values above 10^8 is a timestamp.
                layout.user = try selection.user.map { try locate($0, role: "user") } ?? 0
                layout.item = try selection.item.map { try locate($0, role: "item") } ?? (layout.user == 1 ? 0 : 1)
                let taken = Set([layout.user, layout.item])
                let rest = (0..<columnCount).filter { !taken.contains($0) }
                if let r = selection.rating { layout.rating = try locate(r, role: "rating") }
                if let t = selection.time { layout.time = try locate(t, role: "time") }
                if selection.rating == nil && selection.time == nil {
                    var free = rest.makeIterator()
                    if let third = free.next() {
                        var looksLikeTime = false
                        if let (fields, bytes) = sample, third < fields.count {
                            let f = fields[third]
                            let v = ValueParsing.double(UnsafeBufferPointer(rebasing: bytes[f.start..<f.end]))
                            looksLikeTime = (v ?? 0) > 1e8
                        }
                        if looksLikeTime {
                            if !selection.ignored.contains("time") { layout.time = third }
                        } else {
                            if !selection.ignored.contains("rating") { layout.rating = third }
                            if let fourth = free.next(), !selection.ignored.contains("time") { layout.time = fourth }
                        }
                    }
                } else if selection.rating == nil, !selection.ignored.contains("rating") {
                    layout.rating = rest.first { $0 != layout.time }
                } else if selection.time == nil, !selection.ignored.contains("time") {
                    layout.time = rest.first { $0 != layout.rating }
                }
            }
            func describe(_ p: Int) -> String { header.map { $0[p] } ?? "#\(p + 1)" }
            report.columns["user"] = describe(layout.user)
            report.columns["item"] = describe(layout.item)
            if let r = layout.rating { report.columns["rating"] = describe(r) }
            if let t = layout.time { report.columns["time"] = describe(t) }
            if layout.user == layout.item {
                throw DataError(file: name, field: "--columns", reason: "user and item are the same column (\(describe(layout.user)))")
            }
            return layout
        }

        mutating func addRow(_ bytes: UnsafeBufferPointer<UInt8>, _ fields: [FieldRange], layout: Layout, line: Int) throws {
            guard fields.count >= layout.needed else {
                try problem(line: line, "expected at least \(layout.needed) fields, found \(fields.count)")
                return
            }
            func slice(_ p: Int) -> UnsafeBufferPointer<UInt8> {
                UnsafeBufferPointer(rebasing: bytes[fields[p].start..<fields[p].end])
            }
            var value: Float = 1
            if let r = layout.rating {
                guard let v = ValueParsing.double(slice(r)) else {
                    try problem(line: line, "\(report.columns["rating"] ?? "rating") '\(fieldText(bytes, fields[r]).0)' is not a number")
                    return
                }
                value = Float(v)
            }
            var time: Int64 = 0
            if let t = layout.time {
                guard let v = ValueParsing.timestamp(slice(t)) else {
                    try problem(line: line, "\(report.columns["time"] ?? "time") '\(fieldText(bytes, fields[t]).0)' is not a Unix time or a date")
                    return
                }
                time = v
            }
            guard let user = try identifier(bytes, fields[layout.user], line: line, role: "user"),
                  let item = try identifier(bytes, fields[layout.item], line: line, role: "item") else { return }
            accept(user: Builder.position(of: user, in: &userIDs), item: Builder.position(of: item, in: &itemIDs),
                   value: value, time: time)
        }

        mutating func accept(user: Int32, item: Int32, value: Float, time: Int64) {
            var value = value
            if let minimum = configuration.minimumRating {
                if value < minimum { report.rowsBelowMinimumRating += 1; return }
                value = 1
            }
            users.append(user); items.append(item); values.append(value)
            if hasTime { times.append(time) }
            report.rowsAccepted += 1
        }

        /// An identifier as read: a canonical integer (with its bytes) or any other text.
        enum Identifier {
            case integer(Int, UnsafeBufferPointer<UInt8>)
            case text(String)
        }

        static func position(of id: Identifier, in map: inout IDMap) -> Int32 {
            switch id {
            case .integer(let n, let bytes): map.insert(canonicalInteger: n) { String(decoding: bytes, as: UTF8.self) }
            case .text(let s): map.insert(s)
            }
        }

        /// The identifier in a field, or `nil` (after reporting) if it is empty.
        mutating func identifier(_ bytes: UnsafeBufferPointer<UInt8>, _ f: FieldRange, line: Int, role: String) throws -> Identifier? {
            var s = f.start, e = f.end
            while s < e && (bytes[s] == 32 || bytes[s] == 9) { s += 1 }
            while e > s && (bytes[e - 1] == 32 || bytes[e - 1] == 9) { e -= 1 }
            guard s < e else {
                try problem(line: line, "empty \(role) id")
                return nil
            }
            let trimmed = UnsafeBufferPointer(rebasing: bytes[s..<e])
            if !f.needsUnescape, let n = IDMap.canonicalInteger(trimmed) { return .integer(n, trimmed) }
            var (text, latin1) = ValueParsing.text(trimmed)
            if f.needsUnescape { text = text.replacingOccurrences(of: "\"\"", with: "\"") }
            if latin1 { report.latin1Fields += 1 }
            return .text(text)
        }

        // MARK: Sequences

        /// `user item1 item2 …` per line; an item's time is its position in the user's items
        /// (continuing across lines of the same user).
        mutating func readSequences(_ bytes: UnsafeBufferPointer<UInt8>) throws {
            report.format = LogFormat.sequences.description
            report.columns = ["user": "#1", "item": "#2…"]
            hasTime = true
            var nextTime: [Int32: Int64] = [:]
            var line = 0, p = 0
            let n = bytes.count
            var fields: [FieldRange] = []
            while p < n {
                var end = p
                while end < n && bytes[end] != 10 { end += 1 }
                line += 1
                fields.removeAll(keepingCapacity: true)
                var i = p
                while i < end {
                    while i < end && (bytes[i] == 32 || bytes[i] == 9 || bytes[i] == 13) { i += 1 }
                    let s = i
                    while i < end && bytes[i] != 32 && bytes[i] != 9 && bytes[i] != 13 { i += 1 }
                    if i > s { fields.append(FieldRange(start: s, end: i, needsUnescape: false)) }
                }
                p = end + 1
                if fields.isEmpty { continue }
                // Rows are (user, item) pairs: a line of n items is n rows (a user alone, one).
                report.rowsRead += max(1, fields.count - 1)
                guard fields.count >= 2 else {
                    try problem(line: line, "user '\(fieldText(bytes, fields[0]).0)' has no items")
                    continue
                }
                guard let userID = try identifier(bytes, fields[0], line: line, role: "user") else { continue }
                let user = Builder.position(of: userID, in: &userIDs)
                var t = nextTime[user] ?? 0
                for f in fields.dropFirst() {
                    guard let itemID = try identifier(bytes, f, line: line, role: "item") else { continue }
                    accept(user: user, item: Builder.position(of: itemID, in: &itemIDs), value: 1, time: t)
                    t += 1
                }
                nextTime[user] = t
            }
        }

        // MARK: JSON Lines

        mutating func readJSONLines(_ bytes: UnsafeBufferPointer<UInt8>) throws {
            report.format = LogFormat.jsonLines.description
            let selection = configuration.columns
            for case .position(let p)? in [selection.user, selection.item, selection.rating, selection.time] {
                throw DataError(file: name, field: "--columns", reason: "JSON Lines has no column positions (got #\(p))",
                                hint: "name the keys, e.g. --columns user=user_id,item=item_id")
            }
            var keys: (user: String, item: String, rating: String?, time: String?)?
            var line = 0
            var start = 0
            let n = bytes.count
            while start < n {
                var end = start
                while end < n && bytes[end] != 10 { end += 1 }
                line += 1
                var e = end
                if e > start && bytes[e - 1] == 13 { e -= 1 }
                defer { start = end + 1 }
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<e])
                if raw.allSatisfy({ $0 == 32 || $0 == 9 }) { continue }
                report.rowsRead += 1
                guard let object = (try? JSONSerialization.jsonObject(with: Data(raw), options: [.fragmentsAllowed])) as? [String: Any] else {
                    try problem(line: line, "not a JSON object")
                    continue
                }
                if keys == nil { keys = try resolveKeys(object) }
                let k = keys!
                func text(_ key: String) -> String? {
                    switch object[key] {
                    case let s as String: return s
                    case let n as NSNumber:
                        let d = n.doubleValue
                        return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : n.stringValue
                    default: return nil
                    }
                }
                guard let u = text(k.user), !u.isEmpty else { try problem(line: line, "missing or empty '\(k.user)'"); continue }
                guard let i = text(k.item), !i.isEmpty else { try problem(line: line, "missing or empty '\(k.item)'"); continue }
                var value: Float = 1
                if let rk = k.rating {
                    guard let r = (object[rk] as? NSNumber)?.floatValue ?? (object[rk] as? String).flatMap(Float.init), r.isFinite else {
                        try problem(line: line, "'\(rk)' is missing or not a number")
                        continue
                    }
                    value = r
                }
                var time: Int64 = 0
                if let tk = k.time {
                    var parsed: Int64?
                    if let n = object[tk] as? NSNumber {
                        // Same range as the delimited reader: anything past ±1e15 s (or NaN) is not a
                        // time, and converting it to Int64 would trap.
                        let d = n.doubleValue
                        parsed = d.isFinite && abs(d) < 1e15 ? Int64(d.rounded(.down)) : nil
                    }
                    else if var s = object[tk] as? String { parsed = s.withUTF8 { ValueParsing.timestamp($0) } }
                    guard let t = parsed else { try problem(line: line, "'\(tk)' is missing or not a Unix time or date"); continue }
                    time = t
                }
                accept(user: userIDs.insert(u), item: itemIDs.insert(i), value: value, time: time)
            }
        }

        mutating func resolveKeys(_ object: [String: Any]) throws -> (user: String, item: String, rating: String?, time: String?) {
            let selection = configuration.columns
            let present = Dictionary(object.keys.map { ($0.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
            func pick(_ reference: ColumnReference?, _ role: String, required: Bool) throws -> String? {
                if case .name(let n)? = reference {
                    guard let key = present[n.lowercased()] else {
                        throw DataError(file: name, field: "--columns", reason: "the first object has no key '\(n)'; it has \(object.keys.sorted().joined(separator: ", "))")
                    }
                    return key
                }
                if selection.ignored.contains(role) { return nil }
                for candidate in InteractionReader.knownNames[role]! { if let k = present[candidate] { return k } }
                if required {
                    throw DataError(file: name, field: "--columns", reason: "cannot tell which key holds the \(role); the first object has \(object.keys.sorted().joined(separator: ", "))",
                                    hint: "say so with --columns user=KEY,item=KEY")
                }
                return nil
            }
            let keys = (try pick(selection.user, "user", required: true)!, try pick(selection.item, "item", required: true)!,
                        try pick(selection.rating, "rating", required: false), try pick(selection.time, "time", required: false))
            report.columns = ["user": keys.0, "item": keys.1]
            if let r = keys.2 { report.columns["rating"] = r }
            if let t = keys.3 { report.columns["time"] = t }
            hasRating = keys.2 != nil
            hasTime = keys.3 != nil
            if configuration.minimumRating != nil && !hasRating {
                throw DataError(file: name, field: "--min-rating", reason: "the objects have no rating key",
                                hint: "name it with --columns rating=KEY, or drop --min-rating")
            }
            return keys
        }

        // MARK: Finishing

        mutating func finish(format: LogFormat) throws -> (Interactions, ReadReport) {
            if report.format.isEmpty { report.format = format.description }
            let raw = Interactions(users: users, items: items, values: values, timestamps: hasTime ? times : nil,
                                   userIDs: userIDs, itemIDs: itemIDs)
            if raw.count == 0 && !configuration.allowEmpty {
                let why: String
                if report.rowsRead == 0 {
                    why = report.header ? "has a header but no data rows" : "is empty"
                } else if report.rowsBelowMinimumRating == report.rowsRead - report.rowsSkipped && report.rowsBelowMinimumRating > 0 {
                    why = "has no rows at or above the minimum rating \(configuration.minimumRating!)"
                } else {
                    why = "has no usable rows (\(report.rowsSkipped) malformed; first: \(report.problems.first?.description ?? "?"))"
                }
                throw DataError(file: name, reason: "\(why): no interactions to read",
                                hint: "point Tailor at a log with one user, item (and optionally rating and time) per row")
            }
            let (merged, folded) = raw.mergingDuplicates(configuration.duplicates)
            report.duplicatesMerged = folded
            report.users = merged.userIDs.count
            report.items = merged.itemIDs.count
            report.interactions = merged.count
            return (merged, report)
        }
    }
}
