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
