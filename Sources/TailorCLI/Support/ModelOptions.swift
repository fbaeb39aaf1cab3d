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
    @Option(name: .customLong("set"), help: ArgumentHelp("Set any configuration key of the model (repeatable); VALUE is JSON or text. `tailor models` lists the keys.",
                                                    valueName: "KEY=VALUE"))
    var set: [String] = []

    /// Configuration keys by flag, with how the flag's value becomes the key's JSON value.
    /// Flags are only the CLI's names for configuration keys; the library knows keys.
    static let keys: [String: String] = [
        "--factors": "factors", "--iterations": "iterations", "--epochs": "epochs", "--regularization": "regularization",
        "--alpha": "alpha", "--learning-rate": "learningRate", "--solver": "solver", "--cg-steps": "conjugateGradientSteps",
        "--loss": "computeLoss", "--neighbors": "neighbors", "--shrinkage": "shrinkage", "--weighting": "weighting",
        "--normalize": "normalize", "--l2": "l2", "--binarize": "binarize", "--negative-sampling": "negativeSampling",
        "--half-life": "halfLifeDays", "--window": "window", "--negatives": "negatives", "--subsample": "subsample",
        "--aggregation": "aggregation", "--session-gap": "sessionGapSeconds", "--bias-regularization": "biasRegularization",
    ]

    /// The flags given, as configuration keys and JSON values.
    var given: [(flag: String, key: String, value: JSONValue)] {
        func n<T: BinaryInteger>(_ v: T?) -> JSONValue? { v.map { .number(Double($0)) } }
        func f<T: BinaryFloatingPoint>(_ v: T?) -> JSONValue? { v.map { .number(Double($0)) } }
        func b(_ v: Bool?) -> JSONValue? { v.map { .bool($0) } }
        func t(_ v: String?) -> JSONValue? { v.map { .string($0) } }
        let all: [(String, JSONValue?)] = [("--factors", n(factors)), ("--iterations", n(iterations)), ("--epochs", n(epochs)),
            ("--regularization", f(regularization)), ("--alpha", f(alpha)), ("--learning-rate", f(learningRate)), ("--solver", t(solver)),
            ("--cg-steps", n(cgSteps)), ("--loss", b(loss)), ("--neighbors", n(neighbors)), ("--shrinkage", f(shrinkage)),
            ("--weighting", t(weighting?.rawValue)), ("--normalize", b(normalize)), ("--l2", f(l2)), ("--binarize", b(binarize)),
            ("--negative-sampling", t(negativeSampling?.rawValue)), ("--half-life", f(halfLife)), ("--window", n(window)),
            ("--negatives", n(negatives)), ("--subsample", f(subsample)), ("--aggregation", t(aggregation?.rawValue)),
            ("--session-gap", sessionGap.map { .number(($0 * 60).rounded()) }), ("--bias-regularization", f(biasRegularization))]
        return all.compactMap { flag, value in value.map { (flag, Self.keys[flag]!, $0) } }
    }

    /// `patch` with the flags and `--set` pairs applied, checked against what `entry` accepts.
    func apply(to patch: JSONValue?, entry: ModelRegistry.Entry) throws -> JSONValue {
        guard case .object(var fields) = patch ?? .object([:]) else {
            throw ValidationError("the model configuration must be a JSON object")
        }
        let stray = given.filter { !entry.accepts($0.key) }
        if !stray.isEmpty {
            let takes = Self.keys.filter { entry.accepts($0.value) }.keys.sorted()
            throw ValidationError("\(stray.map(\.flag).joined(separator: ", ")) \(stray.count == 1 ? "does" : "do") not apply to --model \(entry.kind); it takes \(takes.joined(separator: ", ")) (and --set KEY=VALUE for any of its keys: \(entry.keys.sorted().joined(separator: ", ")))")
        }
        for g in given { fields[g.key] = g.value }
        for pair in set {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--set takes KEY=VALUE, got '\(pair)'") }
            guard entry.accepts(parts[0]) else {
                throw ValidationError("--set \(parts[0]): \(entry.kind) has no key '\(parts[0])'; its keys are \(entry.keys.sorted().joined(separator: ", "))")
            }
            fields[parts[0]] = (try? JSONDecoder().decode(JSONValue.self, from: Data(parts[1].utf8))) ?? .string(parts[1])
        }
        return .object(fields)
    }
}

extension ItemKNN.Weighting: ExpressibleByArgument {}
extension BPR.NegativeSampling: ExpressibleByArgument {}
extension Item2Vec.Aggregation: ExpressibleByArgument {}

/// Reading JSON configuration files for the CLI.
enum ConfigurationFile {
    /// The JSON value in `path`.
    static func read(_ path: String) throws -> JSONValue {
        let data = try readFile(path)
        do { return try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw DataError(.invalidConfiguration, file: path, reason: "is not valid JSON (\(error.localizedDescription))")
        }
    }

    /// `defaults` patched by the JSON object in `path` (keys it does not name keep their defaults).
    static func load<C: Codable>(_ defaults: C, from path: String?) throws -> C {
        guard let path else { return defaults }
        do {
            return try ConfigurationPatch.apply(try read(path), to: defaults, context: URL(fileURLWithPath: path).lastPathComponent)
        } catch var error as DataError {
            if error.file == nil { error.file = path }
            throw error
        }
    }
}
