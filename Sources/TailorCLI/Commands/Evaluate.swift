import ArgumentParser
import Foundation
import TailorData
import TailorEval
import TailorModels
import TailorStore
import TailorSQLite

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model on held-out interactions: Precision, Recall, NDCG, MRR, HitRate, MAP, coverage at several K, and AUC.",
        discussion: """
        Every test user gets a ranking of the whole catalogue, without the items they have in
        --train; metrics are averaged over test users with at least one such item. Test users
        and items the model never saw are counted and left out. The popularity baseline trained
        on the same --train file is shown for comparison unless --no-baseline is given.

        Examples:
          tailor evaluate --model model --train train.csv --test test.csv
          tailor evaluate --model model --train train.csv --test test.csv --k 5,10,20 --json eval.json
          tailor evaluate --model als --model bpr --model ease --train train.csv --test test.csv
          tailor evaluate --model model --store tailor.db     # model trained with --store tailor.db --holdout …

        For rating models (mf), RMSE and MAE of the predicted ratings on the test rows are shown too.

        --test-context serves each test user of a context-aware two-tower (trained with --set
        'context=[…]') in the context of their first held-out event (its device, platform,
        country, hour and weekday), as a live request at that moment would be; without it every
        user is ranked with no context.

        Definitions (binary relevance; hits@K = relevant items in the first K):
          precision = hits@K / K            recall  = hits@K / |relevant|
          ndcg      = DCG@K / ideal DCG@K    mrr     = 1 / rank of the first hit (0 if none in K)
          hit_rate  = 1 if hits@K > 0        map     = Σ precision@r at each hit r ≤ K / min(K, |relevant|)
          coverage  = distinct items recommended in any top-K / catalogue size
          auc       = P(relevant item scores above a non-relevant candidate), full ranking
        """
    )

    @Option(help: "A model directory written by `tailor train` (repeat to compare several in one table).")
    var model: [String] = []

    @Option(help: ArgumentHelp("A run file: evaluate the model it wrote (its \"output\") on the held-out part of its recipe.", valueName: "FILE.json"))
    var config: String?

    @Option(help: "The training interactions (their items are excluded from rankings).")
    var train: String?

    @Option(help: "The held-out interactions.")
    var test: String?

    @Option(help: ArgumentHelp("The store the models were trained from with `train --holdout`, if it moved; by default the recipe in the model's manifest names it.", valueName: "FILE.db|URL"))
    var store: String?

    @Option(help: "Cut-offs, comma-separated.")
    var k = "5,10,20"

    @Option(help: ArgumentHelp("Also write the results as JSON.", valueName: "FILE.json"))
    var json: String?

    @Flag(inversion: .prefixedNo, help: "Show the popularity baseline next to the model.")
    var baseline = true

    @Flag(name: .customLong("no-auc"), help: "Skip AUC (saves one pass over all scores per user).")
    var noAUC = false

    @Flag(name: .customLong("test-context"), help: "Rank each test user of a context-aware model in the context of their first held-out event.")
    var testContext = false

    @Option(help: "Worker threads (0: all cores).")
    var threads = 0

    @OptionGroup var read: ReadOptions

    struct Output: Codable {
        var models: [String]
        var train: String
        var test: String
        var unknownTestUsers: Int
        var unknownTestUserRows: Int
        var unknownTestItemRows: Int
        var trainMatchesModel: [String: Bool]
        var results: [String: EvaluationReport]
        var ratingErrors: [String: RatingErrors]
    }

    func validate() throws {
        guard !model.isEmpty || config != nil else { throw ValidationError("give at least one --model DIR, or --config run.json") }
        guard (train == nil) == (test == nil) else { throw ValidationError("give both --train FILE and --test FILE, or neither (to replay the model's recipe)") }
        if train != nil && (store != nil || config != nil) {
            throw ValidationError("give --train and --test files, or a recipe to replay (--config, --store, or the model's manifest), not both")
        }
    }

    func run() throws {
        _ = neuralModelsRegistered
        let ks = try k.split(separator: ",").map { part -> Int in
            guard let v = Int(part.trimmingCharacters(in: .whitespaces)), v > 0 else {
                throw ValidationError("--k takes positive integers separated by commas, like 5,10,20 (got '\(k)')")
            }
            return v
        }
        guard !ks.isEmpty else {
            throw ValidationError("--k takes positive integers separated by commas, like 5,10,20 (got '\(k)')")
        }
        var run: TrainingRun?
        if let config { run = try TrainingRun.read(from: config) }
        let model = self.model.isEmpty ? [run?.output].compactMap { $0 } : self.model
        guard !model.isEmpty else { throw ValidationError("\(config!) names no \"output\" model directory; give --model DIR") }
        let bundles = try model.map { try ModelBundle.load(from: URL(fileURLWithPath: $0)) }
        let trainLog: Interactions, testLog: Interactions
        let trainName: String, testName: String
        if let train, let test {
            (trainLog, _) = try read.read(train, quiet: true)
            (testLog, _) = try read.read(test, quiet: true)
            (trainName, testName) = (train, test)
        } else {
            // Replay the recipe: the run file's, or the one recorded in the (first) model.
            guard var recipe = run?.data ?? bundles[0].manifest.data.effectiveRecipe else {
                throw ValidationError("\(model[0]) records no recipe to replay (it was trained from \(bundles[0].manifest.data.source ?? "unknown data")); give --train FILE and --test FILE")
            }
            guard recipe.holdout != nil else {
                throw ValidationError("\(config ?? model[0]): the recipe holds nothing out, so there is no test part; train with --holdout, or give --train and --test files")
            }
            // Content comes from the recipe: models trained on different item-vector spaces would
            // each be shown the first one's vectors for new items.
            let spaces = Set(bundles.map { $0.manifest.data.effectiveRecipe?.itemVectors ?? "" })
            if run == nil && spaces.count > 1 {
                throw ValidationError("these models read different item vectors (\(spaces.map { $0.isEmpty ? "none" : $0 }.sorted().joined(separator: ", "))); evaluate them one at a time")
            }
            if let store { recipe.source = .store(store) }
            let prepared = try recipe.prepare(openStore: StoreOptions.open)
            if bundles.contains(where: { $0.model is any ClickScoring }) {
                try evaluateClicks(bundles: bundles, paths: model, prepared: prepared, seed: recipe.holdout?.seed ?? 42)
                return
            }
            if let method = recipe.holdout?.method, method.isColdStart {
                try evaluateColdStart(bundles: bundles, paths: model, method: method, prepared: prepared, ks: ks)
                return
            }
            (trainLog, testLog) = (prepared.trainRaw, prepared.test!)
            let method = prepared.splitReport?.method ?? "held out"
            (trainName, testName) = ("\(recipe.source.path) (\(method), train part)", "\(recipe.source.path) (held-out part)")
        }
        let configuration = Evaluator.Configuration(ks: ks, computeAUC: !noAUC, threads: threads)
        var results: [(String, EvaluationReport)] = []
        var matches: [String: Bool] = [:]
        var errors: [String: RatingErrors] = [:]
        var firstAligned: (train: AlignedInteractions, test: AlignedInteractions)?
        // Labels: the model kind, or the directory when kinds repeat.
        let kinds = bundles.map(\.manifest.kind)
        for (path, bundle) in zip(model, bundles) {
            let label = kinds.filter { $0 == bundle.manifest.kind }.count > 1 ? URL(fileURLWithPath: path).lastPathComponent : bundle.manifest.kind
            let same = trainLog.fingerprint() == bundle.manifest.data.fingerprint
            matches[label] = same
            if !same {
                Terminal.note("warning: \(trainName) differs from the data \(path) was trained on (\(bundle.manifest.data.source ?? "unknown")); its items are still excluded from rankings")
            }
            let trainAligned = AlignedInteractions(trainLog, to: bundle)
            let testAligned = AlignedInteractions(testLog, to: bundle)
            if firstAligned == nil { firstAligned = (trainAligned, testAligned) }
            if testContext, let cold = bundle.model as? any ColdStartScoring, !cold.contextFeatures.isEmpty {
                let contexts = ContextEvaluation.firstTestContexts(test: testLog, bundle: bundle)
                results.append((label, try ContextEvaluation.evaluate(bundle: bundle, train: trainAligned.matrix, test: testAligned.matrix,
                                                                      contexts: contexts, configuration: configuration)))
            } else {
                if testContext { Terminal.note("\(path) (\(bundle.manifest.kind)) has no context features: ranked without context") }
                results.append((label, Evaluator.evaluate(bundle.model, train: trainAligned.matrix, test: testAligned.matrix, configuration: configuration)))
            }
            if let predictor = bundle.model as? any RatingPredictor {
                errors[label] = Evaluator.ratingErrors(predictor, test: testAligned.matrix)
            }
        }
        let aligned = firstAligned!
        if aligned.test.unknownUsers > 0 || aligned.test.unknownItemRows > 0 {
            Terminal.note("left out of the test: \(aligned.test.unknownUsers) users the model never saw (\(aligned.test.unknownUserRows) rows), \(aligned.test.unknownItemRows) rows with unknown items")
        }
        if baseline && !kinds.contains(Popularity.kind) {
            let pop = Popularity(counting: aligned.train.matrix)
            results.append(("popularity", Evaluator.evaluate(pop, train: aligned.train.matrix, test: aligned.test.matrix, configuration: configuration)))
        }
        let first = results[0].1
        print("\(first.users) test users, \(first.testInteractions) test interactions" +
              (first.testInteractionsAlreadyInTrain > 0 ? " (\(first.testInteractionsAlreadyInTrain) already in train, not counted)" : ""))
        print(EvaluationReport.table(results))
        for (label, e) in errors.sorted(by: { $0.key < $1.key }) {
            print(String(format: "%@: RMSE %.4f, MAE %.4f on %d test ratings", label, e.rmse, e.mae, e.count))
        }
        if let json {
            try Terminal.writeJSON(Output(models: model, train: trainName, test: testName, unknownTestUsers: aligned.test.unknownUsers,
                                          unknownTestUserRows: aligned.test.unknownUserRows, unknownTestItemRows: aligned.test.unknownItemRows,
                                          trainMatchesModel: matches,
                                          results: Dictionary(results, uniquingKeysWith: { a, _ in a }), ratingErrors: errors), to: json)
        }
    }

    /// Cold users or cold items: each model that can score them, with the baselines beside it.
    func evaluateColdStart(bundles: [ModelBundle], paths: [String], method: SplitMethod, prepared: DatasetRecipe.Prepared, ks: [Int]) throws {
        let configuration = Evaluator.Configuration(ks: ks, computeAUC: !noAUC, threads: threads)
        var rows: [(String, EvaluationReport)] = []
        var summary = ""
        for (path, bundle) in zip(paths, bundles) {
            guard bundle.model is any ColdStartScoring else {
                Terminal.note("warning: \(path) (\(bundle.manifest.kind)) cannot score users or items it was not trained on; left out (two-tower can)")
                continue
            }
            let result: ColdStartEvaluation.Result
            switch method {
            case .coldUsers(_, let revealed):
                result = ColdStartEvaluation.coldUsers(bundle: bundle, test: prepared.test!, revealed: revealed, side: prepared.side, configuration: configuration)
                summary = "\(result.heldOut) cold users, each known by their profile" + (revealed > 0 ? " and first \(revealed) events" : "") + "; ranked among \(bundle.itemIDs.count) items"
            default:
                result = ColdStartEvaluation.coldItems(bundle: bundle, test: prepared.test!, side: prepared.side, configuration: configuration)
                summary = "\(result.heldOut) cold items, known by their content, ranked among themselves for \(bundle.userIDs.count) known users"
            }
            if result.skippedRows > 0 { Terminal.note("left out of the test: \(result.skippedRows) rows (item or user unknown to the model)") }
            // The model's row, then the baselines once.
            for (label, report) in result.reports where label == bundle.manifest.kind || !rows.contains(where: { $0.0 == label }) {
                rows.append((label == bundle.manifest.kind && bundles.count > 1 ? URL(fileURLWithPath: path).lastPathComponent : label, report))
            }
        }
        guard !rows.isEmpty else { throw ValidationError("no model given can score cold \(method.isColdUserProtocol ? "users" : "items")") }
        if prepared.side.isEmpty {
            Terminal.note("warning: the data has no item catalogue or user profiles, so only ids and events are known")
        }
        print(summary)
        print(EvaluationReport.table(rows))
        if let json {
            try Terminal.writeJSON(ColdOutput(protocol: method.description, results: Dictionary(rows, uniquingKeysWith: { a, _ in a })), to: json)
        }
    }
}

extension Evaluate {
    /// Rankers: click probabilities on the held-out impressions (or, without logged
    /// impressions, on held-out interactions against random items), beside each item's
    /// training click rate.
    func evaluateClicks(bundles: [ModelBundle], paths: [String], prepared: DatasetRecipe.Prepared, seed: UInt64) throws {
        let test: Impressions, train: Impressions
        let protocolName: String
        if let held = prepared.testImpressions, held.count > 0 {
            test = held
            train = prepared.impressions ?? held
            protocolName = "held-out impressions (the latest by time)"
        } else {
            guard let heldOut = prepared.test else { throw ValidationError("the recipe holds nothing out; train the ranker with --holdout") }
            test = Impressions.sampled(from: heldOut, negatives: 4, seed: seed)
            train = Impressions.sampled(from: prepared.trainRaw, negatives: 4, seed: seed)
            protocolName = "held-out interactions, each beside 4 random items (no logged impressions)"
        }
        let ks = [1, 5]
        var rows: [(String, ClickReport)] = []
        for (path, bundle) in zip(paths, bundles) {
            guard let ranker = bundle.model as? any ClickScoring else {
                Terminal.note("warning: \(path) (\(bundle.manifest.kind)) does not predict clicks; left out (train --model ranker)")
                continue
            }
            let label = bundles.count > 1 ? URL(fileURLWithPath: path).lastPathComponent : bundle.manifest.kind
            rows.append((label, ClickReport(probabilities: ranker.clickProbabilities(test), labels: test.rows.values, groups: test.groups, ks: ks)))
        }
        let ctr = ItemClickRate(train)
        rows.append(("item click rate", ClickReport(probabilities: ctr.probabilities(test), labels: test.rows.values, groups: test.groups, ks: ks)))
        print("\(protocolName): \(test.count) shown, \(test.positives) clicked, \(Set(test.groups).count) impressions")
        var table = "model              AUC    imp.AUC  log loss  calib.err  pred/obs    P@1     P@5\n"
        for (label, r) in rows {
            table += label.padding(toLength: 18, withPad: " ", startingAt: 0)
            table += String(format: " %.4f  %@   %.4f    %.4f     %6.3f   %@  %@\n", r.auc, r.impressionAUC.map { String(format: "%.4f", $0) } ?? "  –   ",
                            r.logLoss, r.calibrationError, r.predictedOverObserved,
                            r.precisionAtK[1].map { String(format: "%.4f", $0) } ?? "  –   ", r.precisionAtK[5].map { String(format: "%.4f", $0) } ?? "  –   ")
        }
        print(table, terminator: "")
        if let json {
            try Terminal.writeJSON(ClickOutput(protocol: protocolName, shown: test.count, clicked: test.positives,
                                               results: Dictionary(rows, uniquingKeysWith: { a, _ in a })), to: json)
        }
    }
}

/// `evaluate --json` for rankers.
struct ClickOutput: Encodable {
    var `protocol`: String
    var shown: Int
    var clicked: Int
    var results: [String: ClickReport]
}

/// `evaluate --json` for cold-start protocols.
struct ColdOutput: Encodable {
    var `protocol`: String
    var results: [String: EvaluationReport]
}

extension SplitMethod {
    /// Cold users or cold items.
    var isColdStart: Bool {
        switch self { case .coldUsers, .coldItems: true; default: false }
    }
    /// Cold users.
    var isColdUserProtocol: Bool {
        if case .coldUsers = self { return true }
        return false
    }
}
