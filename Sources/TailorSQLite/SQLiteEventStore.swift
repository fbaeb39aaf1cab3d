import Foundation
import GRDB
import TailorData
import TailorStore

/// Tailor's embedded store: one SQLite file (WAL mode, schema migrations) holding events, the
/// item catalogue, user profiles, the record of every import, and fitted feature encoders.
///
/// Schema (version 1):
/// - `events(id INTEGER PRIMARY KEY, key, user, item, type, value, ts_ms, session, device,
///   platform, country, referrer, extra, event_id, import)`: rows append in import order; `key`
///   is ``Event/key`` (the event id's hash, or the content's). An import loads the existing keys
///   and stores only new ones, so importing an event twice stores it once. (A `UNIQUE` index on
///   random 64-bit keys would do the same, but every commit would rewrite most of its pages:
///   ingest fell from ~200k to ~130k events/s at 2.4M events.) Imports hold an exclusive lock
///   file (`FILE.import-lock`), so only one runs at a time.
/// - `items(id INTEGER PRIMARY KEY, external UNIQUE, title, body, categories, tags, published_ms,
///   numeric, features)`: categories and tags are JSON arrays, numeric a JSON object, features a
///   little-endian float32 blob.
/// - `users(id INTEGER PRIMARY KEY, external UNIQUE, attributes, signup_ms)`.
/// - `imports(id, source, kind, status, started, finished, rows_read, inserted, already_present,
///   duplicates, skipped, problems)`: one row per `tailor ingest` run.
/// - `tailor_meta(key, value)`: `format = tailor-store`, `version`.
/// - `encoders(name PRIMARY KEY, json)`: fitted ``FeatureEncoders`` and the like.
/// - `item_vectors(space, item, fingerprint, vector)`: vectors per item and space (migration v2).
/// - `items.available` (0 once marked unavailable) and `api_keys(id PRIMARY KEY, name, hash
///   UNIQUE, scopes, created, revoked)`: the server's catalogue state and hashed keys (v3).
public final class SQLiteEventStore: EventStore {
    /// The file.
    public let path: String
    let pool: DatabasePool
    let appendState = AppendState()

    /// The schema version this build writes and the newest it reads.
    public static let schemaVersion = 1

    /// Opens the store at `path`, creating it unless `create` is false.
    ///
    /// - Throws: ``StoreError`` for a file that is not SQLite, an SQLite database that is not a
    ///   Tailor store, a store newer than this build, or a missing file with `create == false`.
    public init(path: String, create: Bool = true) throws {
        self.path = path
        let exists = FileManager.default.fileExists(atPath: path)
        if !exists && !create {
            throw StoreError(path: path, reason: "no such store", hint: "create one with `tailor ingest FILE --store \(path)`")
        }
        if exists, let handle = FileHandle(forReadingAtPath: path) {
            let header = handle.readData(ofLength: 16)
            try? handle.close()
            if !header.isEmpty && !header.starts(with: Array("SQLite format 3".utf8)) {
                throw StoreError(path: path, reason: "is not an SQLite database (it starts with \(header.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")))",
                                 hint: "give --store a new file name, or the .db file a previous `tailor ingest` wrote")
            }
        }
        var configuration = Configuration()
        // Another process or store object opening or writing the same file at that moment
        // (migrations take the write lock) is waited for, not reported as "database is locked".
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA cache_size = -200000")
            // Fewer, larger checkpoints during bulk loads (the WAL is folded in every ~40 MB).
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 10000")
            try db.execute(sql: "PRAGMA mmap_size = 1073741824")
        }
        // Opening and migrating are serialized across processes and store objects (an advisory
        // lock on FILE.open-lock, released by the kernel if the process dies): two openers of a
        // new file would otherwise both run the first migration.
        let lock = open(path + ".open-lock", O_CREAT | O_RDWR, 0o644)
        if lock >= 0 { _ = flock(lock, LOCK_EX) }
        defer { if lock >= 0 { _ = flock(lock, LOCK_UN); close(lock) } }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError(path: path, reason: "cannot be opened as a database (\(SQLiteEventStore.describe(error)))",
                             hint: "the file may be corrupt; move it aside and ingest again")
        }
        try checkFormat()
        do {
            try migrator.migrate(pool)
        } catch {
            throw StoreError(path: path, reason: "cannot be prepared (\(SQLiteEventStore.describe(error)))", hint: "the file may be corrupt or read-only")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? DatabaseError { return e.message ?? "\(e.resultCode)" }
        return "\(error)"
    }

    /// Refuses SQLite files that are not Tailor stores, and stores newer than this build.
    func checkFormat() throws {
        do {
            let (tables, format, version) = try pool.read { db -> ([String], String?, Int?) in
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations'")
                guard tables.contains("tailor_meta") else { return (tables, nil, nil) }
                let format = try String.fetchOne(db, sql: "SELECT value FROM tailor_meta WHERE key = 'format'")
                let version = try String.fetchOne(db, sql: "SELECT value FROM tailor_meta WHERE key = 'version'").flatMap { Int($0) }
                return (tables, format, version)
            }
            if !tables.isEmpty && !tables.contains("tailor_meta") {
                throw StoreError(path: path, reason: "is an SQLite database but not a Tailor store (its tables: \(tables.sorted().prefix(8).joined(separator: ", ")))",
                                 hint: "give --store a new file name; Tailor does not write into other applications' databases")
            }
            if let format, format != "tailor-store" {
                throw StoreError(path: path, reason: "has format '\(format)', not 'tailor-store'")
            }
            if let version, version > SQLiteEventStore.schemaVersion {
                throw StoreError(path: path, reason: "uses store schema \(version), newer than this Tailor reads (\(SQLiteEventStore.schemaVersion))",
                                 hint: "upgrade Tailor")
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(path: path, reason: "is not a readable SQLite database (\(SQLiteEventStore.describe(error)))",
                             hint: "the file may be corrupt; move it aside and ingest again")
        }
    }

    var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE tailor_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                INSERT INTO tailor_meta VALUES ('format', 'tailor-store'), ('version', '1');
                CREATE TABLE users (id INTEGER PRIMARY KEY, external TEXT NOT NULL UNIQUE, attributes TEXT, signup_ms INTEGER);
                CREATE TABLE items (id INTEGER PRIMARY KEY, external TEXT NOT NULL UNIQUE, title TEXT, body TEXT, categories TEXT,
                                    tags TEXT, published_ms INTEGER, numeric TEXT, features BLOB);
                CREATE TABLE events (id INTEGER PRIMARY KEY, key INTEGER NOT NULL, user INTEGER NOT NULL, item INTEGER NOT NULL,
                                     type TEXT NOT NULL, value REAL, ts_ms INTEGER NOT NULL, session TEXT, device TEXT, platform TEXT,
                                     country TEXT, referrer TEXT, extra TEXT, event_id TEXT, import INTEGER);
                CREATE TABLE imports (id INTEGER PRIMARY KEY, source TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
                                      started TEXT NOT NULL, finished TEXT, rows_read INTEGER DEFAULT 0, inserted INTEGER DEFAULT 0,
                                      already_present INTEGER DEFAULT 0, duplicates INTEGER DEFAULT 0, skipped INTEGER DEFAULT 0, problems TEXT);
                CREATE TABLE encoders (name TEXT PRIMARY KEY, json TEXT NOT NULL);
                """)
        }
        m.registerMigration("v2-item-vectors") { db in
            try db.execute(sql: """
                CREATE TABLE item_vectors (space TEXT NOT NULL, item INTEGER NOT NULL, fingerprint INTEGER NOT NULL, vector BLOB NOT NULL,
                                           PRIMARY KEY (space, item));
                """)
        }
        m.registerMigration("v3-serving") { db in
            try db.execute(sql: """
                ALTER TABLE items ADD COLUMN available INTEGER NOT NULL DEFAULT 1;
                CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, scopes TEXT NOT NULL,
                                       created TEXT NOT NULL, revoked TEXT);
                """)
        }
        return m
    }

    // MARK: Item vectors

    /// Stores item vectors of `space`, replacing earlier ones of the same items; items not yet
    /// in the catalogue are added to it (by id only).
    public func saveItemVectors(_ vectors: [ItemVector], space: String) throws {
        try pool.write { db in
            for v in vectors {
                try db.execute(sql: "INSERT OR IGNORE INTO items(external) VALUES (?)", arguments: [v.item])
                let blob = v.values.withUnsafeBytes { Data($0) }
                try db.execute(sql: """
                    INSERT OR REPLACE INTO item_vectors(space, item, fingerprint, vector)
                    VALUES (?, (SELECT id FROM items WHERE external = ?), ?, ?)
                    """, arguments: [space, v.item, Int64(bitPattern: v.fingerprint), blob])
            }
        }
    }

    /// The vectors of `space`, in item order.
    public func loadItemVectors(space: String) throws -> [ItemVector] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT items.external AS item, v.fingerprint AS fingerprint, v.vector AS vector
                FROM item_vectors v JOIN items ON items.id = v.item WHERE v.space = ? ORDER BY v.item
                """, arguments: [space]).map { r in
                let blob: Data = r["vector"]
                let fingerprint: Int64 = r["fingerprint"]
                return ItemVector(item: r["item"], fingerprint: UInt64(bitPattern: fingerprint),
                                  values: blob.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
            }
        }
    }

    /// Spaces and their vector counts.
    public func itemVectorSpaces() throws -> [String: Int] {
        try pool.read { db in
            var out: [String: Int] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT space, count(*) AS n FROM item_vectors GROUP BY space") { out[r["space"]] = r["n"] }
            return out
        }
    }

    // MARK: Counts and records

    /// Rows in the events, users and items tables.
    public func counts() throws -> StoreCounts {
        try pool.read { db in
            StoreCounts(events: try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0,
                        users: try Int.fetchOne(db, sql: "SELECT count(*) FROM users") ?? 0,
                        items: try Int.fetchOne(db, sql: "SELECT count(*) FROM items") ?? 0)
        }
    }

    /// Every import, oldest first.
    public func imports() throws -> [ImportRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM imports ORDER BY id").map { r in
                ImportRecord(id: r["id"], source: r["source"], kind: r["kind"], status: r["status"], started: r["started"],
                             finished: r["finished"], rowsRead: r["rows_read"], inserted: r["inserted"],
                             alreadyPresent: r["already_present"], duplicates: r["duplicates"], skipped: r["skipped"])
            }
        }
    }

    /// Integrity check (`PRAGMA integrity_check`): `ok` for a sound file.
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "?" }
    }

    // MARK: Encoders

    /// Stores a JSON document under `name` (fitted encoders and the like).
    public func saveDocument(_ json: Data, name: String) throws {
        let text = String(decoding: json, as: UTF8.self)
        try pool.write { db in try db.execute(sql: "INSERT OR REPLACE INTO encoders(name, json) VALUES (?, ?)", arguments: [name, text]) }
    }

    /// The JSON document stored under `name`, if any.
    public func loadDocument(name: String) throws -> Data? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT json FROM encoders WHERE name = ?", arguments: [name]) }.map { Data($0.utf8) }
    }

    /// The file, for messages.
    public var location: String { path }
}
