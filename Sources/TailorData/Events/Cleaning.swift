import Foundation

/// Which cleaning steps run and their thresholds. Every step can be turned off; every step's
/// removals are counted in the ``CleaningReport``. Steps run in this order: anomalies, exact
/// duplicates, quick repeats, bots, minimum rating, k-core.
public struct CleaningConfiguration: Sendable, Codable, Equatable {
    /// Drop events identical in user, item, type, value, time and session (keep the first).
    public var exactDuplicates = true
    /// Drop an event repeating the same (user, item, type) within this many seconds of the
    /// last kept one (double clicks, refreshes); `nil` disables.
    public var repeatWindowSeconds: Double? = 2
    /// Rules that flag a user as a bot; all their events are dropped. `nil` disables.
    public var bots: BotRules? = BotRules()
    /// Drop events later than this many seconds after `referenceTime` (or now).
    public var futureToleranceSeconds: Double = 86_400
    /// The "now" for the future check, Unix seconds (`nil`: the current time).
    public var referenceTime: Int64?
    /// Drop events before this Unix time (seconds); default 1990-01-01.
    public var earliestTime: Int64 = 631_152_000
    /// Drop dwell events below 0 or above this many seconds.
    public var maximumDwellSeconds: Double = 4 * 3600
    /// Drop rating events outside this range (`nil`: no check).
    public var ratingRange: ClosedRange<Double>?
    /// Drop events of types the weighting does not know (see ``EventWeights``).
    public var dropUnknownTypes = true
    /// Drop rating events below this rating (`nil`: keep all).
    public var minimumRating: Double?
    /// Iteratively keep only users with at least this many events and items with at least
    /// `itemCore` (0: off).
    public var userCore = 0
    /// See ``userCore``.
    public var itemCore = 0

    /// The defaults.
    public init() {}
}

/// What makes a user a bot. The rules count only what a user did: event types in
/// ``passiveTypes`` (items shown, not acted on) never count, and events whose time is a
/// placeholder (``EventLog/untimed``) do not count toward the rates.
public struct BotRules: Sendable, Codable, Equatable {
    /// More events than this within any 60 seconds.
    public var maxEventsPerMinute = 120
    /// More events than this in one session (explicit, or by 30-minute gaps).
    public var maxEventsPerSession = 2_000
    /// More distinct items than this within any 60 minutes (a sliding hour).
    public var maxDistinctItemsPerHour = 500
    /// Types that are not user actions (impressions: shown and not clicked); ignored by every rule.
    public var passiveTypes: [String] = ["skip"]
    /// Judgements of things consumed earlier, which people enter in bulk (rating a few hundred
    /// films at sign-up is human): they count toward the per-minute rate only, not toward the
    /// session and distinct-items-per-hour rules.
    public var retrospectiveTypes: [String] = ["rating", "review"]
    /// Dwell patterns no human produces: with at least `dwellEventsNeeded` dwell events, more
    /// than `inhumanDwellFraction` of them under one second or all of one value.
    public var dwellEventsNeeded = 20
    /// See ``dwellEventsNeeded``.
    public var inhumanDwellFraction = 0.9

    /// The defaults.
    public init() {}

    private enum CodingKeys: String, CodingKey {
        case maxEventsPerMinute, maxEventsPerSession, maxDistinctItemsPerHour, passiveTypes, retrospectiveTypes
        case dwellEventsNeeded, inhumanDwellFraction
    }

    /// Decodes rules; a missing key keeps its default, so a file may name only what it changes.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = BotRules()
        maxEventsPerMinute = try c.decodeIfPresent(Int.self, forKey: .maxEventsPerMinute) ?? d.maxEventsPerMinute
        maxEventsPerSession = try c.decodeIfPresent(Int.self, forKey: .maxEventsPerSession) ?? d.maxEventsPerSession
        maxDistinctItemsPerHour = try c.decodeIfPresent(Int.self, forKey: .maxDistinctItemsPerHour) ?? d.maxDistinctItemsPerHour
        passiveTypes = try c.decodeIfPresent([String].self, forKey: .passiveTypes) ?? d.passiveTypes
        retrospectiveTypes = try c.decodeIfPresent([String].self, forKey: .retrospectiveTypes) ?? d.retrospectiveTypes
        dwellEventsNeeded = try c.decodeIfPresent(Int.self, forKey: .dwellEventsNeeded) ?? d.dwellEventsNeeded
        inhumanDwellFraction = try c.decodeIfPresent(Double.self, forKey: .inhumanDwellFraction) ?? d.inhumanDwellFraction
    }
}

/// Milliseconds from seconds, clamped to the range a timestamp can hold (a configuration may say
/// `1e300` to mean "never"; converting that directly would trap).
func clampedMilliseconds(_ seconds: Double) -> Int64 {
    let ms = seconds * 1000
    if ms.isNaN { return 0 }
    if ms >= 9.2e18 { return Int64.max / 2 }
    if ms <= -9.2e18 { return Int64.min / 2 }
    return Int64(ms)
}

/// What cleaning removed, step by step.
public struct CleaningReport: Sendable, Codable, Equatable {
    /// One step's removals.
    public struct Step: Sendable, Codable, Equatable {
        /// The step.
        public var name: String
        /// Events removed.
        public var removed: Int
        /// Details (`12 in the future`, …).
        public var details: [String: Int] = [:]
    }

    /// A user flagged as a bot.
    public struct FlaggedUser: Sendable, Codable, Equatable {
        /// External user identifier.
        public var user: String
        /// Which rules fired, with the measured value.
        public var reasons: [String]
        /// Events removed with them.
        public var events: Int
    }

    /// Events before cleaning.
    public var eventsBefore = 0
    /// Events after cleaning.
    public var eventsAfter = 0
    /// The steps in the order they ran.
    public var steps: [Step] = []
    /// Users flagged as bots.
    public var flaggedUsers: [FlaggedUser] = []

    /// A table for people.
    public var summary: String {
        var lines = ["cleaning: \(eventsBefore) events → \(eventsAfter)"]
        for s in steps {
            let detail = s.details.isEmpty ? "" : " (" + s.details.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ")"
            lines.append("  \(s.name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(String(s.removed).leftPadded(9)) removed\(detail)")
        }
        if !flaggedUsers.isEmpty {
            lines.append("  users flagged as bots (\(flaggedUsers.count)):")
            for u in flaggedUsers.prefix(10) { lines.append("    \(u.user): \(u.reasons.joined(separator: "; ")) — \(u.events) events") }
            if flaggedUsers.count > 10 { lines.append("    … and \(flaggedUsers.count - 10) more (see the JSON report)") }
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

/// Cleans an ``EventLog`` according to a ``CleaningConfiguration``.
public enum Cleaner {
    /// The cleaned log and what was removed. `knownTypes` are the types the weighting handles
    /// (for ``CleaningConfiguration/dropUnknownTypes``).
    public static func clean(_ log: EventLog, configuration c: CleaningConfiguration = .init(),
                             knownTypes: Set<EventType> = EventWeights().knownTypes) -> (EventLog, CleaningReport) {
        var report = CleaningReport(eventsBefore: log.count)
        var current = log

        // 1. Anomalies.
        let now = (c.referenceTime ?? Int64(Date().timeIntervalSince1970)) * 1000
        let latest = now.addingReportingOverflow(clampedMilliseconds(c.futureToleranceSeconds)).overflow
            ? Int64.max : now + clampedMilliseconds(c.futureToleranceSeconds)
        let earliest = c.earliestTime.multipliedReportingOverflow(by: 1000).overflow
            ? (c.earliestTime < 0 ? Int64.min : Int64.max) : c.earliestTime * 1000
        var details: [String: Int] = [:]
        let dwellCode = log.typeNames.firstIndex(of: .dwell).map(UInt16.init)
        let ratingCode = log.typeNames.firstIndex(of: .rating).map(UInt16.init)
        let unknownCodes = Set(log.typeNames.enumerated().filter { !knownTypes.contains($0.element) }.map { UInt16($0.offset) })
        current = current.filter { i in
            let t = current.timestamps[i]
            if t > latest { details["in the future", default: 0] += 1; return false }
            if t < earliest { details["before the earliest time", default: 0] += 1; return false }
            let type = current.types[i], v = current.values[i]
            if c.dropUnknownTypes && unknownCodes.contains(type) { details["of unknown types", default: 0] += 1; return false }
            if type == dwellCode && (v.isNaN || v < 0 || v > c.maximumDwellSeconds) { details["with impossible dwell", default: 0] += 1; return false }
            if type == ratingCode, let range = c.ratingRange, v.isNaN || !range.contains(v) { details["with ratings out of range", default: 0] += 1; return false }
            return true
        }
        report.steps.append(.init(name: "anomalies", removed: log.count - current.count, details: details))

        // 2. Exact duplicates. The value is part of the sort key, so copies are adjacent even when
        // an event with the same key but another value lies between them (NaN sorts as one value).
        if c.exactDuplicates {
            let before = current.count
            let valueKey = current.values.map { $0.isNaN ? UInt64.max : $0.bitPattern }
            let order = (0..<current.count).sorted { a, b in
                if (current.users[a], current.items[a], current.types[a]) != (current.users[b], current.items[b], current.types[b]) {
                    return (current.users[a], current.items[a], current.types[a]) < (current.users[b], current.items[b], current.types[b])
                }
                return (current.timestamps[a], current.sessions[a], valueKey[a], a) < (current.timestamps[b], current.sessions[b], valueKey[b], b)
            }
            var drop = [Bool](repeating: false, count: current.count)
            for (p, q) in zip(order, order.dropFirst()) {
                if current.users[p] == current.users[q] && current.items[p] == current.items[q] && current.types[p] == current.types[q]
                    && current.timestamps[p] == current.timestamps[q] && current.sessions[p] == current.sessions[q]
                    && (current.values[p] == current.values[q] || (current.values[p].isNaN && current.values[q].isNaN)) {
                    drop[q] = true
                }
            }
            current = current.filter { !drop[$0] }
            report.steps.append(.init(name: "exact duplicates", removed: before - current.count))
        }

        // 3. Quick repeats of the same (user, item, type).
        if let window = c.repeatWindowSeconds {
            let before = current.count
            let windowMs = clampedMilliseconds(window)
            let order = (0..<current.count).sorted { a, b in
                (current.users[a], current.items[a], current.types[a], current.timestamps[a], a)
                    < (current.users[b], current.items[b], current.types[b], current.timestamps[b], b)
            }
            var drop = [Bool](repeating: false, count: current.count)
            var lastKept = -1
            for p in order {
                if lastKept >= 0 && current.users[p] == current.users[lastKept] && current.items[p] == current.items[lastKept]
                    && current.types[p] == current.types[lastKept] && current.timestamps[p] - current.timestamps[lastKept] <= windowMs {
                    drop[p] = true
                } else {
                    lastKept = p
                }
            }
            current = current.filter { !drop[$0] }
            report.steps.append(.init(name: "quick repeats", removed: before - current.count))
        }

        // 4. Bots.
        if let rules = c.bots {
            let before = current.count
            let flagged = flagBots(current, rules: rules)
            let bad = Set(flagged.keys)
            var eventsPerUser = [Int](repeating: 0, count: current.userIDs.count)
            for u in current.users where bad.contains(u) { eventsPerUser[Int(u)] += 1 }
            report.flaggedUsers = flagged.sorted { $0.key < $1.key }.map {
                .init(user: current.userIDs[$0.key], reasons: $0.value, events: eventsPerUser[Int($0.key)])
            }
            current = current.filter { !bad.contains(current.users[$0]) }
            report.steps.append(.init(name: "bots", removed: before - current.count, details: ["users flagged": flagged.count]))
        }

        // 5. Minimum rating.
        if let minimum = c.minimumRating, let code = current.typeNames.firstIndex(of: .rating).map(UInt16.init) {
            let before = current.count
            current = current.filter { current.types[$0] != code || current.values[$0] >= minimum }
            report.steps.append(.init(name: "minimum rating", removed: before - current.count))
        }

        // 6. k-core.
        if c.userCore > 1 || c.itemCore > 1 {
            let before = current.count
            var rounds = 0
            while true {
                rounds += 1
                var userCounts = [Int](repeating: 0, count: current.userIDs.count), itemCounts = [Int](repeating: 0, count: current.itemIDs.count)
                for i in 0..<current.count { userCounts[Int(current.users[i])] += 1; itemCounts[Int(current.items[i])] += 1 }
                let next = current.filter { userCounts[Int(current.users[$0])] >= c.userCore && itemCounts[Int(current.items[$0])] >= c.itemCore }
                if next.count == current.count { break }
                current = next
            }
            report.steps.append(.init(name: "k-core", removed: before - current.count, details: ["rounds": rounds]))
        }
        report.eventsAfter = current.count
        return (current, report)
    }

    /// Users breaking any bot rule, with the reasons.
    static func flagBots(_ log: EventLog, rules: BotRules) -> [Int32: [String]] {
        var flagged: [Int32: [String]] = [:]
        let dwellCode = log.typeNames.firstIndex(of: .dwell).map(UInt16.init)
        let passive = Set(rules.passiveTypes.map { EventType($0) })
        let retrospective = Set(rules.retrospectiveTypes.map { EventType($0) })
        let isPassive = log.typeNames.map { passive.contains($0) }
        let isRetrospective = log.typeNames.map { retrospective.contains($0) }
        for (u, all) in log.eventsByUser().enumerated() where all.count > 1 {
            var reasons: [String] = []
            // Only the user's own actions with a real time count toward the rates.
            let events = all.filter { !isPassive[Int(log.types[$0])] && !log.isUntimed($0) }
            // Events within any 60 s (two pointers over time-ordered events).
            var lo = 0, peak = 0
            for hi in events.indices {
                while log.timestamps[events[hi]] - log.timestamps[events[lo]] >= 60_000 { lo += 1 }
                peak = max(peak, hi - lo + 1)
            }
            if peak > rules.maxEventsPerMinute { reasons.append("\(peak) events in one minute") }
            // Session and hourly rules: actions taken now, not judgements entered in bulk.
            let live = events.filter { !isRetrospective[Int(log.types[$0])] }
            // Events per session: explicit sessions, else 30-minute gaps.
            var sessionSizes: [Int32: Int] = [:]
            var inferredSize = 0, largest = 0
            var previousInferred: Int?
            for e in live {
                if log.sessions[e] >= 0 {
                    sessionSizes[log.sessions[e], default: 0] += 1
                } else {
                    if let p = previousInferred, log.timestamps[e] - log.timestamps[p] > 1_800_000 { inferredSize = 0 }
                    inferredSize += 1
                    largest = max(largest, inferredSize)
                    previousInferred = e
                }
            }
            largest = max(largest, sessionSizes.values.max() ?? 0)
            if largest > rules.maxEventsPerSession { reasons.append("\(largest) events in one session") }
            // Distinct items within any 60 minutes (sliding window with per-item counts).
            var inWindow: [Int32: Int] = [:]
            var start = 0, busiest = 0
            for e in live {
                inWindow[log.items[e], default: 0] += 1
                while log.timestamps[e] - log.timestamps[live[start]] >= 3_600_000 {
                    let old = log.items[live[start]]
                    if inWindow[old]! == 1 { inWindow[old] = nil } else { inWindow[old]! -= 1 }
                    start += 1
                }
                busiest = max(busiest, inWindow.count)
            }
            if busiest > rules.maxDistinctItemsPerHour { reasons.append("\(busiest) distinct items in one hour") }
            // Dwell patterns.
            if let dwellCode {
                let dwells = all.filter { log.types[$0] == dwellCode }.map { log.values[$0] }
                if dwells.count >= rules.dwellEventsNeeded {
                    let short = Double(dwells.filter { $0 < 1 }.count) / Double(dwells.count)
                    var counts: [Double: Int] = [:]
                    for d in dwells { counts[d, default: 0] += 1 }
                    let same = Double(counts.values.max() ?? 0) / Double(dwells.count)
                    if short > rules.inhumanDwellFraction { reasons.append("\(Int(short * 100))% of dwell times under one second") }
                    if same > rules.inhumanDwellFraction { reasons.append("\(Int(same * 100))% of dwell times identical") }
                }
            }
            if !reasons.isEmpty { flagged[Int32(u)] = reasons }
        }
        return flagged
    }
}
