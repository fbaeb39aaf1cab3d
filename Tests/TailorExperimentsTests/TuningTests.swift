import Foundation
import Testing
import TailorData
import TailorLinalg
import TailorModels
@testable import TailorExperiments

@Suite("Search spaces")
struct SearchSpaceTests {
    func parse(_ text: String) throws -> SearchSpace {
        try SearchSpace.parse(JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)), source: "space.json")
    }

    @Test("ranges, log scales and choices parse; the grid is their product, log ranges spaced geometrically")
    func grid() throws {
        let s = try parse(#"{"factors": {"int": [8, 32], "log": true}, "regularization": {"float": [0.01, 1], "log": true, "grid": [0.01, 0.1]}, "solver": {"choice": ["cg", "cholesky"]}}"#)
        let g = s.grid(points: 3)
        #expect(g.count == 3 * 2 * 2)
        #expect(Set(g.compactMap { if case .number(let n)? = $0["factors"] { return Int(n) } else { return nil } }) == [8, 16, 32])
        #expect(Set(g.compactMap { if case .number(let n)? = $0["regularization"] { return n } else { return nil } }) == [0.01, 0.1])
        var rng = TailorRandom(seed: 1)
        for _ in 0..<200 {
            let x = s.sample(&rng)
            guard case .number(let f)? = x["factors"], case .number(let r)? = x["regularization"] else { Issue.record("missing"); continue }
            #expect(f >= 8 && f <= 32 && f == f.rounded() && r >= 0.01 && r <= 1)
        }
    }

    @Test("bad spaces are errors naming the file and parameter: an empty range, a log scale from 0, an unknown key, no choices")
    func badSpaces() {
        #expect { try parse(#"{"factors": {"int": [64, 16]}}"#) } throws: { ($0 as? ExperimentError)?.field == "space.json: factors.int" && "\($0)".contains("empty") }
        #expect { try parse(#"{"alpha": {"float": [0, 1], "log": true}}"#) } throws: { ($0 as? ExperimentError)?.field == "space.json: alpha.log" }
        #expect { try parse(#"{"alpha": {"float": [0, 1], "step": 2}}"#) } throws: { "\($0)".contains("unknown key 'step'") }
        #expect { try parse(#"{"solver": {"choice": []}}"#) } throws: { ($0 as? ExperimentError)?.field == "space.json: solver.choice" }
        #expect { try parse(#"{}"#) } throws: { $0 is ExperimentError }
    }
}

@Suite("TPE")
struct TPETests {
    /// A smooth objective with its peak at x = 0.1 (log scale), y = 3, n = 40.
    static func objective(_ c: [String: JSONValue]) -> Double {
        guard case .number(let x)? = c["x"], case .number(let y)? = c["y"], case .number(let n)? = c["n"] else { return -100 }
        return -pow(log10(x) + 1, 2) - pow((y - 3) / 3, 2) - pow((n - 40) / 40, 2)
    }

    @Test("on a smooth objective, TPE's best after 40 trials beats random search's, over seeds")
    func beatsRandom() throws {
        let space = SearchSpace(["x": .float(low: 0.001, high: 10, log: true, grid: nil), "y": .float(low: 0, high: 10, log: false, grid: nil),
                                 "n": .int(low: 4, high: 256, log: true, grid: nil)])
        var tpeWins = 0
        var tpeTotal = 0.0, randomTotal = 0.0
        for seed in 1...8 {
            var rng = TailorRandom(seed: UInt64(seed))
            var history: [(configuration: [String: JSONValue], score: Double)] = []
            for _ in 0..<40 {
                let c = TPE().suggest(space, history: history, rng: &rng)
                history.append((c, Self.objective(c)))
            }
            var r = TailorRandom(seed: UInt64(seed) + 100)
            let randomBest = (0..<40).map { _ in Self.objective(space.sample(&r)) }.max()!
            let tpeBest = history.map(\.score).max()!
            if tpeBest > randomBest { tpeWins += 1 }
            tpeTotal += tpeBest; randomTotal += randomBest
        }
        #expect(tpeWins >= 6 && tpeTotal > randomTotal, "TPE won \(tpeWins) of 8; mean best \(tpeTotal / 8) vs \(randomTotal / 8)")
    }

    /// A narrow ridge along log x = log y (the parameters trade off, as ALS's regularization and
    /// alpha do), best at x = y = 1.
    static func ridge(_ c: [String: JSONValue]) -> Double {
        guard case .number(let x)? = c["x"], case .number(let y)? = c["y"] else { return -100 }
        let a = log10(x), b = log10(y)
        return -30 * pow(a - b, 2) - pow((a + b) / 2, 2)
    }

    @Test("on parameters that trade off, multivariate TPE gets nearer the ridge's peak than univariate TPE, over seeds")
    func multivariateOnARidge() throws {
        let space = SearchSpace(["x": .float(low: 0.001, high: 1000, log: true, grid: nil), "y": .float(low: 0.001, high: 1000, log: true, grid: nil),
                                 "kind": .choice([.string("a"), .string("b")])])
        var joint = 0.0, single = 0.0, jointWins = 0
        let seeds = 40
        for seed in 1...seeds {
            func search(_ tpe: TPE) -> Double {
                var rng = TailorRandom(seed: UInt64(seed))
                var history: [(configuration: [String: JSONValue], score: Double)] = []
                for _ in 0..<40 {
                    let c = tpe.suggest(space, history: history, rng: &rng)
                    #expect(c["kind"] == .string("a") || c["kind"] == .string("b"))
                    history.append((c, Self.ridge(c)))
                }
                return history.map(\.score).max()!
            }
            let j = search(TPE(multivariate: true)), u = search(TPE(multivariate: false))
            joint += j; single += u
            if j > u { jointWins += 1 }
        }
        #expect(joint > single && jointWins > seeds / 2, "multivariate won \(jointWins) of \(seeds); mean best \(joint / Double(seeds)) vs \(single / Double(seeds))")
    }
}

@Suite("Tuning")
struct TunerTests {
    static let log: Interactions = {
        var c = SyntheticLog.Configuration()
        c.users = 400; c.items = 150; c.interactions = 9_000; c.seed = 4
        return SyntheticLog.generate(c).interactions
    }()

    func space() -> SearchSpace {
        SearchSpace(["regularization": .float(low: 0.01, high: 100, log: true, grid: [0.01, 1, 100]), "factors": .int(low: 4, high: 16, log: false, grid: [4, 16])])
    }

    @Test("TPE's random start is a third of the full trials the run affords, between 5 and 10")
    func startupTrials() {
        var c = Tuner.Configuration()
        c.trials = 1000; c.maxCost = 320; c.rungs = [7, 15]
        #expect(Tuner.startupTrials(c) == 7)  // 21 full trials fit
        c.maxCost = nil; c.trials = 30
        #expect(Tuner.startupTrials(c) == 10)
        c.trials = 6
        #expect(Tuner.startupTrials(c) == 5)
        c.trials = 100; c.maxCost = 40; c.rungs = []  // one fit per trial: 40 affordable
        #expect(Tuner.startupTrials(c) == 10)
    }

    @Test("grid search tries every point, scores each on a validation split, and the best is the highest score")
    func gridSearch() throws {
        var c = Tuner.Configuration()
        c.method = .grid; c.trials = 100; c.threads = 2
        let tuner = try Tuner(model: "als", space: space(), base: .object(["iterations": .number(4)]), configuration: c)
        let result = try tuner.run(Self.log)
        let distinct = result.trials.map(\.configuration).enumerated().allSatisfy { i, c in !result.trials.prefix(i).contains { $0.configuration == c } }
        #expect(result.trials.count == 6 && distinct)
        #expect(result.best.score == result.trials.map(\.score).max())
        #expect(result.trials.allSatisfy { $0.score > 0 && $0.score < 1 && !$0.pruned && $0.cost == 1 })
        #expect(Set(result.trials.map(\.score)).count > 1, "the configurations differ in quality")
        // The exported patch is the run's, with the best values.
        guard case .object(let p) = tuner.bestPatch(result) else { Issue.record("not an object"); return }
        #expect(p["iterations"] == .number(4) && p["regularization"] == result.best.configuration["regularization"])
    }

    @Test("validation splits the training data as the run's holdout splits the log, and the tuner scores on that split")
    func validationMirrorsHoldout() throws {
        var c = Tuner.Configuration()
        c.validationFraction = 0.25
        let expected: [(SplitMethod?, SplitMethod)] = [
            (nil, .random(testFraction: 0.25)),
            (.random(testFraction: 0.2), .random(testFraction: 0.25)),
            (.temporalFraction(testFraction: 0.2), .temporalFraction(testFraction: 0.25)),
            (.temporalCount(count: 3), .temporalCount(count: 3)),
            (.leaveLastOut, .leaveLastOut),
            (.globalTime(cutoff: 1_700_000_000), .globalTimeFraction(testFraction: 0.25)),
            (.globalTimeFraction(testFraction: 0.1), .globalTimeFraction(testFraction: 0.25)),
            (.coldUsers(testFraction: 0.2, revealed: 0), .random(testFraction: 0.25)),
            (.coldItems(testFraction: 0.2), .random(testFraction: 0.25)),
        ]
        for (holdout, validation) in expected {
            c.holdout = holdout
            #expect(c.validationSplit == validation, "holdout \(String(describing: holdout))")
        }
        // One configuration, one seed: the score moves with the validation split only.
        c.method = .grid; c.trials = 1; c.threads = 2
        let point = SearchSpace(["factors": .int(low: 8, high: 8, log: false, grid: [8])])
        func score(_ holdout: SplitMethod?) throws -> Double {
            c.holdout = holdout
            return try Tuner(model: "als", space: point, base: .object(["iterations": .number(4)]), configuration: c).run(Self.log).best.score
        }
        let random = try score(nil)
        #expect(try score(.random(testFraction: 0.2)) == random, "deterministic")
        #expect(try score(.leaveLastOut) != random, "validated on each user's last interaction")
    }

    @Test("median pruning at rungs stops weak trials early, and ALS continues from rung to rung without retraining")
    func pruning() throws {
        var c = Tuner.Configuration()
        c.method = .random; c.trials = 12; c.rungs = [2, 6]; c.minTrialsToPrune = 3; c.threads = 2
        let tuner = try Tuner(model: "als", space: space(), configuration: c)
        let result = try tuner.run(Self.log)
        let pruned = result.trials.filter(\.pruned), full = result.trials.filter { !$0.pruned }
        #expect(!pruned.isEmpty && !full.isEmpty)
        #expect(pruned.allSatisfy { $0.cost == 2 && $0.rungs.count == 1 })
        #expect(full.allSatisfy { $0.cost == 6 && $0.rungs.map(\.budget) == [2, 6] }, "continued: 2 + 4 iterations, not 2 + 6")
        #expect(result.cost < 12 * 6)
        // A pruned trial scored below the median of the trials that had reached the rung before it.
        // (One trial at a time: the trials before it had all finished.)
        for t in pruned {
            let earlier = result.trials.filter { $0.number < t.number }.compactMap { $0.rungs.first?.score }.sorted()
            #expect(earlier.count >= 3, "pruned before three trials reached the rung")
            let n = earlier.count
            let median = n % 2 == 1 ? earlier[n / 2] : (earlier[n / 2 - 1] + earlier[n / 2]) / 2
            #expect(t.rungs[0].score < median)
        }
    }

    @Test("the trial log resumes: done trials are kept and the search continues to the total")
    func resume() throws {
        let path = NSTemporaryDirectory() + "tune-\(UUID().uuidString).jsonl"
        var c = Tuner.Configuration()
        c.method = .tpe; c.trials = 3; c.threads = 2
        let tuner = try Tuner(model: "als", space: space(), base: .object(["iterations": .number(3)]), configuration: c)
        _ = try tuner.run(Self.log) { trial in
            let handle = FileHandle(forWritingAtPath: path) ?? { FileManager.default.createFile(atPath: path, contents: nil); return FileHandle(forWritingAtPath: path)! }()
            handle.seekToEndOfFile(); handle.write(Data((Tuner.logLine(trial) + "\n").utf8)); handle.closeFile()
        }
        let logged = try Tuner.readLog(path)
        #expect(logged.count == 3)
        c.trials = 5
        let more = try Tuner(model: "als", space: space(), base: .object(["iterations": .number(3)]), configuration: c).run(Self.log, previous: logged)
        #expect(more.trials.count == 5 && Array(more.trials.prefix(3)) == logged.sorted { $0.number < $1.number })
        #expect(more.trials.map(\.number) == [0, 1, 2, 3, 4])
        try "not json\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try Tuner.readLog(path) } throws: { ($0 as? ExperimentError)?.field?.hasSuffix(":1") == true }
    }

    @Test("a parameter the model does not have, or rungs over a tuned budget, are refused")
    func badTuning() {
        let typo = SearchSpace(["factorz": .int(low: 4, high: 8, log: false, grid: nil)])
        #expect { try Tuner(model: "als", space: typo, configuration: .init()) } throws: { "\($0)".contains("'factorz' is not a configuration key of als") }
        var c = Tuner.Configuration()
        c.rungs = [2, 6]
        let budget = SearchSpace(["iterations": .int(low: 2, high: 8, log: false, grid: nil)])
        #expect { try Tuner(model: "als", space: budget, configuration: c) } throws: { "\($0)".contains("leave it out") }
        c.rungs = [6, 2]
        #expect { try Tuner(model: "als", space: space(), configuration: c) } throws: { ($0 as? ExperimentError)?.field == "rungs" }
    }
}
