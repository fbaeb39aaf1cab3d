import Foundation
import Synchronization
import TailorData
import TailorEval
import TailorLinalg
import TailorModels

/// Hyperparameter search over any registered model: grid, random or TPE proposals, each trial
/// fitted on part of the training data and scored by NDCG@k on the rest (never the test set),
/// with median pruning at budget rungs, parallel trials, and a JSON Lines trial log that a
/// later run resumes.
///
/// **Rungs and pruning.** With `rungs` (e.g. `[3, 8, 15]` iterations or epochs) a trial is
/// scored at each rung; if its score is below the median of the other trials' scores at that
/// rung (once `minTrialsToPrune` have one), it stops there (Optuna's median pruner). A model
/// that can resume its training (``ResumableTraining``: ALS) continues from rung to rung; a
/// model that validates itself each epoch (the neural ones, `validationUsers`) is fitted once
/// at the full budget and judged at the rungs by its own validation metric, stopped inside the
/// fit when pruned; the others are fitted afresh at each rung, which the trial's `cost` counts.
public struct Tuner: Sendable {
    public enum Method: String, Sendable, Codable, CaseIterable {
        case grid, random, tpe
    }

    public struct Configuration: Sendable, Codable, Equatable {
        public var method: Method = .tpe
        /// Trials to run (grid: at most its points).
        public var trials = 30
        /// Values per range for grid search (ranges without their own grid).
        public var gridPoints = 3
        /// The score: NDCG at this cut-off on the validation part.
        public var k = 10
        /// Share of each user's training interactions held out for validation.
        public var validationFraction = 0.2
        /// The run's own held-out split, which validation mirrors (``validationSplit``): a
        /// temporal holdout is validated on each user's latest training interactions, as the
        /// test set will be; nil or a random one on a random share.
        public var holdout: SplitMethod?
        /// Budgets (iterations or epochs) at which trials are scored, ascending; the last is
        /// the full budget. Empty: one fit at the configured budget.
        public var rungs: [Int] = []
        /// Stop trials below the median at a rung.
        public var pruning = true
        /// Trials that must have reached a rung before it prunes.
        public var minTrialsToPrune = 4
        /// Trials run at once (the cores are shared between them).
        public var parallel = 1
        public var seed: UInt64 = 1
        /// Worker threads in all (0: all cores).
        public var threads = 0
        /// Iterations or epochs to spend in all (resumed trials included); no trial starts
        /// unless a full one still fits. nil: no limit but `trials`.
        public var maxCost: Int?
        public init() {}
    }

    /// A score at a rung.
    public struct Rung: Sendable, Codable, Equatable {
        public var budget: Int
        public var score: Double
    }

    /// One trial: its configuration, its scores by rung, whether it was pruned, what it cost.
    public struct Trial: Sendable, Codable, Equatable {
        public var number: Int
        public var configuration: [String: JSONValue]
        public var rungs: [Rung]
        /// The score at the last rung reached.
        public var score: Double
        public var pruned: Bool
        /// Iterations or epochs trained (1 per fit without rungs).
        public var cost: Int
        public var seconds: Double
    }

    /// The outcome: every trial (resumed ones first) and the best completed one.
    public struct Result: Sendable {
        public var trials: [Trial]
        public var best: Trial
        /// Iterations or epochs trained in all (by this run and the resumed log).
        public var cost: Int { trials.map(\.cost).reduce(0, +) }
    }

    public let model: String
    public let space: SearchSpace
    public let configuration: Configuration
    /// The run's own configuration patch, under the tuned parameters.
    public let base: [String: JSONValue]
    let budgetKey: String?
    let entry: ModelRegistry.Entry
    let registry: ModelRegistry

    /// A tuner for `model`; checks the space's parameters are the model's configuration keys.
    ///
    /// - Throws: ``ExperimentError`` for an unknown parameter, rungs without a budget key, or
    ///   bad settings.
    public init(model: String, space: SearchSpace, base: JSONValue? = nil, configuration: Configuration, registry: ModelRegistry = .shared) throws {
        let entry: ModelRegistry.Entry
        do { entry = try registry.entry(model) } catch {
            throw ExperimentError(field: "model", "unknown model '\(model)'", hint: "one of \(registry.kinds.joined(separator: ", "))")
        }
        for (name, _) in space.parameters where !entry.accepts(name) {
            throw ExperimentError(field: "search space: \(name)", "'\(name)' is not a configuration key of \(entry.kind)",
                                  hint: "its keys: \(entry.keys.sorted().joined(separator: ", "))")
        }
        let c = configuration
        guard c.trials >= 1, c.gridPoints >= 1, c.k >= 1, c.parallel >= 1, c.minTrialsToPrune >= 1 else {
            throw ExperimentError(field: "configuration", "trials, grid points, k, parallel and the pruning minimum must be at least 1")
        }
        guard c.validationFraction > 0, c.validationFraction < 1 else {
            throw ExperimentError(field: "validation", "the validation share must be between 0 and 1, got \(c.validationFraction)")
        }
        if let resumable = entry.modelType as? any ResumableTraining.Type {
            budgetKey = resumable.budgetKey
        } else {
            budgetKey = ["epochs", "iterations"].first(where: entry.accepts)
        }
        if !c.rungs.isEmpty {
            guard let budgetKey else { throw ExperimentError(field: "rungs", "\(entry.kind) has no iterations or epochs to stage trials by") }
            guard c.rungs.allSatisfy({ $0 >= 1 }), zip(c.rungs, c.rungs.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw ExperimentError(field: "rungs", "rungs are increasing budgets of at least 1 (\(budgetKey)), got \(c.rungs)")
            }
            if space.parameters.contains(where: { $0.name == budgetKey }) {
                throw ExperimentError(field: "search space: \(budgetKey)", "the rungs set \(budgetKey); leave it out of the search space")
            }
        }
        guard case .object(let fields)? = base ?? .object([:]) else { throw ExperimentError(field: "configuration", "the run's configuration is not an object") }
        self.model = entry.kind
        self.space = space
        self.configuration = c
        self.base = fields
        self.entry = entry
        self.registry = registry
    }

    /// The configuration patch of a trial at `budget` (nil: the run's own budget).
    public func patch(_ trial: [String: JSONValue], budget: Int? = nil, threads: Int? = nil) -> JSONValue {
        var p = base
        for (k, v) in trial { p[k] = v }
        if let budget, let budgetKey { p[budgetKey] = .number(Double(budget)) }
        if let threads, entry.accepts("threads") { p["threads"] = .number(Double(threads)) }
        return .object(p)
    }

    /// The best configuration as the run's patch, at the full budget.
    public func bestPatch(_ result: Result) -> JSONValue {
        patch(result.best.configuration, budget: configuration.rungs.last)
    }

    /// Runs the search on `data` (a recipe's training part). `previous` trials (from a log)
    /// count as done; `onTrial` sees each new one as it finishes (write it to the log there).
    ///
    /// - Throws: ``ExperimentError`` when every trial failed, or the data cannot be split.
    public func run(_ data: Interactions, side: SideInformation = .init(), previous: [Trial] = [],
                    onTrial: (@Sendable (Trial) -> Void)? = nil) throws -> Result {
        let split: Split
        do { split = try Split.make(data, method: configuration.validationSplit, seed: configuration.seed) } catch {
            throw ExperimentError(field: "data", "the training data cannot be split for validation: \(error)")
        }
        let fitMatrix = InteractionMatrix(split.train)
        let fitData = TrainingData(split.train, matrix: fitMatrix, side: side)
        let validation = InteractionMatrix(split.test).userItems
        let cores = configuration.threads > 0 ? configuration.threads : ProcessInfo.processInfo.activeProcessorCount
        let perTrial = max(1, cores / configuration.parallel)
        let evaluation = Evaluator.Configuration(ks: [configuration.k], computeAUC: false, threads: perTrial)
        let state = Mutex(previous)
        var rng = TailorRandom(seed: configuration.seed, stream: UInt64(previous.count) &+ 0x7E4E)
        let grid = configuration.method == .grid ? space.grid(points: configuration.gridPoints) : []
        let tpe = TPE(startup: Tuner.startupTrials(configuration))
        let total = configuration.method == .grid ? min(configuration.trials, grid.count) : configuration.trials
        let failuresLock = Mutex([String]())
        // `trials` counts the resumed ones too: a log of 12 and --trials 30 runs 18 more.
        while true {
            let done = state.withLock { $0 }
            var remaining = total - done.count
            if let maxCost = configuration.maxCost {
                let spent = done.map(\.cost).reduce(0, +), full = configuration.rungs.last ?? 1
                remaining = min(remaining, (maxCost - spent) / full)
            }
            if remaining <= 0 { break }
            let batch = min(configuration.parallel, remaining)
            var proposals: [[String: JSONValue]] = []
            for _ in 0..<batch {
                switch configuration.method {
                case .grid:
                    let tried = done.map(\.configuration) + proposals
                    if let next = grid.first(where: { g in !tried.contains(g) }) { proposals.append(next) }
                case .random: proposals.append(space.sample(&rng))
                case .tpe:
                    let history = done.filter { !$0.pruned }.map { ($0.configuration, $0.score) }
                        + done.filter(\.pruned).map { ($0.configuration, -1.0) }  // pruned trials count among the bad
                    proposals.append(tpe.suggest(space, history: history, rng: &rng))
                }
            }
            if proposals.isEmpty { break }
            let first = done.count
            let proposed = proposals
            DispatchQueue.concurrentPerform(iterations: proposed.count) { slot in
                do {
                    let trial = try runTrial(number: first + slot, proposed[slot], data: fitData, train: fitMatrix.userItems, validation: validation,
                                             evaluation: evaluation, threads: perTrial, state: state)
                    state.withLock { $0.append(trial) }
                    onTrial?(trial)
                } catch {
                    failuresLock.withLock { $0.append("trial \(first + slot) \(proposed[slot]): \(error)") }
                    // A failed trial still takes its turn (the search must end).
                    let failed = Trial(number: first + slot, configuration: proposed[slot], rungs: [], score: -.infinity, pruned: true, cost: 0, seconds: 0)
                    state.withLock { $0.append(failed) }
                }
            }
        }
        let failures = failuresLock.withLock { $0 }
        let trials = state.withLock { $0 }.sorted { $0.number < $1.number }
        guard let best = trials.filter({ !$0.pruned && $0.score.isFinite }).max(by: { ($0.score, -$0.number) < ($1.score, -$1.number) }) else {
            throw ExperimentError(field: "trials", "no trial finished" + (failures.isEmpty ? "" : ": " + failures.prefix(3).joined(separator: "; ")))
        }
        return Result(trials: trials, best: best)
    }

    func runTrial(number: Int, _ proposal: [String: JSONValue], data: TrainingData, train: CSRMatrix, validation: CSRMatrix,
                  evaluation: Evaluator.Configuration, threads: Int, state: borrowing Mutex<[Trial]>) throws -> Trial {
        if configuration.rungs.count > 1, entry.modelType as? any ResumableTraining.Type == nil, entry.accepts("validationUsers") {
            return try runTrialInOneFit(number: number, proposal, data: data, train: train, validation: validation, evaluation: evaluation,
                                        threads: threads, state: state)
        }
        let start = Date()
        let budgets: [Int?] = configuration.rungs.isEmpty ? [nil] : configuration.rungs.map { $0 }
        var rungs: [Rung] = []
        var model: (any Recommender)?
        var cost = 0
        var pruned = false
        for (index, budget) in budgets.enumerated() {
            if let budget, index > 0, let resumable = model as? any ResumableTraining {
                model = try Tuner.continueTraining(resumable, data: data, steps: budget - configuration.rungs[index - 1])
                cost += budget - configuration.rungs[index - 1]
            } else {
                model = try registry.fit(self.model, patch: patch(proposal, budget: budget, threads: threads), data: data)
                cost += budget ?? 1
            }
            let report = Evaluator.evaluate(model!, train: train, test: validation, configuration: evaluation)
            let score = report.value("ndcg", at: configuration.k) ?? 0
            rungs.append(Rung(budget: budget ?? 0, score: score))
            if configuration.pruning, let budget, index + 1 < budgets.count {
                let others = state.withLock { trials in trials.compactMap { t in t.rungs.first { $0.budget == budget }?.score } }
                if others.count >= configuration.minTrialsToPrune && score < Tuner.median(others) { pruned = true; break }
            }
        }
        return Trial(number: number, configuration: proposal, rungs: rungs, score: rungs.last?.score ?? 0, pruned: pruned, cost: cost,
                     seconds: Date().timeIntervalSince(start))
    }

    /// A trial of a model that validates itself each epoch (the neural ones) but cannot resume:
    /// one fit at the full budget; at each earlier rung its own validation metric (reported in
    /// the progress events) is compared with the other trials' at that rung, and a trial below
    /// the median is stopped there (``TrainingStop``). Intermediate rungs hold that metric; the
    /// last holds NDCG@k on the tuner's split. Cost: the epochs trained.
    func runTrialInOneFit(number: Int, _ proposal: [String: JSONValue], data: TrainingData, train: CSRMatrix, validation: CSRMatrix,
                          evaluation: Evaluator.Configuration, threads: Int, state: borrowing Mutex<[Trial]>) throws -> Trial {
        let start = Date()
        let full = configuration.rungs.last!, checkpoints = Set(configuration.rungs.dropLast())
        let stop = TrainingStop()
        let finished = state.withLock { $0 }  // the trials to compare with (parallel ones finish later)
        let progress = Mutex((rungs: [Rung](), epochs: 0))
        let c = configuration
        let handler: ProgressHandler = { event in
            guard event.kind == .step else { return }
            let pruneHere: Bool = progress.withLock { p in
                p.epochs = max(p.epochs, event.step)
                guard checkpoints.contains(event.step), let score = event.metrics["validation"] else { return false }
                p.rungs.append(Rung(budget: event.step, score: score))
                guard c.pruning else { return false }
                let others = finished.compactMap { t in t.rungs.first { $0.budget == event.step }?.score }
                return others.count >= c.minTrialsToPrune && score < Tuner.median(others)
            }
            if pruneHere { stop.request() }
        }
        let model = try TrainingStop.$current.withValue(stop) {
            try registry.fit(self.model, patch: patch(proposal, budget: full, threads: threads), data: data, progress: handler)
        }
        var (rungs, epochs) = progress.withLock { $0 }
        if epochs == 0 { epochs = full }  // a model that reported no steps
        if stop.isRequested {
            return Trial(number: number, configuration: proposal, rungs: rungs, score: rungs.last?.score ?? 0, pruned: true, cost: epochs,
                         seconds: Date().timeIntervalSince(start))
        }
        let report = Evaluator.evaluate(model, train: train, test: validation, configuration: evaluation)
        let score = report.value("ndcg", at: configuration.k) ?? 0
        rungs.append(Rung(budget: full, score: score))
        return Trial(number: number, configuration: proposal, rungs: rungs, score: score, pruned: false, cost: epochs,
                     seconds: Date().timeIntervalSince(start))
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Random trials before TPE models the results: a third of the full trials the run can
    /// afford (its trial count, or its compute limit over the full budget), between 5 and 10
    /// (Optuna's default). With 21 affordable trials, 10 random ones leave TPE too few to
    /// converge; 7 measured better in `Benchmarks/tune_vs_grid.py` (Docs/Benchmarks.md).
    static func startupTrials(_ c: Configuration) -> Int {
        var affordable = c.trials
        if let maxCost = c.maxCost { affordable = min(affordable, maxCost / max(1, c.rungs.last ?? 1)) }
        return min(10, max(5, affordable / 3))
    }

    static func continueTraining<M: ResumableTraining>(_ model: M, data: TrainingData, steps: Int) throws -> any Recommender {
        try model.continued(on: data, steps: steps, progress: nil)
    }

    // MARK: The trial log

    /// Trials from a JSON Lines log (missing file: none).
    ///
    /// - Throws: ``ExperimentError`` naming the line that is not a trial.
    public static func readLog(_ path: String) throws -> [Trial] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var out: [Trial] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            do { out.append(try decoder.decode(Trial.self, from: Data(line.utf8))) } catch {
                throw ExperimentError(field: "\(path):\(n + 1)", "is not a trial record (\(error))", hint: "the log is written by tailor tune; remove the damaged line to resume")
            }
        }
        return out
    }

    /// One log line for `trial`.
    public static func logLine(_ trial: Trial) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: (try? encoder.encode(trial)) ?? Data(), as: UTF8.self)
    }
}

extension Tuner.Configuration {
    /// How trials are validated: the training data split the way the run's holdout split the
    /// whole log, so the search optimizes what the test will measure. Per-user temporal
    /// holdouts give each user's latest `validationFraction` (or the same count, or the last
    /// one); a global time cut gives the latest `validationFraction` of all training
    /// interactions; random, cold-user and cold-item holdouts (and none) a random share per user.
    public var validationSplit: SplitMethod {
        let f = validationFraction
        switch holdout {
        case .temporalFraction: return .temporalFraction(testFraction: f)
        case .temporalCount(let n): return .temporalCount(count: n)
        case .leaveLastOut: return .leaveLastOut
        case .globalTime, .globalTimeFraction: return .globalTimeFraction(testFraction: f)
        case .random, .coldUsers, .coldItems, nil: return .random(testFraction: f)
        }
    }
}
