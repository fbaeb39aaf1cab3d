import Foundation
import Testing
import TailorData
import TailorLinalg
import TailorSQLite
@testable import TailorExperiments

@Suite("Concurrent experiments: layers and traffic slices")
struct LayerTests {
    let users = (0..<20_000).map { "user\($0)" }

    func split(_ name: String, layer: String = Experiment.defaultLayer, traffic: (Double, Double) = (0, 1),
               treatment: [String: String] = ["diversity": "0.3"], model: String? = nil, started: Int64 = 0) throws -> Experiment {
        try Experiment(name: name, variants: [.init(name: "control", share: 0.5), .init(name: "treatment", share: 0.5, model: model, options: treatment)],
                       started: started, layer: layer, traffic: traffic)
    }

    @Test("free slices: experiments of a layer get disjoint slices from 0, a full layer is refused naming its holders, a stopped one frees its slice")
    func allocation() throws {
        var running: [Experiment] = []
        let a = try Experiment.allocate(traffic: 0.3, layer: "ranking", among: running)
        #expect(a.start == 0 && abs(a.end - 0.3) < 1e-12)
        running.append(try split("a", layer: "ranking", traffic: a))
        let b = try Experiment.allocate(traffic: 0.5, layer: "ranking", among: running)
        #expect(abs(b.start - 0.3) < 1e-12 && abs(b.end - 0.8) < 1e-12)
        running.append(try split("b", layer: "ranking", traffic: b, started: 1))
        // 20 % is left; 30 % is refused with who holds the layer and what would fit.
        #expect { try Experiment.allocate(traffic: 0.3, layer: "ranking", among: running) } throws: { error in
            let e = error as? ExperimentError
            return e?.field == "traffic" && e!.reason.contains("'a' 30 %") && e!.reason.contains("'b' 50 %") && e!.reason.contains("largest free slice is 20 %")
                && e!.hint!.contains("--traffic 0.20")
        }
        // Another layer is empty; a stopped experiment's slice is free again, and is found first.
        #expect(try Experiment.allocate(traffic: 1, layer: "ui", among: running) == (0, 1))
        running[0].status = .stopped
        let c = try Experiment.allocate(traffic: 0.25, layer: "ranking", among: running)
        #expect(c.start == 0 && abs(c.end - 0.25) < 1e-12)
        for bad in [0, -0.1, 1.5, .nan] {
            #expect(throws: ExperimentError.self) { try Experiment.allocate(traffic: bad, layer: "x", among: []) }
        }
    }

    @Test("membership: a slice holds its share of users (within 4σ), experiments of one layer never share a user, different layers are independent")
    func membership() throws {
        let a = try split("a", layer: "L", traffic: (0, 0.3)), b = try split("b", layer: "L", traffic: (0.3, 0.8))
        let c = try split("c", layer: "M", traffic: (0, 0.5), treatment: ["rerank": "false"])
        let n = Double(users.count)
        let inA = Set(users.filter(a.includes)), inB = Set(users.filter(b.includes)), inC = Set(users.filter(c.includes))
        for (set, share) in [(inA, 0.3), (inB, 0.5), (inC, 0.5)] {
            let sigma = (share * (1 - share) / n).squareRoot()
            #expect(abs(Double(set.count) / n - share) < 4 * sigma, "\(set.count) of \(users.count) for a share of \(share)")
        }
        #expect(inA.isDisjoint(with: inB))
        // Across layers: the users in both a and c are about 0.3 × 0.5 of all.
        let both = Double(inA.intersection(inC).count) / n
        #expect(abs(both - 0.15) < 4 * (0.15 * 0.85 / n).squareRoot(), "joint share \(both)")
        // Assignment picks one experiment per layer, in start order.
        for user in users.prefix(2_000) {
            let names = Experiment.assignments(of: user, among: [c, b, a]).map(\.experiment.name)
            let expected = [a, b, c].filter { $0.includes(user) }.map(\.name)
            #expect(Set(names) == Set(expected) && names.count == expected.count)
        }
        // The variant within an experiment does not depend on the slice: the salt alone decides.
        let full = try split("a")
        #expect(users.prefix(500).allSatisfy { full.variant(for: $0) == a.variant(for: $0) })
    }

    @Test("conflicts: overlapping traffic in a layer, or the same change in two layers, is refused when created; different changes in two layers run together")
    func conflicts() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("layers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteEventStore(path: dir.appendingPathComponent("t.db").path)
        try Experiment.create(try split("div", layer: "ranking", traffic: (0, 0.5)), in: store)
        // Same layer, overlapping slice.
        #expect { try Experiment.create(try split("div2", layer: "ranking", traffic: (0.4, 1)), in: store) } throws: { error in
            (error as? ExperimentError)?.field == "traffic" && "\(error)".contains("overlaps experiment 'div'")
        }
        // Another layer, the same option.
        #expect { try Experiment.create(try split("div3", layer: "other"), in: store) } throws: { error in
            (error as? ExperimentError)?.field == "layer" && "\(error)".contains("also changes diversity") && "\(error)".contains("layer 'ranking'")
        }
        // The same name.
        #expect { try Experiment.create(try split("div", layer: "z", treatment: ["rerank": "false"]), in: store) } throws: { error in
            (error as? ExperimentError)?.field == "name"
        }
        // Another layer changing something else, and the rest of the first layer: accepted.
        try Experiment.create(try split("model", layer: "models", treatment: [:], model: "v2"), in: store)
        try Experiment.create(try split("div4", layer: "ranking", traffic: (0.5, 1)), in: store)
        #expect(try Experiment.all(in: store).map(\.name) == ["div", "model", "div4"])
        // Interleaving changes the list: two interleaving experiments in two layers conflict.
        let i1 = try Experiment(name: "i1", variants: [.init(name: "a", share: 0.5), .init(name: "b", share: 0.5, options: ["rerank": "false"])],
                                started: 0, kind: .interleave, layer: "il1")
        let i2 = try Experiment(name: "i2", variants: [.init(name: "a", share: 0.5), .init(name: "b", share: 0.5, options: ["exclude_seen": "false"])],
                                started: 0, kind: .interleave, layer: "il2")
        #expect(i2.conflicts(with: i1)?.contains("list") == true)
    }

    @Test("experiments saved before layers read as A/B tests over all users of the default layer")
    func oldDocuments() throws {
        let json = #"[{"attributionWindowSeconds":86400,"name":"old","salt":"old","started":5,"status":"running","variants":[{"name":"control","options":{},"share":0.5},{"name":"treatment","options":{},"share":0.5}]}]"#
        let old = try #require(try JSONDecoder().decode([Experiment].self, from: Data(json.utf8)).first)
        #expect(old.kind == .split && old.layer == Experiment.defaultLayer && old.trafficStart == 0 && old.trafficEnd == 1)
        #expect(users.prefix(100).allSatisfy(old.includes))
        // And a new one round-trips.
        let new = try split("n", layer: "L", traffic: (0.2, 0.7))
        #expect(try JSONDecoder().decode(Experiment.self, from: JSONEncoder().encode(new)) == new)
    }

    @Test("bad experiments: an interleaving one needs exactly two different variants; a layer name and slice are checked")
    func badInput() throws {
        let two: [Experiment.Variant] = [.init(name: "a", share: 0.5), .init(name: "b", share: 0.5)]
        #expect { try Experiment(name: "i", variants: two, started: 0, kind: .interleave) } throws: { "\($0)".contains("serve the same lists") }
        #expect { try Experiment(name: "i", variants: [.init(name: "a", share: 0.3), .init(name: "b", share: 0.3), .init(name: "c", share: 0.4)], started: 0, kind: .interleave) }
            throws: { "\($0)".contains("exactly two variants") }
        #expect { try Experiment(name: "x", variants: two, started: 0, layer: "a b") } throws: { ($0 as? ExperimentError)?.field == "layer" }
        #expect { try Experiment(name: "x", variants: two, started: 0, traffic: (0.5, 0.5)) } throws: { ($0 as? ExperimentError)?.field == "traffic" }
        #expect { try Experiment(name: "x", variants: two, started: 0, traffic: (-0.1, 0.5)) } throws: { ($0 as? ExperimentError)?.field == "traffic" }
    }
}

@Suite("Interleaving reports")
struct InterleavingReportTests {
    let experiment = try! Experiment(name: "il", variants: [.init(name: "control", share: 0.5), .init(name: "candidate", share: 0.5, model: "v2")],
                                     started: 0, attributionWindowSeconds: 3_600, kind: .interleave)

    /// Lists of `k` items drafted from two rankers, one per user, with clicks: each shown item
    /// is clicked with probability `pA` if drafted by control, `pB` if by the candidate.
    func simulate(users: Int, pA: Double, pB: Double, seed: UInt64) -> [Event] {
        var rng = TailorRandom(seed: seed)
        var events: [Event] = []
        for u in 0..<users {
            let user = "u\(u)"
            let a = (0..<10).map { "i\(($0 * 7 + u) % 40)" }, b = (0..<10).map { "i\(($0 * 11 + 3 * u) % 40)" }
            let list = TeamDraft.interleave(a, b, k: 6, rng: &rng)
            let t = Int64(u) * 1_000
            for entry in list {
                events.append(experiment.exposure(user: user, item: entry.item, variant: entry.team == .a ? "control" : "candidate", at: t, list: "L\(u)"))
                if rng.nextDouble() < (entry.team == .a ? pA : pB) {
                    events.append(Event(user: user, item: entry.item, type: .click, timestampMilliseconds: t + 10_000))
                }
            }
        }
        return events
    }

    @Test("hand-made lists: wins, ties, the window, the latest list gets the click; sign-test and sequential p-values match SciPy")
    func handMade() throws {
        let e = experiment
        var events: [Event] = []
        // List 1 (u1): control drafts x, candidate y; u1 clicks y → candidate wins.
        events += [e.exposure(user: "u1", item: "x", variant: "control", at: 0, list: "1"), e.exposure(user: "u1", item: "y", variant: "candidate", at: 0, list: "1")]
        events.append(Event(user: "u1", item: "y", type: .click, timestampMilliseconds: 1_000))
        // List 2 (u2): clicks on both → tie. List 3 (u3): no clicks → tie.
        events += [e.exposure(user: "u2", item: "x", variant: "control", at: 0, list: "2"), e.exposure(user: "u2", item: "y", variant: "candidate", at: 0, list: "2")]
        events += [Event(user: "u2", item: "x", type: .click, timestampMilliseconds: 5), Event(user: "u2", item: "y", type: .click, timestampMilliseconds: 6)]
        events += [e.exposure(user: "u3", item: "x", variant: "candidate", at: 0, list: "3")]
        // List 4 then list 5 (u4) both show z; the click after list 5 credits list 5 (control there) only.
        events += [e.exposure(user: "u4", item: "z", variant: "candidate", at: 0, list: "4"), e.exposure(user: "u4", item: "z", variant: "control", at: 100_000, list: "5")]
        events.append(Event(user: "u4", item: "z", type: .click, timestampMilliseconds: 100_500))
        // List 6 (u5): a click two hours later is outside the hour's window → tie.
        events += [e.exposure(user: "u5", item: "x", variant: "control", at: 0, list: "6")]
        events.append(Event(user: "u5", item: "x", type: .click, timestampMilliseconds: 7_200_000))
        let r = ExperimentReport.make(e, events: events.shuffled())
        let i = try #require(r.interleaving)
        #expect(i.lists == 6 && i.users == 5 && i.winsA == 1 && i.winsB == 1 && i.ties == 3)
        #expect(r.arms.map(\.exposures.trials) == [4, 4] && r.arms.map(\.exposures.successes) == [2, 2])
        // 8 of 10 for B: sign test p = 0.109375 (scipy.stats.binomtest(8, 10)); Beta(1, 1)
        // mixture after the 10th: 1/Λ = 0.4833984375 (exp(-(betaln(9, 3) + 10 log 2))), the
        // smallest over the looks when A's two wins come first (after them 1, 0.75, then
        // falling); with B's eight first, the smallest is after the 8th: 1/(2⁸ B(9, 1)) = 9/256.
        let ten = ExperimentReport.Interleaving.make(lists: 12, users: 12, decisions: [false, false] + Array(repeating: true, count: 8))
        #expect(abs(ten.pValue - 0.109375) < 1e-12 && ten.ties == 2 && abs(ten.preferenceForB - 6.0 / 12) < 1e-12)
        #expect(abs(ten.sequentialPValue - 0.4833984375) < 1e-9)
        let peeked = ExperimentReport.Interleaving.make(lists: 10, users: 10, decisions: Array(repeating: true, count: 8) + [false, false])
        #expect(abs(peeked.sequentialPValue - 9.0 / 256) < 1e-12 && peeked.pValue == ten.pValue)
        let early = ExperimentReport.Interleaving.make(lists: 10, users: 10, decisions: Array(repeating: true, count: 10))
        #expect(abs(early.sequentialPValue - 0.0107421875) < 1e-12)
        // A user is one unit however many lists they see: u6 wins three lists for B and loses one.
        var more = events
        for n in 0..<4 {
            more.append(e.exposure(user: "u6", item: "x", variant: n < 3 ? "candidate" : "control", at: Int64(n) * 4_000_000, list: "u6-\(n)"))
            more.append(Event(user: "u6", item: "x", type: .click, timestampMilliseconds: Int64(n) * 4_000_000 + 1))
        }
        let j = try #require(ExperimentReport.make(e, events: more).interleaving)
        #expect(j.lists == 10 && j.users == 6 && j.winsB == 2 && j.winsA == 1 && j.ties == 3)
    }

    @Test("simulated: a candidate whose items draw more clicks wins with a small p; A/A interleaving rejects near 5 % with the sign test and at most 5 % (within 3σ) with the sequential p-value")
    func simulated() throws {
        let lift = ExperimentReport.make(experiment, events: simulate(users: 3_000, pA: 0.05, pB: 0.08, seed: 1))
        let i = try #require(lift.interleaving)
        #expect(i.winsB > i.winsA && i.preferenceForB > 0 && i.pValue < 1e-3 && i.sequentialPValue < 0.05, "\(i)")
        #expect(!lift.sampleRatioMismatch)
        var signRejects = 0, sequentialRejects = 0
        let runs = 300
        for seed in 0..<runs {
            let r = try #require(ExperimentReport.make(experiment, events: simulate(users: 300, pA: 0.1, pB: 0.1, seed: 100 + UInt64(seed))).interleaving)
            if r.pValue <= 0.05 { signRejects += 1 }
            if r.sequentialPValue <= 0.05 { sequentialRejects += 1 }
        }
        let sigma = (0.05 * 0.95 / Double(runs)).squareRoot()
        let signRate = Double(signRejects) / Double(runs)
        #expect(signRate < 0.05 + 3 * sigma && signRate > 0.01, "sign test rejected \(signRejects) of \(runs) A/A runs")
        #expect(Double(sequentialRejects) / Double(runs) < 0.05 + 3 * sigma, "sequential rejected \(sequentialRejects) of \(runs)")
    }
}
