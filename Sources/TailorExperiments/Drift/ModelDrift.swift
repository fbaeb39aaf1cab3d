import Foundation
import TailorData
import TailorLinalg
import TailorModels

/// How much a newer model version differs from an older one: in its vectors (after the best
/// rotation, since factor models are unique only up to one), in what it recommends, in its
/// scores, and in who and what it knows.
public struct ModelDrift: Sendable, Codable, Equatable {
    /// A summary of per-entity values.
    public struct Distribution: Sendable, Codable, Equatable {
        public var mean: Double
        public var median: Double
        public var p90: Double
        public var count: Int

        init(_ values: [Double]) {
            let sorted = values.sorted()
            count = sorted.count
            mean = sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count)
            median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
            p90 = sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, sorted.count * 9 / 10)]
        }
    }

    /// Cosine shift `1 − cos(a R, b)` of the items both models know, after the orthogonal map
    /// `R` fitted on them (nil unless both are factor models).
    public var itemShift: Distribution?
    /// The same for the users both know, under the items' map (a factor model's scores are
    /// unchanged when users and items turn together).
    public var userShift: Distribution?
    /// Mean Jaccard overlap of the two models' top-`k` for a sample of shared users.
    public var topKJaccard: Double
    /// Mean rank-biased overlap (p 0.9) of the same lists.
    public var topKRBO: Double
    /// PSI of the top-`k` scores of the newer model against the older one's (deciles of the
    /// older). Meaningful between versions of one model family.
    public var scorePSI: Double
    /// Users compared and the list length.
    public var usersCompared: Int
    public var k: Int
    /// Share of the newer model's users and items the older did not know.
    public var newUserShare: Double
    public var newItemShare: Double
    /// Share of the older model's items the newer no longer knows.
    public var droppedItemShare: Double

    /// Compares `old` with `new`.
    ///
    /// - Parameters:
    ///   - users: shared users sampled for the top-`k` comparison (seeded).
    /// - Throws: ``ExperimentError`` when the models share no items or no users (disjoint
    ///   catalogues cannot be compared), or for `k` below 1.
    public static func compare(_ old: ModelBundle, _ new: ModelBundle, k: Int = 10, users sampleSize: Int = 1_000, seed: UInt64 = 1) throws -> ModelDrift {
        guard k >= 1 else { throw ExperimentError(field: "k", "k must be at least 1, got \(k)") }
        let sharedItems = old.itemIDs.ids.filter { new.itemIDs.position(of: $0) != nil }
        guard !sharedItems.isEmpty else {
            throw ExperimentError(field: "models", "the two models share no item (\(old.itemIDs.count) and \(new.itemIDs.count) items): disjoint catalogues cannot be compared",
                                  hint: "compare versions of one catalogue")
        }
        let sharedUsers = old.userIDs.ids.filter { new.userIDs.position(of: $0) != nil }
        guard !sharedUsers.isEmpty else {
            throw ExperimentError(field: "models", "the two models share no user (\(old.userIDs.count) and \(new.userIDs.count) users): there is nothing to compare",
                                  hint: "compare versions trained on overlapping data")
        }
        var itemShift: Distribution?, userShift: Distribution?
        if let a = old.model as? any FactorModel, let b = new.model as? any FactorModel {
            let oldItems = UserSegments.rows(a.itemFactors, sharedItems.map { Int(old.itemIDs.position(of: $0)!) })
            let newItems = UserSegments.rows(b.itemFactors, sharedItems.map { Int(new.itemIDs.position(of: $0)!) })
            let r = try DriftMeasures.procrustes(oldItems, onto: newItems)
            itemShift = Distribution(cosineShifts(oldItems.multiplied(by: r), newItems))
            let oldUsers = UserSegments.rows(a.userFactors, sharedUsers.map { Int(old.userIDs.position(of: $0)!) })
            let newUsers = UserSegments.rows(b.userFactors, sharedUsers.map { Int(new.userIDs.position(of: $0)!) })
            if oldUsers.columns == a.itemFactors.columns {
                userShift = Distribution(cosineShifts(oldUsers.multiplied(by: r), newUsers))
            }
        }
        // Top-k of a seeded sample of the shared users, each model excluding its own seen items.
        var rng = TailorRandom(seed: seed, stream: 0xD81F)
        var sample = sharedUsers
        let n = min(sampleSize, sample.count)
        for t in 0..<n { sample.swapAt(t, t + rng.nextInt(below: sample.count - t)) }
        sample = Array(sample.prefix(n))
        let listsOld = try old.recommend(userIDs: sample, k: k, unknownUsers: .skip)
        let listsNew = try new.recommend(userIDs: sample, k: k, unknownUsers: .skip)
        var jaccard = 0.0, rbo = 0.0
        var scoresOld: [Float] = [], scoresNew: [Float] = []
        for (x, y) in zip(listsOld, listsNew) {
            let a = x.items.map(\.item), b = y.items.map(\.item)
            jaccard += DriftMeasures.jaccard(a, b)
            rbo += DriftMeasures.rbo(a, b)
            scoresOld += x.items.map(\.score); scoresNew += y.items.map(\.score)
        }
        let compared = min(listsOld.count, listsNew.count)
        let psi = scoresOld.isEmpty || scoresNew.isEmpty ? 0 : try DriftMeasures.psi(reference: scoresOld, current: scoresNew)
        return ModelDrift(itemShift: itemShift, userShift: userShift,
                          topKJaccard: compared > 0 ? jaccard / Double(compared) : 0, topKRBO: compared > 0 ? rbo / Double(compared) : 0,
                          scorePSI: psi, usersCompared: compared, k: k,
                          newUserShare: 1 - Double(sharedUsers.count) / Double(max(1, new.userIDs.count)),
                          newItemShare: 1 - Double(sharedItems.count) / Double(max(1, new.itemIDs.count)),
                          droppedItemShare: 1 - Double(sharedItems.count) / Double(max(1, old.itemIDs.count)))
    }

    /// `1 − cos` of each pair of rows (0 for a pair with a zero row: nothing to compare).
    static func cosineShifts(_ a: Matrix, _ b: Matrix) -> [Double] {
        (0..<a.rows).map { i in
            var dot = 0.0, na = 0.0, nb = 0.0
            for j in 0..<a.columns {
                dot += Double(a[i, j]) * Double(b[i, j]); na += Double(a[i, j] * a[i, j]); nb += Double(b[i, j] * b[i, j])
            }
            return na > 0 && nb > 0 ? 1 - dot / (na.squareRoot() * nb.squareRoot()) : 0
        }
    }
}

/// How the events of a recent window differ from those of an earlier one: the mix of event
/// types (PSI), and the share of the recent window's users and items the earlier one never had.
public struct DataDrift: Sendable, Codable, Equatable {
    /// Share of each event type in each window.
    public var before: [String: Double]
    public var after: [String: Double]
    /// PSI of the event-type mix.
    public var eventMixPSI: Double
    /// Share of the recent window's users, and items, absent from the earlier window.
    public var newUserShare: Double
    public var newItemShare: Double
    public var eventsBefore: Int
    public var eventsAfter: Int
    /// Events dated after the reference time, left out (clock errors or planted anomalies).
    public var futureEvents = 0
    /// Unix milliseconds of the latest event counted (the recent window's end), when compared
    /// from a log.
    public var windowEnd: Int64?

    /// Compares the events of two windows.
    ///
    /// - Throws: ``ExperimentError`` when a window has no events.
    public static func compare(before: [Event], after: [Event]) throws -> DataDrift {
        guard !before.isEmpty, !after.isEmpty else {
            throw ExperimentError(field: "window", "a window has no events (\(before.count) before, \(after.count) after)", hint: "choose a window both sides of which hold events")
        }
        func mix(_ events: [Event]) -> [String: Double] {
            var counts: [String: Double] = [:]
            for e in events { counts[e.type.name, default: 0] += 1 }
            return counts.mapValues { $0 / Double(events.count) }
        }
        let a = mix(before), b = mix(after)
        let types = Set(a.keys).union(b.keys).sorted()
        let psi = try DriftMeasures.psi(types.map { a[$0] ?? 0 }, types.map { b[$0] ?? 0 })
        let oldUsers = Set(before.map(\.user)), oldItems = Set(before.map(\.item))
        let newUsers = Set(after.map(\.user)), newItems = Set(after.map(\.item))
        return DataDrift(before: a, after: b, eventMixPSI: psi,
                         newUserShare: Double(newUsers.subtracting(oldUsers).count) / Double(newUsers.count),
                         newItemShare: Double(newItems.subtracting(oldItems).count) / Double(newItems.count),
                         eventsBefore: before.count, eventsAfter: after.count)
    }
}

extension DataDrift {
    /// The latest `window` of a log's timed events against the window before it. Events dated
    /// after `now` (Unix milliseconds; default the clock) are left out and counted: one event
    /// stamped in 2100 must not make every window empty.
    ///
    /// - Throws: ``ExperimentError`` when the log has no timed events or a window is empty.
    public static func compare(_ log: EventLog, window milliseconds: Int64, now: Int64? = nil) throws -> DataDrift {
        guard milliseconds > 0 else { throw ExperimentError(field: "window", "the window must be positive") }
        let limit = now ?? Int64(Date().timeIntervalSince1970 * 1000)
        let dated = (0..<log.count).filter { !(log.untimed.isEmpty ? false : log.untimed[$0]) }
        let timed = dated.filter { log.timestamps[$0] <= limit }
        guard let latest = timed.map({ log.timestamps[$0] }).max() else {
            throw ExperimentError(field: "window", "the log has no timed events up to now to split into windows")
        }
        func events(_ range: ClosedRange<Int64>) -> [Event] {
            timed.filter { range.contains(log.timestamps[$0]) }.map {
                Event(user: log.userIDs[log.users[$0]], item: log.itemIDs[log.items[$0]], type: log.typeNames[Int(log.types[$0])],
                      timestampMilliseconds: log.timestamps[$0])
            }
        }
        var drift = try compare(before: events((latest - 2 * milliseconds + 1)...(latest - milliseconds)), after: events((latest - milliseconds + 1)...latest))
        drift.futureEvents = dated.count - timed.count
        drift.windowEnd = latest
        return drift
    }
}
