import Foundation
import Testing
import TailorData
import TailorLinalg
import TailorModels
@testable import TailorExperiments

@Suite("Offline replay")
struct ReplayTests {
    static let model: ModelBundle = {
        var c = SyntheticLog.Configuration()
        c.users = 200; c.items = 80; c.interactions = 4_000; c.seed = 9
        let log = SyntheticLog.generate(c).interactions
        let als = try! ALS.fit(InteractionMatrix(log), configuration: .init(factors: 8, iterations: 5, seed: 1, threads: 1))
        return try! ModelBundle(model: als, training: log)
    }()

    /// Each of 30 users was shown the model's top 5 in `reversed` order or not, and clicked the
    /// model's favourite; the lists are tagged with an experiment's variant.
    func events(reversed: Bool, variant: String = "a") throws -> [Event] {
        let e = try Experiment(name: "x", variants: [.init(name: "a", share: 0.5), .init(name: "b", share: 0.5)], started: 0)
        var out: [Event] = []
        for user in Self.model.userIDs.ids.prefix(30) {
            let top = try Self.model.recommend(userIDs: [user], k: 5, excludeSeen: false)[0].items.map(\.item)
            for item in reversed ? top.reversed() : top { out.append(e.exposure(user: user, item: item, variant: variant, at: 1_000_000)) }
            out.append(Event(user: user, item: top[0], type: .click, timestampMilliseconds: 1_060_000))
        }
        return out
    }

    @Test("a candidate that would have put the clicked item first scores where the logged order put it last; the logging model itself scores 1")
    func rerank() throws {
        let worse = try ReplayReport.make(events: events(reversed: true), candidate: Self.model)
        #expect(worse.lists == 30 && worse.skipped == 0)
        #expect(abs(worse.candidateNDCG - 1) < 1e-12 && abs(worse.candidateMRR - 1) < 1e-12)
        #expect(abs(worse.loggedNDCG - 1 / log2(6.0)) < 1e-12 && abs(worse.loggedMRR - 0.2) < 1e-12)
        #expect(abs(worse.ratio - log2(6.0)) < 1e-9)
        let same = try ReplayReport.make(events: events(reversed: false), candidate: Self.model)
        #expect(abs(same.ratio - 1) < 1e-12 && abs(same.loggedNDCG - 1) < 1e-12)
    }

    @Test("lists can be limited to an experiment's variant; unknown users are skipped; no clicked list is an error")
    func filtersAndErrors() throws {
        let mixed = try events(reversed: true, variant: "a") + events(reversed: false, variant: "b").map { e -> Event in
            var e = e; e.timestampMilliseconds += 10; return e
        }
        let onlyB = try ReplayReport.make(events: mixed, candidate: Self.model, experiment: "x", variant: "b")
        #expect(onlyB.lists == 30 && abs(onlyB.ratio - 1) < 1e-12)
        var strangers = try events(reversed: true)
        strangers = strangers.map { var e = $0; e.user = "stranger-" + e.user; return e }
        #expect { try ReplayReport.make(events: strangers, candidate: Self.model) } throws: { "\($0)".contains("users the candidate does not know") }
        let unclicked = try events(reversed: true).filter { $0.type.name == "exposure" }
        #expect(throws: ExperimentError.self) { try ReplayReport.make(events: unclicked, candidate: Self.model) }
    }
}
