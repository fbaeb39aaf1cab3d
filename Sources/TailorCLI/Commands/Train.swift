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

        Models: als (implicit-feedback ALS, Hu et al. 2008; --solver cg or cholesky) and
        popularity (the baseline). Confidence is c = 1 + alpha·r for a row of strength r.
        """
    )

    @Argument(help: "The interaction log (CSV, TSV, '::', whitespace or JSON Lines).")
    var file: String

    @Option(help: "The model to train: als or popularity.")
    var model = "als"

    @Option(help: "Length of the user and item vectors.")
    var factors = 64

    @Option(help: "ALS passes over users and items.")
    var iterations = 15

    @Option(help: "L2 regularization λ.")
    var regularization: Float = 0.05

    @Option(help: "Confidence slope α: a row of strength r gets confidence 1 + α·r.")
    var alpha: Float = 1

    @Option(help: "Per-row solver: cg (conjugate gradient, fast) or cholesky (exact).")
    var solver: ALS.Solver = .conjugateGradient

    @Option(name: .customLong("cg-steps"), help: "Conjugate-gradient steps per row.")
    var cgSteps = 3

    @Option(help: "Worker threads (0: all cores).")
    var threads = 0

    @Flag(inversion: .prefixedNo, help: "Compute the training loss after each iteration (costs about one CG step; --no-loss for benchmarks).")
    var loss = true

    @Option(help: "Random seed for the initial vectors.")
    var seed: UInt64 = 1

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

    func run() throws {
        let t0 = now()
        let (log, readReport) = try read.read(file)
        let matrix = InteractionMatrix(log)
        let t1 = now()
        let trained: any Recommender
        var finalLoss: Double?
        switch model.lowercased() {
        case ALS.kind:
            var c = ALS.Configuration(factors: factors, iterations: iterations, regularization: regularization, alpha: alpha,
                                      solver: solver, seed: seed, threads: threads)
            c.conjugateGradientSteps = cgSteps
            c.computeLoss = loss
            let als = try ALS.fit(matrix, configuration: c, progress: progressOptions.handler())
            finalLoss = als.history.last?.loss
            trained = als
        case Popularity.kind:
            trained = try Popularity.fit(matrix)
        default:
            throw ValidationError("unknown --model '\(model)'; this Tailor trains: als, popularity")
        }
        let t2 = now()
        let bundle = try ModelBundle(model: trained, training: log, matrix: matrix, source: file)
        try bundle.save(to: URL(fileURLWithPath: output))
        let t3 = now()
        Terminal.note(String(format: "trained %@ on %d users × %d items (%d interactions) in %.2fs%@; saved to %@",
                             model, matrix.userCount, matrix.itemCount, matrix.nonZeroCount, t2 - t1,
                             finalLoss.map { String(format: ", final loss %.6g", $0) } ?? "", output))
        if let report {
            try Terminal.writeJSON(Report(file: file, model: model, rowsRead: readReport.rowsRead, rowsSkipped: readReport.rowsSkipped,
                                          rowsBelowMinimumRating: readReport.rowsBelowMinimumRating, duplicatesMerged: readReport.duplicatesMerged,
                                          users: matrix.userCount, items: matrix.itemCount, interactions: matrix.nonZeroCount,
                                          secondsLoading: t1 - t0, secondsFitting: t2 - t1, secondsSaving: t3 - t2,
                                          finalLoss: finalLoss, output: output, problems: readReport.problems), to: report)
        }
    }
}

extension ALS.Solver: ExpressibleByArgument {}
