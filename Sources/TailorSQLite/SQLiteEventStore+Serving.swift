import Foundation
import GRDB
import TailorData
import TailorStore

extension SQLiteEventStore {
    /// The catalogue item `id`, if stored.
    public func item(_ id: String) throws -> CatalogItem? {
        try reading { db in
            try Row.fetchOne(db, sql: "SELECT * FROM items WHERE external = ?", arguments: [id]).map(SQLiteEventStore.catalogItem)
        }
    }

    /// The profile of user `id`, if stored.
    public func user(_ id: String) throws -> UserProfile? {
        try reading { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE external = ?", arguments: [id]).map(SQLiteEventStore.userProfile)
        }
    }

    /// Marks item `id` unavailable (see ``EventStore/markUnavailable(item:)``).
    @discardableResult
    public func markUnavailable(item id: String) throws -> Bool {
        try writing("cannot mark item '\(id)' unavailable") { db in
            try db.execute(sql: "UPDATE items SET available = 0 WHERE external = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    /// The ids of unavailable items, in store order.
    public func unavailableItems() throws -> [String] {
        try reading { db in try String.fetchAll(db, sql: "SELECT external FROM items WHERE available = 0 ORDER BY id") }
    }

    /// Erases user `id` and their events (see ``EventStore/deleteUser(_:)``).
    @discardableResult
    public func deleteUser(_ id: String) throws -> Int? {
        let state = appendState
        state.lock.lock(); defer { state.lock.unlock() }
        let removed = try writing("cannot delete user '\(id)'") { db -> Int? in
            guard let row = try Int64.fetchOne(db, sql: "SELECT id FROM users WHERE external = ?", arguments: [id]) else { return nil }
            try db.execute(sql: "DELETE FROM events WHERE user = ?", arguments: [row])
            let events = db.changesCount
            try db.execute(sql: "DELETE FROM users WHERE id = ?", arguments: [row])
            return events
        }
        if removed != nil {
            // The in-memory keys and ids now name rows that are gone: read them afresh next time.
            state.keys = []; state.lastEventID = 0
            state.users = [:]; state.lastUserID = 0
        }
        return removed
    }

    /// The highest event row id (0 for an empty store).
    public func eventCursor() throws -> Int64? {
        try reading { db in try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM events") ?? 0 }
    }

    /// Events with row ids after `cursor`, in row order.
    public func events(after cursor: Int64, limit: Int) throws -> [(cursor: Int64, event: Event)] {
        try reading { db in
            try Row.fetchAll(db, sql: """
                SELECT e.id, u.external AS user, i.external AS item, e.type, e.value, e.ts_ms, e.session, e.device, e.platform,
                       e.country, e.referrer, e.extra, e.event_id
                FROM events e JOIN users u ON u.id = e.user JOIN items i ON i.id = e.item
                WHERE e.id > ? ORDER BY e.id LIMIT ?
                """, arguments: [cursor, max(0, limit)]).map { r in
                let type: String = r["type"]
                let context = EventContext(device: r["device"], platform: r["platform"], country: r["country"], session: r["session"],
                                           referrer: r["referrer"], extra: SQLiteEventStore.decode([String: String].self, r["extra"]) ?? [:])
                return (r["id"], Event(id: r["event_id"], user: r["user"], item: r["item"], type: EventType(type), value: r["value"],
                                       timestampMilliseconds: r["ts_ms"], context: context))
            }
        }
    }

    /// Stores an API key record.
    public func saveAPIKey(_ key: APIKeyRecord) throws {
        try writing("cannot store API key '\(key.id)'") { db in
            try db.execute(sql: "INSERT INTO api_keys(id, name, hash, scopes, created, revoked) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [key.id, key.name, key.hash, key.scopes.joined(separator: " "), key.created, key.revoked])
        }
    }

    /// Every API key record, oldest first.
    public func apiKeys() throws -> [APIKeyRecord] {
        try reading { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_keys ORDER BY rowid").map { r in
                let scopes: String = r["scopes"]
                return APIKeyRecord(id: r["id"], name: r["name"], hash: r["hash"], scopes: scopes.split(separator: " ").map(String.init),
                                    created: r["created"], revoked: r["revoked"])
            }
        }
    }

    /// Revokes key `id`; whether an active key was revoked.
    @discardableResult
    public func revokeAPIKey(id: String) throws -> Bool {
        let stamp = ISO8601DateFormatter().string(from: Date())
        return try writing("cannot revoke API key '\(id)'") { db in
            try db.execute(sql: "UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", arguments: [stamp, id])
            return db.changesCount > 0
        }
    }

    /// A write whose database errors become a ``StoreError`` naming the file and the action.
    func writing<T>(_ action: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.write(body)
        } catch let error as DatabaseError {
            throw StoreError(.io, path: path, reason: "\(action) (\(SQLiteEventStore.describe(error)))",
                             hint: "check free disk space and permissions", cause: error)
        }
    }

    static func catalogItem(_ r: Row) -> CatalogItem {
        var item = CatalogItem(id: r["external"], title: r["title"], text: r["body"],
                               categories: decode([String].self, r["categories"]) ?? [],
                               tags: decode([String].self, r["tags"]) ?? [],
                               publishedMilliseconds: r["published_ms"],
                               numeric: decode([String: Double].self, r["numeric"]) ?? [:])
        if let blob: Data = r["features"] {
            item.features = blob.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        return item
    }

    static func userProfile(_ r: Row) -> UserProfile {
        UserProfile(id: r["external"], attributes: decode([String: String].self, r["attributes"]) ?? [:], signupMilliseconds: r["signup_ms"])
    }
}
