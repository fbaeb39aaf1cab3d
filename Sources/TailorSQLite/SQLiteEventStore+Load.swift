import Foundation
import GRDB
import TailorData
import TailorStore

extension SQLiteEventStore {
    /// Every stored event as an ``EventLog``. Users and items are numbered in the order they
    /// entered the store, so loading is deterministic.
    public func loadEvents() throws -> EventLog {
        try reading { db in
            var log = EventLog()
            var userPosition: [Int64: Int32] = [:], itemPosition: [Int64: Int32] = [:]
            // Identifier maps: only users and items that have events, in store-id order.
            let userRows = try Row.fetchAll(db, sql: "SELECT id, external FROM users WHERE id IN (SELECT DISTINCT user FROM events) ORDER BY id")
            for row in userRows { userPosition[row[0]] = log.userIDs.insert(row[1]) }
            let itemRows = try Row.fetchAll(db, sql: "SELECT id, external FROM items WHERE id IN (SELECT DISTINCT item FROM events) ORDER BY id")
            for row in itemRows { itemPosition[row[0]] = log.itemIDs.insert(row[1]) }
            var typeCodes: [String: UInt16] = [:]
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0
            log.users.reserveCapacity(count); log.items.reserveCapacity(count); log.types.reserveCapacity(count)
            log.values.reserveCapacity(count); log.timestamps.reserveCapacity(count); log.sessions.reserveCapacity(count)
            log.keys.reserveCapacity(count)
            // `untimed` marks events whose time is a placeholder (EventContext.untimedKey in `extra`).
            let cursor = try Row.fetchCursor(db, sql: """
                SELECT user, item, type, value, ts_ms, session, key,
                       CASE WHEN extra IS NULL THEN 0 ELSE coalesce(json_extract(extra, '$.untimed') = '1', 0) END,
                       device, platform, country
                FROM events
                """)
            while let row = try cursor.next() {
                let typeName: String = row[2]
                let code: UInt16
                if let c = typeCodes[typeName] { code = c } else { code = log.code(for: EventType(typeName)); typeCodes[typeName] = code }
                let value: Double? = row[3]
                let untimed: Int64 = row[7]
                log.append(user: userPosition[row[0]]!, item: itemPosition[row[1]]!, type: code, value: value ?? .nan,
                           timestamp: row[4], session: row[5], key: row[6], untimed: untimed != 0,
                           context: [row[8] as String?, row[9] as String?, row[10] as String?])
            }
            return log
        }
    }

    /// The item catalogue.
    public func loadItems() throws -> [CatalogItem] {
        try reading { db in
            try Row.fetchAll(db, sql: "SELECT * FROM items ORDER BY id").map(SQLiteEventStore.catalogItem)
        }
    }

    /// The user profiles (users known only from events have no attributes).
    public func loadUsers() throws -> [UserProfile] {
        try reading { db in
            try Row.fetchAll(db, sql: "SELECT * FROM users ORDER BY id").map(SQLiteEventStore.userProfile)
        }
    }

    /// A read whose database errors become a ``StoreError`` naming the file (corruption can
    /// surface only when a damaged page is reached).
    func reading<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.read(body)
        } catch let error as DatabaseError {
            throw StoreError(path: path, reason: "cannot be read (\(SQLiteEventStore.describe(error)))",
                             hint: "the file may be corrupt; move it aside and ingest again")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String?) -> T? {
        text.flatMap { try? JSONDecoder().decode(T.self, from: Data($0.utf8)) }
    }
}
