import Foundation
import Testing
import TailorData
import TailorLinalg
@testable import TailorExperiments

/// Draws from Binomial(n, p) by counting Bernoulli trials.
func binomial(_ n: Int, _ p: Double, _ rng: inout TailorRandom) -> Int {
    var k = 0
    for _ in 0..<n where rng.nextDouble() < p { k += 1 }
    return k
}

@Suite("A/B statistics")
struct ABStatisticsTests {
    @Test("distributions match SciPy: normal quantiles, χ² tails in both branches")
    func distributions() {
        #expect(abs(ABStatistics.normalQuantile(0.975) - 1.959963984540054) < 1e-12)
        #expect(abs(ABStatistics.normalQuantile(0.01) - -2.3263478740408408) < 1e-12)
        #expect(abs(ABStatistics.normalQuantile(1e-6) - -4.753424308822899) < 1e-10)
        #expect(abs(ABStatistics.chiSquareSurvival(3.841458820694124, degrees: 1) - 0.05) < 1e-12)
        #expect(abs(ABStatistics.chiSquareSurvival(0.5, degrees: 3) - 0.9188914116546758) < 1e-12)  // series
        #expect(abs(ABStatistics.chiSquareSurvival(30, degrees: 4) / 4.894437128029217e-06 - 1) < 1e-9)  // continued fraction
        #expect(abs(ABStatistics.chiSquareSurvival(100, degrees: 10) / 5.4497019829205215e-17 - 1) < 1e-8)
    }

    @Test("Wilson interval, z-test and sample-ratio check give the textbook values")
    func textbook() {
        let w = ABStatistics.Proportion(successes: 10, trials: 100).wilson()
        #expect(abs(w.lowerBound - 0.0552291370606751) < 1e-12 && abs(w.upperBound - 0.17436566150491345) < 1e-12)
        #expect(abs(ABStatistics.Proportion(successes: 0, trials: 20).wilson().lowerBound) < 1e-12)
        let c = ABStatistics.compare(control: .init(successes: 100, trials: 1_000), variant: .init(successes: 130, trials: 1_000))
        #expect(abs(c.z - 2.102740605622114) < 1e-12 && abs(c.pValue - 0.03548845046647471) < 1e-12)
        #expect(abs(c.difference - 0.03) < 1e-12 && abs(c.relativeLift - 0.3) < 1e-12 && c.lower > 0 && c.upper < 0.07)
        let even = ABStatistics.sampleRatio(observed: [5_000, 5_000], expectedShares: [0.5, 0.5])
        #expect(even.chiSquare == 0 && even.pValue == 1)
        let skewed = ABStatistics.sampleRatio(observed: [5_200, 4_800], expectedShares: [0.5, 0.5])
        #expect(abs(skewed.chiSquare - 16) < 1e-12 && abs(skewed.pValue / 6.334248366623988e-05 - 1) < 1e-9)
    }

    @Test("delta method: the ratio's variance matches NumPy's formula; a single user's trials are one unit")
    func deltaMethod() {
        var r = ABStatistics.Ratio()
        for (c, t) in zip([0.0, 1, 3, 0, 2], [2.0, 4, 5, 1, 3]) { r.add(successes: c, trials: t) }
        // R = 6/15; (var c − 2R cov + R² var t) / (n t̄²) with ddof 1, computed in NumPy.
        #expect(abs(r.rate - 0.4) < 1e-15 && abs(r.variance - 0.01555555555555556) < 1e-15)
        #expect(abs(r.designEffect - 0.9722222222222225) < 1e-12)
        var one = ABStatistics.Ratio()
        one.add(successes: 3, trials: 10)
        #expect(one.variance == 0 && one.wilson() == 0...1, "one user says nothing about the spread between users")
    }

    @Test("A/A tests on clustered clicks (users differ in click rate, each shown 10 items): the per-exposure z-test rejects far above 5 %, the delta method near 5 %")
    func clustered() {
        var rng = TailorRandom(seed: 11)
        var naive = 0, delta = 0
        let runs = 600, users = 400, shown = 10
        for _ in 0..<runs {
            var ratios = [ABStatistics.Ratio(), ABStatistics.Ratio()]
            var props = [ABStatistics.Proportion(successes: 0, trials: 0), ABStatistics.Proportion(successes: 0, trials: 0)]
            for u in 0..<(2 * users) {
                // Click propensity: most users rarely click, a fifth click often.
                let p = rng.nextDouble() < 0.2 ? 0.4 : 0.03
                let clicks = binomial(shown, p, &rng)
                ratios[u % 2].add(successes: Double(clicks), trials: Double(shown))
                props[u % 2].successes += clicks; props[u % 2].trials += shown
            }
            if ABStatistics.compare(control: props[0], variant: props[1]).pValue < 0.05 { naive += 1 }
            if ABStatistics.compare(control: ratios[0], variant: ratios[1]).pValue < 0.05 { delta += 1 }
        }
        let sigma = (0.05 * 0.95 / Double(runs)).squareRoot()
        let naiveRate = Double(naive) / Double(runs), deltaRate = Double(delta) / Double(runs)
        #expect(naiveRate > 0.15, "per-exposure z-test: \(naiveRate)")
        #expect(abs(deltaRate - 0.05) < 3 * sigma, "delta method: \(deltaRate)")
    }

    @Test("simulated A/A tests reject at the nominal 5 %, and a planted lift is found with the power theory predicts")
    func falsePositivesAndPower() {
        var rng = TailorRandom(seed: 11)
        let runs = 2_000, n = 1_000
        var aa = 0
        for _ in 0..<runs {
            let c = ABStatistics.compare(control: .init(successes: binomial(n, 0.1, &rng), trials: n), variant: .init(successes: binomial(n, 0.1, &rng), trials: n))
            if c.pValue < 0.05 { aa += 1 }
        }
        // Binomial(2000, 0.05) has sd 0.0049: ±0.015 is three of them.
        #expect(abs(Double(aa) / Double(runs) - 0.05) < 0.015, "A/A false-positive rate \(Double(aa) / Double(runs))")
        // 10 % against 12 %, 2,000 users per arm: power ≈ Φ(Δ/se − 1.96) = 0.525.
        let m = 2_000
        let se = (0.1 * 0.9 / Double(m) + 0.12 * 0.88 / Double(m)).squareRoot()
        let theory = ABStatistics.normalSurvival(1.959963984540054 - 0.02 / se)
        var found = 0
        for _ in 0..<1_000 {
            let c = ABStatistics.compare(control: .init(successes: binomial(m, 0.1, &rng), trials: m), variant: .init(successes: binomial(m, 0.12, &rng), trials: m))
            if c.pValue < 0.05 && c.difference > 0 { found += 1 }
        }
        #expect(abs(Double(found) / 1_000 - theory) < 0.05, "power \(Double(found) / 1_000) against \(theory)")
    }

    @Test("peeking: the always-valid p-value keeps the A/A rate under 5 % over 50 looks, where the z-test's peeking inflates it; it still finds a real lift")
    func sequential() {
        var rng = TailorRandom(seed: 21)
        let runs = 400, step = 200, looks = 50
        var alwaysValid = 0, naive = 0, detected = 0
        for run in 0..<(2 * runs) {
            let lift = run >= runs  // the second half has a planted 10 % → 13 % lift
            var a = ABStatistics.Proportion(successes: 0, trials: 0), b = a
            var sequential = ABStatistics.Sequential()
            var naiveHit = false, validHit = false
            for _ in 0..<looks {
                a.successes += binomial(step, 0.1, &rng); a.trials += step
                b.successes += binomial(step, lift ? 0.13 : 0.1, &rng); b.trials += step
                if sequential.update(control: a, variant: b) <= 0.05 { validHit = true }
                if ABStatistics.compare(control: a, variant: b).pValue < 0.05 { naiveHit = true }
            }
            if lift { detected += validHit ? 1 : 0 } else { alwaysValid += validHit ? 1 : 0; naive += naiveHit ? 1 : 0 }
        }
        let validRate = Double(alwaysValid) / Double(runs), naiveRate = Double(naive) / Double(runs)
        #expect(validRate <= 0.05 + 0.02, "always-valid A/A rate \(validRate)")
        #expect(naiveRate > 0.15, "peeking at the z-test should inflate its rate well past 5 %: \(naiveRate)")
        #expect(Double(detected) / Double(runs) > 0.8, "a 30 % lift over 10,000 users per arm: found in \(detected) of \(runs)")
    }
}

@Suite("Experiments and interleaving")
struct ExperimentTests {
    func experiment(_ shares: [Double], salt: String? = nil) throws -> Experiment {
        try Experiment(name: "e1", salt: salt, variants: shares.enumerated().map { .init(name: "v\($0.offset)", share: $0.element) }, started: 0)
    }

    @Test("assignment follows the shares, passes its own sample-ratio check, and never changes for a user")
    func assignment() throws {
        let e = try experiment([0.5, 0.3, 0.2])
        var counts = [0, 0, 0]
        for u in 0..<100_000 { counts[Int(e.variant(for: "user-\(u)").name.dropFirst())!] += 1 }
        #expect(ABStatistics.sampleRatio(observed: counts, expectedShares: [0.5, 0.3, 0.2]).pValue > 0.001, "\(counts)")
        for (c, share) in zip(counts, [0.5, 0.3, 0.2]) { #expect(abs(Double(c) / 100_000 - share) < 0.01) }
        // Stable across processes, replicas and releases: the hash equals an independent Python
        // implementation of FNV-1a + the SplitMix64 finalizer on these inputs.
        #expect(Experiment.unitHash("") == 0.9576734252420561)
        #expect(Experiment.unitHash("e1\u{1F}user-1") == 0.21284550317615247)
        #expect(Experiment.unitHash("checkout\u{1F}42") == 0.9613213452649716)
        let again = try experiment([0.5, 0.3, 0.2])
        #expect((0..<1_000).allSatisfy { e.variant(for: "u\($0)") == again.variant(for: "u\($0)") })
    }

    @Test("different salts assign independently: the joint counts match the product of the shares")
    func independentSalts() throws {
        let x = try experiment([0.5, 0.5], salt: "x"), y = try experiment([0.5, 0.5], salt: "y")
        var joint = [0, 0, 0, 0]
        for u in 0..<40_000 { joint[(x.variant(for: "\(u)").name == "v0" ? 0 : 2) + (y.variant(for: "\(u)").name == "v0" ? 0 : 1)] += 1 }
        #expect(ABStatistics.sampleRatio(observed: joint, expectedShares: [0.25, 0.25, 0.25, 0.25]).pValue > 0.001, "\(joint)")
        #expect((0..<2_000).contains { x.variant(for: "\($0)") != y.variant(for: "\($0)") })
    }

    @Test("bad experiments are clear errors: shares not summing to 1, one variant, repeated names, a bad share")
    func badExperiments() {
        #expect { try experiment([0.5, 0.4]) } throws: { ($0 as? ExperimentError)?.reason.contains("sum to 0.9") == true }
        #expect { try experiment([1]) } throws: { ($0 as? ExperimentError)?.field == "variants" }
        #expect { try experiment([1.5, -0.5]) } throws: { ($0 as? ExperimentError)?.field == "variants.v0.share" }
        #expect(throws: ExperimentError.self) {
            try Experiment(name: "e", variants: [.init(name: "a", share: 0.5), .init(name: "a", share: 0.5)], started: 0)
        }
        #expect(throws: ExperimentError.self) { try Experiment(name: "has space", variants: [.init(name: "a", share: 0.5), .init(name: "b", share: 0.5)], started: 0) }
    }

    @Test("team-draft interleaving: k distinct items, balanced teams, each team's picks in its ranker's order; credit and sign test")
    func interleaving() {
        var rng = TailorRandom(seed: 5)
        let a = (0..<20).map { "a\($0)" } + ["s1", "s2"], b = ["s1", "s2"] + (0..<20).map { "b\($0)" }
        for _ in 0..<50 {
            let list = TeamDraft.interleave(a, b, k: 10, rng: &rng)
            #expect(list.count == 10 && Set(list.map(\.item)).count == 10)
            var countA = 0, countB = 0
            for entry in list {
                if entry.team == .a { countA += 1 } else { countB += 1 }
                #expect(abs(countA - countB) <= 1)
            }
            let picksA = list.filter { $0.team == .a }.map(\.item), picksB = list.filter { $0.team == .b }.map(\.item)
            #expect(picksA == a.filter(picksA.contains) && picksB == b.filter(picksB.contains))
        }
        let short = TeamDraft.interleave(["x"], ["x", "y"], k: 10, rng: &rng)
        #expect(Set(short.map(\.item)) == ["x", "y"])
        let list: [(item: String, team: TeamDraft.Team)] = [("p", .a), ("q", .b), ("r", .b)]
        #expect(TeamDraft.winner(list, clicked: ["q", "r", "p"]) == .b && TeamDraft.winner(list, clicked: ["p", "q"]) == nil)
        #expect(abs(TeamDraft.report(winsA: 2, winsB: 8, ties: 5).pValue - 0.109375) < 1e-12)
        #expect(TeamDraft.report(winsA: 500, winsB: 500, ties: 0).pValue > 0.9)
        #expect(TeamDraft.report(winsA: 400, winsB: 600, ties: 100).pValue < 1e-9)
    }

    @Test("interleaving is more sensitive than an A/B test when users differ: each user compares both rankers, so their own click rate cancels")
    func interleavingSensitivity() {
        // A fifth of the users click a lot (0.2 per shown item), the rest rarely (0.005); every
        // user clicks ranker B's items 15 % more often than A's. Over 60 simulated experiments
        // of 3,000 users, count how often each method finds the difference at p < 0.05.
        var rng = TailorRandom(seed: 7)
        var foundInterleaved = 0, foundAB = 0
        let experiments = 60, users = 3_000
        for _ in 0..<experiments {
            var winsA = 0, winsB = 0, ties = 0, clicksA = 0, clicksB = 0
            for u in 0..<users {
                let rate = rng.nextDouble() < 0.2 ? 0.2 : 0.005
                // Interleaved: five items drafted by each team.
                let a = (0..<5).filter { _ in rng.nextDouble() < rate }.count, b = (0..<5).filter { _ in rng.nextDouble() < rate * 1.15 }.count
                if a > b { winsA += 1 } else if b > a { winsB += 1 } else { ties += 1 }
                // A/B: another user sees ten items of one ranker; converted if any is clicked.
                let other = rng.nextDouble() < 0.2 ? 0.2 : 0.005
                let any = (0..<10).contains { _ in rng.nextDouble() < other * (u % 2 == 0 ? 1 : 1.15) }
                if u % 2 == 0 { clicksA += any ? 1 : 0 } else { clicksB += any ? 1 : 0 }
            }
            if TeamDraft.report(winsA: winsA, winsB: winsB, ties: ties).pValue < 0.05 && winsB > winsA { foundInterleaved += 1 }
            let ab = ABStatistics.compare(control: .init(successes: clicksA, trials: users / 2), variant: .init(successes: clicksB, trials: users / 2))
            if ab.pValue < 0.05 && ab.difference > 0 { foundAB += 1 }
        }
        #expect(foundInterleaved > 2 * foundAB && foundInterleaved > experiments / 3,
                "interleaving found the preference in \(foundInterleaved) of \(experiments) experiments, the A/B test in \(foundAB)")
    }
}

@Suite("Experiment reports")
struct ExperimentReportTests {
    @Test("clicks on shown items and purchases count within the window only, per variant, with the control comparison and the split check")
    func attribution() throws {
        let e = try Experiment(name: "t", variants: [.init(name: "control", share: 0.5), .init(name: "treatment", share: 0.5)], started: 0,
                               attributionWindowSeconds: 3_600)
        let h: Int64 = 3_600_000
        var events: [Event] = []
        // Users split by their hash; each is shown items a and b at time h.
        let users = (0..<200).map { "u\($0)" }
        for u in users {
            let v = e.variant(for: u).name
            events += ["a", "b"].map { e.exposure(user: u, item: $0, variant: v, at: h) }
        }
        let control = users.filter { e.variant(for: $0).name == "control" }, treatment = users.filter { e.variant(for: $0).name == "treatment" }
        // Control: 10 users click a within the hour; 5 click it two hours later (too late); 5 click an
        // item they were not shown. Treatment: 30 users click a, 10 of them also b; 8 buy something.
        for u in control.prefix(10) { events.append(Event(user: u, item: "a", type: .click, timestampMilliseconds: h + 60_000)) }
        for u in control.dropFirst(10).prefix(5) { events.append(Event(user: u, item: "a", type: .click, timestampMilliseconds: 3 * h)) }
        for u in control.dropFirst(15).prefix(5) { events.append(Event(user: u, item: "zzz", type: .click, timestampMilliseconds: h + 1)) }
        for u in treatment.prefix(30) { events.append(Event(user: u, item: "a", type: .click, timestampMilliseconds: h + 1_000)) }
        for u in treatment.prefix(10) { events.append(Event(user: u, item: "b", type: .click, timestampMilliseconds: h + 2_000)) }
        for u in treatment.suffix(8) { events.append(Event(user: u, item: "q", type: .purchase, timestampMilliseconds: h + 5_000)) }
        // Another experiment's exposures and untagged exposures are not this one's.
        var other = e.exposure(user: "u1", item: "c", variant: "control", at: h)
        other.context.extra[Experiment.experimentKey] = "other"
        events.append(other)
        events.append(Event(user: "u2", item: "d", type: EventType("exposure"), timestampMilliseconds: h))
        let r = ExperimentReport.make(e, events: events.shuffled())
        let c = r.arms[0], t = r.arms[1]
        #expect(c.variant == "control" && c.users == control.count && c.exposures.trials == 2 * control.count && c.exposures.successes == 10)
        #expect(t.users == treatment.count && t.exposures.trials == 2 * treatment.count && t.exposures.successes == 40)
        #expect(c.conversions.successes == 0 && t.conversions.successes == 8 && t.conversions.trials == treatment.count)
        // The CTR comparison is over users (each shown 2 items): control 10 users with 1 click,
        // treatment 10 with 2 and 20 with 1; the rest none.
        var controlRatio = ABStatistics.Ratio(), treatmentRatio = ABStatistics.Ratio()
        for (i, _) in control.enumerated() { controlRatio.add(successes: i < 10 ? 1 : 0, trials: 2) }
        for (i, _) in treatment.enumerated() { treatmentRatio.add(successes: i < 10 ? 2 : i < 30 ? 1 : 0, trials: 2) }
        let expected = ABStatistics.compare(control: controlRatio, variant: treatmentRatio)
        #expect(t.ctr == expected && c.ctr == nil)
        // The treatment's clicks cluster (10 users clicked both items): its variance is above the
        // independent-exposure one, and its interval wider than the plain Wilson interval.
        #expect(t.ctrDesignEffect! > 1.2 && t.ctrInterval[1] - t.ctrInterval[0] > t.exposures.wilson().upperBound - t.exposures.wilson().lowerBound)
        #expect(abs(r.sampleRatioPValue - ABStatistics.sampleRatio(observed: [control.count, treatment.count], expectedShares: [0.5, 0.5]).pValue) < 1e-12)
        #expect(!r.sampleRatioMismatch && r.looks == 20)
        let sequential = try #require(t.sequentialPValue)
        #expect(sequential >= expected.pValue - 1e-12 && sequential <= 1, "an always-valid p-value is never below the fixed-horizon one at the end")
    }

    @Test("a broken split is flagged: one variant's exposures lost")
    func sampleRatioMismatch() throws {
        let e = try Experiment(name: "t", variants: [.init(name: "control", share: 0.5), .init(name: "treatment", share: 0.5)], started: 0)
        var events: [Event] = []
        for u in (0..<2_000).map({ "u\($0)" }) {
            let v = e.variant(for: u).name
            // Logging drops a third of the treatment's users.
            if v == "treatment" && Experiment.unitHash("drop" + u) < 1.0 / 3 { continue }
            events.append(e.exposure(user: u, item: "a", variant: v, at: 1_000))
        }
        let r = ExperimentReport.make(e, events: events)
        #expect(r.sampleRatioMismatch && r.sampleRatioPValue < 0.001)
    }
}
