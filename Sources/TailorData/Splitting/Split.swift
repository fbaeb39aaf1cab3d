import TailorLinalg

/// How to divide a log into training and test interactions.
public enum SplitMethod: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Per user, a random `testFraction` of their interactions go to test.
    case random(testFraction: Double)
    /// Per user, their latest `testFraction` of interactions (by time) go to test.
    case temporalFraction(testFraction: Double)
    /// Per user, their latest `count` interactions go to test.
    case temporalCount(count: Int)
    /// Per user, their single latest interaction goes to test (leave-last-one-out).
    case leaveLastOut
    /// Every interaction at or after `cutoff` (Unix seconds) goes to test.
    case globalTime(cutoff: Int64)
    /// The latest `testFraction` of all interactions go to test: a global time cut at that
    /// quantile of the timestamps.
    case globalTimeFraction(testFraction: Double)
    /// Cold users: a random `testFraction` of users go to test with all their interactions (the
    /// model never sees them); at test time it may see their first `revealed` interactions
    /// (by time) and must rank the rest.
    case coldUsers(testFraction: Double, revealed: Int)
    /// Cold items: a random `testFraction` of items go to test with all their interactions; only
    /// their content is known, and they are ranked among themselves.
    case coldItems(testFraction: Double)

    /// The share held out, for the methods that have one.
    public var testFraction: Double? {
        switch self {
        case .random(let f), .temporalFraction(let f), .globalTimeFraction(let f), .coldUsers(let f, _), .coldItems(let f): f
        case .temporalCount, .leaveLastOut, .globalTime: nil
        }
    }

    /// `random 20%`, `leave-last-one-out`…
    public var description: String {
        switch self {
        case .random(let f): "random \(Int((f * 100).rounded()))% per user"
        case .temporalFraction(let f): "latest \(Int((f * 100).rounded()))% per user"
        case .temporalCount(let n): "latest \(n) per user"
        case .leaveLastOut: "leave-last-one-out"
        case .globalTime(let t): "global time cut at \(t)"
        case .globalTimeFraction(let f): "global time cut, latest \(Int((f * 100).rounded()))%"
        case .coldUsers(let f, let n): "cold users: \(Int((f * 100).rounded()))% of users held out" + (n > 0 ? ", first \(n) events revealed" : "")
        case .coldItems(let f): "cold items: \(Int((f * 100).rounded()))% of items held out"
        }
    }

    var needsTime: Bool {
        switch self {
        case .random, .coldItems: false
        case .coldUsers(_, let revealed): revealed > 0
        default: true
        }
    }
}

/// A train/test division of a log. Both halves share the original ID maps, so they are
/// written back in the input's own identifiers.
public struct Split: Sendable {
    /// Training interactions.
    public let train: Interactions
    /// Test interactions.
    public let test: Interactions
    /// Counts describing the division.
    public let report: Report

    /// Counts describing a split.
    public struct Report: Sendable, Codable, Equatable {
        /// The method, in words.
        public var method: String
        /// Rows in train.
        public var trainRows: Int
        /// Rows in test.
        public var testRows: Int
        /// Users with at least one test row.
        public var testUsers: Int
        /// Test users with no training rows (cold start; only a global time cut creates them).
        public var coldTestUsers: Int
        /// Test rows whose item never appears in train.
        public var coldTestItemRows: Int
    }

    /// Splits `interactions` by `method`. Reproducible for a given `seed`.
    ///
    /// Per-user methods keep at least one interaction of every user in train: a user with `n`
    /// rows gives `round(n·fraction)` (or `count`) of them to test, at most `n − 1`; users with a
    /// single row stay entirely in train. Ties in time keep log order. Temporal methods need
    /// timestamps and throw a ``DataError`` without them.
    public static func make(_ interactions: Interactions, method: SplitMethod, seed: UInt64 = 42) throws -> Split {
        if method.needsTime && interactions.timestamps == nil {
            throw DataError(field: "--method", reason: "\(method) needs timestamps but the log has no time column",
                            hint: "use --method random, or name the time column with --columns time=COLUMN")
        }
        switch method {
        case .random(let f), .temporalFraction(let f), .globalTimeFraction(let f), .coldItems(let f):
            guard f > 0 && f < 1 else {
                throw DataError(field: "--test-fraction", reason: "must lie strictly between 0 and 1, got \(f)")
            }
        case .temporalCount(let n):
            guard n >= 1 else { throw DataError(field: "--test-count", reason: "must be at least 1, got \(n)") }
        case .coldUsers(let f, let n):
            guard f > 0 && f < 1 else {
                throw DataError(field: "--test-fraction", reason: "must lie strictly between 0 and 1, got \(f)")
            }
            guard n >= 0 else { throw DataError(field: "--reveal", reason: "must be 0 or more, got \(n)") }
        default: break
        }
        var isTest = [Bool](repeating: false, count: interactions.count)
        switch method {
        case .coldUsers(let f, _):
            let chosen = sample(fraction: f, of: interactions.userIDs.count, present: interactions.users, seed: seed)
            for i in 0..<interactions.count where chosen[Int(interactions.users[i])] { isTest[i] = true }
        case .coldItems(let f):
            let chosen = sample(fraction: f, of: interactions.itemIDs.count, present: interactions.items, seed: seed)
            for i in 0..<interactions.count where chosen[Int(interactions.items[i])] { isTest[i] = true }
        case .globalTime(let cutoff):
            let t = interactions.timestamps!
            for i in 0..<interactions.count where t[i] >= cutoff { isTest[i] = true }
        case .globalTimeFraction(let f):
            let t = interactions.timestamps!
            let order = (0..<t.count).sorted { (t[$0], $0) < (t[$1], $1) }
            let testCount = Int((Double(t.count) * f).rounded())
            for i in order.suffix(testCount) { isTest[i] = true }
        default:
            let (order, offsets) = interactions.rowsByUser()  // each user's rows by time
            var rng = TailorRandom(seed: seed)
            for u in 0..<interactions.userIDs.count {
                var rows = Array(order[offsets[u]..<offsets[u + 1]])
                let n = rows.count
                guard n >= 2 else { continue }
                let wanted: Int
                switch method {
                case .random(let f), .temporalFraction(let f): wanted = Int((Double(n) * f).rounded())
                case .temporalCount(let c): wanted = c
                case .leaveLastOut: wanted = 1
                default: wanted = 0
                }
                let testCount = min(wanted, n - 1)
                guard testCount > 0 else { continue }
                if case .random = method {
                    rows.sort()  // log order, independent of timestamps
                    // Partial Fisher–Yates: the last `testCount` positions become a random sample.
                    for i in stride(from: n - 1, through: n - testCount, by: -1) {
                        rows.swapAt(i, rng.nextInt(below: i + 1))
                    }
                }
                for r in rows.suffix(testCount) { isTest[r] = true }
            }
        }
        let train = interactions.filter { !isTest[$0] }
        let test = interactions.filter { isTest[$0] }
        var trainUsers = [Bool](repeating: false, count: interactions.userIDs.count)
        var trainItems = [Bool](repeating: false, count: interactions.itemIDs.count)
        for u in train.users { trainUsers[Int(u)] = true }
        for i in train.items { trainItems[Int(i)] = true }
        let testUsers = Set(test.users)
        let report = Report(method: method.description, trainRows: train.count, testRows: test.count,
                            testUsers: testUsers.count, coldTestUsers: testUsers.filter { !trainUsers[Int($0)] }.count,
                            coldTestItemRows: test.items.filter { !trainItems[Int($0)] }.count)
        return Split(train: train, test: test, report: report)
    }

    /// A seeded random `fraction` of the positions that occur in `present` (at least one, never
    /// all), as flags over `0..<count`.
    static func sample(fraction: Double, of count: Int, present: [Int32], seed: UInt64) -> [Bool] {
        var occurs = [Bool](repeating: false, count: count)
        for p in present { occurs[Int(p)] = true }
        var candidates = (0..<count).filter { occurs[$0] }
        var rng = TailorRandom(seed: seed, stream: 17)
        for i in stride(from: candidates.count - 1, to: 0, by: -1) { candidates.swapAt(i, rng.nextInt(below: i + 1)) }
        let wanted = min(max(1, Int((Double(candidates.count) * fraction).rounded())), candidates.count - 1)
        var chosen = [Bool](repeating: false, count: count)
        for p in candidates.prefix(max(0, wanted)) { chosen[p] = true }
        return chosen
    }
}
