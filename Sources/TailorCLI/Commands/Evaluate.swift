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
        let entries = ModelComparison.Entry.labelled(paths: model, bundles: bundles)
        let configuration = Evaluator.Configuration(ks: ks, computeAUC: !noAUC, threads: threads)
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
                let clicks = try ModelComparison.clicks(entries, prepared: prepared, seed: recipe.holdout?.seed ?? 42)
                clicks.notes.forEach(Terminal.note)
                print("\(clicks.protocolName): \(clicks.shown) shown, \(clicks.clicked) clicked, \(clicks.impressions) impressions")
                print(ClickReport.table(clicks.rows), terminator: "")
                if let json {
                    try Terminal.writeJSON(ClickOutput(protocol: clicks.protocolName, shown: clicks.shown, clicked: clicks.clicked,
                                                       results: Dictionary(clicks.rows, uniquingKeysWith: { a, _ in a })), to: json)
                }
                return
            }
            if let method = recipe.holdout?.method, method.isColdStart {
                let cold = try ModelComparison.coldStart(entries, method: method, prepared: prepared, configuration: configuration)
                cold.notes.forEach(Terminal.note)
                print(cold.summary)
                print(EvaluationReport.table(cold.rows))
                if let json {
                    try Terminal.writeJSON(ColdOutput(protocol: method.description, results: Dictionary(cold.rows, uniquingKeysWith: { a, _ in a })), to: json)
                }
                return
            }
            (trainLog, testLog) = (prepared.trainRaw, prepared.test!)
            let method = prepared.splitReport?.method ?? "held out"
            (trainName, testName) = ("\(recipe.source.path) (\(method), train part)", "\(recipe.source.path) (held-out part)")
        }
        let ranking = try ModelComparison.ranking(entries, train: trainLog, test: testLog, trainName: trainName,
                                                  configuration: configuration, baseline: baseline, testContext: testContext)
        ranking.notes.forEach(Terminal.note)
        let first = ranking.rows[0].1
        print("\(first.users) test users, \(first.testInteractions) test interactions" +
              (first.testInteractionsAlreadyInTrain > 0 ? " (\(first.testInteractionsAlreadyInTrain) already in train, not counted)" : ""))
        print(EvaluationReport.table(ranking.rows))
        for (label, e) in ranking.ratingErrors.sorted(by: { $0.key < $1.key }) {
            print(String(format: "%@: RMSE %.4f, MAE %.4f on %d test ratings", label, e.rmse, e.mae, e.count))
        }
        if let json {
            try Terminal.writeJSON(Output(models: model, train: trainName, test: testName, unknownTestUsers: ranking.unknownTestUsers,
                                          unknownTestUserRows: ranking.unknownTestUserRows, unknownTestItemRows: ranking.unknownTestItemRows,
                                          trainMatchesModel: ranking.trainMatchesModel,
                                          results: Dictionary(ranking.rows, uniquingKeysWith: { a, _ in a }), ratingErrors: ranking.ratingErrors), to: json)
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
