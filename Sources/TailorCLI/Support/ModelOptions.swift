import ArgumentParser
import Foundation
import TailorData
import TailorModels

/// Hyperparameter options for `tailor train`. Each is optional: a model uses the ones that apply
/// to it and rejects the rest, so a typo'd experiment fails loudly instead of silently ignoring a
/// flag.
struct ModelOptions: ParsableArguments {
    @Option(help: "Vector length (als, bpr, mf, item2vec).")
    var factors: Int?
    @Option(help: "ALS passes over users and items (als).")
    var iterations: Int?
    @Option(help: "Passes over the data (bpr, mf, item2vec).")
    var epochs: Int?
    @Option(help: "L2 regularization (als, bpr, mf).")
    var regularization: Float?
    @Option(help: "Confidence slope: a row of strength r gets confidence 1 + alpha·r (als).")
    var alpha: Float?
    @Option(name: .customLong("learning-rate"), help: "SGD step size (bpr, mf, item2vec).")
    var learningRate: Float?
    @Option(help: "Solver: cg or cholesky (als); sgd or als-wr (mf).")
    var solver: String?
    @Option(name: .customLong("cg-steps"), help: "Conjugate-gradient steps per row (als).")
    var cgSteps: Int?
    @Flag(inversion: .prefixedNo, help: "Compute the training loss each iteration (als; default on).")
    var loss: Bool?
    @Option(help: "Neighbours kept per item (itemknn).")
    var neighbors: Int?
    @Option(help: "Cosine shrinkage (itemknn).")
    var shrinkage: Float?
    @Option(help: "Feature weighting: none, tfidf or bm25 (itemknn).")
    var weighting: ItemKNN.Weighting?
    @Flag(inversion: .prefixedNo, help: "Cosine normalization (itemknn; default on).")
    var normalize: Bool?
    @Option(help: "L2 penalty λ of the closed form (ease).")
    var l2: Float?
    @Flag(inversion: .prefixedNo, help: "Treat every interaction as 1 (ease; default on).")
    var binarize: Bool?
    @Option(name: .customLong("negative-sampling"), help: "uniform or popularity (bpr).")
    var negativeSampling: BPR.NegativeSampling?
    @Option(name: .customLong("half-life"), help: "Days: trending popularity (popularity) or recency weighting (item2vec).")
    var halfLife: Double?
    @Option(help: "Context positions on each side, 0 for whole sequences (item2vec).")
    var window: Int?
    @Option(help: "Negative samples per positive pair (item2vec).")
    var negatives: Int?
    @Option(help: "Frequent-item subsampling threshold, 0 to disable (item2vec).")
    var subsample: Double?
    @Option(help: "User vectors from item vectors: mean, recency or attention (item2vec).")
    var aggregation: Item2Vec.Aggregation?
    @Option(name: .customLong("session-gap"), help: "Split histories into sessions at gaps longer than this many minutes (item2vec).")
    var sessionGap: Double?
    @Option(name: .customLong("bias-regularization"), help: "L2 penalty on the biases (mf).")
    var biasRegularization: Float?
    @Option(help: ArgumentHelp("A JSON file with the model's whole configuration (flags override it).", valueName: "FILE.json"))
    var config: String?

    /// The options the user set, by flag name.
    var given: [String] {
        let all: [(String, Any?)] = [("--factors", factors), ("--iterations", iterations), ("--epochs", epochs),
            ("--regularization", regularization), ("--alpha", alpha), ("--learning-rate", learningRate), ("--solver", solver),
            ("--cg-steps", cgSteps), ("--loss", loss), ("--neighbors", neighbors), ("--shrinkage", shrinkage),
            ("--weighting", weighting), ("--normalize", normalize), ("--l2", l2), ("--binarize", binarize),
            ("--negative-sampling", negativeSampling), ("--half-life", halfLife), ("--window", window),
            ("--negatives", negatives), ("--subsample", subsample), ("--aggregation", aggregation),
            ("--session-gap", sessionGap), ("--bias-regularization", biasRegularization)]
        return all.compactMap { $0.1 == nil ? nil : $0.0 }
    }
}

extension ItemKNN.Weighting: ExpressibleByArgument {}
extension BPR.NegativeSampling: ExpressibleByArgument {}
extension Item2Vec.Aggregation: ExpressibleByArgument {}

/// The models `tailor train` knows, the options each accepts, and how to fit them.
enum ModelCatalog {
    static let options: [String: Set<String>] = [
        ALS.kind: ["--factors", "--iterations", "--regularization", "--alpha", "--solver", "--cg-steps", "--loss"],
        BPR.kind: ["--factors", "--epochs", "--regularization", "--learning-rate", "--negative-sampling"],
        ItemKNN.kind: ["--neighbors", "--shrinkage", "--weighting", "--normalize"],
        EASE.kind: ["--l2", "--binarize"],
        ExplicitMF.kind: ["--factors", "--epochs", "--regularization", "--learning-rate", "--solver", "--bias-regularization"],
        Item2Vec.kind: ["--factors", "--epochs", "--learning-rate", "--window", "--negatives", "--subsample", "--aggregation",
                        "--half-life", "--session-gap"],
        Popularity.kind: ["--half-life"],
    ]

    static var names: [String] { options.keys.sorted() }

    /// Reads `base` overridden by the JSON file at `path`, if any.
    static func load<C: Codable>(_ base: C, from path: String?) throws -> C {
        guard let path else { return base }
        do {
            // Start from the defaults so the file may give only some fields.
            var merged = try JSONSerialization.jsonObject(with: JSONEncoder().encode(base)) as! [String: Any]
            guard let given = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] else {
                throw ValidationError("\(path): the configuration must be a JSON object")
            }
            // Every stored property is a field (optional ones encode to nothing when nil).
            let fields = Set(Mirror(reflecting: base).children.compactMap(\.label))
            for (key, value) in given {
                guard fields.contains(key) else {
                    throw ValidationError("\(path): unknown field '\(key)'; the fields are \(fields.sorted().joined(separator: ", "))")
                }
                merged[key] = value
            }
            return try JSONDecoder().decode(C.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(path): cannot read the configuration (\(error.localizedDescription))")
        }
    }

    /// Fits model `name` on `data` with the options, seed and threads given.
    static func fit(_ name: String, _ o: ModelOptions, seed: UInt64, threads: Int, data: TrainingData,
                    progress: ProgressHandler?) throws -> any Recommender {
        guard let allowed = options[name] else {
            throw ValidationError("unknown --model '\(name)'; this Tailor trains: \(names.joined(separator: ", "))")
        }
        let stray = o.given.filter { !allowed.contains($0) }
        if !stray.isEmpty {
            throw ValidationError("\(stray.joined(separator: ", ")) \(stray.count == 1 ? "does" : "do") not apply to --model \(name); it takes \(allowed.sorted().joined(separator: ", "))")
        }
        switch name {
        case ALS.kind:
            var c = try load(ALS.Configuration(), from: o.config)
            c.seed = seed; c.threads = threads
            if let v = o.factors { c.factors = v }
            if let v = o.iterations { c.iterations = v }
            if let v = o.regularization { c.regularization = v }
            if let v = o.alpha { c.alpha = v }
            if let v = o.cgSteps { c.conjugateGradientSteps = v }
            if let v = o.loss { c.computeLoss = v }
            if let v = o.solver {
                guard let s = ALS.Solver(rawValue: v) else { throw ValidationError("--solver for als is cg or cholesky, not '\(v)'") }
                c.solver = s
            }
            return try ALS.fit(data, configuration: c, progress: progress)
        case BPR.kind:
            var c = try load(BPR.Configuration(), from: o.config)
            c.seed = seed; c.threads = threads
            if let v = o.factors { c.factors = v }
            if let v = o.epochs { c.epochs = v }
            if let v = o.regularization { c.regularization = v }
            if let v = o.learningRate { c.learningRate = v }
            if let v = o.negativeSampling { c.negativeSampling = v }
            return try BPR.fit(data, configuration: c, progress: progress)
        case ItemKNN.kind:
            var c = try load(ItemKNN.Configuration(), from: o.config)
            c.threads = threads
            if let v = o.neighbors { c.neighbors = v }
            if let v = o.shrinkage { c.shrinkage = v }
            if let v = o.weighting { c.weighting = v }
            if let v = o.normalize { c.normalize = v }
            return try ItemKNN.fit(data, configuration: c, progress: progress)
        case EASE.kind:
            var c = try load(EASE.Configuration(), from: o.config)
            c.threads = threads
            if let v = o.l2 { c.l2 = v }
            if let v = o.binarize { c.binarize = v }
            return try EASE.fit(data, configuration: c, progress: progress)
        case ExplicitMF.kind:
            var c = try load(ExplicitMF.Configuration(), from: o.config)
            c.seed = seed; c.threads = threads
            if let v = o.factors { c.factors = v }
            if let v = o.epochs { c.epochs = v }
            if let v = o.regularization { c.regularization = v }
            if let v = o.learningRate { c.learningRate = v }
            if let v = o.biasRegularization { c.biasRegularization = v }
            if let v = o.solver {
                guard let s = ExplicitMF.Solver(rawValue: v) else { throw ValidationError("--solver for mf is sgd or als-wr, not '\(v)'") }
                c.solver = s
            }
            return try ExplicitMF.fit(data, configuration: c, progress: progress)
        case Item2Vec.kind:
            var c = try load(Item2Vec.Configuration(), from: o.config)
            c.seed = seed
            if let v = o.factors { c.factors = v }
            if let v = o.epochs { c.epochs = v }
            if let v = o.learningRate { c.learningRate = v }
            if let v = o.window { c.window = v }
            if let v = o.negatives { c.negatives = v }
            if let v = o.subsample { c.subsample = v }
            if let v = o.aggregation { c.aggregation = v }
            if let v = o.halfLife { c.halfLifeDays = v }
            if let v = o.sessionGap { c.sessionGapSeconds = Int(v * 60) }
            return try Item2Vec.fit(data, configuration: c, progress: progress)
        default:
            var c = try load(Popularity.Configuration(), from: o.config)
            if let v = o.halfLife { c.halfLifeDays = v }
            return try Popularity.fit(data, configuration: c, progress: progress)
        }
    }
}
