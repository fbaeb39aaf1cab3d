import ArgumentParser
import Foundation
import TailorData
import TailorModels

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on an interaction log and save it to a directory.",
        discussion: """
        Reads the log, builds the user×item matrix, fits the model and writes DIR/manifest.json
        (model kind, hyperparameters, id maps, a fingerprint of the data) and
        DIR/embeddings.safetensors (the vectors, readable by numpy and PyTorch).

        Examples:
          tailor train ratings.csv --output model
          tailor train u.data --model als --factors 64 --iterations 15 --regularization 0.05 \\
                 --alpha 1 --threads 2 --seed 1 --output model --report train.json
          tailor train plays.tsv --columns user=user_id,item=artist,rating=plays --alpha 0.5 --output model
          tailor train ratings.csv --min-rating 4 --model popularity --output baseline

        Models and their options:
          als         implicit-feedback ALS (Hu et al. 2008): --factors --iterations --regularization
                      --alpha (confidence 1 + alpha·r) --solver cg|cholesky --cg-steps --no-loss
          bpr         Bayesian personalized ranking (Rendle et al. 2009): --factors --epochs
                      --learning-rate --regularization --negative-sampling uniform|popularity
          itemknn     item nearest neighbours: --neighbors --shrinkage --weighting none|tfidf|bm25 --no-normalize
          ease        closed-form shallow autoencoder (Steck 2019): --l2 --no-binarize
          mf          explicit-rating MF with biases: --solver sgd|als-wr --factors --epochs
                      --learning-rate --regularization --bias-regularization
          item2vec    skip-gram item embeddings (Barkan and Koenigstein 2016): --factors --epochs --window
                      --negatives --subsample --aggregation mean|recency|attention --half-life --session-gap
          popularity  most-interacted items; --half-life DAYS for trending
        Every model also takes --config FILE.json with its whole configuration.

        More examples:
          tailor train ratings.csv --model bpr --factors 64 --epochs 60 --learning-rate 0.05 --output bpr
          tailor train ratings.csv --model itemknn --neighbors 200 --weighting bm25 --output knn
          tailor train ratings.csv --model ease --l2 300 --output ease
          tailor train ratings.csv --model mf --solver als-wr --factors 32 --output mf
          tailor train plays.csv --model item2vec --aggregation recency --half-life 14 --output i2v
          tailor train events.csv --model popularity --half-life 7 --output trending
          tailor train --store tailor.db --model als --output model       # cleaned, weighted events
          tailor train --store tailor.db --holdout temporal --output model  # then: tailor evaluate --model model --store tailor.db
        """
    )

    @Argument(help: "The interaction log (CSV, TSV, '::', whitespace or JSON Lines); or use --store.")
    var file: String?

    @OptionGroup(title: "Store") var storeOptions: StoreOptions

    @Option(help: "Hold out test interactions and train on the rest: random, temporal, leave-last-out or global-time. `tailor evaluate --model DIR --store FILE` then rebuilds the same split.")
    var holdout: HoldoutOptions.Method?

    @OptionGroup(title: "Hold-out") var holdoutOptions: HoldoutOptions

    @Option(help: "The model: als, bpr, itemknn, ease, mf, item2vec or popularity.")
    var model = "als"

    @Option(help: "Worker threads (0: all cores). Results are deterministic for a given value.")
    var threads = 0

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    @OptionGroup(title: "Model options") var hyper: ModelOptions

    @Option(name: .shortAndLong, help: "Directory to write the model to.")
    var output: String

    @Option(help: ArgumentHelp("Write a JSON report (rows read and skipped, users, items, seconds loading, fitting and saving).", valueName: "FILE.json"))
    var report: String?

    @OptionGroup var read: ReadOptions
    @OptionGroup var progressOptions: ProgressOptions

    struct Report: Codable {
        var file: String
        var model: String
        var rowsRead: Int
        var rowsSkipped: Int
        var rowsBelowMinimumRating: Int
        var duplicatesMerged: Int
        var users: Int
        var items: Int
        var interactions: Int
        var secondsLoading: Double
        var secondsFitting: Double
        var secondsSaving: Double
        var finalLoss: Double?
        var output: String
        var problems: [InteractionReader.ReadReport.Problem]
    }

    func validate() throws {
        guard (file == nil) != (storeOptions.store == nil) else { throw ValidationError("give a log FILE or --store FILE.db (one of them)") }
    }

    func run() throws {
        let t0 = now()
        let log: Interactions
        var readReport = InteractionReader.ReadReport(file: file ?? storeOptions.store!, format: "store", header: false, columns: [:])
        if file != nil {
            (log, readReport) = try read.read(file!)
        } else {
            log = try storeOptions.interactions()
            readReport.rowsRead = log.count
            readReport.interactions = log.count
        }
        var training = log
        var record: ModelManifest.DataSummary.Holdout?
        if let holdout {
            let method = try holdoutOptions.method(holdout)
            let split = try Split.make(log, method: method, seed: holdoutOptions.splitSeed)
            training = split.train
            record = .init(method: method, seed: holdoutOptions.splitSeed,
                           cleaning: storeOptions.store == nil ? nil : try JSONValue(encoding: storeOptions.cleaningConfiguration()),
                           weights: storeOptions.store == nil ? nil : try JSONValue(encoding: storeOptions.eventWeights()))
            Terminal.note("\(split.report.method): training on \(split.report.trainRows) interactions, \(split.report.testRows) held out for `tailor evaluate`")
        }
        let matrix = InteractionMatrix(training)
        let t1 = now()
        let trained: any Recommender
        var finalLoss: Double?
        trained = try ModelCatalog.fit(model.lowercased(), hyper, seed: seed, threads: threads,
                                       data: TrainingData(training, matrix: matrix), progress: progressOptions.handler())
        finalLoss = (trained as? ALS)?.history.last?.loss
        let t2 = now()
        let bundle = try ModelBundle(model: trained, training: training, matrix: matrix, source: file ?? "store:" + storeOptions.store!,
                                     holdout: record)
        try bundle.save(to: URL(fileURLWithPath: output))
        let t3 = now()
        Terminal.note(String(format: "trained %@ on %d users × %d items (%d interactions) in %.2fs%@; saved to %@",
                             model, matrix.userCount, matrix.itemCount, matrix.nonZeroCount, t2 - t1,
                             finalLoss.map { String(format: ", final loss %.6g", $0) } ?? "", output))
        if let report {
            try Terminal.writeJSON(Report(file: file ?? storeOptions.store!, model: model, rowsRead: readReport.rowsRead, rowsSkipped: readReport.rowsSkipped,
                                          rowsBelowMinimumRating: readReport.rowsBelowMinimumRating, duplicatesMerged: readReport.duplicatesMerged,
                                          users: matrix.userCount, items: matrix.itemCount, interactions: matrix.nonZeroCount,
                                          secondsLoading: t1 - t0, secondsFitting: t2 - t1, secondsSaving: t3 - t2,
                                          finalLoss: finalLoss, output: output, problems: readReport.problems), to: report)
        }
    }
}

extension ALS.Solver: ExpressibleByArgument {}
