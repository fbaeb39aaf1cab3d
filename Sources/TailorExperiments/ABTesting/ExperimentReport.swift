import Foundation
import TailorData
import TailorStore

extension Experiment {
    /// The store document holding every experiment.
    static let documentName = "experiments"
    /// `extra` context keys that tag an exposure with its experiment and variant.
    public static let experimentKey = "experiment", variantKey = "variant"
    /// `extra` key of an interleaved exposure: the id of the list it was shown in.
    public static let listKey = "list"

    /// Every experiment in `store`, oldest first.
    public static func all(in store: any EventStore) throws -> [Experiment] {
        guard let data = try store.loadDocument(name: documentName) else { return [] }
        do { return try JSONDecoder().decode([Experiment].self, from: data) } catch {
            throw ExperimentError(field: "experiments", "the store's experiments document cannot be read (\(error))")
        }
    }

    /// Replaces the experiments in `store`.
    public static func save(_ experiments: [Experiment], in store: any EventStore) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try store.saveDocument(encoder.encode(experiments), name: documentName)
    }

    /// Adds `experiment` to the store's experiments.
    ///
    /// - Throws: ``ExperimentError`` if one of that name exists, or if it conflicts with a
    ///   running one (``conflicts(with:)``: overlapping traffic in its layer, or the same change
    ///   in another layer).
    public static func create(_ experiment: Experiment, in store: any EventStore) throws {
        var experiments = try all(in: store)
        if let existing = experiments.first(where: { $0.name == experiment.name }) {
            throw ExperimentError(field: "name", "an experiment '\(experiment.name)' already exists (\(existing.status.rawValue))", hint: "choose another name")
        }
        for running in experiments {
            if let why = experiment.conflicts(with: running) {
                throw ExperimentError(field: running.layer == experiment.layer ? "traffic" : "layer", why,
                                      hint: running.layer == experiment.layer ? "give it a free slice (Experiment.allocate)" : "put it in layer '\(running.layer)' to share that layer's users exclusively, or stop '\(running.name)'")
            }
        }
        experiments.append(experiment)
        try save(experiments, in: store)
    }

    /// The running experiments `user` is in, at most one per layer (the earliest started, should
    /// slices overlap), in start order, with their variant.
    public static func assignments(of user: String, among experiments: [Experiment]) -> [(experiment: Experiment, variant: Variant)] {
        var layers = Set<String>()
        var out: [(experiment: Experiment, variant: Variant)] = []
        for e in experiments.filter({ $0.status == .running }).sorted(by: { ($0.started, $0.name) < ($1.started, $1.name) })
        where e.includes(user) && layers.insert(e.layer).inserted {
            out.append((e, e.variant(for: user)))
        }
        return out
    }

    /// An exposure event tagged with this experiment and `variant`.
    /// An interleaved exposure also names its `list` (and `variant` is the team that drafted
    /// the item).
    public func exposure(user: String, item: String, variant: String, at milliseconds: Int64, list: String? = nil) -> Event {
        var context = EventContext()
        context.extra = [Experiment.experimentKey: name, Experiment.variantKey: variant]
        if let list { context.extra[Experiment.listKey] = list }
        return Event(user: user, item: item, type: EventType("exposure"), timestampMilliseconds: milliseconds, context: context)
    }
}

/// An experiment's results from the store's events: per variant, its users, the items shown to
/// them (tagged exposures), the clicks on those items and the purchases within the attribution
/// window, with intervals, the comparison with the first variant (the control), the
/// sample-ratio check and the always-valid sequential p-value.
public struct ExperimentReport: Sendable, Codable, Equatable {
    public struct Arm: Sendable, Codable, Equatable {
        public var variant: String
        /// Users shown at least one item under this variant.
        public var users: Int
        /// Items shown (tagged exposures) and those clicked within the window.
        public var exposures: ABStatistics.Proportion
        /// Users with a purchase (any item) within the window after their first exposure.
        public var conversions: ABStatistics.Proportion
        /// The CTR's 95 % interval, from the users' variance (``ABStatistics/Ratio``), and the
        /// conversion's (one trial per user: Wilson).
        public var ctrInterval: [Double]
        public var conversionInterval: [Double]
        /// Against the control (nil for the control itself); the CTR's by the delta method over
        /// users, the conversion's by the two-proportion z-test.
        public var ctr: ABStatistics.Comparison?
        public var conversion: ABStatistics.Comparison?
        /// The always-valid p-value of the CTR difference, over `looks` equally spaced looks.
        public var sequentialPValue: Double?
        /// How much wider the CTR's variance is than if every exposure were an independent
        /// trial (users who see many items and click alike raise it above 1).
        public var ctrDesignEffect: Double?
    }

    public var experiment: String
    public var status: Experiment.Status
    public var arms: [Arm]
    /// Pearson's χ² of the users per variant against the shares, and its p-value; below 0.001
    /// the split is broken and the results are not to be trusted.
    public var sampleRatioChiSquare: Double
    public var sampleRatioPValue: Double
    public var sampleRatioMismatch: Bool
    /// Looks the sequential test took (cumulative counts at equally spaced times).
    public var looks: Int
    /// How to read the sequential p-value.
    public var stoppingRule: String
    /// For an interleaving experiment: which ranker the clicks prefer (the arms then count
    /// each team's items and their clicks; users see both, so there is no conversion per arm).
    public var interleaving: Interleaving?

    /// The outcome of team-draft interleaving: every list shown was drafted by both variants,
    /// and a list whose clicks (within the window) went more to one team's items is a win for
    /// that variant. Users are the unit, as in the A/B report: a user who returns sees nearly
    /// the same lists and clicks alike, so their lists are not independent; each user prefers
    /// the variant that won more of their lists.
    public struct Interleaving: Sendable, Codable, Equatable {
        /// Lists shown, and the users they were shown to.
        public var lists: Int
        public var users: Int
        /// Users who preferred the first variant (A, the control), the second (B), neither
        /// (no clicks, or as many wins for each).
        public var winsA: Int
        public var winsB: Int
        public var ties: Int
        /// (wins B − wins A) / users: above 0, users prefer B.
        public var preferenceForB: Double
        /// Two-sided sign test of "neither is preferred" over the decided users (fixed horizon).
        public var pValue: Double
        /// Always-valid p-value of the same hypothesis: a Beta(1, 1) mixture of the win rate
        /// against 1/2, updated at every decided user in the order they were first shown a
        /// list (Ville's inequality keeps its running minimum valid however often it is looked
        /// at; a returning user's preference may still change, which it does not model).
        public var sequentialPValue: Double

        /// The interleaving outcome over `users` (per decided user, in order: `true` for B,
        /// nil for a tie).
        public static func make(lists: Int, users: Int, decisions: [Bool?]) -> Interleaving {
            var a = 0, b = 0, ties = 0
            var sequential = 1.0
            for d in decisions {
                switch d {
                case .some(true): b += 1
                case .some(false): a += 1
                case .none: ties += 1; continue
                }
                // log Λ = log ∫ p^b (1−p)^a dp − n·log(1/2) = log B(b+1, a+1) + n·log 2.
                let n = Double(a + b), wa = Double(a), wb = Double(b)
                let logBeta: Double = lgamma(wb + 1) + lgamma(wa + 1) - lgamma(n + 2)
                let logLambda: Double = logBeta + n * M_LN2
                sequential = min(sequential, exp(-logLambda))
            }
            ties += users - decisions.count
            let test = TeamDraft.report(winsA: a, winsB: b, ties: ties)
            return Interleaving(lists: lists, users: users, winsA: a, winsB: b, ties: ties, preferenceForB: test.preferenceForB, pValue: test.pValue,
                                sequentialPValue: min(1, sequential))
        }
    }

    /// Event types that count as a click on a shown item.
    public static let clickTypes: Set<String> = ["click", "view", "like", "favorite", "share", "add_to_cart", "purchase", "rating", "review", "dwell"]

    /// The report of `experiment` over `events` (the store's, any order).
    public static func make(_ experiment: Experiment, events: [Event], looks: Int = 20) -> ExperimentReport {
        if experiment.kind == .interleave { return interleaved(experiment, events: events) }
        let window = Int64(experiment.attributionWindowSeconds * 1000)
        var exposures: [(user: String, item: String, variant: String, t: Int64)] = []
        var actions: [String: [(item: String, type: String, t: Int64)]] = [:]
        for e in events {
            if e.type.name == "exposure" {
                if e.context.extra[Experiment.experimentKey] == experiment.name, let v = e.context.extra[Experiment.variantKey] {
                    exposures.append((e.user, e.item, v, e.timestampMilliseconds))
                }
            } else if clickTypes.contains(e.type.name) {
                actions[e.user, default: []].append((e.item, e.type.name, e.timestampMilliseconds))
            }
        }
        // A user belongs to the variant of their first exposure (assignment is stable, so a
        // second variant means the salt or the split changed; those exposures are kept under
        // the first).
        var variantOf: [String: String] = [:], firstSeen: [String: Int64] = [:]
        for x in exposures.sorted(by: { $0.t < $1.t }) where variantOf[x.user] == nil {
            variantOf[x.user] = x.variant; firstSeen[x.user] = x.t
        }
        func clicked(_ x: (user: String, item: String, variant: String, t: Int64)) -> Int64? {
            actions[x.user]?.filter { $0.item == x.item && $0.t >= x.t && $0.t <= x.t + window }.map(\.t).min()
        }
        func converted(_ user: String) -> Int64? {
            guard let t0 = firstSeen[user] else { return nil }
            return actions[user]?.filter { $0.type == "purchase" && $0.t >= t0 && $0.t <= t0 + window }.map(\.t).min()
        }
        let names = experiment.variants.map(\.name)
        // When each exposure was clicked and each user converted, once.
        let clickTimes = exposures.map(clicked)
        var conversionTimes: [String: Int64] = [:]
        for user in variantOf.keys { conversionTimes[user] = converted(user) }
        struct Counts { var shown = 0, clicks = 0, users = 0, buyers = 0; var ctr = ABStatistics.Ratio() }
        func counts(until limit: Int64) -> [String: Counts] {
            var out: [String: Counts] = [:]
            var perUser: [String: (shown: Int, clicks: Int)] = [:]
            for (x, clickedAt) in zip(exposures, clickTimes) where x.t <= limit {
                let v = variantOf[x.user]!
                let clicked = clickedAt.map { $0 <= limit } ?? false
                out[v, default: Counts()].shown += 1
                if clicked { out[v, default: Counts()].clicks += 1 }
                perUser[x.user, default: (0, 0)].shown += 1
                if clicked { perUser[x.user, default: (0, 0)].clicks += 1 }
            }
            for (user, v) in variantOf where firstSeen[user]! <= limit {
                out[v, default: Counts()].users += 1
                if let t = conversionTimes[user] ?? nil, t <= limit { out[v, default: Counts()].buyers += 1 }
                if let u = perUser[user] { out[v, default: Counts()].ctr.add(successes: Double(u.clicks), trials: Double(u.shown)) }
            }
            return out
        }
        let end = (exposures.map(\.t).max() ?? 0) + window
        let final = counts(until: end)
        // Sequential looks at equally spaced times from the first exposure to the end.
        let start = exposures.map(\.t).min() ?? 0
        var sequential = [String: ABStatistics.Sequential]()
        if exposures.count > 0 {
            for look in 1...max(1, looks) {
                let at = start + (end - start) * Int64(look) / Int64(max(1, looks))
                let c = counts(until: at)
                let control = c[names[0]] ?? Counts()
                for name in names.dropFirst() {
                    sequential[name, default: ABStatistics.Sequential()].update(control: control.ctr, variant: (c[name] ?? Counts()).ctr)
                }
            }
        }
        let control = final[names[0]] ?? Counts()
        let controlConversion = ABStatistics.Proportion(successes: control.buyers, trials: control.users)
        var arms: [Arm] = []
        for (index, name) in names.enumerated() {
            let c = final[name] ?? Counts()
            let conversion = ABStatistics.Proportion(successes: c.buyers, trials: c.users)
            let ci = c.ctr.wilson(), cv = conversion.wilson()
            arms.append(Arm(variant: name, users: c.users, exposures: .init(successes: c.clicks, trials: c.shown), conversions: conversion,
                            ctrInterval: [ci.lowerBound, ci.upperBound], conversionInterval: [cv.lowerBound, cv.upperBound],
                            ctr: index == 0 ? nil : ABStatistics.compare(control: control.ctr, variant: c.ctr),
                            conversion: index == 0 ? nil : ABStatistics.compare(control: controlConversion, variant: conversion),
                            sequentialPValue: index == 0 ? nil : sequential[name]?.pValue, ctrDesignEffect: c.ctr.designEffect))
        }
        let srm = ABStatistics.sampleRatio(observed: arms.map(\.users), expectedShares: experiment.variants.map(\.share))
        return ExperimentReport(experiment: experiment.name, status: experiment.status, arms: arms,
                                sampleRatioChiSquare: srm.chiSquare, sampleRatioPValue: srm.pValue, sampleRatioMismatch: srm.pValue < 0.001,
                                looks: exposures.isEmpty ? 0 : max(1, looks),
                                stoppingRule: "stop the first time a variant's sequential p-value is at or below your α (e.g. 0.05); it stays valid however often you look")
    }

    /// The report of an interleaving experiment: each click on a shown item within the window
    /// credits the latest list that showed it to that user, and each list is won by the team
    /// with more of its clicks.
    static func interleaved(_ experiment: Experiment, events: [Event]) -> ExperimentReport {
        let window = Int64(experiment.attributionWindowSeconds * 1000)
        let names = experiment.variants.map(\.name)
        struct Shown { var list: String; var variant: String; var t: Int64 }
        var shown: [String: [String: [Shown]]] = [:]   // user → item → exposures
        var listTime: [String: Int64] = [:]
        // team → user → (items of the team shown to them, of those clicked): the team's CTR is
        // over users, as the A/B report's.
        var perTeam: [String: [String: (shown: Int, clicks: Int)]] = [:]
        var clicks: [(user: String, item: String, t: Int64)] = []
        for e in events {
            if e.type.name == "exposure" {
                guard e.context.extra[Experiment.experimentKey] == experiment.name, let v = e.context.extra[Experiment.variantKey],
                      let list = e.context.extra[Experiment.listKey] else { continue }
                shown[e.user, default: [:]][e.item, default: []].append(Shown(list: list, variant: v, t: e.timestampMilliseconds))
                listTime[list] = min(listTime[list] ?? .max, e.timestampMilliseconds)
                perTeam[v, default: [:]][e.user, default: (0, 0)].shown += 1
            } else if clickTypes.contains(e.type.name) {
                clicks.append((e.user, e.item, e.timestampMilliseconds))
            }
        }
        // list → clicks per team, in time order, each click credited once.
        var credited: [String: (a: Int, b: Int, user: String)] = [:]
        var clickedExposure = Set<String>()
        for c in clicks.sorted(by: { $0.t < $1.t }) {
            guard let candidates = shown[c.user]?[c.item],
                  let latest = candidates.filter({ $0.t <= c.t && c.t <= $0.t + window }).max(by: { $0.t < $1.t }) else { continue }
            var entry = credited[latest.list] ?? (0, 0, c.user)
            if latest.variant == names[1] { entry.b += 1 } else { entry.a += 1 }
            credited[latest.list] = entry
            if clickedExposure.insert(latest.list + "\u{1F}" + c.item).inserted { perTeam[latest.variant, default: [:]][c.user, default: (0, 0)].clicks += 1 }
        }
        // Each user's lists won by B minus those won by A; users in the order of their first list
        // (the sequential test's looks).
        var score: [String: Int] = [:]
        for c in credited.values where c.a != c.b { score[c.user, default: 0] += c.b > c.a ? 1 : -1 }
        var firstList: [String: Int64] = [:]
        for (user, items) in shown { firstList[user] = items.values.flatMap { $0.map(\.t) }.min() }
        let decisions: [Bool?] = score.sorted { (firstList[$0.key] ?? 0, $0.key) < (firstList[$1.key] ?? 0, $1.key) }.map { $0.value == 0 ? nil : $0.value > 0 }
        let outcome = Interleaving.make(lists: listTime.count, users: shown.count, decisions: decisions)
        let arms = names.map { name -> Arm in
            var ratio = ABStatistics.Ratio()
            for u in (perTeam[name] ?? [:]).values { ratio.add(successes: Double(u.clicks), trials: Double(u.shown)) }
            let ci = ratio.wilson()
            return Arm(variant: name, users: ratio.units, exposures: .init(successes: Int(ratio.successes), trials: Int(ratio.trials)),
                       conversions: .init(successes: 0, trials: 0), ctrInterval: [ci.lowerBound, ci.upperBound], conversionInterval: [0, 1],
                       ctr: nil, conversion: nil, sequentialPValue: nil, ctrDesignEffect: ratio.designEffect)
        }
        // Team draft gives each team half of every list (± one item): a team short of its half
        // means lost exposures.
        let srm = ABStatistics.sampleRatio(observed: arms.map(\.exposures.trials), expectedShares: [0.5, 0.5])
        return ExperimentReport(experiment: experiment.name, status: experiment.status, arms: arms,
                                sampleRatioChiSquare: srm.chiSquare, sampleRatioPValue: srm.pValue, sampleRatioMismatch: srm.pValue < 0.001,
                                looks: decisions.count,
                                stoppingRule: "interleaving: stop the first time the sequential p-value is at or below your α (valid however often you look); the sign test's p-value holds only at a number of users fixed in advance",
                                interleaving: outcome)
    }

    /// Every event of `store`, for ``make(_:events:looks:)``, read in pages.
    public static func events(in store: any EventStore) throws -> [Event] {
        var out: [Event] = []
        var cursor: Int64 = 0
        while true {
            let page = try store.events(after: cursor, limit: 50_000)
            guard let last = page.last else { return out }
            out += page.map(\.event)
            cursor = last.cursor
        }
    }
}
