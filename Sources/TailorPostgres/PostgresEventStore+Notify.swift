import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization
import TailorStore

extension PostgresEventStore: ChangeNotifyingStore {
    /// The notification channel of this store (one per schema).
    var channel: String { "tailor_" + schema }

    /// Listens on the store's channel over a connection of its own.
    public func subscribe(_ handler: @escaping @Sendable (StoreChange) -> Void) throws -> any StoreSubscription {
        let c = try connect()
        let context = c.addListener(channel: channel) { _, message in
            if let change = StoreChange(payload: message.payload) { handler(change) }
        }
        do {
            try run(c, PostgresQuery(unsafeSQL: "LISTEN \(channel)"), "cannot listen for changes")
        } catch {
            context.stop()
            let closing: EventLoopFuture<Void> = c.close()
            closing.whenComplete { _ in withExtendedLifetime(c) {} }
            throw error
        }
        return PostgresSubscription(connection: c, context: context)
    }

    public func announce(_ change: StoreChange) throws {
        try run("SELECT pg_notify(\(channel), \(change.payload))", "cannot announce a change")
    }

    /// Kept in `tailor_meta` under `active_model` (no schema change: the table is key–value).
    public func recordActiveModel(_ version: String) throws {
        try transaction("cannot record the active model") { c in
            try run(c, """
                INSERT INTO tailor_meta (key, value) VALUES ('active_model', \(version))
                ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
                """, "cannot record the active model")
            try announce(.activated(version), on: c)
        }
    }

    public func activeModel() throws -> String? {
        try run("SELECT value FROM tailor_meta WHERE key = 'active_model'", "cannot read the active model").first?.decode(String.self)
    }

    /// Kept in `tailor_meta` as `replica:ID` with the state as JSON (no schema change). The
    /// time seen is the database's clock, not the caller's, so servers whose clocks disagree
    /// still see each other as live.
    public func heartbeat(_ replica: ReplicaState) throws {
        let json = String(decoding: try JSONEncoder().encode(replica), as: UTF8.self)
        let key = "replica:" + replica.id
        try transaction("cannot record this server's heartbeat") { c in
            try run(c, """
                INSERT INTO tailor_meta (key, value)
                VALUES (\(key), jsonb_set(\(json)::jsonb, '{seenMilliseconds}', to_jsonb(\(unescaped: Self.nowMilliseconds)))::text)
                ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
                """, "cannot record this server's heartbeat")
            try run(c, """
                DELETE FROM tailor_meta WHERE key LIKE 'replica:%'
                AND (value::jsonb ->> 'seenMilliseconds')::bigint < \(unescaped: Self.nowMilliseconds) - 86400000
                """, "cannot forget old heartbeats")
        }
    }

    public func replicas(seenWithin seconds: Double) throws -> [ReplicaState] {
        let rows = try run("""
            SELECT value FROM tailor_meta WHERE key LIKE 'replica:%'
            AND (value::jsonb ->> 'seenMilliseconds')::bigint >= \(unescaped: Self.nowMilliseconds) - \(Int64(seconds * 1000))
            """, "cannot read the servers' heartbeats")
        let decoder = JSONDecoder()
        return try rows.compactMap { row -> ReplicaState? in
            try? decoder.decode(ReplicaState.self, from: Data(try row.decode(String.self).utf8))
        }.sorted { $0.id < $1.id }
    }

    /// The database's clock in Unix milliseconds, as SQL.
    static let nowMilliseconds = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

    /// A session advisory lock on a connection of its own: held while the connection lives, so
    /// a process that dies frees it.
    public func tryLease(_ name: String) throws -> (any StoreLease)? {
        let c = try connect()
        let key = schema + ":" + name
        let taken: Bool
        do {
            taken = try run(c, "SELECT pg_try_advisory_lock(\(PostgresEventStore.leaseLock)::int4, hashtext(\(key)))", "cannot take the lease '\(name)'")
                .first?.decode(Bool.self) ?? false
        } catch {
            PostgresLease(connection: c).release()
            throw error
        }
        guard taken else { PostgresLease(connection: c).release(); return nil }
        return PostgresLease(connection: c, unlock: "SELECT pg_advisory_unlock(\(PostgresEventStore.leaseLock)::int4, hashtext(\(key)))")
    }

    /// Queues a notification inside the caller's transaction (delivered at commit).
    func announce(_ change: StoreChange, on c: PostgresConnection) throws {
        try run(c, "SELECT pg_notify(\(channel), \(change.payload))", "cannot announce a change")
    }
}

final class PostgresSubscription: StoreSubscription, @unchecked Sendable {
    let connection: PostgresConnection
    let context: PostgresListenContext
    let cancelled = Atomic<Bool>(false)

    init(connection: PostgresConnection, context: PostgresListenContext) {
        self.connection = connection
        self.context = context
    }

    var isActive: Bool { !cancelled.load(ordering: .relaxed) && !connection.isClosed }

    func cancel() {
        guard !cancelled.exchange(true, ordering: .relaxed) else { return }
        context.stop()
        let c = connection
        let closing: EventLoopFuture<Void> = c.close()
        closing.whenComplete { _ in withExtendedLifetime(c) {} }
    }

    deinit { cancel() }
}

final class PostgresLease: StoreLease, @unchecked Sendable {
    let connection: PostgresConnection
    let unlock: PostgresQuery?
    let released = Atomic<Bool>(false)

    init(connection: PostgresConnection, unlock: PostgresQuery? = nil) {
        self.connection = connection
        self.unlock = unlock
    }

    func release() {
        guard !released.exchange(true, ordering: .relaxed) else { return }
        let c = connection
        // Unlock first (closing the session frees the lock too, but only once the server has
        // seen the connection go), then close.
        if let unlock, !c.eventLoop.inEventLoop, !c.isClosed {
            _ = try? c.query(unlock, logger: Logger(label: "tailor.postgres.lease")).wait()
        }
        let closing: EventLoopFuture<Void> = c.close()
        closing.whenComplete { _ in withExtendedLifetime(c) {} }
    }

    deinit { release() }
}
