import Foundation
import Testing
import TailorData
import TailorExperiments
import TailorModels
import TailorSQLite
import TailorStore
@testable import TailorDashboard

/// A store with synthetic events, two ALS versions trained on them, and an experiment with
/// exposures and clicks.
struct DashboardFixture {
    let directory: String
    let store: SQLiteEventStore
    let models: [(name: String, path: String)]
    /// The start of the week before the newest event (Unix milliseconds).
    let latestWeekStart: Int64

    init() throws {
        directory = NSTemporaryDirectory() + "tailor-dashboard-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        store = try SQLiteEventStore(path: directory + "/t.db")
        var c = SyntheticEvents.Configuration()
        c.log.users = 300; c.log.items = 120; c.log.interactions = 6_000; c.log.seed = 5
        let generated = SyntheticEvents.generate(c)
        var counts = IngestCounts()
        try store.append(generated.events, batchSize: 10_000, into: &counts)
        var models: [(name: String, path: String)] = []
        // v1 trained before the log's latest week, v2 on all of it.
        let base = generated.base.interactions
        let newest = base.timestamps!.max()! * 1000
        latestWeekStart = newest - 7 * 86_400_000
        for seed in [1, 2] {
            let cutoff = latestWeekStart
            let log = seed == 1 ? base.filter { base.timestamps![$0] * 1000 < cutoff } : base
            let als = try ALS.fit(InteractionMatrix(log), configuration: .init(factors: 8, iterations: 4 + seed, seed: UInt64(seed), threads: 1))
            let path = directory + "/models/v\(seed)"
            try ModelBundle(model: als, training: log).save(to: URL(fileURLWithPath: path))
            models.append(("v\(seed)", path))
        }
        self.models = models
        let e = try Experiment(name: "div", variants: [.init(name: "control", share: 0.5), .init(name: "treatment", share: 0.5)], started: 0)
        try Experiment.save([e], in: store)
        var events: [Event] = []
        for u in 0..<200 {
            let user = "u\(u)", variant = e.variant(for: user).name
            events.append(e.exposure(user: user, item: "i1", variant: variant, at: newest - 86_400_000))
            if u % 7 == 0 { events.append(Event(user: user, item: "i1", type: .click, timestampMilliseconds: newest - 86_340_000)) }
        }
        _ = try store.append(events)
    }

    func html(serving: [Dashboard.RouteLatency]? = nil) throws -> String {
        try Dashboard.render(Dashboard.Input(store: store, models: models, active: "v2", serving: serving))
    }
}

/// The `data-points` values of the charts in `html`, in order.
func chartSizes(_ html: String) -> [Int] {
    html.components(separatedBy: "class=\"chart\"").dropFirst().compactMap { chunk in
        chunk.range(of: "data-points=\"").flatMap { r in Int(chunk[r.upperBound...].prefix { $0.isNumber }) }
    }
}

@Suite("Dashboard")
struct DashboardTests {
    @Test("SVG charts carry their data: one path per series with its point count, coordinates inside the frame, text escaped")
    func svg() {
        let chart = SVG.lines("t <1>", series: [SVG.Series(name: "a&b", points: (0..<5).map { (Double($0), Double($0 * $0)) }),
                                                SVG.Series(name: "c", points: [(0, 3), (4, 1)])], xLabel: "x", yLabel: "y")
        #expect(chart.components(separatedBy: "class=\"series\"").count - 1 == 2)
        #expect(chart.contains("data-points=\"5\"") && chart.contains("data-points=\"2\"") && chart.contains("data-points=\"7\""))
        #expect(chart.contains("a&amp;b") && chart.contains("t &lt;1&gt;") && !chart.contains("t <1>"))
        // Every path coordinate lies inside the 640 × 260 frame.
        let d = chart.components(separatedBy: " d=\"").dropFirst().map { $0.prefix { $0 != "\"" } }
        for path in d {
            for pair in path.split(whereSeparator: { $0 == "M" || $0 == "L" }) {
                let xy = pair.split(separator: ",").compactMap { Double($0) }
                #expect(xy.count == 2 && xy[0] >= 0 && xy[0] <= 640 && xy[1] >= 0 && xy[1] <= 260, "\(pair)")
            }
        }
        let scatter = SVG.scatter("s", points: [(0, 0, 0), (1, 1, 1), (2, 0, 1)], groups: ["a", "b"], xLabel: "", yLabel: "")
        #expect(scatter.components(separatedBy: "class=\"point\"").count - 1 == 3)
    }

    @Test("the page has every section, and each plot has data: events over time, the long tail, training curves, segments, the experiment")
    func page() throws {
        let f = try DashboardFixture()
        let html = try f.html(serving: [.init(route: "/v1/users/{id}/recommendations", requests: 10, p50Milliseconds: 1, p99Milliseconds: 3)])
        for id in ["data", "models", "segments", "drift", "experiments", "serving"] { #expect(html.contains("<section id=\"\(id)\">"), "\(id)") }
        let sizes = chartSizes(html)
        #expect(sizes.count == 7, "events, long tail, quality by version, training loss, segments, experiment, latency: \(sizes)")
        #expect(sizes.allSatisfy { $0 > 0 })
        #expect(html.contains("Users by segment") && html.contains("data-points=\"300\""), "every one of the 300 users on the map")
        #expect(html.contains("v1 → v2") && html.contains("top-10 RBO"))
        #expect(html.contains("v2 (active)") && html.contains("CTR by variant"))
        #expect(html.contains("left out of the chart"), "the generator's future-dated events are excluded and said so")
        #expect(!html.contains("<script"), "no JavaScript: the page is server-rendered")
    }

    @Test("an interleaving experiment in its own layer shows its wins and sequential p-value beside the A/B test")
    func interleaving() throws {
        let f = try DashboardFixture()
        let il = try Experiment(name: "il", variants: [.init(name: "control", share: 0.5), .init(name: "candidate", share: 0.5, model: "v2")],
                                started: 1, kind: .interleave, layer: "models", traffic: (0, 0.5))
        try Experiment.save(try Experiment.all(in: f.store) + [il], in: f.store)
        var events: [Event] = []
        for u in 0..<30 {
            events += [il.exposure(user: "u\(u)", item: "i1", variant: "control", at: 1_000, list: "l\(u)"),
                       il.exposure(user: "u\(u)", item: "i2", variant: "candidate", at: 1_000, list: "l\(u)")]
            events.append(Event(user: "u\(u)", item: u < 20 ? "i2" : "i1", type: .click, timestampMilliseconds: 2_000))
        }
        _ = try f.store.append(events)
        let html = try f.html()
        #expect(html.contains("il (running, interleaving, layer models, 50% of its users)"))
        let cells = row(html, "30")
        #expect(cells.prefix(5) == ["30", "30", "10", "20", "0"], "lists, users, preferring control, preferring the candidate, neither: \(cells)")
        #expect(chartSizes(html).count == 7, "one more CTR chart, no latency chart: \(chartSizes(html))")
    }

    /// The cells of the row of `html`'s first table row that starts with `first`.
    func row(_ html: String, _ first: String) -> [String] {
        guard let r = html.range(of: "<tr><td>\(first)</td>") else { return [] }
        let rest = html[r.lowerBound...].prefix { $0 != "\n" }
        let end = rest.range(of: "</tr>").map { rest[..<$0.lowerBound] } ?? rest
        return end.components(separatedBy: "<td>").dropFirst().map { $0.replacingOccurrences(of: "</td>", with: "") }
    }

    @Test("metrics by model version: each version scored on the latest week's new items; the older version, trained before that week, on more users")
    func qualityByVersion() throws {
        let f = try DashboardFixture()
        let html = try f.html()
        #expect(html.contains("NDCG@10, latest week"))
        let v1 = row(html, "v1"), v2 = row(html, "v2 (active)")
        #expect(v1.count == 9 && v2.count == 9, "\(v1) \(v2)")
        guard v1.count == 9, v2.count == 9 else { return }
        let users1 = Int(v1[8]) ?? 0, users2 = Int(v2[8]) ?? 0
        #expect(users1 > users2 && users1 > 20, "users measured: v1 \(users1), v2 \(users2)")
        // v1's score against a direct measurement of the same thing.
        let bundle = try ModelBundle.load(from: URL(fileURLWithPath: f.models[0].path))
        let q = try EmbeddingQuality.measure(bundle, log: try f.store.loadEvents(), since: f.latestWeekStart, users: 500, clustering: false)
        #expect(v1[7] == String(format: "%.4f", q.rollingNDCG ?? -1) && q.rollingNDCG! > 0)
        let start = html.range(of: "NDCG@10 on the latest week by version")
        let svg = start.map { String(html[$0.upperBound...]) }?.components(separatedBy: "</svg>").first ?? ""
        #expect(svg.contains(">v1</text>") && svg.contains("data-points=\"2\""), "both versions are on the chart")
    }

    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test("CI has the browser the dashboard test needs (.ci/run installs Debian's chromium)",
          .enabled(if: ProcessInfo.processInfo.environment["CI"] == "true"))
    func ciHasBrowser() {
        #expect(Self.chromium != nil, "chromium is missing: .ci/run should have installed it (apt-get install chromium)")
    }

    @Test("a headless browser renders the page: the DOM has the plots with data, and a screenshot is saved (.build/artifacts/dashboard.png)",
          .enabled(if: chromium != nil, "needs chromium (Debian's package; .ci/run installs it)"))
    func browser() throws {
        let f = try DashboardFixture()
        let page = f.directory + "/dashboard.html"
        try f.html().write(toFile: page, atomically: true, encoding: .utf8)
        func chrome(_ arguments: [String]) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.chromium!)
            p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(f.directory)/chrome"] + arguments
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        let dom = try chrome(["--dump-dom", "file://\(page)"])
        let sizes = chartSizes(dom)
        #expect(sizes.count == 6 && sizes.allSatisfy { $0 > 0 }, "rendered charts: \(sizes)")
        #expect(dom.contains("<circle class=\"point\""))
        let artifacts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let shot = artifacts.appendingPathComponent("dashboard.png").path
        try? FileManager.default.removeItem(atPath: shot)
        _ = try chrome(["--screenshot=\(shot)", "--window-size=1100,4000", "--hide-scrollbars", "file://\(page)"])
        let size = (try FileManager.default.attributesOfItem(atPath: shot)[.size] as? Int) ?? 0
        #expect(size > 20_000, "screenshot of \(size) bytes")
    }
}
