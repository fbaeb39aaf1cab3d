import Foundation
import Testing
import TailorData
import TailorLinalg
import TailorModels
@testable import TailorExperiments

@Suite("Drift measures")
struct DriftMeasureTests {
    @Test("RBO: 1 for identical lists, 0 for disjoint ones, higher when the top agrees than when the tail does")
    func rbo() {
        let a = (0..<10).map { "i\($0)" }
        #expect(abs(DriftMeasures.rbo(a, a) - 1) < 1e-12)
        #expect(DriftMeasures.rbo(a, (10..<20).map { "i\($0)" }) == 0)
        let swappedTop = ["i1", "i0"] + a.dropFirst(2)
        let swappedTail = Array(a.prefix(8)) + ["i9", "i8"]
        #expect(DriftMeasures.rbo(a, swappedTail) > DriftMeasures.rbo(a, swappedTop))
        #expect(DriftMeasures.rbo(a, swappedTop) < 1)
        // By hand, k 2, p 0.5: depth 1 shares nothing, depth 2 shares both:
        // (2/2)·0.25 + (0.5/0.5)·(0·0.5 + (2/2)·0.25) = 0.5.
        #expect(abs(DriftMeasures.rbo(["a", "b"], ["b", "a"], p: 0.5) - 0.5) < 1e-12)
        #expect(DriftMeasures.jaccard(["a", "b", "c"], ["b", "c", "d"]) == 0.5)
    }

    @Test("PSI: 0 for the same distribution, the textbook value for a known shift, clear errors for mismatched bins")
    func psi() throws {
        #expect(try DriftMeasures.psi([1, 2, 3], [10, 20, 30]) == 0)
        // (0.5 − 0.25)·ln 2 + (0.5 − 0.75)·ln(2/3) = 0.25·(ln 2 + ln 1.5) = 0.25 · ln 3.
        #expect(abs(try DriftMeasures.psi([1, 1], [1, 3]) - 0.25 * log(3.0)) < 1e-12)
        #expect(throws: ExperimentError.self) { try DriftMeasures.psi([1, 2], [1, 2, 3]) }
        #expect(throws: ExperimentError.self) { try DriftMeasures.psi([0, 0], [1, 2]) }
        var rng = TailorRandom(seed: 4)
        let a = (0..<5_000).map { _ in Float(rng.nextGaussian()) }
        let same = (0..<5_000).map { _ in Float(rng.nextGaussian()) }
        let shifted = (0..<5_000).map { _ in Float(rng.nextGaussian()) + 1 }
        #expect(try DriftMeasures.psi(reference: a, current: same) < 0.02)
        #expect(try DriftMeasures.psi(reference: a, current: shifted) > 0.5)
    }

    @Test("Jacobi eigen-decomposition reconstructs the matrix with orthonormal vectors")
    func eigen() {
        var rng = TailorRandom(seed: 8)
        let n = 12
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in i..<n { let x = rng.nextGaussian(); a[i * n + j] = x; a[j * n + i] = x } }
        let (values, v) = DriftMeasures.symmetricEigen(a, n: n)
        for i in 0..<n {
            for j in 0..<n {
                let rebuilt = (0..<n).reduce(0.0) { $0 + v[i * n + $1] * values[$1] * v[j * n + $1] }
                #expect(abs(rebuilt - a[i * n + j]) < 1e-9)
                let gram = (0..<n).reduce(0.0) { $0 + v[$1 * n + i] * v[$1 * n + j] }
                #expect(abs(gram - (i == j ? 1 : 0)) < 1e-9)
            }
        }
    }

    @Test("Procrustes recovers a planted rotation, so rotated vectors show no shift")
    func procrustes() throws {
        var rng = TailorRandom(seed: 3)
        let d = 8
        let a = Matrix(rows: 200, columns: d, storage: (0..<(200 * d)).map { _ in Float(rng.nextGaussian()) })
        // A random orthogonal matrix: Gram–Schmidt on Gaussian columns.
        var q = [[Double]]()
        while q.count < d {
            var v = (0..<d).map { _ in rng.nextGaussian() }
            for u in q { let p = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 }; v = zip(v, u).map { $0 - p * $1 } }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            q.append(v.map { $0 / norm })
        }
        let rotation = Matrix(rows: d, columns: d, storage: (0..<(d * d)).map { Float(q[$0 / d][$0 % d]) })
        let b = a.multiplied(by: rotation)
        let r = try DriftMeasures.procrustes(a, onto: b)
        for i in 0..<d { for j in 0..<d { #expect(abs(r[i, j] - rotation[i, j]) < 1e-3) } }
        #expect(ModelDrift.cosineShifts(a.multiplied(by: r), b).allSatisfy { $0 < 1e-5 })
        #expect(ModelDrift.cosineShifts(a, b).reduce(0, +) / 200 > 0.3, "unaligned, the rotation looks like drift")
    }
}

@Suite("Model and data drift")
struct DriftTests {
    static let log: Interactions = {
        var c = SyntheticLog.Configuration()
        c.users = 400; c.items = 150; c.interactions = 8_000; c.seed = 12
        return SyntheticLog.generate(c).interactions
    }()

    func model(_ log: Interactions, seed: UInt64, factors: Int = 8) throws -> ModelBundle {
        let als = try ALS.fit(InteractionMatrix(log), configuration: .init(factors: factors, iterations: 8, seed: seed, threads: 1))
        return try ModelBundle(model: als, training: log)
    }

    @Test("a model against itself shows no drift; a retrain with another seed shifts vectors and lists a little; different data shifts more")
    func versions() throws {
        let a = try model(Self.log, seed: 1)
        let same = try ModelDrift.compare(a, a, k: 10, users: 200)
        #expect(same.topKJaccard == 1 && abs(same.topKRBO - 1) < 1e-9 && same.scorePSI < 1e-9)
        let itemShift = try #require(same.itemShift), userShift = try #require(same.userShift)
        #expect(itemShift.mean < 1e-4 && userShift.mean < 1e-4)
        #expect(same.newUserShare == 0 && same.newItemShare == 0 && same.usersCompared == 200)
        // Another seed: ALS finds the same subspace turned, so after Procrustes the items barely move.
        let b = try model(Self.log, seed: 2)
        let reseeded = try ModelDrift.compare(a, b, k: 10, users: 200)
        let reseededShift = try #require(reseeded.itemShift)
        #expect(reseededShift.median < 0.25, "\(reseededShift)")
        #expect(reseeded.topKJaccard > 0.4 && reseeded.topKJaccard < 1)
        // Half the data: more drift than a reseed.
        let half = Self.log.selecting(Array(stride(from: 0, to: Self.log.count, by: 2))).compacted()
        let c = try model(half, seed: 1)
        let halved = try ModelDrift.compare(a, c, k: 10, users: 200)
        let halvedShift = try #require(halved.itemShift)
        #expect(halved.topKRBO < reseeded.topKRBO && halvedShift.mean > reseededShift.mean, "\(halved) vs \(reseeded)")
    }

    @Test("embedding quality: the rolling NDCG on a window of the user's own next items beats a window of random items; the vectors cluster")
    func rollingQuality() throws {
        let split = try Split.make(Self.log, method: .random(testFraction: 0.2), seed: 5)
        let model = try model(split.train, seed: 1)
        func window(_ pairs: [(String, String)]) -> EventLog {
            EventLog(pairs.map { Event(user: $0.0, item: $0.1, type: .click, timestampMilliseconds: 2_000) }
                     + [Event(user: "old", item: "x", type: .click, timestampMilliseconds: 10)])
        }
        let test = split.test
        let heldOut = (0..<test.count).map { (test.userIDs[test.users[$0]], test.itemIDs[test.items[$0]]) }
        var rng = TailorRandom(seed: 3)
        let random = heldOut.map { ($0.0, Self.log.itemIDs[Int32(rng.nextInt(below: Self.log.itemIDs.count))]) }
        let real = try EmbeddingQuality.measure(model, log: window(heldOut), since: 1_000, users: 300)
        let noise = try EmbeddingQuality.measure(model, log: window(random), since: 1_000, users: 300)
        let a = try #require(real.rollingNDCG), b = try #require(noise.rollingNDCG)
        #expect(real.rollingUsers == 300 && a > 2 * b && a > 0.1, "held-out \(a) vs random \(b)")
        #expect((real.silhouette ?? -1) > 0 && (real.silhouette ?? 2) <= 1)
        let empty = try EmbeddingQuality.measure(model, log: window(heldOut), since: 5_000)
        #expect(empty.rollingNDCG == nil && empty.rollingUsers == 0)
    }

    @Test("models with disjoint catalogues are refused with a clear error")
    func disjoint() throws {
        let a = try model(Self.log, seed: 1)
        var renamed = IDMap()
        for i in 0..<Self.log.itemIDs.count { _ = renamed.insert("other-" + Self.log.itemIDs[Int32(i)]) }
        let other = Interactions(users: Self.log.users, items: Self.log.items, values: Self.log.values, userIDs: Self.log.userIDs, itemIDs: renamed)
        let b = try model(other, seed: 1)
        #expect { try ModelDrift.compare(a, b) } throws: { ($0 as? ExperimentError)?.reason.contains("disjoint catalogues") == true }
    }

    @Test("data drift: the event mix's PSI and the share of new users and items")
    func data() throws {
        let t: Int64 = 1_750_000_000_000
        let before = (0..<100).map { Event(user: "u\($0 % 10)", item: "i\($0 % 20)", type: $0 % 4 == 0 ? .purchase : .click, timestampMilliseconds: t) }
        let after = (0..<100).map { Event(user: "u\($0 % 20)", item: "i\($0 % 20)", type: $0 % 2 == 0 ? .purchase : .click, timestampMilliseconds: t) }
        let d = try DataDrift.compare(before: before, after: after)
        #expect(d.before["purchase"] == 0.25 && d.after["purchase"] == 0.5)
        #expect(abs(d.eventMixPSI - 0.25 * Foundation.log(3.0)) < 1e-12, "the same shift as the textbook case")
        #expect(d.newUserShare == 0.5 && d.newItemShare == 0)
        #expect(try DataDrift.compare(before: before, after: before).eventMixPSI == 0)
        #expect(throws: ExperimentError.self) { try DataDrift.compare(before: [], after: after) }
        // From a log by windows: an event dated in the future is left out, not the window's end.
        var log = EventLog(before.map { var e = $0; e.timestampMilliseconds = t - 10 * 86_400_000; return e } + after)
        log.append(Event(user: "u1", item: "i1", type: .click, timestampMilliseconds: 4_102_444_800_000))
        let windowed = try DataDrift.compare(log, window: 7 * 86_400_000, now: t + 1)
        #expect(windowed.futureEvents == 1 && windowed.eventsBefore == 100 && windowed.eventsAfter == 100)
        #expect(windowed.windowEnd == t, "the window ends at the latest event up to now, not at the one dated 2100")
        #expect(abs(windowed.eventMixPSI - d.eventMixPSI) < 1e-12)
    }
}

@Suite("Drift thresholds")
struct DriftThresholdTests {
    func drift(psi: Double, newItems: Double, newUsers: Double) -> DataDrift {
        DataDrift(before: [:], after: [:], eventMixPSI: psi, newUserShare: newUsers, newItemShare: newItems, eventsBefore: 10, eventsAfter: 10)
    }

    @Test("each threshold alerts only above its value and says which it was; none set, nothing alerts")
    func crossed() {
        let t = DriftThresholds(eventMixPSI: 0.25, newItemShare: 0.3, newUserShare: 0.5, ndcgDrop: 0.2)
        #expect(t.crossed(drift(psi: 0.2, newItems: 0.3, newUsers: 0.5), ndcg: 0.081, baseline: 0.1).isEmpty, "all at or within their limits")
        #expect(t.crossed(drift(psi: 0.26, newItems: 0, newUsers: 0), ndcg: nil, baseline: nil).map { $0.prefix(13) } == ["event-mix PSI"])
        #expect(t.crossed(drift(psi: 0, newItems: 0.31, newUsers: 0), ndcg: nil, baseline: nil).first?.hasPrefix("new items 31.0 %") == true)
        #expect(t.crossed(drift(psi: 0, newItems: 0, newUsers: 0.6), ndcg: nil, baseline: nil).first?.hasPrefix("new users") == true)
        #expect(t.crossed(drift(psi: 0, newItems: 0, newUsers: 0), ndcg: 0.079, baseline: 0.1).first?.hasPrefix("rolling NDCG@10") == true)
        #expect(t.crossed(drift(psi: 0, newItems: 0, newUsers: 0), ndcg: 0.079, baseline: nil).isEmpty, "no baseline yet")
        #expect(t.crossed(drift(psi: 1, newItems: 0.9, newUsers: 0.9), ndcg: 0.01, baseline: 0.1).count == 4)
        #expect(DriftThresholds().crossed(drift(psi: 9, newItems: 1, newUsers: 1), ndcg: 0, baseline: 1).isEmpty && DriftThresholds().isEmpty)
    }

    @Test("a threshold out of its range is refused, naming it")
    func validation() {
        for (t, field) in [(DriftThresholds(eventMixPSI: 0), "eventMixPSI"), (DriftThresholds(newItemShare: 1), "newItemShare"),
                           (DriftThresholds(newUserShare: -0.1), "newUserShare"), (DriftThresholds(ndcgDrop: .nan), "ndcgDrop")] {
            #expect { try t.validate() } throws: { ($0 as? ExperimentError)?.field == field }
        }
        #expect(throws: Never.self) { try DriftThresholds(eventMixPSI: 0.25, newItemShare: 0.3, newUserShare: 0.5, ndcgDrop: 0.2).validate() }
    }
}
