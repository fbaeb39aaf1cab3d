import ArgumentParser
import Foundation
import TailorData
import TailorEval
import TailorModels

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

        Definitions (binary relevance; hits@K = relevant items in the first K):
          precision = hits@K / K            recall  = hits@K / |relevant|
          ndcg      = DCG@K / ideal DCG@K    mrr     = 1 / rank of the first hit (0 if none in K)
          hit_rate  = 1 if hits@K > 0        map     = Σ precision@r at each hit r ≤ K / min(K, |relevant|)
          coverage  = distinct items recommended in any top-K / catalogue size
          auc       = P(relevant item scores above a non-relevant candidate), full ranking
        """
    )

    @Option(help: "The model directory written by `tailor train`.")
    var model: String

    @Option(help: "The training interactions (their items are excluded from rankings).")
    var train: String

    @Option(help: "The held-out interactions.")
    var test: String

    @Option(help: "Cut-offs, comma-separated.")
    var k = "5,10,20"

    @Option(help: ArgumentHelp("Also write the results as JSON.", valueName: "FILE.json"))
    var json: String?

    @Flag(inversion: .prefixedNo, help: "Show the popularity baseline next to the model.")
    var baseline = true

    @Flag(name: .customLong("no-auc"), help: "Skip AUC (saves one pass over all scores per user).")
    var noAUC = false

    @Option(help: "Worker threads (0: all cores).")
    var threads = 0

    @OptionGroup var read: ReadOptions

    struct Output: Codable {
        var model: String
        var train: String
        var test: String
        var unknownTestUsers: Int
        var unknownTestUserRows: Int
        var unknownTestItemRows: Int
        var trainMatchesModel: Bool
        var results: [String: EvaluationReport]
    }

    func run() throws {
        let ks = try k.split(separator: ",").map { part -> Int in
            guard let v = Int(part.trimmingCharacters(in: .whitespaces)), v > 0 else {
                throw ValidationError("--k takes positive integers separated by commas, like 5,10,20 (got '\(k)')")
            }
            return v
        }
        let bundle = try ModelBundle.load(from: URL(fileURLWithPath: model))
        let (trainLog, _) = try read.read(train, quiet: true)
        let (testLog, _) = try read.read(test, quiet: true)
        let matches = trainLog.fingerprint() == bundle.manifest.data.fingerprint
        if !matches {
            Terminal.note("warning: \(train) differs from the data the model was trained on (\(bundle.manifest.data.source ?? "unknown")); its items are still excluded from rankings")
        }
        let trainAligned = AlignedInteractions(trainLog, to: bundle)
        let testAligned = AlignedInteractions(testLog, to: bundle)
        if testAligned.unknownUsers > 0 || testAligned.unknownItemRows > 0 {
            Terminal.note("left out of the test: \(testAligned.unknownUsers) users the model never saw (\(testAligned.unknownUserRows) rows), \(testAligned.unknownItemRows) rows with unknown items")
        }
        let configuration = Evaluator.Configuration(ks: ks, computeAUC: !noAUC, threads: threads)
        var results: [(String, EvaluationReport)] = [
            (bundle.manifest.kind, Evaluator.evaluate(bundle.model, train: trainAligned.matrix, test: testAligned.matrix, configuration: configuration)),
        ]
        if baseline && bundle.manifest.kind != Popularity.kind {
            let pop = Popularity(counting: trainAligned.matrix)
            results.append(("popularity", Evaluator.evaluate(pop, train: trainAligned.matrix, test: testAligned.matrix, configuration: configuration)))
        }
        let first = results[0].1
        print("\(first.users) test users, \(first.testInteractions) test interactions" +
              (first.testInteractionsAlreadyInTrain > 0 ? " (\(first.testInteractionsAlreadyInTrain) already in train, not counted)" : ""))
        print(EvaluationReport.table(results))
        if let json {
            try Terminal.writeJSON(Output(model: model, train: train, test: test, unknownTestUsers: testAligned.unknownUsers,
                                          unknownTestUserRows: testAligned.unknownUserRows, unknownTestItemRows: testAligned.unknownItemRows,
                                          trainMatchesModel: matches,
                                          results: Dictionary(results, uniquingKeysWith: { a, _ in a })), to: json)
        }
    }
}
