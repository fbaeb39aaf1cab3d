import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization
import TailorData
import TailorStore

/// Tailor's store on a PostgreSQL server, for several `tailor serve` processes sharing one
/// database: the same behaviour as the embedded SQLite store (``EventStoreConformance``), with
/// idempotency kept by the database (a unique index on the event key) rather than in memory, so
/// any process may append.
///
/// Location: `postgres://USER@HOST:PORT/DATABASE?schema=tailor`. The password comes from the
/// environment (`PGPASSWORD`), never from the URL's text in logs: ``location`` drops it. Tables
/// live in their own schema (`tailor` unless `?schema=` says otherwise), so a database shared
/// with other applications is fine. TLS as libpq's `sslmode` (`PGSSLMODE`) and `sslrootcert`
/// (`PGSSLROOTCERT`): see ``tls(mode:rootCertificate:location:)``.
///
/// Schema (version 1), as SQLite's: `events(id bigserial, key UNIQUE, user_id, item_id, type,
/// value, ts_ms, session, device, platform, country, referrer, extra, event_id, import)`,
/// `users`, `items` (with `available`), `imports`, `encoders`, `item_vectors`, `api_keys`,
/// `tailor_meta(format, version)`. Appends take a transaction-scoped advisory lock, so event ids
/// are assigned and committed in order: a reader's cursor (the last id it saw) never skips an
/// event committed later by another process.
///
/// The protocol is synchronous; each call runs on a pooled connection and waits for
/// postgres-nio's futures on the calling thread (never an event-loop thread).
public final class PostgresEventStore: EventStore, @unchecked Sendable {
    /// The URL without its password, for messages.
    public let location: String
    /// The schema holding Tailor's tables.
    public let schema: String
    let configuration: PostgresConnection.Configuration
    let host: String, port: Int
    let group: any EventLoopGroup
    let logger: Logger
    let idle = Mutex<[PostgresConnection]>([])
    let nextID = Atomic<Int>(1)
    /// The `imports` row that records this process's appends.
    let appendImport = Mutex<Int64?>(nil)

    /// The schema version this build writes and the newest it reads.
    public static let schemaVersion = 1
    /// Advisory lock classes (the second key is the schema's hash, so stores in one database
    /// lock apart): schema set-up, appends (event order), imports (one at a time).
    static let setupLock: Int32 = 7_419_001, appendLock: Int32 = 7_419_002, importLock: Int32 = 7_419_003
    /// Leases (``tryLease(_:)``): the second key hashes the schema and the lease's name.
    static let leaseLock: Int32 = 7_419_004

    /// Whether `other` names this store: the same server, database and schema, however the
    /// URL was written (schema `tailor` when it has none).
    public func isLocated(at other: String) -> Bool {
        guard PostgresEventStore.handles(other), let c = URLComponents(string: other) else { return false }
        let query = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        let user = c.user ?? configuration.username
        return (c.host ?? host) == host && (c.port ?? 5432) == port && (path.isEmpty ? user : path) == configuration.database
            && (query["schema"] ?? "tailor") == schema
    }

    /// Whether `location` names a PostgreSQL store.
    public static func handles(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }

    /// Connects to the store at `url` and prepares its schema (creating it unless `create` is
    /// false).
    ///
    /// - Throws: ``StoreError`` naming the host when the URL is wrong or the server does not
    ///   answer within `connectTimeout` seconds, for a schema of a newer Tailor, or for a schema
    ///   holding other tables.
    public init(url: String, create: Bool = true, environment: [String: String] = ProcessInfo.processInfo.environment,
                connectTimeout: Double = 5) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql" else {
            throw StoreError(path: url, reason: "is not a PostgreSQL URL", hint: "write postgres://USER@HOST:PORT/DATABASE (password in PGPASSWORD)")
        }
        let user = components.user ?? environment["PGUSER"] ?? "postgres"
        host = (components.host?.isEmpty == false ? components.host : nil) ?? environment["PGHOST"] ?? "127.0.0.1"
        port = components.port ?? environment["PGPORT"].flatMap(Int.init) ?? 5432
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let database = path.isEmpty ? (environment["PGDATABASE"] ?? user) : path
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        schema = query["schema"] ?? "tailor"
        // TLS options stay in the location (they hold no secret), so a store reopened from it
        // (a recipe's source, a retrain) connects as this one did.
        var tlsOptions = ""
        if let mode = query["sslmode"] { tlsOptions += "&sslmode=\(mode)" }
        if let root = query["sslrootcert"] {
            var allowed = CharacterSet.urlQueryAllowed
            allowed.remove(charactersIn: "&=+#")
            tlsOptions += "&sslrootcert=" + (root.addingPercentEncoding(withAllowedCharacters: allowed) ?? root)
        }
        location = "postgres://\(user)@\(host):\(port)/\(database)?schema=\(schema)" + tlsOptions
        guard schema.range(of: "^[a-z_][a-z0-9_]*$", options: .regularExpression) != nil else {
            throw StoreError(path: location, reason: "schema '\(schema)' is not a plain lower-case identifier", hint: "use letters, digits and _")
        }
        for name in query.keys where !["schema", "sslmode", "sslrootcert"].contains(name) {
            throw StoreError(path: location, reason: "unknown URL option '\(name)'", hint: "known: schema, sslmode, sslrootcert")
        }
        if components.password != nil {
            throw StoreError(path: location, reason: "the URL holds a password", hint: "put it in the PGPASSWORD environment variable instead, so it never shows in commands or logs")
        }
        let tls = try PostgresEventStore.tls(mode: query["sslmode"] ?? environment["PGSSLMODE"] ?? "prefer",
                                             rootCertificate: query["sslrootcert"] ?? environment["PGSSLROOTCERT"], location: location)
        var c = PostgresConnection.Configuration(host: host, port: port, username: user, password: environment["PGPASSWORD"], database: database, tls: tls)
        c.options.connectTimeout = .milliseconds(Int64(connectTimeout * 1000))
        configuration = c
        group = MultiThreadedEventLoopGroup.singleton
        var logger = Logger(label: "tailor.postgres")
        logger.logLevel = .critical  // postgres-nio logs queries at debug; Tailor's own messages carry no credentials
        self.logger = logger
        try prepareSchema(create: create)
    }

    /// The TLS settings for libpq's `sslmode`, with the same meanings:
    /// - `disable`: plain TCP.
    /// - `allow`, `prefer` (the default, as libpq's): TLS when the server offers it, plain
    ///   otherwise; the certificate is not checked (protects against eavesdropping, not against
    ///   someone in the middle).
    /// - `require`: TLS or no connection; the certificate is not checked unless a root
    ///   certificate is given, which makes it `verify-ca` (as libpq does).
    /// - `verify-ca`: TLS with a certificate signed by `rootCertificate` (or the system's roots).
    /// - `verify-full`: as `verify-ca`, and the certificate must name the host.
    ///
    /// - Throws: ``StoreError`` for an unknown mode or a root certificate that cannot be read.
    static func tls(mode: String, rootCertificate: String?, location: String) throws -> PostgresConnection.Configuration.TLS {
        let modes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
        guard modes.contains(mode) else {
            throw StoreError(path: location, reason: "unknown sslmode '\(mode)'", hint: "use one of " + modes.joined(separator: ", "))
        }
        if mode == "disable" { return .disable }
        var t = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case "verify-full": t.certificateVerification = .fullVerification
        case "verify-ca": t.certificateVerification = .noHostnameVerification
        case "require" where rootCertificate != nil: t.certificateVerification = .noHostnameVerification
        default: t.certificateVerification = .none
        }
        if let rootCertificate {
            guard FileManager.default.isReadableFile(atPath: rootCertificate) else {
                throw StoreError(path: location, reason: "sslrootcert '\(rootCertificate)' cannot be read",
                                 hint: "give the path of the PEM file holding the server's certificate authority")
            }
            t.trustRoots = .file(rootCertificate)
        }
        let context: NIOSSLContext
        do { context = try NIOSSLContext(configuration: t) } catch {
            throw StoreError(path: location, reason: "TLS cannot be set up (\(error))",
                             hint: rootCertificate == nil ? "check the system's certificate store" : "check that sslrootcert is a PEM certificate", cause: error)
        }
        return mode == "allow" || mode == "prefer" ? .prefer(context) : .require(context)
    }

    deinit {
        // Each connection is kept alive by its close's callback until the close completes
        // (postgres-nio requires a connection be closed before it is released).
        for c in idle.withLock({ $0 }) {
            let closing: EventLoopFuture<Void> = c.close()
            closing.whenComplete { _ in withExtendedLifetime(c) {} }
        }
    }

    // MARK: Connections

    func connect() throws -> PostgresConnection {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        do {
            let c = try PostgresConnection.connect(on: group.next(), configuration: configuration, id: id, logger: logger).wait()
            _ = try c.query(PostgresQuery(unsafeSQL: "SET search_path TO \(schema)"), logger: logger).wait()
            return c
        } catch {
            throw StoreError(.io, path: location, reason: "cannot connect to \(host):\(port) (\(PostgresEventStore.describe(error)))",
                             hint: connectHint(error), cause: error)
        }
    }

    /// Runs `body` on a pooled connection (a broken one is dropped, not returned).
    func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let c = try idle.withLock { $0.popLast() } ?? connect()
        do {
            let result = try body(c)
            idle.withLock { $0.append(c) }
            return result
        } catch {
            if !c.isClosed { idle.withLock { $0.append(c) } }
            throw error
        }
    }

    /// Runs `body` in a transaction (rolled back if it throws).
    func transaction<T>(_ action: String, _ body: (PostgresConnection) throws -> T) throws -> T {
        try withConnection { c in
            try run(c, "BEGIN", action)
            do {
                let result = try body(c)
                try run(c, "COMMIT", action)
                return result
            } catch {
                _ = try? c.query("ROLLBACK", logger: logger).wait()
                throw error
            }
        }
    }

    /// Runs `query` on `c`; database errors become a ``StoreError`` naming `action`.
    @discardableResult
    func run(_ c: PostgresConnection, _ query: PostgresQuery, _ action: String) throws -> PostgresQueryResult {
        do {
            return try c.query(query, logger: logger).wait()
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, path: location, reason: "\(action) (\(PostgresEventStore.describe(error)))",
                             hint: c.isClosed ? "the connection to \(host):\(port) was lost; check the server" : nil, cause: error)
        }
    }

    /// Runs `query` on a pooled connection.
    @discardableResult
    func run(_ query: PostgresQuery, _ action: String) throws -> PostgresQueryResult {
        try withConnection { try run($0, query, action) }
    }

    /// What to check after a failed connection: TLS settings when TLS failed, else the server.
    func connectHint(_ error: any Error) -> String {
        let text = "\(error)" + ((error as? PSQLError)?.underlying.map { " \($0)" } ?? "")
        if (error as? PSQLError)?.code == .sslUnsupported {
            return "the server does not offer TLS: turn ssl on in its postgresql.conf, or connect with sslmode=prefer (or disable on a private network)"
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate") || text.contains("NIOSSL") || text.contains("handshake") {
            return "the server's TLS certificate was not accepted: give its certificate authority with sslrootcert=PATH (or PGSSLROOTCERT), check that the certificate names the host for verify-full, or use sslmode=require to encrypt without checking it"
        }
        return "check the server is running (pg_isready -h \(host) -p \(port)), the host, port and database in the URL, and the password in PGPASSWORD"
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] { return message }
            if let underlying = e.underlying { return "\(e.code): \(underlying)" }
            return "\(e.code)"
        }
        return "\(error)"
    }

    // MARK: Schema

    func prepareSchema(create: Bool) throws {
        try withConnection { c in
            let exists = try run(c, "SELECT count(*)::bigint FROM information_schema.schemata WHERE schema_name = \(schema)", "cannot read the schema list")
                .first?.decode(Int64.self) ?? 0
            let tables = try run(c, "SELECT table_name::text FROM information_schema.tables WHERE table_schema = \(schema)", "cannot list tables")
                .map { try $0.decode(String.self) }
            if !tables.isEmpty && !tables.contains("tailor_meta") {
                throw StoreError(.notAStore, path: location, reason: "schema '\(schema)' holds tables that are not a Tailor store's (\(tables.sorted().prefix(8).joined(separator: ", ")))",
                                 hint: "give the URL another ?schema= ; Tailor does not write into other applications' tables")
            }
            if exists == 0 && !create {
                throw StoreError(.missing, path: location, reason: "no Tailor store here (schema '\(schema)' does not exist)", hint: "create one with `tailor ingest FILE --store \(location)`")
            }
            try run(c, "SELECT pg_advisory_lock(\(PostgresEventStore.setupLock)::int4, hashtext(\(schema)))", "cannot lock the schema for set-up")
            defer { _ = try? c.query("SELECT pg_advisory_unlock(\(PostgresEventStore.setupLock)::int4, hashtext(\(schema)))", logger: logger).wait() }
            try run(c, PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"), "cannot create schema '\(schema)'")
            let hasMeta = try run(c, "SELECT count(*)::bigint FROM information_schema.tables WHERE table_schema = \(schema) AND table_name = 'tailor_meta'", "cannot list tables")
                .first?.decode(Int64.self) ?? 0
            if hasMeta > 0 {
                let meta = Dictionary(try run(c, "SELECT key, value FROM tailor_meta", "cannot read tailor_meta").map { try $0.decode((String, String).self) },
                                      uniquingKeysWith: { $1 })
                if let format = meta["format"], format != "tailor-store" {
                    throw StoreError(.notAStore, path: location, reason: "has format '\(format)', not 'tailor-store'")
                }
                if let version = meta["version"].flatMap(Int.init), version > PostgresEventStore.schemaVersion {
                    throw StoreError(.newerSchema, path: location, reason: "uses store schema \(version), newer than this Tailor reads (\(PostgresEventStore.schemaVersion))",
                                     hint: "upgrade Tailor on this machine")
                }
                return
            }
            try run(c, "BEGIN", "cannot create the store")
            do {
                for statement in PostgresEventStore.schemaV1 { try run(c, PostgresQuery(unsafeSQL: statement), "cannot create the store's tables") }
                try run(c, "COMMIT", "cannot create the store")
            } catch {
                _ = try? c.query("ROLLBACK", logger: logger).wait()
                throw error
            }
        }
    }

    static let schemaV1 = [
        "CREATE TABLE tailor_meta (key text PRIMARY KEY, value text NOT NULL)",
        "INSERT INTO tailor_meta VALUES ('format', 'tailor-store'), ('version', '1')",
        "CREATE TABLE users (id bigserial PRIMARY KEY, external text NOT NULL UNIQUE, attributes text, signup_ms bigint)",
        """
        CREATE TABLE items (id bigserial PRIMARY KEY, external text NOT NULL UNIQUE, title text, body text, categories text, tags text,
                            published_ms bigint, numeric text, features bytea, available boolean NOT NULL DEFAULT true)
        """,
        """
        CREATE TABLE events (id bigserial PRIMARY KEY, key bigint NOT NULL UNIQUE, user_id bigint NOT NULL, item_id bigint NOT NULL,
                             type text NOT NULL, value double precision, ts_ms bigint NOT NULL, session text, device text, platform text,
                             country text, referrer text, extra text, event_id text, import bigint)
        """,
        "CREATE INDEX events_user ON events (user_id)",
        """
        CREATE TABLE imports (id bigserial PRIMARY KEY, source text NOT NULL, kind text NOT NULL, status text NOT NULL, started text NOT NULL,
                              finished text, rows_read bigint NOT NULL DEFAULT 0, inserted bigint NOT NULL DEFAULT 0,
                              already_present bigint NOT NULL DEFAULT 0, duplicates bigint NOT NULL DEFAULT 0, skipped bigint NOT NULL DEFAULT 0,
                              problems text)
        """,
        "CREATE TABLE encoders (name text PRIMARY KEY, json text NOT NULL)",
        "CREATE TABLE item_vectors (space text NOT NULL, item bigint NOT NULL, fingerprint bigint NOT NULL, vector bytea NOT NULL, PRIMARY KEY (space, item))",
        """
        CREATE TABLE api_keys (seq bigserial, id text PRIMARY KEY, name text NOT NULL, hash text NOT NULL UNIQUE, scopes text NOT NULL,
                               created text NOT NULL, revoked text)
        """,
    ]

    // MARK: Counts, imports, documents

    public func counts() throws -> StoreCounts {
        let row = try run("SELECT (SELECT count(*) FROM events)::bigint, (SELECT count(*) FROM users)::bigint, (SELECT count(*) FROM items)::bigint",
                          "cannot count rows").first
        guard let row else { return StoreCounts(events: 0, users: 0, items: 0) }
        let (e, u, i) = try row.decode((Int64, Int64, Int64).self)
        return StoreCounts(events: Int(e), users: Int(u), items: Int(i))
    }

    public func imports() throws -> [ImportRecord] {
        try run("""
            SELECT id, source, kind, status, started, finished, rows_read, inserted, already_present, duplicates, skipped FROM imports ORDER BY id
            """, "cannot read the imports").map { row in
            let (id, source, kind, status, started, finished, rows, inserted, present, duplicates, skipped) =
                try row.decode((Int64, String, String, String, String, String?, Int64, Int64, Int64, Int64, Int64).self)
            return ImportRecord(id: id, source: source, kind: kind, status: status, started: started, finished: finished, rowsRead: Int(rows),
                                inserted: Int(inserted), alreadyPresent: Int(present), duplicates: Int(duplicates), skipped: Int(skipped))
        }
    }

    public func saveDocument(_ json: Data, name: String) throws {
        let text = String(decoding: json, as: UTF8.self)
        try run("INSERT INTO encoders (name, json) VALUES (\(name), \(text)) ON CONFLICT (name) DO UPDATE SET json = excluded.json",
                "cannot store document '\(name)'")
    }

    public func loadDocument(name: String) throws -> Data? {
        try run("SELECT json FROM encoders WHERE name = \(name)", "cannot read document '\(name)'").first.map { Data(try $0.decode(String.self).utf8) }
    }

    static func stamp() -> String { ISO8601DateFormatter().string(from: Date()) }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String?) -> T? {
        text.flatMap { try? JSONDecoder().decode(T.self, from: Data($0.utf8)) }
    }

    static func floats(_ values: [Float]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(values.count * 4)
        for v in values { buffer.writeInteger(v.bitPattern, endianness: .little) }
        return buffer
    }

    static func floats(_ buffer: ByteBuffer) -> [Float] {
        var b = buffer
        var out: [Float] = []
        out.reserveCapacity(b.readableBytes / 4)
        while let bits = b.readInteger(endianness: .little, as: UInt32.self) { out.append(Float(bitPattern: bits)) }
        return out
    }
}
