import Foundation

/// A change to a store that other processes serving from it must follow (several `tailor serve`
/// replicas on one PostgreSQL database).
public enum StoreChange: Sendable, Equatable {
    /// Events were appended (read them with ``EventStore/events(after:limit:)``).
    case events
    /// A catalogue item was written or marked unavailable.
    case item(String)
    /// Many catalogue items changed (reload the catalogue state).
    case catalogue
    /// A user was erased.
    case erased(String)
    /// A model version was activated.
    case activated(String)

    /// The text sent with a notification (PostgreSQL limits it to 8,000 bytes; ids are short).
    public var payload: String {
        switch self {
        case .events: "events"
        case .item(let id): "item:" + id
        case .catalogue: "catalogue"
        case .erased(let id): "erased:" + id
        case .activated(let version): "activated:" + version
        }
    }

    /// The change a payload names (nil for one this build does not know).
    public init?(payload: String) {
        func rest(_ prefix: String) -> String? { payload.hasPrefix(prefix) ? String(payload.dropFirst(prefix.count)) : nil }
        if payload == "events" { self = .events }
        else if payload == "catalogue" { self = .catalogue }
        else if let id = rest("item:") { self = .item(id) }
        else if let id = rest("erased:") { self = .erased(id) }
        else if let version = rest("activated:") { self = .activated(version) }
        else { return nil }
    }
}

/// A live subscription to a store's changes.
public protocol StoreSubscription: Sendable {
    /// Whether notifications still arrive (false once its connection is lost or it is
    /// cancelled: subscribe again).
    var isActive: Bool { get }
    /// Stops the notifications.
    func cancel()
}

/// A store several processes share, which tells each of them what the others changed
/// (PostgreSQL: LISTEN/NOTIFY). The store announces its own writes (appends, catalogue writes,
/// erasures); callers announce what the store cannot see, such as a model activation.
public protocol ChangeNotifyingStore: EventStore {
    /// Calls `handler` (on a background thread) for every change announced on this store, by
    /// any process, this one included, until the subscription is cancelled or lost.
    func subscribe(_ handler: @escaping @Sendable (StoreChange) -> Void) throws -> any StoreSubscription
    /// Announces `change` to every subscriber.
    func announce(_ change: StoreChange) throws
    /// Records `version` as the model every process serving from this store should serve, and
    /// announces ``StoreChange/activated(_:)``, in one transaction: a process that missed the
    /// notification (down, reconnecting, started later) still finds the version here.
    func recordActiveModel(_ version: String) throws
    /// The model version last recorded by ``recordActiveModel(_:)``, if any.
    func activeModel() throws -> String?
    /// Takes the store-wide lease `name` when no process holds it (nil when one does), for
    /// work one process at a time should do, such as retraining. It is released by
    /// ``StoreLease/release()``, or when this process or its connection dies.
    func tryLease(_ name: String) throws -> (any StoreLease)?
    /// Records what one process serving from this store serves and can serve (replaced at each
    /// call; entries unseen for a day are removed).
    func heartbeat(_ replica: ReplicaState) throws
    /// The processes whose last ``heartbeat(_:)`` is at most `seconds` old (by the store's clock).
    func replicas(seenWithin seconds: Double) throws -> [ReplicaState]
}

/// One server process on a shared store, as its heartbeat says.
public struct ReplicaState: Sendable, Codable, Equatable {
    /// The process (host, process id and a random part).
    public var id: String
    /// The model version it serves.
    public var serving: String?
    /// The versions its registry holds (what it could be asked to serve).
    public var versions: [String]
    /// When it was recorded (Unix milliseconds; a store may stamp its own clock, so servers
    /// whose clocks disagree compare on one).
    public var seenMilliseconds: Int64

    public init(id: String, serving: String?, versions: [String], seenMilliseconds: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) {
        self.id = id
        self.serving = serving
        self.versions = versions
        self.seenMilliseconds = seenMilliseconds
    }
}

/// A lease taken with ``ChangeNotifyingStore/tryLease(_:)``.
public protocol StoreLease: Sendable {
    /// Gives the lease up (once; later calls do nothing).
    func release()
}
