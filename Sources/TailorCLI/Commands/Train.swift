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
          tailor train u.data --model als --factors 64 --iterations 15 --regularization 10 \\
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
          content     cosine of item vectors with the user's history (cold items too): --store DB
                      --item-vectors text after `tailor embed` (or a catalogue's feature vectors)
          two-tower   neural two-tower hybrid (ids, history, user attributes, item content; Yi et al.
                      2019): --items FILE --users FILE, --set dimension=64 --set epochs=40 …
          ranker      click-through ranker (deep & cross network) on impressions: --impressions FILE
                      (or a store's), --set retrieval=DIR (a factor model's vectors as features),
                      --set balance=downsample|weights|none
        Every model also takes --set KEY=VALUE for any configuration key (`tailor models` lists
        them), and --config run.json reads a whole run (data recipe, model, configuration, seed,
        threads, output; see the README) that flags then override.

        More examples:
          tailor train ratings.csv --model bpr --factors 64 --epochs 60 --learning-rate 0.05 --output bpr
          tailor train ratings.csv --model itemknn --neighbors 200 --weighting bm25 --output knn
          tailor train ratings.csv --model ease --l2 300 --output ease
          tailor train ratings.csv --model mf --solver als-wr --factors 32 --output mf
          tailor train plays.csv --model item2vec --aggregation recency --half-life 14 --output i2v
          tailor train events.csv --model popularity --half-life 7 --output trending
          tailor train --store tailor.db --model als --output model       # cleaned, weighted events
          tailor train --store tailor.db --holdout temporal --output model  # then: tailor evaluate --model model
          tailor train --config run.json                                     # a run file
          tailor train plays.tsv --confidence log:1 --model als --output model   # raw counts, log-scaled (the default is log:0.1)

        Fine-tuning: --init-from DIR continues a two-tower model on fresh events (the log or
        store given is the new events only). The base's users and items keep their rows, new
        ones get fresh rows; the configuration patches the base's; --freeze lists parameter-name
        prefixes to keep fixed, --unfreeze-every N releases them one by one (last listed first).
          tailor train week.csv --init-from tt --set learningRate=0.0005 --set epochs=5 --output tt-new
          tailor train week.csv --init-from tt --freeze item_id,item_mlp --unfreeze-every 2 --output tt-new
        """
    )

    @Argument(help: "The interaction log (CSV, TSV, '::', whitespace or JSON Lines); or use --store, or a run file's data.")
    var file: String?

    @Option(help: ArgumentHelp("A run file (JSON: data recipe, model, configuration, seed, threads, output; see the README). Flags override its values. A file without \"data\" or \"model\" keys is read as the model's configuration alone.",
                               valueName: "FILE.json"))
    var config: String?

    @OptionGroup(title: "Store") var storeOptions: StoreOptions

    @Option(help: ArgumentHelp("An item catalogue (CSV with an item id column; titles, genres or categories, tags, numbers, a feature vector) for models that read content, such as two-tower. Overrides a store's items with the same ids.", valueName: "FILE"))
    var items: String?

    @Option(help: ArgumentHelp("User profiles (CSV with a user id column and attribute columns such as age, gender, occupation) for models that read them, such as two-tower.", valueName: "FILE"))
    var users: String?

    @Option(help: ArgumentHelp("Impressions for a ranker (CSV: user, item, clicked 1/0, optional timestamp and impression id). A store's own impressions (sessions with skip events) are read without it.", valueName: "FILE"))
    var impressions: String?

    @Option(name: .customLong("item-vectors"), help: ArgumentHelp("Use the store's item vectors of this space (written by `tailor embed`, e.g. text) as the items' feature vectors: the content model and the two-tower item tower read them.", valueName: "SPACE"))
    var itemVectors: String?

    @Option(name: .customLong("init-from"), help: ArgumentHelp("Continue training this model directory on the given (fresh) events instead of starting from scratch (two-tower).", valueName: "DIR"))
    var initFrom: String?

    @Option(help: ArgumentHelp("Parameter-name prefixes to keep fixed, comma-separated (two-tower: user_id, item_id, user_mlp, item_mlp, user_attribute_N, item_categories, item_tags…).", valueName: "PREFIX,…"))
    var freeze: String?

    @Option(name: .customLong("unfreeze-every"), help: ArgumentHelp("Gradual unfreezing: release one --freeze prefix every N epochs, the last listed first.", valueName: "N"))
    var unfreezeEvery: Int?

    @Option(help: "Hold out test interactions and train on the rest: random, temporal, leave-last-out or global-time. `tailor evaluate --model DIR --store FILE` (or `--config run.json`) then rebuilds the same split.")
    var holdout: HoldoutOptions.Method?

    @OptionGroup(title: "Hold-out") var holdoutOptions: HoldoutOptions

    @Option(help: ArgumentHelp("How strengths become training values: log (default, ε 0.1: log(1 + r/ε) scaled so 1 stays 1, for counts of any size), linear, binary or bm25. Options: log:EPSILON, bm25:K1:B.",
                               valueName: "TRANSFORM"))
    var confidence: String?

    @Option(help: "The model: als, bpr, itemknn, ease, mf, item2vec or popularity (`tailor models` lists every registered model and its keys).")
    var model: String?

    @Option(help: "Worker threads (0: all cores). Results are deterministic for a given value.")
    var threads: Int?

    @Option(help: "Random seed.")
    var seed: UInt64?

    @OptionGroup(title: "Model options") var hyper: ModelOptions

    @Option(name: .shortAndLong, help: "Directory to write the model to.")
    var output: String?

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
        var run: TrainingRun
    }

    func validate() throws {
        _ = neuralModelsRegistered
        if config == nil {
            guard (file == nil) != (storeOptions.store == nil) else { throw ValidationError("give a log FILE or --store FILE.db (one of them), or --config run.json") }
            guard output != nil else { throw ValidationError("give --output DIR (where to write the model)") }
        } else if file != nil && storeOptions.store != nil {
            throw ValidationError("give a log FILE or --store FILE.db, not both")
        }
    }

    /// The run: the run file's (if any), with every flag that was given applied over it.
    func makeRun(registry: ModelRegistry = .shared) throws -> TrainingRun {
        var run: TrainingRun
        var modelPatch: JSONValue?
        if let config {
            let json = try ConfigurationFile.read(config)
            if case .object(let keys) = json, keys["data"] != nil || keys["model"] != nil {
                run = try TrainingRun.read(from: config)
                modelPatch = run.configuration
            } else {
                // An older-style file: the model's configuration alone.
                guard file != nil || storeOptions.store != nil else { throw ValidationError("\(config) holds only a model configuration; give a log FILE or --store too") }
                run = TrainingRun(data: DatasetRecipe(source: .log("")))
                modelPatch = json
            }
        } else {
            run = TrainingRun(data: DatasetRecipe(source: .log(file ?? "")))
        }
        if let file { run.data.source = .log(file) }
        if let store = storeOptions.store { run.data.source = .store(store) }
        run.data.reader = try read.apply(to: run.data.reader)
        if storeOptions.cleaning != nil { run.data.cleaning = try storeOptions.cleaningConfiguration() }
        if storeOptions.weights != nil { run.data.weights = try storeOptions.eventWeights() }
        if let items { run.data.items = items }
        if let users { run.data.users = users }
        if let impressions { run.data.impressions = impressions }
        if let itemVectors { run.data.itemVectors = itemVectors }
        if let confidence { run.data.confidence = try ConfidenceTransform(parsing: confidence) }
        try holdoutOptions.apply(holdout, to: &run.data)
        if let initFrom { run.initFrom = initFrom }
        if let model {
            run.model = model.lowercased()
        } else if let base = run.initFrom, run.model == TrainingRun(data: run.data).model {
            // Fine-tuning continues the base's kind unless a model was named.
            let manifest = URL(fileURLWithPath: base).appendingPathComponent("manifest.json")
            if let data = try? Data(contentsOf: manifest), let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let kind = json["kind"] as? String {
                run.model = kind
            }
        }
        if let seed { run.seed = seed }
        if let threads { run.threads = threads }
        if let output { run.output = output }
        guard run.output != nil else { throw ValidationError("give --output DIR, or \"output\" in the run file") }
        let entry: ModelRegistry.Entry
        do { entry = try registry.entry(run.model) } catch is ModelError {
            throw ValidationError("unknown --model '\(run.model)'; this Tailor trains: \(registry.kinds.joined(separator: ", "))")
        }
        run.configuration = try hyper.apply(to: modelPatch, entry: entry)
        if freeze != nil || unfreezeEvery != nil {
            guard entry.accepts("freeze"), case .object(var fields) = run.configuration else {
                throw ValidationError("--freeze and --unfreeze-every apply to neural models (two-tower), not --model \(entry.kind)")
            }
            if let freeze {
                let prefixes = freeze.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                guard !prefixes.isEmpty else { throw ValidationError("--freeze takes parameter-name prefixes, comma-separated, got '\(freeze)'") }
                fields["freeze"] = .array(prefixes.map { .string($0) })
            }
            if let unfreezeEvery { fields["unfreezeEvery"] = .number(Double(unfreezeEvery)) }
            run.configuration = .object(fields)
        }
        return run
    }

    func run() throws {
        _ = neuralModelsRegistered
        let run = try makeRun()
        if case .log(let path) = run.data.source, path.isEmpty {
            throw ValidationError("the run names no data: give a log FILE, --store FILE.db, or \"data\" in the run file")
        }
        let handler = progressOptions.handler()
        let losses = LossTracker()
        let outcome: TrainingRun.Outcome
        do {
            outcome = try run.train(openStore: StoreOptions.open, progress: { event in
                if let loss = event.metrics["loss"] { losses.record(loss) }
                handler?(event)
            })
        } catch var error as ModelError where error.code == .invalidConfiguration {
            // The library names configuration keys; people typed flags.
            for (flag, key) in ModelOptions.keys where error.reason.hasPrefix("configuration.\(key):") {
                error.reason = "\(flag) (configuration key \(key))" + error.reason.dropFirst("configuration.\(key)".count)
            }
            throw error
        }
        let lastLoss = losses.last
        let prepared = outcome.data
        if let r = prepared.readReport { Terminal.note(r.summary) }
        if let c = prepared.cleaningReport { Terminal.note(c.summary) }
        if let s = prepared.splitReport {
            Terminal.note("\(s.method): training on \(s.trainRows) interactions, \(s.testRows) held out for `tailor evaluate`")
        }
        let t2 = now()
        let output = run.output!
        try outcome.bundle.save(to: URL(fileURLWithPath: output))
        let secondsSaving = now() - t2
        let m = outcome.bundle.manifest.data
        Terminal.note(String(format: "trained %@ on %d users × %d items (%d interactions) in %.2fs%@; saved to %@",
                             run.model, m.users, m.items, m.interactions, outcome.secondsFitting,
                             lastLoss.map { String(format: ", final loss %.6g", $0) } ?? "", output))
        if let report {
            let r = prepared.readReport
            try Terminal.writeJSON(Report(file: run.data.source.path, model: run.model, rowsRead: r?.rowsRead ?? prepared.all.count,
                                          rowsSkipped: r?.rowsSkipped ?? 0, rowsBelowMinimumRating: r?.rowsBelowMinimumRating ?? 0,
                                          duplicatesMerged: r?.duplicatesMerged ?? 0, users: m.users, items: m.items, interactions: m.interactions,
                                          secondsLoading: outcome.secondsPreparing, secondsFitting: outcome.secondsFitting, secondsSaving: secondsSaving,
                                          finalLoss: lastLoss, output: output, problems: r?.problems ?? [], run: run), to: report)
        }
    }
}

/// The latest loss a fit reported (progress may arrive on a worker thread).
final class LossTracker: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Double?
    func record(_ loss: Double) { lock.lock(); value = loss; lock.unlock() }
    var last: Double? { lock.lock(); defer { lock.unlock() }; return value }
}

extension ALS.Solver: ExpressibleByArgument {}
