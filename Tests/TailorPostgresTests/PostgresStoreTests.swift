import Foundation
import Testing
import TailorData
import TailorStore
@testable import TailorPostgres
import PostgresNIO

/// The PostgreSQL server the tests use: `TAILOR_TEST_POSTGRES` (a URL), which `.ci/run` sets
/// after starting a throw-away cluster with `scripts/postgres-cluster start`.
enum TestServer {
    static let url = ProcessInfo.processInfo.environment["TAILOR_TEST_POSTGRES"]
    static var available: Bool { url != nil }

    /// A store in a schema of its own, so tests never see each other's rows.
    static func freshStore() throws -> PostgresEventStore {
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        return try PostgresEventStore(url: url! + "?schema=\(schema)")
    }
}

@Suite("EventStore conformance: PostgreSQL", .enabled(if: TestServer.available, "set TAILOR_TEST_POSTGRES (eval \"$(scripts/postgres-cluster start)\") to run the PostgreSQL tests"))
struct PostgresConformanceTests {
    @Test("the PostgreSQL store passes every conformance check", arguments: EventStoreConformance.checks)
    func conformance(_ check: EventStoreConformance.Check) throws {
        let scratch = NSTemporaryDirectory() + "tailor-pg-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try check.run(try TestServer.freshStore(), scratch)
    }

    @Test("two store objects on one schema (two servers) never store an event twice, and see each other's appends")
    func twoWriters() throws {
        let a = try TestServer.freshStore()
        let b = try PostgresEventStore(url: TestServer.url! + "?schema=\(a.schema)")
        let e1 = Event(id: "a", user: "u", item: "i", type: .view, timestampMilliseconds: 1_704_067_200_000)
        let e2 = Event(id: "b", user: "u", item: "j", type: .view, timestampMilliseconds: 1_704_067_201_000)
        #expect(try a.append([e1]) == AppendCounts(inserted: 1))
        #expect(try b.append([e2]) == AppendCounts(inserted: 1))
        #expect(try a.append([e1, e2]) == AppendCounts(inserted: 0, alreadyPresent: 2))
        #expect(try b.counts() == StoreCounts(events: 2, users: 1, items: 2))
        // Concurrent appends of overlapping batches from both: each event stored once.
        let batch = (0..<400).map { Event(id: "c\($0)", user: "u\($0 % 13)", item: "i\($0 % 29)", type: .click, timestampMilliseconds: 1_704_067_200_000 + Int64($0)) }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 4) { n in
            let store = n % 2 == 0 ? a : b
            let part = Array(batch[(n * 100)..<min(400, n * 100 + 200)])  // overlapping halves
            if let r = try? store.append(part) { results.add(r) }
        }
        #expect(results.total.inserted == 400 && results.total.alreadyPresent == 300, "\(results.total)")
        #expect(try a.counts().events == 402)
    }
}

@Suite("PostgreSQL store: what replicas share", .enabled(if: TestServer.available, "set TAILOR_TEST_POSTGRES to run the PostgreSQL tests"))
struct PostgresSharedStateTests {
    @Test("heartbeats: the latest per server, filtered by age on the database's clock (not the writer's), a day-old one forgotten; the active model survives reopening")
    func heartbeats() throws {
        let store = try TestServer.freshStore()
        /// Makes `id`'s heartbeat `seconds` old on the database's clock.
        func age(_ id: String, _ seconds: Int64) throws {
            try store.run("""
                UPDATE tailor_meta SET value = jsonb_set(value::jsonb, '{seenMilliseconds}',
                  to_jsonb(\(unescaped: PostgresEventStore.nowMilliseconds) - \(seconds * 1000)))::text
                WHERE key = \("replica:" + id)
                """, "test")
        }
        for id in ["old", "quiet", "a"] { try store.heartbeat(ReplicaState(id: id, serving: "v1", versions: ["v1"])) }
        try age("old", 2 * 86_400)
        try age("quiet", 60)
        // A writer whose clock is an hour behind is still live: the store stamps its own time.
        let hourAgo = Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000
        try store.heartbeat(ReplicaState(id: "a", serving: "v2", versions: ["v1", "v2"], seenMilliseconds: hourAgo))
        #expect(try store.replicas(seenWithin: 10).map(\.id) == ["a"])
        #expect(try store.replicas(seenWithin: 10).first?.versions == ["v1", "v2"])
        #expect(try store.replicas(seenWithin: 3_600).map(\.id) == ["a", "quiet"])
        #expect(try store.replicas(seenWithin: 3 * 86_400).map(\.id) == ["a", "quiet"], "the two-day-old heartbeat was not forgotten")
        #expect(try store.activeModel() == nil)
        try store.recordActiveModel("v7")
        #expect(try PostgresEventStore(url: TestServer.url! + "?schema=\(store.schema)").activeModel() == "v7")
    }
}

final class Results: @unchecked Sendable {
    let lock = NSLock()
    var total = AppendCounts()
    func add(_ r: AppendCounts) {
        lock.lock(); defer { lock.unlock() }
        total.inserted += r.inserted; total.alreadyPresent += r.alreadyPresent; total.duplicates += r.duplicates
    }
}

@Suite("PostgreSQL store: bad input")
struct PostgresBadInputTests {
    @Test("CI has a PostgreSQL server for these tests (.ci/run starts one)", .enabled(if: ProcessInfo.processInfo.environment["CI"] == "true"))
    func ciHasServer() {
        #expect(TestServer.available, "TAILOR_TEST_POSTGRES is not set: .ci/run should have started a cluster with scripts/postgres-cluster")
        #expect(ProcessInfo.processInfo.environment["TAILOR_TEST_POSTGRES_CA"] != nil,
                "TAILOR_TEST_POSTGRES_CA is not set: scripts/postgres-cluster gives the cluster TLS when openssl is present")
    }

    @Test("a server that is not there: a clear error naming the host and port within seconds, never a hang")
    func serverDown() throws {
        // A port nothing listens on (bound and closed just now).
        let start = Date()
        #expect {
            try PostgresEventStore(url: "postgres://tailor@127.0.0.1:9/tailor", connectTimeout: 2)
        } throws: { error in
            let e = error as? StoreError
            return e?.code == .io && e!.reason.contains("cannot connect to 127.0.0.1:9") && e!.hint?.contains("pg_isready") == true
        }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("a URL that is not PostgreSQL's, with a password in it, or with unknown options is refused before connecting")
    func badURLs() {
        #expect { try PostgresEventStore(url: "mysql://x@h/db") } throws: { ($0 as? StoreError)?.reason.contains("not a PostgreSQL URL") == true }
        #expect { try PostgresEventStore(url: "postgres://me:secret@127.0.0.1:9/db") } throws: { error in
            let e = error as? StoreError
            return e?.reason.contains("holds a password") == true && !e!.description.contains("secret")
        }
        #expect { try PostgresEventStore(url: "postgres://me@127.0.0.1:9/db?colour=red") } throws: { ($0 as? StoreError)?.reason.contains("unknown URL option 'colour'") == true }
        #expect { try PostgresEventStore(url: "postgres://me@127.0.0.1:9/db?schema=Bad-Name") } throws: { ($0 as? StoreError)?.reason.contains("schema 'Bad-Name'") == true }
    }

    @Test("a schema written by a newer Tailor is refused with its version; one holding other tables is refused, untouched",
          .enabled(if: TestServer.available))
    func foreignSchemas() throws {
        let store = try TestServer.freshStore()
        _ = try store.run("UPDATE tailor_meta SET value = '99' WHERE key = 'version'", "test")
        #expect { try PostgresEventStore(url: TestServer.url! + "?schema=\(store.schema)") } throws: { error in
            let e = error as? StoreError
            return e?.code == .newerSchema && e!.reason.contains("schema 99")
        }
        let other = "o_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        _ = try store.run(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(other)"), "test")
        _ = try store.run(PostgresQuery(unsafeSQL: "CREATE TABLE \(other).orders (id int)"), "test")
        #expect { try PostgresEventStore(url: TestServer.url! + "?schema=\(other)") } throws: { error in
            let e = error as? StoreError
            return e?.code == .notAStore && e!.reason.contains("orders")
        }
        let tables = try store.run("SELECT count(*)::bigint FROM information_schema.tables WHERE table_schema = \(other)", "test").first!.decode(Int64.self)
        #expect(tables == 1, "nothing was created beside the other application's table")
        #expect { try PostgresEventStore(url: TestServer.url! + "?schema=nothing_here_\(other)", create: false) } throws: { ($0 as? StoreError)?.code == .missing }
    }
}

/// TLS to the server, as libpq's sslmode. Needs the test cluster's certificate authorities
/// (`scripts/postgres-cluster` makes them when openssl is present).
@Suite("PostgreSQL store: TLS",
       .enabled(if: TestServer.available && ProcessInfo.processInfo.environment["TAILOR_TEST_POSTGRES_CA"] != nil,
                "set TAILOR_TEST_POSTGRES and TAILOR_TEST_POSTGRES_CA (scripts/postgres-cluster start, with openssl) to run the TLS tests"))
struct PostgresTLSTests {
    static let ca = ProcessInfo.processInfo.environment["TAILOR_TEST_POSTGRES_CA"] ?? ""
    static let otherCA = ProcessInfo.processInfo.environment["TAILOR_TEST_POSTGRES_OTHER_CA"] ?? ""

    /// The server URL with `options` added (and the host replaced when asked).
    static func url(_ options: String, host: String? = nil) -> String {
        var u = TestServer.url!
        if let host { u = u.replacingOccurrences(of: "127.0.0.1", with: host) }
        let schema = "tls_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        return u + "?schema=\(schema)" + (options.isEmpty ? "" : "&" + options)
    }

    /// Whether the store's connection to the server is encrypted, as the server sees it.
    static func encrypted(_ store: PostgresEventStore) throws -> Bool {
        try store.run("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", "test").first!.decode(Bool.self)
    }

    @Test("disable is plain; prefer (the default), require and verify-full with the right authority are encrypted; events round-trip")
    func modes() throws {
        #expect(try !Self.encrypted(PostgresEventStore(url: Self.url("sslmode=disable"))))
        #expect(try Self.encrypted(PostgresEventStore(url: Self.url(""), environment: [:])))
        #expect(try Self.encrypted(PostgresEventStore(url: Self.url("sslmode=require"))))
        let verified = try PostgresEventStore(url: Self.url("sslmode=verify-full&sslrootcert=\(Self.ca)", host: "localhost"))
        #expect(try Self.encrypted(verified))
        let e = Event(id: "t1", user: "u", item: "i", type: .view, timestampMilliseconds: 1_704_067_200_000)
        #expect(try verified.append([e]) == AppendCounts(inserted: 1))
        #expect(try verified.counts().events == 1)
        // The location keeps the TLS options (no secret), so a store reopened from it (a
        // recipe's source, a retrain) is verified the same way.
        #expect(verified.location.contains("sslmode=verify-full") && verified.location.contains("sslrootcert="))
        #expect(try Self.encrypted(PostgresEventStore(url: verified.location, create: false)))
        #expect(verified.isLocated(at: verified.location))
        // The environment's PGSSLMODE applies when the URL has none.
        #expect(try !Self.encrypted(PostgresEventStore(url: Self.url(""), environment: ["PGSSLMODE": "disable"])))
    }

    @Test("a certificate from another authority, or not naming the host, is refused with a TLS hint within seconds")
    func refused() throws {
        let start = Date()
        #expect {
            try PostgresEventStore(url: Self.url("sslmode=verify-full&sslrootcert=\(Self.otherCA)", host: "localhost"), connectTimeout: 3)
        } throws: { error in
            let e = error as? StoreError
            return e?.code == .io && e!.reason.contains("cannot connect to localhost") && e!.hint?.contains("sslrootcert") == true
        }
        // require with a root certificate checks it (as libpq: verify-ca).
        #expect {
            try PostgresEventStore(url: Self.url("sslmode=require&sslrootcert=\(Self.otherCA)"), connectTimeout: 3)
        } throws: { ($0 as? StoreError)?.hint?.contains("sslrootcert") == true }
        #expect(Date().timeIntervalSince(start) < 10)
        // The certificate names localhost, not the address 127.0.0.1 of the same server.
        #expect {
            try PostgresEventStore(url: Self.url("sslmode=verify-full&sslrootcert=\(Self.ca)"), connectTimeout: 3)
        } throws: { ($0 as? StoreError)?.hint?.contains("names the host") == true }
        // verify-ca does not check the name.
        #expect(try Self.encrypted(PostgresEventStore(url: Self.url("sslmode=verify-ca&sslrootcert=\(Self.ca)"))))
    }
}

@Suite("PostgreSQL store: TLS options")
struct PostgresTLSOptionTests {
    @Test("an unknown sslmode or an unreadable sslrootcert is refused before connecting, naming the option")
    func badOptions() {
        #expect { try PostgresEventStore(url: "postgres://me@127.0.0.1:9/db?sslmode=always") } throws: { error in
            let e = error as? StoreError
            return e?.reason.contains("unknown sslmode 'always'") == true && e!.hint?.contains("verify-full") == true
        }
        #expect { try PostgresEventStore(url: "postgres://me@127.0.0.1:9/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem") } throws: {
            ($0 as? StoreError)?.reason.contains("sslrootcert '/nonexistent/ca.pem' cannot be read") == true
        }
        #expect { try PostgresEventStore(url: "postgres://me@127.0.0.1:9/db", environment: ["PGSSLMODE": "sometimes"]) } throws: {
            ($0 as? StoreError)?.reason.contains("unknown sslmode 'sometimes'") == true
        }
    }
}
