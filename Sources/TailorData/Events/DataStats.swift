/// A report on an event log: its size, shape, long tail and sessions.
public struct DataStats: Sendable, Codable, Equatable {
    /// Events.
    public var events: Int
    /// Distinct users.
    public var users: Int
    /// Distinct items with events.
    public var items: Int
    /// Events per type.
    public var eventsByType: [String: Int]
    /// Distinct (user, item) pairs.
    public var pairs: Int
    /// Fraction of empty (user, item) cells.
    public var sparsity: Double
    /// Share of events on the most popular 1 % and 10 % of items.
    public var topOnePercentShare: Double
    /// See ``topOnePercentShare``.
    public var topTenPercentShare: Double
    /// Events per user: median and maximum.
    public var medianEventsPerUser: Double
    /// See ``medianEventsPerUser``.
    public var maxEventsPerUser: Int
    /// Sessions, and their lengths in events.
    public var sessions: Int
    /// Mean session length.
    public var meanSessionLength: Double
    /// Median session length.
    public var medianSessionLength: Double
    /// 90th percentile of session length.
    public var p90SessionLength: Double
    /// First and last event, Unix seconds.
    public var firstEvent: Int64?
    /// See ``firstEvent``.
    public var lastEvent: Int64?

    /// Statistics of `log`, with sessions by `sessionizer`.
    public init(_ log: EventLog, sessionizer: Sessionizer = .init()) {
        events = log.count
        users = Set(log.users).count
        var itemCounts = [Int](repeating: 0, count: log.itemIDs.count)
        for i in log.items { itemCounts[Int(i)] += 1 }
        let active = itemCounts.filter { $0 > 0 }.sorted(by: >)
        items = active.count
        eventsByType = Dictionary(uniqueKeysWithValues: log.countsByType().filter { $0.value > 0 }.map { ($0.key.name, $0.value) })
        var pairSet = Set<Int64>()
        for i in 0..<log.count { pairSet.insert(Int64(log.users[i]) << 32 | Int64(log.items[i])) }
        pairs = pairSet.count
        sparsity = users == 0 || items == 0 ? 1 : 1 - Double(pairs) / (Double(users) * Double(items))
        let total = log.count
        func share(_ fraction: Double) -> Double {
            guard total > 0, !active.isEmpty else { return 0 }
            let top = max(1, Int((Double(active.count) * fraction).rounded(.up)))
            return Double(active.prefix(top).reduce(0, +)) / Double(total)
        }
        topOnePercentShare = share(0.01)
        topTenPercentShare = share(0.10)
        var perUser = [Int](repeating: 0, count: log.userIDs.count)
        for u in log.users { perUser[Int(u)] += 1 }
        let activeUsers = perUser.filter { $0 > 0 }.sorted()
        medianEventsPerUser = DataStats.quantile(activeUsers, 0.5)
        maxEventsPerUser = activeUsers.last ?? 0
        let lengths = sessionizer.sessions(log).map(\.items.count).sorted()
        sessions = lengths.count
        meanSessionLength = lengths.isEmpty ? 0 : Double(lengths.reduce(0, +)) / Double(lengths.count)
        medianSessionLength = DataStats.quantile(lengths, 0.5)
        p90SessionLength = DataStats.quantile(lengths, 0.9)
        firstEvent = log.timestamps.min().map { $0 / 1000 }
        lastEvent = log.timestamps.max().map { $0 / 1000 }
    }

    static func quantile(_ sorted: [Int], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let position = q * Double(sorted.count - 1)
        let lo = Int(position), hi = min(sorted.count - 1, lo + 1)
        return Double(sorted[lo]) + (position - Double(lo)) * Double(sorted[hi] - sorted[lo])
    }

    /// A table for people.
    public var summary: String {
        func pct(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
        var lines = [
            "events        \(events)",
            "users         \(users)",
            "items         \(items)",
            "pairs         \(pairs) (sparsity \(String(format: "%.4f%%", sparsity * 100)))",
            "long tail     top 1% of items: \(pct(topOnePercentShare)) of events; top 10%: \(pct(topTenPercentShare))",
            "per user      median \(String(format: "%.0f", medianEventsPerUser)) events, max \(maxEventsPerUser)",
            "sessions      \(sessions); length mean \(String(format: "%.1f", meanSessionLength)), median \(String(format: "%.0f", medianSessionLength)), p90 \(String(format: "%.0f", p90SessionLength))",
        ]
        if let first = firstEvent, let last = lastEvent { lines.append("time          \(first) … \(last) (Unix seconds)") }
        lines.append("by type")
        for (type, n) in eventsByType.sorted(by: { $0.value > $1.value }) {
            lines.append("  \(type.padding(toLength: 12, withPad: " ", startingAt: 0)) \(n)")
        }
        return lines.joined(separator: "\n")
    }
}
