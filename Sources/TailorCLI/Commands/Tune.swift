import ArgumentParser
import Foundation
import TailorData
import TailorExperiments
import TailorModels

struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search a model's hyperparameters: grid, random or TPE, with pruning, a resumable trial log, and the best run exported.",
        discussion: """
        Each trial fits the model on part of the run's training data and scores NDCG@k on the
        rest (never the test set of the run's holdout). Validation splits the training data the
        way the holdout splits the log: with --holdout temporal, each user's latest 20 % of
        training interactions (--validation); with none or random, a random 20 %. The search
        space is a JSON file:
          {"factors": {"int": [8, 128], "log": true},
           "regularization": {"float": [0.01, 100], "log": true},
           "alpha": {"float": [0.1, 20], "log": true}}
        ("grid": [...] lists a range's grid values; "choice": [...] is a list of options).

        --rungs 3,8,15 scores trials at those iterations or epochs and stops a trial below the
        median of the others at a rung (median pruning); ALS continues from rung to rung, other
        models are refitted at each. Every trial is appended to --log (JSON Lines); --resume
        keeps the trials there and runs the rest up to --trials. --output writes the best
        configuration as a run file for `tailor train --config`.

        Examples:
          tailor tune log.csv --model als --space space.json --trials 40 --output best.json
          tailor tune --config run.json --space space.json --method grid --grid-points 4
          tailor tune --config run.json --space space.json --rungs 3,8,15 --parallel 2 --log trials.jsonl --resume
        """
    )

    @Argument(help: "An interaction log (or give --config or --store).") var file: String?
    @Option(help: ArgumentHelp("A run file (data recipe, model, configuration) whose configuration the search starts from.", valueName: "run.json"))
    var config: String?
    @Option(help: ArgumentHelp("Read events from this store instead of a log.", valueName: "FILE.db|URL")) var store: String?
    @Option(help: "The model to tune (default: the run file's, else als).") var model: String?
    @Option(help: ArgumentHelp("The search space.", valueName: "space.json")) var space: String
    @Option(help: "grid, random or tpe.") var method: Tuner.Method = .tpe
    @Option(help: "Trials in all (resumed ones included; grid: at most its points).") var trials = 30
    @Option(name: .customLong("grid-points"), help: "Grid values per range without its own grid.") var gridPoints = 3
    @Option(help: ArgumentHelp("Score trials at these iterations or epochs, pruning those below the median (e.g. 3,8,15).", valueName: "BUDGETS"))
    var rungs: String?
    @Flag(name: .customLong("no-pruning"), help: "Score at every rung but prune nothing.") var noPruning = false
    @Option(help: "Trials run at once (sharing the cores).") var parallel = 1
    @Option(name: .customLong("max-cost"), help: ArgumentHelp("Iterations or epochs to spend in all; no trial starts unless a full one still fits.", valueName: "N"))
    var maxCost: Int?
    @Option(help: "The score is NDCG at this cut-off.") var k = 10
    @Option(help: "Hold out test interactions first, as `tailor train --holdout` does (random, temporal, leave-last-out, global-time): trials never see them, and validation splits the rest the same way (temporal: each user's latest share).")
    var holdout: HoldoutOptions.Method?
    @OptionGroup(title: "Hold-out") var holdoutOptions: HoldoutOptions
    @Option(help: "Share of each user's training interactions held out for validation.") var validation = 0.2
    @Option(help: "Seed of the validation split and the proposals.") var seed: UInt64 = 1
    @Option(help: "Worker threads in all (0: all cores).") var threads = 0
    @Option(help: ArgumentHelp("Append each trial here (JSON Lines).", valueName: "FILE.jsonl")) var log: String?
    @Flag(help: "Keep the trials already in --log and run the rest.") var resume = false
    @Option(name: .shortAndLong, help: ArgumentHelp("Write the best configuration as a run file here.", valueName: "best.json")) var output: String?

    func parsedRungs() throws -> [Int] {
        guard let rungs else { return [] }
        let values = rungs.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--rungs takes increasing positive budgets, e.g. 3,8,15; got '\(rungs)'")
        }
        return values.map { $0! }
    }

    func validate() throws {
        guard file != nil || config != nil || store != nil else { throw ValidationError("give a log FILE, --config run.json or --store FILE.db") }
        guard trials >= 1 && trials <= 100_000 else { throw ValidationError("--trials must be 1 to 100000, got \(trials)") }
        guard gridPoints >= 1 && gridPoints <= 100 else { throw ValidationError("--grid-points must be 1 to 100, got \(gridPoints)") }
        guard parallel >= 1 && parallel <= 64 else { throw ValidationError("--parallel must be 1 to 64, got \(parallel)") }
        guard k >= 1 else { throw ValidationError("--k must be at least 1") }
        guard validation > 0 && validation < 1 else { throw ValidationError("--validation must be between 0 and 1, got \(validation)") }
        guard threads >= 0 else { throw ValidationError("--threads must be 0 or more") }
        if let maxCost, maxCost < 1 { throw ValidationError("--max-cost must be at least 1, got \(maxCost)") }
        if resume && log == nil { throw ValidationError("--resume continues --log FILE; give it") }
        _ = try parsedRungs()
    }

    func run() throws {
        _ = neuralModelsRegistered
        var run = try config.map { try TrainingRun.read(from: $0) } ?? TrainingRun(data: DatasetRecipe(source: .log(file ?? "")))
        if let file { run.data.source = .log(file) }
        if let store { run.data.source = .store(store) }
        if let model { run.model = model.lowercased() }
        try holdoutOptions.apply(holdout, to: &run.data)
        var c = Tuner.Configuration()
        c.method = method; c.trials = trials; c.gridPoints = gridPoints; c.rungs = try parsedRungs(); c.pruning = !noPruning
        c.parallel = parallel; c.k = k; c.validationFraction = validation; c.holdout = run.data.holdout?.method; c.seed = seed; c.threads = threads; c.maxCost = maxCost
        let tuner: Tuner
        do {
            tuner = try Tuner(model: run.model, space: SearchSpace.load(path: space), base: run.configuration, configuration: c)
        } catch let error as ExperimentError {
            throw ValidationError(error.description)
        }
        let prepared = try run.data.prepare(openStore: StoreOptions.open)
        var previous: [Tuner.Trial] = []
        if let log {
            if resume {
                previous = try Tuner.readLog(log)
                Terminal.note("resuming: \(previous.count) trials in \(log)")
            } else if FileManager.default.fileExists(atPath: log) {
                throw ValidationError("\(log) exists; pass --resume to continue it, or choose another --log")
            }
            if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        }
        let logPath = log, cutoff = k
        let t0 = now()
        Terminal.note("tuning \(tuner.model) by \(method.rawValue) on \(prepared.train.count) training interactions (validation: \(c.validationSplit.description)), NDCG@\(k)")
        let result: Tuner.Result
        do {
            result = try tuner.run(prepared.train, side: prepared.side, previous: previous) { trial in
                if let logPath, let handle = FileHandle(forWritingAtPath: logPath) {
                    handle.seekToEndOfFile()
                    handle.write(Data((Tuner.logLine(trial) + "\n").utf8))
                    try? handle.close()
                }
                Terminal.note(String(format: "trial %3d  NDCG@%d %.4f%@  %@  (%.1fs)", trial.number, cutoff, trial.score, trial.pruned ? " pruned" : "",
                                     Tune.describe(trial.configuration), trial.seconds))
            }
        } catch let error as ExperimentError {
            throw ValidationError(error.description)
        }
        Terminal.note(String(format: "best: trial %d, NDCG@%d %.4f: %@ (%d trials, %d pruned, cost %d, %.1fs)", result.best.number, c.k, result.best.score,
                             Tune.describe(result.best.configuration), result.trials.count, result.trials.filter(\.pruned).count, result.cost, now() - t0))
        if let output {
            var best = run
            best.configuration = tuner.bestPatch(result)
            if best.output == nil { best.output = "model" }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try Terminal.write(String(decoding: try encoder.encode(best), as: UTF8.self) + "\n", to: output)
            Terminal.note("wrote the best run to \(output): tailor train --config \(output)")
        }
    }

    static func describe(_ c: [String: JSONValue]) -> String {
        c.sorted { $0.key < $1.key }.map { key, value in
            switch value {
            case .number(let n): return "\(key)=" + (n == n.rounded() && abs(n) < 1e9 ? String(Int(n)) : String(format: "%.4g", n))
            case .string(let s): return "\(key)=\(s)"
            default: return "\(key)=\(value)"
            }
        }.joined(separator: " ")
    }
}

extension Tuner.Method: ExpressibleByArgument {}
