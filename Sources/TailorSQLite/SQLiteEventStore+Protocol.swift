import Foundation
import GRDB
import TailorData
import TailorStore

/// The keys of stored events, kept in memory for ``SQLiteEventStore/append(_:)`` and refreshed
/// incrementally (events only ever append, so rows past the last id seen are the new ones,
/// whoever wrote them).
final class AppendState: @unchecked Sendable {
    let lock = NSLock()
    var keys = Set<Int64>()
    var lastEventID: Int64 = 0
    var users: [String: Int64] = [:], items: [String: Int64] = [:]
    var lastUserID: Int64 = 0, lastItemID: Int64 = 0
    var importID: Int64?
    var counts = AppendCounts()
}

extension SQLiteEventStore {
    /// Appends events in one transaction (see ``EventStore/append(_:)``). The first call loads
    /// the stored keys (~12 B per event); later calls read only events added since.
    @discardableResult
    public func append(_ events: [Event]) throws -> AppendCounts {
        let state = appendState
        state.lock.lock(); defer { state.lock.unlock() }
        var result = AppendCounts()
        let keys = events.map(\.key)  // a hash of the event; computed once
        do {
            try pool.write { db in
                // Catch up with events others stored since the last call.
                let cursor = try Row.fetchCursor(db, sql: "SELECT id, key FROM events WHERE id > ?", arguments: [state.lastEventID])
                while let row = try cursor.next() {
                    state.keys.insert(row[1])
                    state.lastEventID = max(state.lastEventID, row[0])
                }
                // Users and items: ids never change once given, so only newer rows are read.
                for row in try Row.fetchAll(db, sql: "SELECT id, external FROM users WHERE id > ?", arguments: [state.lastUserID]) {
                    state.users[row[1]] = row[0]; state.lastUserID = max(state.lastUserID, row[0])
                }
                for row in try Row.fetchAll(db, sql: "SELECT id, external FROM items WHERE id > ?", arguments: [state.lastItemID]) {
                    state.items[row[1]] = row[0]; state.lastItemID = max(state.lastItemID, row[0])
                }
                if state.importID == nil {
                    let stamp = ISO8601DateFormatter().string(from: Date())
                    try db.execute(sql: "INSERT INTO imports(source, kind, status, started) VALUES ('append', 'events', 'running', ?)", arguments: [stamp])
                    state.importID = db.lastInsertedRowID
                }
                var inCall = Set<Int64>()
                var newUsers: [String: Int64] = [:], newItems: [String: Int64] = [:]
                let insertUser = try db.cachedStatement(sql: "INSERT INTO users(external) VALUES (?)")
                let insertItem = try db.cachedStatement(sql: "INSERT INTO items(external) VALUES (?)")
                func user(_ external: String) throws -> Int64 {
                    if let id = state.users[external] ?? newUsers[external] { return id }
                    try insertUser.execute(arguments: [external])
                    newUsers[external] = db.lastInsertedRowID
                    return db.lastInsertedRowID
                }
                func item(_ external: String) throws -> Int64 {
                    if let id = state.items[external] ?? newItems[external] { return id }
                    try insertItem.execute(arguments: [external])
                    newItems[external] = db.lastInsertedRowID
                    return db.lastInsertedRowID
                }
                let insert = try db.cachedStatement(sql: """
                    INSERT INTO events (key, user, item, type, value, ts_ms, session, device, platform, country, referrer, extra, event_id, import)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                for (e, key) in zip(events, keys) {
                    guard inCall.insert(key).inserted else { result.duplicates += 1; continue }
                    if state.keys.contains(key) { result.alreadyPresent += 1; continue }
                    let u = try user(e.user), i = try item(e.item)
                    try insert.execute(arguments: [key, u, i, e.type.name, e.value, e.timestampMilliseconds, e.context.session,
                                                   e.context.device, e.context.platform, e.context.country, e.context.referrer,
                                                   e.context.extra.isEmpty ? nil : SQLiteEventStore.json(e.context.extra), e.id, state.importID])
                    result.inserted += 1
                }
                try db.execute(sql: "UPDATE imports SET inserted = inserted + ?, already_present = already_present + ?, duplicates = duplicates + ?, rows_read = rows_read + ? WHERE id = ?",
                               arguments: [result.inserted, result.alreadyPresent, result.duplicates, events.count, state.importID])
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, path: path, reason: "cannot store events (\(SQLiteEventStore.describe(error)))", hint: "check free disk space and permissions",
                             cause: error as? DatabaseError)
        }
        // Only now, after the commit, do the new keys count as stored.
        state.keys.formUnion(keys)
        return result
    }

    /// Inserts or updates catalogue items by id.
    public func upsert(items: [CatalogItem]) throws {
        let (session, _) = try beginLightSession(kind: "items")
        try upsert(items: items, session: session)
        try finishImport(session)
    }

    /// Inserts or updates user profiles by id.
    public func upsert(users: [UserProfile]) throws {
        let (session, _) = try beginLightSession(kind: "users")
        try upsert(users: users, session: session)
        try finishImport(session)
    }

    /// A session for catalogue and profile writes: it records the run but, unlike an event
    /// import, takes no lock and loads no event keys.
    func beginLightSession(kind: String) throws -> (ImportSession, Bool) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        let session = try pool.write { db -> ImportSession in
            try db.execute(sql: "INSERT INTO imports(source, kind, status, started) VALUES ('api', ?, 'running', ?)", arguments: [kind, stamp])
            let session = ImportSession(id: db.lastInsertedRowID)
            session.nextUser = (try Int64.fetchOne(db, sql: "SELECT max(id) FROM users") ?? 0) + 1
            session.nextItem = (try Int64.fetchOne(db, sql: "SELECT max(id) FROM items") ?? 0) + 1
            return session
        }
        return (session, false)
    }

    /// Imports a file with batched transactions (see ``Ingest/file(_:kind:into:configuration:)``).
    @discardableResult
    public func importFile(_ path: String, kind: ImportKind, configuration: ImportConfiguration) throws -> IngestCounts {
        try Ingest.file(path, kind: kind, into: self, configuration: configuration)
    }
}
