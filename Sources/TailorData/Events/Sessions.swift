/// A run of a user's events without a long pause (or sharing a source session id).
public struct Session: Sendable, Equatable {
    /// User position.
    public var user: Int32
    /// First and last event times, Unix milliseconds.
    public var start: Int64, end: Int64
    /// Items in time order.
    public var items: [Int32]
}

/// Splits users' time-ordered events into sessions.
public struct Sessionizer: Sendable, Codable, Equatable {
    /// A pause longer than this starts a new session (seconds; default 30 minutes).
    public var gapSeconds: Double = 1800
    /// Use the source's session ids when events have them (the gap still splits events
    /// without one).
    public var useSourceSessions = true

    /// The defaults.
    public init(gapSeconds: Double = 1800, useSourceSessions: Bool = true) {
        self.gapSeconds = gapSeconds
        self.useSourceSessions = useSourceSessions
    }

    /// Every user's sessions, users in position order, sessions in time order.
    public func sessions(_ log: EventLog) -> [Session] {
        var out: [Session] = []
        let gap = clampedMilliseconds(gapSeconds)
        for (u, events) in log.eventsByUser().enumerated() where !events.isEmpty {
            var current: Session?
            var currentSource: Int32 = -1
            for e in events {
                let t = log.timestamps[e], source = log.sessions[e]
                let split: Bool
                if let c = current {
                    if useSourceSessions && (source >= 0 || currentSource >= 0) {
                        split = source != currentSource
                    } else {
                        split = t - c.end > gap
                    }
                } else { split = true }
                if split {
                    if let c = current { out.append(c) }
                    current = Session(user: Int32(u), start: t, end: t, items: [])
                    currentSource = source
                }
                current!.items.append(log.items[e])
                current!.end = t
            }
            if let c = current { out.append(c) }
        }
        return out
    }
}
