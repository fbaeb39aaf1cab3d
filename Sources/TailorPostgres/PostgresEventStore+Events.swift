import Foundation
import NIOCore
import PostgresNIO
import TailorData
import TailorStore

extension PostgresEventStore {
    /// Appends events in one transaction (see ``EventStore/append(_:)``): duplicates within the
    /// call are counted here, events already stored by the database's unique key.
    @discardableResult
    public func append(_ events: [Event]) throws -> AppendCounts {
        var seen = Set<Int64>()
        var unique: [(key: Int64, event: Event)] = []
        var result = AppendCounts()
        for e in events {
            let key = e.key
            if seen.insert(key).inserted { unique.append((key, e)) } else { result.duplicates += 1 }
        }
        let importID = try appendImportID()
        try transaction("cannot store events") { c in
            let inserted = try insert(unique, importID: importID, on: c)
            result.inserted = inserted
            result.alreadyPresent = unique.count - inserted
            if inserted > 0 { try announce(.events, on: c) }
            try run(c, """
                UPDATE imports SET inserted = inserted + \(result.inserted), already_present = already_present + \(result.alreadyPresent),
                    duplicates = duplicates + \(result.duplicates), rows_read = rows_read + \(events.count) WHERE id = \(importID)
                """, "cannot record the append")
        }
        return result
    }

    /// The `imports` row recording this process's appends (made on first use).
    func appendImportID() throws -> Int64 {
        if let id = appendImport.withLock({ $0 }) { return id }
        let id = try run("INSERT INTO imports (source, kind, status, started) VALUES ('append', 'events', 'running', \(PostgresEventStore.stamp())) RETURNING id",
                         "cannot record the append").first!.decode(Int64.self)
        appendImport.withLock { $0 = $0 ?? id }
        return appendImport.withLock { $0! }
    }

    /// Inserts events (keys distinct) inside the caller's transaction, with their users and
    /// items; returns how many were new. Takes the append lock so ids commit in order. The
    /// batch goes as fourteen array parameters (``ArrayColumn``) of one statement.
    func insert(_ rows: [(key: Int64, event: Event)], importID: Int64, on c: PostgresConnection) throws -> Int {
        guard !rows.isEmpty else { return 0 }
        try run(c, "SELECT pg_advisory_xact_lock(\(PostgresEventStore.appendLock)::int4, hashtext(\(schema)))", "cannot lock for appending")
        let users = try resolve(rows.map(\.event.user), table: "users", on: c)
        let items = try resolve(rows.map(\.event.item), table: "items", on: c)
        let n = rows.count
        var keys = ArrayColumn(.bigint, capacity: n), userIDs = ArrayColumn(.bigint, capacity: n), itemIDs = ArrayColumn(.bigint, capacity: n)
        var types = ArrayColumn(.text, capacity: n), values = ArrayColumn(.float8, capacity: n), times = ArrayColumn(.bigint, capacity: n)
        var text = (0..<7).map { _ in ArrayColumn(.text, capacity: n) }  // session, device, platform, country, referrer, extra, event_id
        for row in rows {
            let e = row.event
            keys.append(row.key); userIDs.append(users[e.user]!); itemIDs.append(items[e.item]!)
            types.append(e.type.name); values.append(e.value); times.append(e.timestampMilliseconds)
            text[0].append(e.context.session); text[1].append(e.context.device); text[2].append(e.context.platform)
            text[3].append(e.context.country); text[4].append(e.context.referrer)
            text[5].append(e.context.extra.isEmpty ? nil : PostgresEventStore.json(e.context.extra)); text[6].append(e.id)
        }
        var binds = PostgresBindings(capacity: 14)
        for column in [keys, userIDs, itemIDs, types, values, times] + text { binds.append(column) }
        binds.append(importID)
        let inserted = try run(c, PostgresQuery(unsafeSQL: """
            INSERT INTO events (key, user_id, item_id, type, value, ts_ms, session, device, platform, country, referrer, extra, event_id, import)
            SELECT k, u, i, t, v, ts, s, d, p, c, r, x, e, $14 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::float8[], $6::bigint[],
                $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[]) WITH ORDINALITY
                AS t(k, u, i, t, v, ts, s, d, p, c, r, x, e, n)
            ORDER BY n
            ON CONFLICT (key) DO NOTHING
            """, binds: binds), "cannot store events").metadata.rows ?? 0
        return inserted
    }

    /// Store ids of `externals` in `table` (users or items), inserting the new ones in order of
    /// first appearance. Known ids are read first and only the missing ones inserted: an
    /// `INSERT … ON CONFLICT DO NOTHING` of every id in a batch costs a speculative insertion
    /// (and a sequence number) per id already stored.
    func resolve(_ externals: [String], table: String, on c: PostgresConnection) throws -> [String: Int64] {
        var order: [String] = []
        var seen = Set<String>()
        for x in externals where seen.insert(x).inserted { order.append(x) }
        var out: [String: Int64] = [:]
        func read(_ ids: [String]) throws {
            for row in try run(c, PostgresQuery(unsafeSQL: "SELECT external, id FROM \(table) WHERE external = ANY($1::text[])", binds: bindings(ids)),
                               "cannot read \(table)") {
                let (x, id) = try row.decode((String, Int64).self)
                out[x] = id
            }
        }
        try read(order)
        let missing = order.filter { out[$0] == nil }
        guard !missing.isEmpty else { return out }
        for row in try run(c, PostgresQuery(unsafeSQL: """
            INSERT INTO \(table) (external) SELECT x FROM unnest($1::text[]) WITH ORDINALITY AS t(x, n) ORDER BY n
            ON CONFLICT (external) DO NOTHING RETURNING external, id
            """, binds: bindings(missing)), "cannot store \(table)") {
            let (x, id) = try row.decode((String, Int64).self)
            out[x] = id
        }
        // Written meanwhile by a profile or catalogue upsert (which does not take the append lock).
        let stillMissing = missing.filter { out[$0] == nil }
        if !stillMissing.isEmpty { try read(stillMissing) }
        return out
    }

    func bindings(_ values: [String]) -> PostgresBindings {
        var b = PostgresBindings(capacity: 1)
        b.append(values)
        return b
    }

    // MARK: Imports

    /// Imports a file (see ``EventStore/importFile(_:kind:configuration:)``): one import at a
    /// time per store (a session advisory lock, released if the process dies), events in
    /// batches of one transaction each, so a re-run after an interruption adds only what is
    /// missing.
    @discardableResult
    public func importFile(_ path: String, kind: ImportKind, configuration c: ImportConfiguration) throws -> IngestCounts {
        let source = URL(fileURLWithPath: path).standardizedFileURL.path
        return try withConnection { lockHolder in
            let locked = try run(lockHolder, "SELECT pg_try_advisory_lock(\(PostgresEventStore.importLock)::int4, hashtext(\(schema)))", "cannot lock for importing").first?.decode(Bool.self) ?? false
            guard locked else { throw StoreError(.busy, path: location, reason: "another import into this store is running", hint: "wait for it to finish, or stop it") }
            defer { _ = try? lockHolder.query("SELECT pg_advisory_unlock(\(PostgresEventStore.importLock)::int4, hashtext(\(schema)))", logger: logger).wait() }
            try run(lockHolder, "UPDATE imports SET status = 'interrupted' WHERE source = \(source) AND kind = \(kind.rawValue) AND status = 'running'",
                    "cannot record the import")
            let importID = try run(lockHolder, "INSERT INTO imports (source, kind, status, started) VALUES (\(source), \(kind.rawValue), 'running', \(PostgresEventStore.stamp())) RETURNING id",
                                   "cannot record the import").first!.decode(Int64.self)
            var counts = IngestCounts()
            switch kind {
            case .events:
                let rc = c.reader
                var seen = Set<Int64>()
                var rowsSoFar = 0
                let report = try EventReader.read(path: path, configuration: rc) { batch in
                    var unique: [(key: Int64, event: Event)] = []
                    for e in batch {
                        let key = e.key
                        if seen.insert(key).inserted { unique.append((key, e)) } else { counts.duplicates += 1 }
                    }
                    rowsSoFar += batch.count
                    counts.rowsRead = rowsSoFar
                    let snapshot = counts
                    let inserted = try transaction("cannot store events") { conn in
                        let n = try insert(unique, importID: importID, on: conn)
                        if n > 0 { try announce(.events, on: conn) }
                        try run(conn, """
                            UPDATE imports SET inserted = \(snapshot.inserted + n), already_present = \(snapshot.alreadyPresent + unique.count - n),
                                duplicates = \(snapshot.duplicates), rows_read = \(snapshot.rowsRead) WHERE id = \(importID)
                            """, "cannot record the import")
                        return n
                    }
                    counts.inserted += inserted
                    counts.alreadyPresent += unique.count - inserted
                    c.progress?(counts)
                    if c.pauseBetweenBatches > 0 { Thread.sleep(forTimeInterval: c.pauseBetweenBatches) }
                }
                counts.rowsRead = report.rowsRead
                counts.skipped = report.rowsSkipped
                counts.problems = report.problems
            case .items:
                let (items, report) = try CatalogReader.readItems(path: path, strict: c.strict)
                try upsert(items: items)
                counts.itemsWritten = items.count
                counts.rowsRead = report.rowsRead; counts.skipped = report.rowsSkipped; counts.problems = report.problems
            case .users:
                let (users, report) = try CatalogReader.readUsers(path: path, strict: c.strict)
                try upsert(users: users)
                counts.usersWritten = users.count
                counts.rowsRead = report.rowsRead; counts.skipped = report.rowsSkipped; counts.problems = report.problems
            }
            let problems = PostgresEventStore.json(counts.problems)
            try run(lockHolder, """
                UPDATE imports SET status = 'finished', finished = \(PostgresEventStore.stamp()), rows_read = \(counts.rowsRead), inserted = \(counts.inserted),
                    already_present = \(counts.alreadyPresent), duplicates = \(counts.duplicates), skipped = \(counts.skipped), problems = \(problems)
                WHERE id = \(importID)
                """, "cannot record the import")
            return counts
        }
    }

    // MARK: Loading

    /// Every stored event (see ``EventStore/loadEvents()``), streamed row by row.
    public func loadEvents() throws -> EventLog {
        try withConnection { c in
            let builder = LogBuilder()
            for row in try run(c, "SELECT id, external FROM users WHERE id IN (SELECT DISTINCT user_id FROM events) ORDER BY id", "cannot read users") {
                let (id, external) = try row.decode((Int64, String).self)
                builder.userPosition[id] = builder.log.userIDs.insert(external)
            }
            for row in try run(c, "SELECT id, external FROM items WHERE id IN (SELECT DISTINCT item_id FROM events) ORDER BY id", "cannot read items") {
                let (id, external) = try row.decode((Int64, String).self)
                builder.itemPosition[id] = builder.log.itemIDs.insert(external)
            }
            do {
                _ = try c.query("""
                    SELECT user_id, item_id, type, value, ts_ms, session, key,
                           coalesce(extra IS NOT NULL AND (extra::jsonb ->> 'untimed') = '1', false), device, platform, country
                    FROM events ORDER BY id
                    """, logger: logger) { row in try builder.add(row) }.wait()
            } catch {
                throw StoreError(.io, path: location, reason: "cannot read events (\(PostgresEventStore.describe(error)))", cause: error)
            }
            return builder.log
        }
    }

    public func loadItems() throws -> [CatalogItem] {
        try run("SELECT \(unescaped: PostgresEventStore.itemColumns) FROM items ORDER BY id", "cannot read items").map(PostgresEventStore.catalogItem)
    }

    public func loadUsers() throws -> [UserProfile] {
        try run("SELECT external, attributes, signup_ms FROM users ORDER BY id", "cannot read users").map(PostgresEventStore.userProfile)
    }

    static let itemColumns = "external, title, body, categories, tags, published_ms, numeric, features"

    static func catalogItem(_ row: PostgresRow) throws -> CatalogItem {
        let (id, title, body, categories, tags, published, numeric, features) =
            try row.decode((String, String?, String?, String?, String?, Int64?, String?, ByteBuffer?).self)
        var item = CatalogItem(id: id, title: title, text: body, categories: decode([String].self, categories) ?? [], tags: decode([String].self, tags) ?? [],
                               publishedMilliseconds: published, numeric: decode([String: Double].self, numeric) ?? [:])
        if let features { item.features = floats(features) }
        return item
    }

    static func userProfile(_ row: PostgresRow) throws -> UserProfile {
        let (id, attributes, signup) = try row.decode((String, String?, Int64?).self)
        return UserProfile(id: id, attributes: decode([String: String].self, attributes) ?? [:], signupMilliseconds: signup)
    }

    // MARK: Items and users

    public func upsert(items: [CatalogItem]) throws {
        for start in stride(from: 0, to: items.count, by: 5_000) {
            let part = items[start..<min(items.count, start + 5_000)]
            try transaction("cannot store items") { c in
                for item in part {
                    let features = item.features.map(PostgresEventStore.floats)
                    let categories = PostgresEventStore.json(item.categories), tags = PostgresEventStore.json(item.tags)
                    let numeric = item.numeric.isEmpty ? nil : PostgresEventStore.json(item.numeric)
                    try run(c, """
                        INSERT INTO items (external, title, body, categories, tags, published_ms, numeric, features)
                        VALUES (\(item.id), \(item.title), \(item.text), \(categories), \(tags), \(item.publishedMilliseconds), \(numeric), \(features))
                        ON CONFLICT (external) DO UPDATE SET title = excluded.title, body = excluded.body, categories = excluded.categories,
                            tags = excluded.tags, published_ms = excluded.published_ms, numeric = excluded.numeric, features = excluded.features,
                            available = true
                        """, "cannot store item '\(item.id)'")
                }
                if part.count <= 20 { for item in part { try announce(.item(item.id), on: c) } } else { try announce(.catalogue, on: c) }
            }
        }
    }

    public func upsert(users: [UserProfile]) throws {
        for start in stride(from: 0, to: users.count, by: 5_000) {
            let part = users[start..<min(users.count, start + 5_000)]
            try transaction("cannot store users") { c in
                for user in part {
                    let attributes = user.attributes.isEmpty ? nil : PostgresEventStore.json(user.attributes)
                    try run(c, """
                        INSERT INTO users (external, attributes, signup_ms) VALUES (\(user.id), \(attributes), \(user.signupMilliseconds))
                        ON CONFLICT (external) DO UPDATE SET attributes = excluded.attributes, signup_ms = excluded.signup_ms
                        """, "cannot store user '\(user.id)'")
                }
            }
        }
    }

    public func item(_ id: String) throws -> CatalogItem? {
        try run("SELECT \(unescaped: PostgresEventStore.itemColumns) FROM items WHERE external = \(id)", "cannot read item '\(id)'").first.map(PostgresEventStore.catalogItem)
    }

    public func user(_ id: String) throws -> UserProfile? {
        try run("SELECT external, attributes, signup_ms FROM users WHERE external = \(id)", "cannot read user '\(id)'").first.map(PostgresEventStore.userProfile)
    }

    @discardableResult
    public func markUnavailable(item id: String) throws -> Bool {
        try transaction("cannot mark item '\(id)' unavailable") { c in
            let found = (try run(c, "UPDATE items SET available = false WHERE external = \(id)", "cannot mark item '\(id)' unavailable").metadata.rows ?? 0) > 0
            if found { try announce(.item(id), on: c) }
            return found
        }
    }

    public func unavailableItems() throws -> [String] {
        try run("SELECT external FROM items WHERE NOT available ORDER BY id", "cannot read unavailable items").map { try $0.decode(String.self) }
    }

    @discardableResult
    public func deleteUser(_ id: String) throws -> Int? {
        try transaction("cannot delete user '\(id)'") { c in
            try run(c, "SELECT pg_advisory_xact_lock(\(PostgresEventStore.appendLock)::int4, hashtext(\(schema)))", "cannot lock for deleting")
            guard let row = try run(c, "SELECT id FROM users WHERE external = \(id)", "cannot read user '\(id)'").first else { return nil }
            let userID = try row.decode(Int64.self)
            let events = try run(c, "DELETE FROM events WHERE user_id = \(userID)", "cannot delete the events of user '\(id)'").metadata.rows ?? 0
            try run(c, "DELETE FROM users WHERE id = \(userID)", "cannot delete user '\(id)'")
            try announce(.erased(id), on: c)
            return events
        }
    }

    // MARK: Cursor

    public func eventCursor() throws -> Int64? {
        try run("SELECT coalesce(max(id), 0)::bigint FROM events", "cannot read the event cursor").first?.decode(Int64.self) ?? 0
    }

    public func events(after cursor: Int64, limit: Int) throws -> [(cursor: Int64, event: Event)] {
        try run("""
            SELECT e.id, u.external, i.external, e.type, e.value, e.ts_ms, e.session, e.device, e.platform, e.country, e.referrer, e.extra, e.event_id
            FROM events e JOIN users u ON u.id = e.user_id JOIN items i ON i.id = e.item_id
            WHERE e.id > \(cursor) ORDER BY e.id LIMIT \(Int64(max(0, limit)))
            """, "cannot read events after \(cursor)").map { row in
            let (id, user, item, type, value, ts, session, device, platform, country, referrer, extra, eventID) =
                try row.decode((Int64, String, String, String, Double?, Int64, String?, String?, String?, String?, String?, String?, String?).self)
            let context = EventContext(device: device, platform: platform, country: country, session: session, referrer: referrer,
                                       extra: PostgresEventStore.decode([String: String].self, extra) ?? [:])
            return (id, Event(id: eventID, user: user, item: item, type: EventType(type), value: value, timestampMilliseconds: ts, context: context))
        }
    }

    // MARK: Item vectors

    public func saveItemVectors(_ vectors: [ItemVector], space: String) throws {
        guard !vectors.isEmpty else { return }
        try transaction("cannot store item vectors") { c in
            let ids = try resolve(vectors.map(\.item), table: "items", on: c)
            for v in vectors {
                let fingerprint = Int64(bitPattern: v.fingerprint), blob = PostgresEventStore.floats(v.values)
                try run(c, """
                    INSERT INTO item_vectors (space, item, fingerprint, vector) VALUES (\(space), \(ids[v.item]!), \(fingerprint), \(blob))
                    ON CONFLICT (space, item) DO UPDATE SET fingerprint = excluded.fingerprint, vector = excluded.vector
                    """, "cannot store the vector of item '\(v.item)'")
            }
        }
    }

    public func loadItemVectors(space: String) throws -> [ItemVector] {
        try run("""
            SELECT i.external, v.fingerprint, v.vector FROM item_vectors v JOIN items i ON i.id = v.item WHERE v.space = \(space) ORDER BY v.item
            """, "cannot read item vectors").map { row in
            let (item, fingerprint, vector) = try row.decode((String, Int64, ByteBuffer).self)
            return ItemVector(item: item, fingerprint: UInt64(bitPattern: fingerprint), values: PostgresEventStore.floats(vector))
        }
    }

    public func itemVectorSpaces() throws -> [String: Int] {
        var out: [String: Int] = [:]
        for row in try run("SELECT space, count(*)::bigint FROM item_vectors GROUP BY space", "cannot read item vector spaces") {
            let (space, n) = try row.decode((String, Int64).self)
            out[space] = Int(n)
        }
        return out
    }

    // MARK: API keys

    public func saveAPIKey(_ key: APIKeyRecord) throws {
        let scopes = key.scopes.joined(separator: " ")
        try run("""
            INSERT INTO api_keys (id, name, hash, scopes, created, revoked) VALUES (\(key.id), \(key.name), \(key.hash), \(scopes), \(key.created), \(key.revoked))
            """, "cannot store API key '\(key.id)'")
    }

    public func apiKeys() throws -> [APIKeyRecord] {
        try run("SELECT id, name, hash, scopes, created, revoked FROM api_keys ORDER BY seq", "cannot read API keys").map { row in
            let (id, name, hash, scopes, created, revoked) = try row.decode((String, String, String, String, String, String?).self)
            return APIKeyRecord(id: id, name: name, hash: hash, scopes: scopes.split(separator: " ").map(String.init), created: created, revoked: revoked)
        }
    }

    @discardableResult
    public func revokeAPIKey(id: String) throws -> Bool {
        (try run("UPDATE api_keys SET revoked = \(PostgresEventStore.stamp()) WHERE id = \(id) AND revoked IS NULL", "cannot revoke API key '\(id)'").metadata.rows ?? 0) > 0
    }
}

/// Builds an ``EventLog`` from streamed rows (called on one event-loop thread, in order).
final class LogBuilder: @unchecked Sendable {
    var log = EventLog()
    var userPosition: [Int64: Int32] = [:], itemPosition: [Int64: Int32] = [:]
    var typeCodes: [String: UInt16] = [:]

    func add(_ row: PostgresRow) throws {
        let (user, item, type, value, ts, session, key, untimed, device, platform, country) =
            try row.decode((Int64, Int64, String, Double?, Int64, String?, Int64, Bool, String?, String?, String?).self)
        let code: UInt16
        if let c = typeCodes[type] { code = c } else { code = log.code(for: EventType(type)); typeCodes[type] = code }
        log.append(user: userPosition[user]!, item: itemPosition[item]!, type: code, value: value ?? .nan, timestamp: ts, session: session, key: key,
                   untimed: untimed, context: [device, platform, country])
    }
}
