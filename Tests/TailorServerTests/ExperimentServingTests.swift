import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TailorData
import TailorExperiments
import TailorModels
import TailorStore
@testable import TailorServer

@Suite("Experiments in the server")
struct ExperimentServingTests {
    let f: Fixture
    let server: TailorServer
    let key: String
    let experiment: Experiment

    init() throws {
        f = try Fixture(versionsToWrite: ["v1", "v2"])
        try f.versions.setActive("v1")
        server = try TailorServer(store: f.store, versions: f.versions)
        key = try server.keys.create(name: "all", scopes: [.read, .write, .admin]).key
        experiment = try Experiment(name: "v2-test", variants: [.init(name: "control", share: 0.5),
                                                               .init(name: "treatment", share: 0.5, model: "v2", options: ["diversity": "0.5"])],
                                    started: 0, attributionWindowSeconds: 3_600)
        try Experiment.save([experiment], in: f.store)
    }

    func headers() -> HTTPFields { [.contentType: "application/json", .authorization: "Bearer \(key)"] }
    func object(_ r: TestResponse) -> [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(buffer: r.body))) as? [String: Any]) ?? [:] }

    @Test("each user gets their variant's model and options, the response names them, and what was shown is logged for the report")
    func servesVariants() async throws {
        let app = server.makeApplication()
        let users = Array(f.users.prefix(30))
        try await app.test(.router) { client in
            var shown: [String: [String]] = [:]
            for user in users {
                shown[user] = try await client.execute(uri: "/v1/users/\(user)/recommendations?k=5", method: .get, headers: headers()) { r in
                    #expect(r.status == .ok)
                    let body = object(r)
                    let variant = experiment.variant(for: user)
                    #expect(body["experiment"] as? String == "v2-test" && body["variant"] as? String == variant.name)
                    #expect(body["model"] as? String == (variant.model ?? "v1"), "\(user) in \(variant.name)")
                    return (body["items"] as? [[String: Any]] ?? []).compactMap { $0["item"] as? String }
                }
            }
            // The treatment's list is its model's, diversified as its options say.
            let treated = try #require(users.first { experiment.variant(for: $0).name == "treatment" })
            var r = RecommendationRequest(user: treated, k: 5)
            r.diversity = 0.5
            let v2 = try server.experiments.model("v2", versions: f.versions, ann: nil)
            let expectedList = try server.service.recommend(r, model: v2).items.map(\.item)
            #expect(expectedList == shown[treated])
            // Every shown item is an exposure tagged with the experiment and the variant: queued
            // by the requests, in the store once the log is written (by the application's
            // writer, which runs here too, or this flush).
            try server.exposureLog.flush()
            #expect(server.exposureLog.counts.pending == 0 && server.exposureLog.counts.written == users.count * 5)
            let logged = try ExperimentReport.events(in: f.store).filter { $0.context.extra[Experiment.experimentKey] == "v2-test" }
            #expect(logged.count == users.count * 5)
            #expect(logged.allSatisfy { $0.type.name == "exposure" && $0.context.extra[Experiment.variantKey] == experiment.variant(for: $0.user).name })
            // Clicks on shown items reach the report through the admin endpoint.
            let clickers = users.prefix(6)
            let first = clickers.map { shown[$0]![0] }
            let events = zip(clickers, first).map { #"{"user":"\#($0.0)","item":"\#($0.1)","type":"click"}"# }.joined(separator: ",")
            try await client.execute(uri: "/v1/events", method: .post, headers: headers(), body: ByteBuffer(string: #"{"events":[\#(events)]}"#)) {
                #expect($0.status == .accepted)
            }
            try await client.execute(uri: "/v1/admin/experiments/v2-test/report", method: .get, headers: headers()) { r in
                #expect(r.status == .ok)
                let arms = object(r)["arms"] as? [[String: Any]] ?? []
                let clicks = arms.map { (($0["exposures"] as? [String: Any])?["successes"] as? Int) ?? -1 }
                let expected = ["control", "treatment"].map { name in clickers.filter { experiment.variant(for: $0).name == name }.count }
                #expect(clicks == expected)
                #expect(arms.map { $0["users"] as? Int ?? -1 } == ["control", "treatment"].map { name in users.filter { experiment.variant(for: $0).name == name }.count })
            }
            try await client.execute(uri: "/v1/admin/experiments/nope/report", method: .get, headers: headers()) { #expect($0.status == .notFound) }
        }
    }

    @Test("a stopped experiment no longer applies")
    func stopped() throws {
        var stopped = experiment
        stopped.status = .stopped
        try Experiment.save([stopped], in: f.store)
        server.experiments.invalidate()
        for user in f.users.prefix(10) {
            let result = try server.recommendInExperiment(RecommendationRequest(user: user, k: 5))
            #expect(result.experiment == nil && result.model == "v1")
        }
    }

    @Test("experiments in two layers apply together: each user gets the model of one and the options of the other, and exposures are tagged for both")
    func layers() throws {
        let div = try Experiment(name: "div", variants: [.init(name: "control", share: 0.5), .init(name: "treatment", share: 0.5, options: ["diversity": "0.8"])],
                                 started: 1, layer: "ranking")
        let model = try Experiment(name: "model", variants: [.init(name: "control", share: 0.5), .init(name: "v2", share: 0.5, model: "v2")],
                                   started: 2, layer: "models", traffic: (0, 0.6))
        try Experiment.save([div, model], in: f.store)
        server.experiments.invalidate()
        let v2 = try server.experiments.model("v2", versions: f.versions, ann: nil)
        var both = 0
        for user in f.users.prefix(60) {
            let result = try server.recommendInExperiment(RecommendationRequest(user: user, k: 5))
            let dv = div.variant(for: user), mv = model.includes(user) ? model.variant(for: user) : nil
            var expected = RecommendationRequest(user: user, k: 5)
            if dv.name == "treatment" { expected.diversity = 0.8 }
            let list = try server.service.recommend(expected, model: mv?.name == "v2" ? v2 : nil)
            #expect(result.items.map(\.item) == list.items.map(\.item), "\(user): \(dv.name), \(mv?.name ?? "not in model")")
            #expect(result.model == (mv?.name == "v2" ? "v2" : "v1") && result.experiment == "div" && result.variant == dv.name)
            if let mv {
                both += 1
                #expect(result.experiments == ["div": dv.name, "model": mv.name])
            } else {
                #expect(result.experiments == nil)
            }
        }
        #expect(both > 20 && both < 55, "the models layer holds 60 % of users: \(both) of 60")
        // The requests only queued their exposures (no writer runs without the application).
        #expect(try ExperimentReport.events(in: f.store).filter { $0.type.name == "exposure" }.isEmpty)
        #expect(server.exposureLog.counts.pending == (60 + both) * 5)
        try server.exposureLog.flush()
        let exposures = try ExperimentReport.events(in: f.store).filter { $0.type.name == "exposure" }
        #expect(exposures.filter { $0.context.extra[Experiment.experimentKey] == "div" }.count == 60 * 5)
        #expect(exposures.filter { $0.context.extra[Experiment.experimentKey] == "model" }.count == both * 5)
    }

    @Test("an interleaving experiment serves the team-draft merge of its two variants' lists, pages agree, and clicks reach its report as wins")
    func interleaving() async throws {
        let il = try Experiment(name: "il", variants: [.init(name: "control", share: 0.5), .init(name: "candidate", share: 0.5, model: "v2")],
                                started: 0, attributionWindowSeconds: 3_600, kind: .interleave)
        try Experiment.save([il], in: f.store)
        server.experiments.invalidate()
        let v2 = try server.experiments.model("v2", versions: f.versions, ann: nil)
        var clicks: [Event] = []
        var rankings: [String: (a: [String], b: [String])] = [:]
        let users = Array(f.users.prefix(40))
        for user in users {
            let result = try server.recommendInExperiment(RecommendationRequest(user: user, k: 6))
            #expect(result.experiment == "il" && result.variant == "interleaved" && result.model == "v1+v2")
            let a = try server.service.recommend(RecommendationRequest(user: user, k: 6)).items.map(\.item)
            let b = try server.service.recommend(RecommendationRequest(user: user, k: 6), model: v2).items.map(\.item)
            let shown = result.items.map(\.item)
            #expect(Set(shown).isSubset(of: Set(a + b)) && Set(shown).count == 6)
            rankings[user] = (a, b)
            var page = RecommendationRequest(user: user, k: 3)
            page.offset = 3
            #expect(try server.recommendInExperiment(page).items.map(\.item) == Array(shown.suffix(3)), "page 2 continues page 1")
            // The user clicks the candidate's top item.
            clicks.append(Event(user: user, item: b[0], type: .click, timestampMilliseconds: Int64(Date().timeIntervalSince1970 * 1000) + 1_000))
        }
        try server.exposureLog.flush()
        let exposures = try ExperimentReport.events(in: f.store).filter { $0.context.extra[Experiment.experimentKey] == "il" }
        #expect(exposures.count == users.count * 9 && exposures.allSatisfy { $0.context.extra[Experiment.listKey] != nil })
        // Each first list is a team draft, as its tags show: each team's pick is its ranker's best
        // item not already shown, and after every pick the teams differ by at most one.
        for user in users {
            let mine = exposures.filter { $0.user == user }
            let list = try #require(mine.first?.context.extra[Experiment.listKey])
            let drafted = mine.filter { $0.context.extra[Experiment.listKey] == list }
            let (a, b) = try #require(rankings[user])
            var shown: [String] = [], countA = 0, countB = 0
            for e in drafted {
                let team = e.context.extra[Experiment.variantKey]
                let ranking = team == "control" ? a : b
                #expect(e.item == ranking.first { !shown.contains($0) }, "\(user): \(team ?? "?") drafted \(e.item)")
                if team == "control" { countA += 1 } else { countB += 1 }
                #expect(abs(countA - countB) <= 1)
                shown.append(e.item)
            }
            #expect(drafted.count == 6)
        }
        _ = try f.store.append(clicks)
        let report = ExperimentReport.make(il, events: try ExperimentReport.events(in: f.store))
        let i = try #require(report.interleaving)
        #expect(i.lists == users.count * 2)
        // The click credits the user's latest list (the page-2 list, unless it lacks the item: then the first).
        let detail = users.map { u in
            let first = exposures.filter { $0.user == u }
            return "\(u): a0 \(rankings[u]!.a[0]) b0 \(rankings[u]!.b[0]) " + first.map { "\($0.item)/\($0.context.extra[Experiment.variantKey]!)/\($0.context.extra[Experiment.listKey]!.suffix(12))@\($0.timestampMilliseconds % 100_000)" }.joined(separator: " ")
        }.joined(separator: "\n") + "\nclicks: " + clicks.map { "\($0.user) \($0.item) @\($0.timestampMilliseconds % 100_000)" }.joined(separator: ", ")
        #expect(i.winsB > i.winsA && i.winsB + i.winsA + i.ties == i.users && i.users == users.count, "\(i)\n\(detail)")
    }
}

@Suite("Exposure log")
struct ExposureLogTests {
    final class Target: @unchecked Sendable {
        let lock = NSLock()
        var written: [String] = []
        var failing = true
    }

    @Test("a failed write keeps the exposures, in order, for the next; past the capacity the oldest are dropped and counted")
    func retries() throws {
        let target = Target()
        let log = ExposureLog(capacity: 5, logger: .init(label: "test")) { events in
            try target.lock.withLock {
                if target.failing { throw StoreError(path: "t.db", reason: "disk full") }
                target.written += events.map(\.item)
            }
        }
        func e(_ item: String) -> Event { Event(user: "u", item: item, type: EventType("exposure"), timestampMilliseconds: 1) }
        log.add([e("a"), e("b")])
        #expect(throws: StoreError.self) { try log.flush() }
        #expect(log.counts.pending == 2 && log.counts.dropped == 0 && target.written.isEmpty)
        log.add([e("c"), e("d"), e("e"), e("f")])
        #expect(log.counts.pending == 5 && log.counts.dropped == 1, "capacity 5: the oldest (a) dropped")
        target.lock.withLock { target.failing = false }
        #expect(try log.flush() == 5)
        #expect(target.written == ["b", "c", "d", "e", "f"] && log.counts == (0, 1, 5))
        #expect(try log.flush() == 0)
    }
}
