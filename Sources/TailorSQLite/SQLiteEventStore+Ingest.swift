import Foundation
import GRDB
import GRDBSQLite
import TailorData
import TailorStore

/// The state of one import run: the maps from external identifiers to store ids, and the
/// event keys seen so far (to tell duplicates within the run from events stored earlier).
public final class ImportSession: @unchecked Sendable {
    /// The `imports` row of this run.
    public let id: Int64
    var users: [String: Int64] = [:]
    var items: [String: Int64] = [:]
    var nextUser: Int64 = 1, nextItem: Int64 = 1
    /// Keys stored before this run started.
    var existing = Set<Int64>()
    /// Keys stored by this run.
    var seen = Set<Int64>()
    /// The lock file descriptor held while the import runs.
    var lock: Int32 = -1

    deinit { if lock >= 0 { close(lock) } }
    /// Running counts.
    public var counts = IngestCounts()

    init(id: Int64) { self.id = id }

    /// Events made ready for the store: keyed, those already stored or repeated within the run
    /// set aside (counted), users and items resolved to store ids (new ones numbered here). Runs on the reader thread
    /// when ingesting a file; only the importing process assigns ids, so this is safe.
    func prepare(_ events: [Event]) -> PreparedBatch {
        var batch = PreparedBatch()
        batch.rows.reserveCapacity(events.count)
        for e in events {
            let key = e.key
            guard seen.insert(key).inserted else { batch.duplicates += 1; continue }
            if existing.contains(key) { batch.alreadyPresent += 1; continue }
            let user: Int64
            if let u = users[e.user] { user = u } else {
                user = nextUser; nextUser += 1; users[e.user] = user; batch.newUsers.append((user, e.user))
            }
            let item: Int64
            if let i = items[e.item] { item = i } else {
                item = nextItem; nextItem += 1; items[e.item] = item; batch.newItems.append((item, e.item))
            }
            batch.rows.append(PreparedEvent(key: key, user: user, item: item, event: e))
        }
        return batch
    }
}

/// One event ready for the store.
struct PreparedEvent {
    let key: Int64, user: Int64, item: Int64
    let event: Event
}

/// A batch ready for one transaction.
struct PreparedBatch {
    var rows: [PreparedEvent] = []
    var newUsers: [(Int64, String)] = []
    var newItems: [(Int64, String)] = []
    var duplicates = 0
    var alreadyPresent = 0
}

extension SQLiteEventStore {
    /// Starts an import of `source` (`kind`: events, items, users or a preset name). Notes in the
    /// result whether an earlier run of the same source was interrupted.
    public func beginImport(source: String, kind: String) throws -> (ImportSession, interrupted: Bool) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        // One import at a time: an advisory lock the kernel releases even if the process dies.
        let fd = open(path + ".import-lock", O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw StoreError(path: path, reason: "cannot create its import lock file (\(String(cString: strerror(errno))))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw StoreError(path: path, reason: "another import into this store is running", hint: "wait for it to finish, or stop it")
        }
        let result: (ImportSession, Bool)
        do {
            result = try pool.write { db in
            let interrupted = try Int.fetchOne(db, sql: "SELECT count(*) FROM imports WHERE source = ? AND kind = ? AND status = 'running'",
                                               arguments: [source, kind]) ?? 0
            try db.execute(sql: "UPDATE imports SET status = 'interrupted' WHERE source = ? AND kind = ? AND status = 'running'", arguments: [source, kind])
            try db.execute(sql: "INSERT INTO imports(source, kind, status, started) VALUES (?, ?, 'running', ?)", arguments: [source, kind, stamp])
            let session = ImportSession(id: db.lastInsertedRowID)
            for row in try Row.fetchAll(db, sql: "SELECT id, external FROM users") { session.users[row[1]] = row[0] }
            for row in try Row.fetchAll(db, sql: "SELECT id, external FROM items") { session.items[row[1]] = row[0] }
            session.nextUser = (try Int64.fetchOne(db, sql: "SELECT max(id) FROM users") ?? 0) + 1
            session.nextItem = (try Int64.fetchOne(db, sql: "SELECT max(id) FROM items") ?? 0) + 1
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0
            session.existing.reserveCapacity(count)
            let cursor = try Int64.fetchCursor(db, sql: "SELECT key FROM events")
            while let key = try cursor.next() { session.existing.insert(key) }
            return (session, interrupted > 0)
            }
        } catch {
            close(fd)
            throw error
        }
        result.0.lock = fd
        return result
    }

    /// Records the end of an import.
    public func finishImport(_ session: ImportSession) throws {
        defer { if session.lock >= 0 { close(session.lock); session.lock = -1 } }
        let stamp = ISO8601DateFormatter().string(from: Date())
        let problems = String(decoding: try JSONEncoder().encode(session.counts.problems), as: UTF8.self)
        try pool.write { db in
            try db.execute(sql: """
                UPDATE imports SET status = 'finished', finished = ?, rows_read = ?, inserted = ?, already_present = ?,
                    duplicates = ?, skipped = ?, problems = ? WHERE id = ?
                """, arguments: [stamp, session.counts.rowsRead, session.counts.inserted, session.counts.alreadyPresent,
                                 session.counts.duplicates, session.counts.skipped, problems, session.id])
        }
    }

    /// Stores a batch of events in one transaction (with any new users and items, and the
    /// import's running counts), so an interrupted import leaves whole batches behind.
    public func insert(events: [Event], session: ImportSession) throws {
        try write(session.prepare(events), session: session)
    }

    /// Writes a prepared batch in one transaction. The hot loop binds parameters with SQLite's
    /// C API on GRDB's prepared statement; rows append to the table.
    func write(_ batch: PreparedBatch, session: ImportSession) throws {
        do {
            try pool.write { db in
                let connection = db.sqliteConnection
                if !batch.newUsers.isEmpty {
                    let users = try db.cachedStatement(sql: "INSERT INTO users(id, external) VALUES (?, ?)").sqliteStatement
                    for (id, external) in batch.newUsers {
                        sqlite3_reset(users); sqlite3_bind_int64(users, 1, id); bindText(users, 2, external)
                        guard sqlite3_step(users) == SQLITE_DONE else { throw StoreError(path: path, reason: "cannot store user '\(external)' (\(String(cString: sqlite3_errmsg(connection))))") }
                    }
                    sqlite3_reset(users)
                }
                if !batch.newItems.isEmpty {
                    let items = try db.cachedStatement(sql: "INSERT INTO items(id, external) VALUES (?, ?)").sqliteStatement
                    for (id, external) in batch.newItems {
                        sqlite3_reset(items); sqlite3_bind_int64(items, 1, id); bindText(items, 2, external)
                        guard sqlite3_step(items) == SQLITE_DONE else { throw StoreError(path: path, reason: "cannot store item '\(external)' (\(String(cString: sqlite3_errmsg(connection))))") }
                    }
                    sqlite3_reset(items)
                }
                let statement = try db.cachedStatement(sql: """
                    INSERT INTO events (key, user, item, type, value, ts_ms, session, device, platform, country, referrer, extra, event_id, import)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).sqliteStatement
                var inserted = 0
                for row in batch.rows {
                    let e = row.event
                    sqlite3_reset(statement)
                    sqlite3_bind_int64(statement, 1, row.key)
                    sqlite3_bind_int64(statement, 2, row.user)
                    sqlite3_bind_int64(statement, 3, row.item)
                    bindText(statement, 4, e.type.name)
                    if let v = e.value { sqlite3_bind_double(statement, 5, v) } else { sqlite3_bind_null(statement, 5) }
                    sqlite3_bind_int64(statement, 6, e.timestampMilliseconds)
                    bindText(statement, 7, e.context.session)
                    bindText(statement, 8, e.context.device)
                    bindText(statement, 9, e.context.platform)
                    bindText(statement, 10, e.context.country)
                    bindText(statement, 11, e.context.referrer)
                    bindText(statement, 12, e.context.extra.isEmpty ? nil : SQLiteEventStore.json(e.context.extra))
                    bindText(statement, 13, e.id)
                    sqlite3_bind_int64(statement, 14, session.id)
                    guard sqlite3_step(statement) == SQLITE_DONE else {
                        throw StoreError(path: path, reason: "cannot store an event (\(String(cString: sqlite3_errmsg(connection))))")
                    }
                    inserted += 1
                }
                sqlite3_reset(statement)
                session.counts.inserted += inserted
                session.counts.alreadyPresent += batch.alreadyPresent
                session.counts.duplicates += batch.duplicates
                try db.execute(sql: "UPDATE imports SET inserted = ?, already_present = ?, duplicates = ?, rows_read = ? WHERE id = ?",
                               arguments: [session.counts.inserted, session.counts.alreadyPresent, session.counts.duplicates,
                                           session.counts.rowsRead, session.id])
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(path: path, reason: "cannot store events (\(SQLiteEventStore.describe(error)))", hint: "check free disk space and permissions")
        }
    }

    /// Inserts or updates catalogue items (by external id), in batches of 10,000 per transaction.
    public func upsert(items: [CatalogItem], session: ImportSession) throws {
        for chunk in stride(from: 0, to: items.count, by: 10_000) {
            let part = items[chunk..<min(items.count, chunk + 10_000)]
            try pool.write { db in
                let statement = try db.cachedStatement(sql: """
                    INSERT INTO items (external, title, body, categories, tags, published_ms, numeric, features) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(external) DO UPDATE SET title = excluded.title, body = excluded.body, categories = excluded.categories,
                        tags = excluded.tags, published_ms = excluded.published_ms, numeric = excluded.numeric, features = excluded.features,
                        available = 1
                    """)
                for item in part {
                    let features = item.features.map { f in f.withUnsafeBytes { Data($0) } }
                    try statement.execute(arguments: [item.id, item.title, item.text, SQLiteEventStore.json(item.categories), SQLiteEventStore.json(item.tags),
                                                      item.publishedMilliseconds, item.numeric.isEmpty ? nil : SQLiteEventStore.json(item.numeric), features])
                    if session.items[item.id] == nil, let id = try Int64.fetchOne(db, sql: "SELECT id FROM items WHERE external = ?", arguments: [item.id]) {
                        session.items[item.id] = id
                        session.nextItem = max(session.nextItem, id + 1)
                    }
                }
            }
            session.counts.itemsWritten += part.count
        }
    }

    /// Inserts or updates user profiles (by external id), in batches of 10,000 per transaction.
    public func upsert(users: [UserProfile], session: ImportSession) throws {
        for chunk in stride(from: 0, to: users.count, by: 10_000) {
            let part = users[chunk..<min(users.count, chunk + 10_000)]
            try pool.write { db in
                let statement = try db.cachedStatement(sql: """
                    INSERT INTO users (external, attributes, signup_ms) VALUES (?, ?, ?)
                    ON CONFLICT(external) DO UPDATE SET attributes = excluded.attributes, signup_ms = excluded.signup_ms
                    """)
                for user in part {
                    try statement.execute(arguments: [user.id, user.attributes.isEmpty ? nil : SQLiteEventStore.json(user.attributes), user.signupMilliseconds])
                    if session.users[user.id] == nil, let id = try Int64.fetchOne(db, sql: "SELECT id FROM users WHERE external = ?", arguments: [user.id]) {
                        session.users[user.id] = id
                        session.nextUser = max(session.nextUser, id + 1)
                    }
                }
            }
            session.counts.usersWritten += part.count
        }
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }
}

/// SQLite's "copy the bytes now" destructor.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// Binds text (or NULL for `nil`) to parameter `index`.
@inline(__always)
private func bindText(_ statement: OpaquePointer?, _ index: Int32, _ text: String?) {
    guard var text else { sqlite3_bind_null(statement, index); return }
    _ = text.withUTF8 { sqlite3_bind_text(statement, index, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), Int32($0.count), transient) }
}
