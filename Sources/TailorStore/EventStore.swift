import Foundation
import TailorData

/// Where Tailor keeps typed events, the item catalogue and user profiles.
///
/// The embedded default is `SQLiteEventStore` (module TailorSQLite, one file, no setup); a
/// PostgreSQL implementation for several servers is the next one. Every implementation passes
/// ``EventStoreConformance``, so the CLI, recipes and the server treat them alike.
///
/// Events are append-only and idempotent by ``Event/key`` (the source's event id, or a hash of
/// the content): appending or importing the same event twice stores it once.
public protocol EventStore: EventSource, Sendable {
    /// Where the store is, for messages (a path or a URL without credentials).
    var location: String { get }

    /// Whether `other` (a path or URL as a user wrote it, e.g. in a model's recipe) names this
    /// store. Default: the same file after resolving links.
    func isLocated(at other: String) -> Bool

    /// Appends events in one transaction, skipping those already stored and repeats within the
    /// call. Safe to call while another process imports into the same store.
    @discardableResult
    func append(_ events: [Event]) throws -> AppendCounts

    /// Inserts or updates catalogue items by id.
    func upsert(items: [CatalogItem]) throws
    /// Inserts or updates user profiles by id.
    func upsert(users: [UserProfile]) throws

    /// Every stored event, users and items numbered in the order they entered the store.
    func loadEvents() throws -> EventLog
    /// The item catalogue, in the order items entered the store.
    func loadItems() throws -> [CatalogItem]
    /// The user profiles, in the order users entered the store.
    func loadUsers() throws -> [UserProfile]

    /// Rows of events, users and items.
    func counts() throws -> StoreCounts
    /// Every import and append run, oldest first.
    func imports() throws -> [ImportRecord]

    /// Imports a file of `kind` with the store's fastest bulk path: batched transactions, an
    /// interrupted import completed by running it again, progress after each batch.
    @discardableResult
    func importFile(_ path: String, kind: ImportKind, configuration: ImportConfiguration) throws -> IngestCounts

    /// Stores a JSON document under `name` (fitted encoders and the like).
    func saveDocument(_ json: Data, name: String) throws
    /// The JSON document stored under `name`, if any.
    func loadDocument(name: String) throws -> Data?

    /// Stores item vectors in the space `space` (a text encoder's, say), replacing any vector
    /// already stored for the same item in that space, in one transaction.
    func saveItemVectors(_ vectors: [ItemVector], space: String) throws
    /// The vectors stored in `space`, in the order items entered the store (empty for an
    /// unknown space).
    func loadItemVectors(space: String) throws -> [ItemVector]
    /// The spaces with item vectors and how many each holds.
    func itemVectorSpaces() throws -> [String: Int]

    // MARK: What a server needs

    /// The catalogue item `id`, if stored (unavailable items too).
    func item(_ id: String) throws -> CatalogItem?
    /// The profile of user `id`, if the user is stored (with events or a profile).
    func user(_ id: String) throws -> UserProfile?
    /// Marks item `id` unavailable (deleted from the catalogue, sold out): it keeps its events
    /// for training, but is never recommended while unavailable. Upserting the item makes it
    /// available again. Returns whether the item was stored.
    @discardableResult
    func markUnavailable(item id: String) throws -> Bool
    /// The ids of unavailable items.
    func unavailableItems() throws -> [String]
    /// Erases user `id`: their profile and every event of theirs. Returns the events removed, or
    /// `nil` when the user was not stored. An event appended later under the same id starts a
    /// new user.
    @discardableResult
    func deleteUser(_ id: String) throws -> Int?

    /// The events appended after `cursor` (see ``EventSource/eventCursor()``), at most `limit`,
    /// in append order, each with its own cursor.
    func events(after cursor: Int64, limit: Int) throws -> [(cursor: Int64, event: Event)]

    /// Stores a new API key record (its hash, never the key).
    func saveAPIKey(_ key: APIKeyRecord) throws
    /// Every API key record, revoked ones included, oldest first.
    func apiKeys() throws -> [APIKeyRecord]
    /// Revokes the key with this id. Returns whether an active key was revoked.
    @discardableResult
    func revokeAPIKey(id: String) throws -> Bool
}

/// A stored API key: its public id, a name, the SHA-256 of the secret (hex), its scopes.
public struct APIKeyRecord: Sendable, Codable, Equatable {
    /// Public identifier (shown in listings and logs; not secret).
    public var id: String
    /// What the key is for, as given when it was created.
    public var name: String
    /// Lower-case hex SHA-256 of the full key.
    public var hash: String
    /// Scopes such as `read`, `write`, `admin`.
    public var scopes: [String]
    /// When it was created (ISO 8601).
    public var created: String
    /// When it was revoked (ISO 8601), or `nil` while active.
    public var revoked: String?

    /// A record.
    public init(id: String, name: String, hash: String, scopes: [String], created: String, revoked: String? = nil) {
        self.id = id; self.name = name; self.hash = hash; self.scopes = scopes; self.created = created; self.revoked = revoked
    }
}

extension EventStore {
    public func isLocated(at other: String) -> Bool {
        func canonical(_ p: String) -> String { URL(fileURLWithPath: p).resolvingSymlinksInPath().standardizedFileURL.path }
        return canonical(other) == canonical(location)
    }

    /// Stores a JSON-encodable value under `name`.
    public func saveEncoder<T: Encodable>(_ value: T, name: String) throws {
        try saveDocument(try JSONEncoder().encode(value), name: name)
    }

    /// The value stored under `name`, if any.
    public func loadEncoder<T: Decodable>(_ type: T.Type, name: String) throws -> T? {
        guard let data = try loadDocument(name: name) else { return nil }
        return try JSONDecoder().decode(T.self, from: data)
    }
}

/// What a file holds.
public enum ImportKind: String, Sendable, Codable, CaseIterable {
    /// Typed events.
    case events
    /// Catalogue items.
    case items
    /// User profiles.
    case users
}

/// How an import runs.
public struct ImportConfiguration: Sendable {
    /// Events per transaction.
    public var batchSize = 50_000
    /// Stop at the first malformed row.
    public var strict = false
    /// Type for event files without a type column.
    public var defaultType = EventType.click
    /// Sleep this long after each batch (a test aid for interrupting imports mid-way).
    public var pauseBetweenBatches: Double = 0
    /// Called after each batch with the running counts.
    public var progress: (@Sendable (IngestCounts) -> Void)?
    /// The defaults.
    public init() {}

    /// The event reader's settings for an import with these options.
    public var reader: EventReader.Configuration {
        var rc = EventReader.Configuration()
        rc.batchSize = batchSize
        rc.strict = strict
        rc.defaultType = defaultType
        return rc
    }
}

/// Rows in a store.
public struct StoreCounts: Sendable, Codable, Equatable {
    /// Events.
    public var events: Int
    /// Users (with events or a profile).
    public var users: Int
    /// Items (with events or in the catalogue).
    public var items: Int

    /// Counts.
    public init(events: Int, users: Int, items: Int) {
        self.events = events
        self.users = users
        self.items = items
    }
}

/// What one ``EventStore/append(_:)`` did.
public struct AppendCounts: Sendable, Codable, Equatable {
    /// Events stored.
    public var inserted: Int
    /// Events already in the store.
    public var alreadyPresent: Int
    /// Events repeating one earlier in the same call.
    public var duplicates: Int

    /// Counts.
    public init(inserted: Int = 0, alreadyPresent: Int = 0, duplicates: Int = 0) {
        self.inserted = inserted
        self.alreadyPresent = alreadyPresent
        self.duplicates = duplicates
    }
}

/// One import (or the appends of one process), as recorded by the store.
public struct ImportRecord: Sendable, Codable, Equatable {
    public var id: Int64
    public var source: String
    public var kind: String
    /// `running`, `finished` or `interrupted`.
    public var status: String
    public var started: String
    public var finished: String?
    public var rowsRead: Int
    public var inserted: Int
    public var alreadyPresent: Int
    public var duplicates: Int
    public var skipped: Int

    /// A record.
    public init(id: Int64, source: String, kind: String, status: String, started: String, finished: String?, rowsRead: Int,
                inserted: Int, alreadyPresent: Int, duplicates: Int, skipped: Int) {
        self.id = id; self.source = source; self.kind = kind; self.status = status; self.started = started
        self.finished = finished; self.rowsRead = rowsRead; self.inserted = inserted; self.alreadyPresent = alreadyPresent
        self.duplicates = duplicates; self.skipped = skipped
    }
}

/// A problem with a store: what, which store, and how to fix it.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    /// What kind of problem.
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// The store does not exist.
        case missing
        /// The file or server is not a Tailor store, or is damaged.
        case notAStore = "not-a-store"
        /// The store was written by a newer Tailor.
        case newerSchema = "newer-schema"
        /// Another import is running.
        case busy
        /// Reading or writing failed (disk full, permissions, connection lost).
        case io
    }

    /// What kind of problem.
    public var code: Code
    /// The store (path or URL without credentials).
    public var path: String
    /// What is wrong.
    public var reason: String
    /// How to fix it.
    public var hint: String?
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    /// An error.
    public init(_ code: Code = .io, path: String, reason: String, hint: String? = nil, cause: (any Error & Sendable)? = nil) {
        self.code = code; self.path = path; self.reason = reason; self.hint = hint; self.cause = cause
    }

    /// `path: reason. hint`
    public var description: String { "\(path): \(reason)" + (hint.map { ". " + $0 } ?? "") }
}

/// Counts of one import.
public struct IngestCounts: Sendable, Codable, Equatable {
    /// Rows read from the source.
    public var rowsRead = 0
    /// Events stored.
    public var inserted = 0
    /// Events already in the store from an earlier import (or an interrupted run of this one).
    public var alreadyPresent = 0
    /// Events repeating one earlier in the same import (same id, or same content): counted,
    /// stored once.
    public var duplicates = 0
    /// Rows skipped as malformed.
    public var skipped = 0
    /// The first malformed rows.
    public var problems: [RowProblem] = []
    /// Items and users written (inserted or updated).
    public var itemsWritten = 0
    /// See ``itemsWritten``.
    public var usersWritten = 0

    /// All zero.
    public init() {}
}


extension EventStore {
    /// Imports a public data set by preset (items, users, then events in batches of
    /// `configuration.batchSize`), through the protocol, so every store implementation has it.
    /// Running it again adds nothing twice.
    @discardableResult
    public func importPreset(_ preset: DatasetPreset, directory: String, configuration c: ImportConfiguration = .init()) throws -> IngestCounts {
        let content = try preset.read(directory: directory)
        var counts = IngestCounts()
        try upsert(items: content.items)
        try upsert(users: content.users)
        counts.itemsWritten = content.items.count
        counts.usersWritten = content.users.count
        counts.rowsRead = content.reports.reduce(0) { $0 + $1.rowsRead }
        counts.skipped = content.reports.reduce(0) { $0 + $1.rowsSkipped }
        counts.problems = Array(content.reports.flatMap(\.problems).prefix(5))
        try append(content.events, batchSize: c.batchSize, into: &counts, progress: c.progress)
        return counts
    }

    /// Appends events in transactions of `batchSize`, adding to `counts`.
    public func append(_ events: [Event], batchSize: Int, into counts: inout IngestCounts, progress: (@Sendable (IngestCounts) -> Void)? = nil) throws {
        for start in stride(from: 0, to: events.count, by: max(1, batchSize)) {
            let r = try append(Array(events[start..<min(events.count, start + max(1, batchSize))]))
            counts.inserted += r.inserted
            counts.alreadyPresent += r.alreadyPresent
            counts.duplicates += r.duplicates
            progress?(counts)
        }
    }
}
