/// Events in columnar form, for cleaning, weighting, sessionization and statistics.
public struct EventLog: Sendable {
    /// External user identifiers.
    public var userIDs = IDMap()
    /// External item identifiers.
    public var itemIDs = IDMap()
    /// User of each event.
    public var users: [Int32] = []
    /// Item of each event.
    public var items: [Int32] = []
    /// Type of each event, an index into ``typeNames``.
    public var types: [UInt16] = []
    /// Distinct event types.
    public var typeNames: [EventType] = []
    /// Value of each event (NaN when it has none).
    public var values: [Double] = []
    /// Unix milliseconds of each event.
    public var timestamps: [Int64] = []
    /// Source session of each event, an index into ``sessionNames`` (−1 when none).
    public var sessions: [Int32] = []
    /// Distinct source session identifiers.
    public var sessionNames: [String] = []
    /// Store keys of the events, when loaded from a store.
    public var keys: [Int64] = []
    /// Whether each event's time is only a placeholder (for example MIND's click history, which
    /// carries the time of the impression it came with, not of the click). Time-based rules such
    /// as the bot rates skip these events. Empty when no event is untimed.
    public var untimed: [Bool] = []
    /// Device, platform and country of each event (empty when no event has any).
    public var context = ContextColumns()

    private var typeIndex: [EventType: UInt16] = [:]
    private var sessionIndex: [String: Int32] = [:]

    /// An empty log.
    public init() {}

    /// A log of `events`.
    public init<S: Sequence>(_ events: S) where S.Element == Event {
        for e in events { append(e) }
    }

    /// Number of events.
    public var count: Int { users.count }

    /// The code of `type`, adding it if new.
    public mutating func code(for type: EventType) -> UInt16 {
        if let c = typeIndex[type] { return c }
        let c = UInt16(typeNames.count)
        typeNames.append(type)
        typeIndex[type] = c
        return c
    }

    /// Appends one event.
    public mutating func append(_ e: Event) {
        append(user: userIDs.insert(e.user), item: itemIDs.insert(e.item), type: code(for: e.type), value: e.value ?? .nan,
               timestamp: e.timestampMilliseconds, session: e.context.session, key: e.key, untimed: e.context.isUntimed,
               context: [e.context.device, e.context.platform, e.context.country])
    }

    /// Whether event `i`'s time is only a placeholder (see ``untimed``).
    @inlinable public func isUntimed(_ i: Int) -> Bool { !untimed.isEmpty && untimed[i] }

    /// Appends one event by positions.
    public mutating func append(user: Int32, item: Int32, type: UInt16, value: Double, timestamp: Int64, session: String?, key: Int64 = 0,
                                untimed isUntimed: Bool = false, context contextValues: [String?] = [nil, nil, nil]) {
        if isUntimed && untimed.isEmpty { untimed = [Bool](repeating: false, count: users.count) }
        if !untimed.isEmpty { untimed.append(isUntimed) }
        users.append(user); items.append(item); types.append(type); values.append(value); timestamps.append(timestamp)
        if let session {
            if let s = sessionIndex[session] { sessions.append(s) } else {
                let s = Int32(sessionNames.count)
                sessionNames.append(session)
                sessionIndex[session] = s
                sessions.append(s)
            }
        } else {
            sessions.append(-1)
        }
        keys.append(key)
        context.append(contextValues)
    }

    /// The events for which `keep(i)` is true (identifier maps and type table unchanged).
    public func filter(_ keep: (Int) -> Bool) -> EventLog {
        var out = self
        let kept = (0..<count).filter(keep)
        out.users = kept.map { users[$0] }
        out.items = kept.map { items[$0] }
        out.types = kept.map { types[$0] }
        out.values = kept.map { values[$0] }
        out.timestamps = kept.map { timestamps[$0] }
        out.sessions = kept.map { sessions[$0] }
        out.keys = keys.isEmpty ? [] : kept.map { keys[$0] }
        out.untimed = untimed.isEmpty ? [] : kept.map { untimed[$0] }
        out.context = context.selecting(kept)
        return out
    }

    /// The type of event `i`.
    public func type(_ i: Int) -> EventType { typeNames[Int(types[i])] }

    /// Events per type.
    public func countsByType() -> [EventType: Int] {
        var counts = [Int](repeating: 0, count: typeNames.count)
        for t in types { counts[Int(t)] += 1 }
        return Dictionary(uniqueKeysWithValues: typeNames.enumerated().map { ($0.element, counts[$0.offset]) })
    }

    /// Indices of each user's events in time order (ties by log order).
    public func eventsByUser() -> [[Int]] {
        var byUser = [[Int]](repeating: [], count: userIDs.count)
        for i in 0..<count { byUser[Int(users[i])].append(i) }
        for u in byUser.indices where byUser[u].count > 1 {
            byUser[u].sort { (timestamps[$0], $0) < (timestamps[$1], $1) }
        }
        return byUser
    }
}
