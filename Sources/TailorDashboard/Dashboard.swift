import Foundation
import TailorData
import TailorExperiments
import TailorLinalg
import TailorModels
import TailorStore

/// The pages a person looks at: the data (events by type over time, the long tail, imports),
/// the model versions (training curve, drift between the two newest), user segments on a 2-D
/// map, experiments with their intervals, and, from a running server, request latencies. One
/// self-contained HTML page with inline SVG: `tailor serve` serves it at `/dashboard`, `tailor
/// report` writes it to a file.
public enum Dashboard {
    /// A route's recent latencies (from a running server).
    public struct RouteLatency: Sendable {
        public var route: String
        public var requests: Int
        public var p50Milliseconds: Double
        public var p99Milliseconds: Double
        public init(route: String, requests: Int, p50Milliseconds: Double, p99Milliseconds: Double) {
            self.route = route
            self.requests = requests
            self.p50Milliseconds = p50Milliseconds
            self.p99Milliseconds = p99Milliseconds
        }
    }

    /// What the page is made from.
    public struct Input: Sendable {
        public var store: any EventStore
        /// Model versions (name, directory), oldest first.
        public var models: [(name: String, path: String)]
        /// The version being served, if any.
        public var active: String?
        /// Request latencies by route (nil: not from a server).
        public var serving: [RouteLatency]?
        /// Users sampled for the segment map.
        public var segmentSample = 3_000

        public init(store: any EventStore, models: [(name: String, path: String)], active: String? = nil, serving: [RouteLatency]? = nil) {
            self.store = store
            self.models = models
            self.active = active
            self.serving = serving
        }
    }

    /// The whole page.
    ///
    /// - Throws: ``StoreError`` when the store cannot be read. A model that does not load is
    ///   shown with its error, not thrown.
    public static func render(_ input: Input, now: Date = Date()) throws -> String {
        var sections: [(id: String, title: String, html: String)] = []
        let log = try input.store.loadEvents()
        sections.append(("data", "Data", try dataSection(input.store, log: log, now: now)))
        let bundles = input.models.map { m in (m.name, Result { try ModelBundle.load(from: URL(fileURLWithPath: m.path)) }) }
        sections.append(("models", "Models", modelsSection(bundles, active: input.active, log: log, now: now)))
        let activeBundle = bundles.first { $0.0 == input.active }.flatMap { try? $0.1.get() } ?? bundles.last.flatMap { try? $0.1.get() }
        sections.append(("segments", "Segments", segmentsSection(activeBundle, sample: input.segmentSample)))
        sections.append(("drift", "Drift", driftSection(bundles)))
        sections.append(("experiments", "Experiments", try experimentsSection(input.store)))
        if let serving = input.serving { sections.append(("serving", "Serving", servingSection(serving))) }
        let stamp = ISO8601DateFormatter().string(from: now)
        var html = """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tailor dashboard</title>
        <style>body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
        table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:right}th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
        nav a{margin-right:12px}.note{color:#666;font-size:13px}svg.chart{display:block;margin:8px 0;border:1px solid #eee}</style></head><body>
        <h1>Tailor dashboard</h1><p class="note">generated \(stamp)</p><nav>
        """
        html += sections.map { "<a href=\"#\($0.id)\">\($0.title)</a>" }.joined()
        html += "</nav>"
        for s in sections { html += "<section id=\"\(s.id)\"><h2>\(s.title)</h2>\(s.html)</section>" }
        return html + "</body></html>\n"
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        "<table><tr>" + header.map { "<th>\(SVG.escape($0))</th>" }.joined() + "</tr>"
            + rows.map { "<tr>" + $0.map { "<td>\(SVG.escape($0))</td>" }.joined() + "</tr>" }.joined() + "</table>"
    }

    static func note(_ text: String) -> String { "<p class=\"note\">\(SVG.escape(text))</p>" }

    // MARK: Sections

    /// Events with a usable time: not untimed, not dated more than a day after `now`.
    static func timedEvents(_ log: EventLog, now: Date) -> [Int] {
        let limit = Int64(now.timeIntervalSince1970 * 1000) + 86_400_000
        return (0..<log.count).filter { (log.untimed.isEmpty || !log.untimed[$0]) && log.timestamps[$0] <= limit }
    }

    static func dataSection(_ store: any EventStore, log: EventLog, now: Date) throws -> String {
        let counts = try store.counts()
        var html = table(["events", "users", "items"], [[String(counts.events), String(counts.users), String(counts.items)]])
        let timed = timedEvents(log, now: now)
        if let first = timed.map({ log.timestamps[$0] }).min(), let last = timed.map({ log.timestamps[$0] }).max() {
            // Days, or weeks when the log spans more than a year.
            let day: Int64 = 86_400_000
            let bucket = (last - first) / day > 366 ? 7 * day : day
            var perType: [UInt16: [Int64: Double]] = [:]
            for i in timed { perType[log.types[i], default: [:]][(log.timestamps[i] - first) / bucket, default: 0] += 1 }
            let top = perType.sorted { $0.value.values.reduce(0, +) > $1.value.values.reduce(0, +) }.prefix(6)
            let buckets = (last - first) / bucket
            let series = top.map { type, counts in
                SVG.Series(name: log.typeNames[Int(type)].name, points: (0...buckets).map { (Double($0), counts[$0] ?? 0) })
            }
            let start = Date(timeIntervalSince1970: Double(first) / 1000)
            let format = DateFormatter()
            format.dateFormat = "yyyy-MM-dd"
            format.timeZone = TimeZone(identifier: "UTC")
            html += SVG.lines("Events by type per \(bucket == day ? "day" : "week")", series: series, xLabel: bucket == day ? "day" : "week",
                              yLabel: "events") { format.string(from: start.addingTimeInterval(Double(Int64($0) * bucket) / 1000)) }
            let dropped = log.count - timed.count
            if dropped > 0 { html += note("\(dropped) events without a usable time (untimed, or dated in the future) are left out of the chart.") }
        } else {
            html += note("No timed events yet.")
        }
        // The long tail: cumulative share of events against share of items, most popular first.
        var byItem = [Double](repeating: 0, count: log.itemIDs.count)
        for i in 0..<log.count { byItem[Int(log.items[i])] += 1 }
        let sorted = byItem.sorted(by: >)
        let total = sorted.reduce(0, +)
        if total > 0 {
            var running = 0.0
            let step = max(1, sorted.count / 200)
            var points: [(x: Double, y: Double)] = [(0, 0)]
            for (i, c) in sorted.enumerated() {
                running += c
                if (i + 1) % step == 0 || i == sorted.count - 1 { points.append((100 * Double(i + 1) / Double(sorted.count), 100 * running / total)) }
            }
            html += SVG.lines("Long tail", series: [SVG.Series(name: "cumulative share of events", points: points)],
                              xLabel: "items, most popular first (%)", yLabel: "events (%)")
            let head = sorted.prefix(max(1, sorted.count / 5)).reduce(0, +) / total
            html += note(String(format: "The most popular 20%% of items hold %.0f%% of the events.", 100 * head))
        }
        let imports = try store.imports().suffix(10)
        if !imports.isEmpty {
            html += "<h3>Imports and cleaning at ingest</h3>"
            html += table(["source", "kind", "status", "rows read", "inserted", "already present", "duplicates", "skipped"],
                          imports.map { [$0.source, $0.kind, $0.status, String($0.rowsRead), String($0.inserted), String($0.alreadyPresent),
                                         String($0.duplicates), String($0.skipped)] })
        }
        return html
    }

    /// Versions measured on the latest week (the newest ones, as each takes a ranking pass).
    static let qualityVersions = 6

    static func modelsSection(_ bundles: [(String, Result<ModelBundle, any Error>)], active: String?, log: EventLog, now: Date) -> String {
        guard !bundles.isEmpty else { return note("No model versions.") }
        // Quality by version, on one yardstick: NDCG@10 against what users did in the latest
        // week of the log, on items each version had not seen them with.
        let timed = timedEvents(log, now: now)
        let newest = timed.map { log.timestamps[$0] }.max()
        let week: Int64 = 7 * 86_400_000
        var quality: [String: EmbeddingQuality] = [:]
        if let newest {
            for (name, result) in bundles.suffix(qualityVersions) {
                if let b = try? result.get(), let q = try? EmbeddingQuality.measure(b, log: log, since: newest - week, users: 500, clustering: false) {
                    quality[name] = q
                }
            }
        }
        var rows: [[String]] = []
        for (name, result) in bundles {
            switch result {
            case .success(let b):
                let curve = (b.model as? any RecordsTraining)?.trainingCurve
                let q = quality[name]
                rows.append([name + (name == active ? " (active)" : ""), b.manifest.kind, b.manifest.createdAt, String(b.manifest.data.users),
                             String(b.manifest.data.items), String(b.manifest.data.interactions),
                             curve?.bestValidation.map { String(format: "%.4f", $0) } ?? "",
                             q?.rollingNDCG.map { String(format: "%.4f", $0) } ?? "", q.map { String($0.rollingUsers) } ?? ""])
            case .failure(let error):
                rows.append([name, "does not load: \(error)", "", "", "", "", "", "", ""])
            }
        }
        var html = table(["version", "kind", "created", "users", "items", "interactions", "validation (training)", "NDCG@10, latest week", "users measured"], rows)
        let measured = bundles.compactMap { name, _ in quality[name].flatMap { q in q.rollingNDCG.map { (name, $0, q.rollingNDCGStandardError ?? 0) } } }
        if !measured.isEmpty {
            html += SVG.intervals("NDCG@10 on the latest week by version, 95% intervals", rows: measured.map { name, v, se in (name, v, max(0, v - 1.96 * se), v + 1.96 * se) },
                                  xLabel: "NDCG@10")
        }
        html += note("The latest week: the week before the newest event. Each version is scored on the items users took in it that the version "
                     + "had not trained on for them, so a version trained on that week has few such users; older versions show how "
                     + "quality decays. Validation (training) is each model's own metric on its held-out users when it was trained.")
        // Training curves, one chart per kind, the newest five versions that kept one.
        let curves = bundles.suffix(5).compactMap { name, r in
            (try? r.get()).flatMap { b in (b.model as? any RecordsTraining).map { (name, b.manifest.kind, $0.trainingCurve) } }
        }
        var kinds: [String] = []
        for (_, kind, _) in curves where !kinds.contains(kind) { kinds.append(kind) }
        for kind in kinds {
            let ofKind = curves.filter { $0.1 == kind }
            let unit = ofKind[0].2.unit
            let losses = ofKind.map { name, _, c in SVG.Series(name: name, points: c.losses.enumerated().compactMap { i, l in l.map { (Double(i + 1), $0) } }) }
                .filter { !$0.points.isEmpty }
            if !losses.isEmpty { html += SVG.lines("Training loss per \(unit) (\(kind))", series: losses, xLabel: unit, yLabel: "loss") }
            let validation = ofKind.map { name, _, c in SVG.Series(name: name, points: c.validation.enumerated().map { (Double($0 + 1), $1) }) }
                .filter { !$0.points.isEmpty }
            if !validation.isEmpty {
                html += SVG.lines("Validation per \(unit) (\(kind)): \(ofKind[0].2.validationMetric)", series: validation, xLabel: unit, yLabel: "validation")
            }
        }
        if kinds.isEmpty { html += note("No training curves recorded (ALS and the neural models keep theirs).") }
        return html
    }

    static func segmentsSection(_ bundle: ModelBundle?, sample: Int) -> String {
        guard let bundle, let factors = bundle.model as? any FactorModel else { return note("Segments need a model with user vectors.") }
        let users = factors.userFactors
        guard users.rows >= 10 else { return note("Too few users to segment.") }
        var rng = TailorRandom(seed: 1)
        var order = Array(0..<users.rows)
        for t in 0..<min(sample, order.count) { order.swapAt(t, t + rng.nextInt(below: order.count - t)) }
        let chosen = Array(order.prefix(min(sample, users.rows))).sorted()
        var storage: [Float] = []
        for r in chosen { storage += users.row(r) }
        let sampled = Matrix(rows: chosen.count, columns: users.columns, storage: storage)
        var c = UserSegments.Configuration()
        c.minK = 2; c.maxK = min(8, chosen.count - 1); c.silhouetteSample = 1_000
        guard let segments = try? UserSegments.fit(sampled, configuration: c) else { return note("The users' vectors could not be segmented.") }
        // The 2-D map: the unit vectors projected on their first two principal components.
        let (unit, kept) = UserSegments.unitRows(sampled)
        let d = unit.columns
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<unit.rows { for j in 0..<d { mean[j] += Double(unit[r, j]) / Double(unit.rows) } }
        var covariance = [Double](repeating: 0, count: d * d)
        for r in 0..<unit.rows {
            for i in 0..<d {
                let a = Double(unit[r, i]) - mean[i]
                for j in i..<d { covariance[i * d + j] += a * (Double(unit[r, j]) - mean[j]) }
            }
        }
        for i in 0..<d { for j in 0..<i { covariance[i * d + j] = covariance[j * d + i] } }
        let (values, vectors) = DriftMeasures.symmetricEigen(covariance, n: d)
        let top = values.indices.sorted { values[$0] > values[$1] }.prefix(2)
        guard top.count == 2 else { return note("The users' vectors have fewer than two dimensions.") }
        let (a, b) = (top[top.startIndex], top[top.startIndex + 1])
        var points: [(x: Double, y: Double, group: Int)] = []
        for (slot, r) in kept.enumerated() {
            var x = 0.0, y = 0.0
            for j in 0..<d {
                let v = Double(unit[slot, j]) - mean[j]
                x += v * vectors[j * d + a]; y += v * vectors[j * d + b]
            }
            points.append((x, y, Int(segments.assignments[r])))
        }
        let explained = (values[a] + values[b]) / max(1e-12, values.filter { $0 > 0 }.reduce(0, +))
        var html = SVG.scatter("Users by segment (first two principal components of their unit vectors)", points: points,
                               groups: (0..<segments.k).map { "segment \($0) (\(segments.sizes[$0]))" }, xLabel: "component 1", yLabel: "component 2")
        html += note(String(format: "%d users sampled; k = %d chosen by silhouette (%.3f); the two components explain %.0f%% of the variance.",
                            chosen.count, segments.k, segments.silhouette, 100 * explained))
        html += table(["k", "silhouette"], segments.candidates.map { [String($0.k) + ($0.k == segments.k ? " ←" : ""), String(format: "%.3f", $0.silhouette)] })
        return html
    }

    static func driftSection(_ bundles: [(String, Result<ModelBundle, any Error>)]) -> String {
        let loaded = bundles.compactMap { name, r in (try? r.get()).map { (name, $0) } }
        guard loaded.count >= 2 else { return note("Drift compares the two newest model versions; there is \(loaded.count).") }
        let (oldName, old) = loaded[loaded.count - 2], (newName, new) = loaded[loaded.count - 1]
        guard let drift = try? ModelDrift.compare(old, new, k: 10, users: 500) else { return note("\(oldName) and \(newName) share no users or items.") }
        var rows = [["top-10 Jaccard", String(format: "%.3f", drift.topKJaccard)], ["top-10 RBO", String(format: "%.3f", drift.topKRBO)],
                    ["score PSI", String(format: "%.3f", drift.scorePSI)], ["new users", String(format: "%.1f%%", 100 * drift.newUserShare)],
                    ["new items", String(format: "%.1f%%", 100 * drift.newItemShare)], ["items gone", String(format: "%.1f%%", 100 * drift.droppedItemShare)]]
        if let s = drift.itemShift { rows.insert(["item vector shift (median, after alignment)", String(format: "%.3f", s.median)], at: 0) }
        if let s = drift.userShift { rows.insert(["user vector shift (median, after alignment)", String(format: "%.3f", s.median)], at: 1) }
        return note("\(oldName) → \(newName), \(drift.usersCompared) shared users compared") + table(["measure", "value"], rows)
    }

    static func experimentsSection(_ store: any EventStore) throws -> String {
        let experiments = try Experiment.all(in: store)
        guard !experiments.isEmpty else { return note("No experiments (tailor experiment create).") }
        let events = try ExperimentReport.events(in: store)
        var html = ""
        for e in experiments {
            let r = ExperimentReport.make(e, events: events)
            let scope = e.layer == Experiment.defaultLayer && e.traffic >= 1 ? "" : String(format: ", layer %@, %g%% of its users", e.layer, (e.traffic * 1000).rounded() / 10)
            html += "<h3>\(SVG.escape(e.name)) (\(e.status.rawValue)\(e.kind == .interleave ? ", interleaving" : "")\(SVG.escape(scope)))</h3>"
            if let i = r.interleaving {
                html += table(["lists", "users", "prefer " + e.variants[0].name, "prefer " + e.variants[1].name, "neither", "preference for " + e.variants[1].name, "p (sign test)", "p (sequential)"],
                              [[String(i.lists), String(i.users), String(i.winsA), String(i.winsB), String(i.ties), String(format: "%+.3f", i.preferenceForB),
                                String(format: "%.4f", i.pValue), String(format: "%.4f", i.sequentialPValue)]])
            }
            html += SVG.intervals("CTR by variant, 95% Wilson intervals (\(e.name))",
                                  rows: r.arms.map { ($0.variant, 100 * $0.exposures.rate, 100 * $0.ctrInterval[0], 100 * $0.ctrInterval[1]) }, xLabel: "CTR (%)")
            html += table(["variant", "users", "shown", "clicks", "CTR", "vs control", "p (z-test)", "p (sequential)"], r.arms.map { a in
                [a.variant, String(a.users), String(a.exposures.trials), String(a.exposures.successes), String(format: "%.2f%%", 100 * a.exposures.rate),
                 a.ctr.map { String(format: "%+.2f pts", 100 * $0.difference) } ?? "control", a.ctr.map { String(format: "%.4f", $0.pValue) } ?? "",
                 a.sequentialPValue.map { String(format: "%.4f", $0) } ?? ""]
            })
            html += note(r.sampleRatioMismatch ? String(format: "Sample ratio MISMATCH (p %.2g): the split is broken; do not trust these results.", r.sampleRatioPValue)
                         : String(format: "Sample ratio consistent with the shares (p %.3f).", r.sampleRatioPValue))
        }
        return html
    }

    static func servingSection(_ routes: [RouteLatency]) -> String {
        guard !routes.isEmpty else { return note("No requests yet.") }
        var html = table(["route", "requests", "p50 (ms)", "p99 (ms)"], routes.map {
            [$0.route, String($0.requests), String(format: "%.2f", $0.p50Milliseconds), String(format: "%.2f", $0.p99Milliseconds)]
        })
        html += SVG.intervals("Latency by route: p50 (point) to p99 (whisker end)",
                              rows: routes.prefix(8).map { ($0.route, $0.p50Milliseconds, $0.p50Milliseconds, $0.p99Milliseconds) }, xLabel: "milliseconds")
        return html
    }
}
