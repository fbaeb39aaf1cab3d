import Foundation
import TailorData
import TailorStore

extension Experiment {
    /// The store document holding every experiment.
    static let documentName = "experiments"
    /// `extra` context keys that tag an exposure with its experiment and variant.
    public static let experimentKey = "experiment", variantKey = "variant"

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

    /// An exposure event tagged with this experiment and `variant`.
    public func exposure(user: String, item: String, variant: String, at milliseconds: Int64) -> Event {
        var context = EventContext()
        context.extra = [Experiment.experimentKey: name, Experiment.variantKey: variant]
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
        public var ctrInterval: [Double]
        public var conversionInterval: [Double]
        /// Against the control (nil for the control itself).
        public var ctr: ABStatistics.Comparison?
        public var conversion: ABStatistics.Comparison?
        /// The always-valid p-value of the CTR difference, over `looks` equally spaced looks.
        public var sequentialPValue: Double?
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

    /// Event types that count as a click on a shown item.
    public static let clickTypes: Set<String> = ["click", "view", "like", "favorite", "share", "add_to_cart", "purchase", "rating", "review", "dwell"]

    /// The report of `experiment` over `events` (the store's, any order).
    public static func make(_ experiment: Experiment, events: [Event], looks: Int = 20) -> ExperimentReport {
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
        func counts(until limit: Int64) -> [String: (shown: Int, clicks: Int, users: Int, buyers: Int)] {
            var out: [String: (shown: Int, clicks: Int, users: Int, buyers: Int)] = [:]
            for (x, clickedAt) in zip(exposures, clickTimes) where x.t <= limit {
                let v = variantOf[x.user]!
                var c = out[v] ?? (0, 0, 0, 0)
                c.shown += 1
                if let t = clickedAt, t <= limit { c.clicks += 1 }
                out[v] = c
            }
            for (user, v) in variantOf where firstSeen[user]! <= limit {
                var c = out[v] ?? (0, 0, 0, 0)
                c.users += 1
                if let t = conversionTimes[user] ?? nil, t <= limit { c.buyers += 1 }
                out[v] = c
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
                let control = c[names[0]] ?? (0, 0, 0, 0)
                for name in names.dropFirst() {
                    let v = c[name] ?? (0, 0, 0, 0)
                    sequential[name, default: ABStatistics.Sequential()].update(control: .init(successes: control.clicks, trials: control.shown),
                                                                                 variant: .init(successes: v.clicks, trials: v.shown))
                }
            }
        }
        let control = final[names[0]] ?? (0, 0, 0, 0)
        let controlCTR = ABStatistics.Proportion(successes: control.clicks, trials: control.shown)
        let controlConversion = ABStatistics.Proportion(successes: control.buyers, trials: control.users)
        var arms: [Arm] = []
        for (index, name) in names.enumerated() {
            let c = final[name] ?? (0, 0, 0, 0)
            let ctr = ABStatistics.Proportion(successes: c.clicks, trials: c.shown)
            let conversion = ABStatistics.Proportion(successes: c.buyers, trials: c.users)
            let ci = ctr.wilson(), cv = conversion.wilson()
            arms.append(Arm(variant: name, users: c.users, exposures: ctr, conversions: conversion,
                            ctrInterval: [ci.lowerBound, ci.upperBound], conversionInterval: [cv.lowerBound, cv.upperBound],
                            ctr: index == 0 ? nil : ABStatistics.compare(control: controlCTR, variant: ctr),
                            conversion: index == 0 ? nil : ABStatistics.compare(control: controlConversion, variant: conversion),
                            sequentialPValue: index == 0 ? nil : sequential[name]?.pValue))
        }
        let srm = ABStatistics.sampleRatio(observed: arms.map(\.users), expectedShares: experiment.variants.map(\.share))
        return ExperimentReport(experiment: experiment.name, status: experiment.status, arms: arms,
                                sampleRatioChiSquare: srm.chiSquare, sampleRatioPValue: srm.pValue, sampleRatioMismatch: srm.pValue < 0.001,
                                looks: exposures.isEmpty ? 0 : max(1, looks),
                                stoppingRule: "stop the first time a variant's sequential p-value is at or below your α (e.g. 0.05); it stays valid however often you look")
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
