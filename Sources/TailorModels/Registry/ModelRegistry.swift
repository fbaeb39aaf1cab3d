import Foundation
import Synchronization
import TailorData

/// Every model kind Tailor can train and load, by name: its `Codable` configuration, how to fit
/// it from a configuration (or a JSON patch over the defaults) and how to read it back from a
/// model directory.
///
/// A model registers once and is then trainable from the CLI (`tailor train --model KIND`), a
/// run file, the tuner and the server, with no switch to edit anywhere:
///
/// ```swift
/// ModelRegistry.shared.register(MyModel.self, summary: "what it is (paper)")
/// let model = try ModelRegistry.shared.fit("als", patch: .object(["factors": .number(32)]), data: data)
/// ```
public struct ModelRegistry: Sendable {
    /// One registered model kind.
    public struct Entry: Sendable {
        /// The name in manifests, run files and `--model` (`als`).
        public let kind: String
        /// One line for people: what it is, with its paper.
        public let summary: String
        /// The type, for loading model files.
        public let modelType: any Recommender.Type
        /// The default configuration as JSON (every key the configuration has).
        public let defaults: JSONValue
        /// Every configuration key (including optional ones that are `nil` by default).
        public let keys: Set<String>
        let fitFromJSON: @Sendable (JSONValue, TrainingData, ProgressHandler?) throws -> any Recommender
        /// The full configuration for a patch, checked against the configuration type.
        let complete: @Sendable (JSONValue?) throws -> JSONValue
        /// Fine-tuning (base model, patch over its configuration, merged data, fresh rows), for
        /// ``FineTunable`` models.
        let fineTuneFromJSON: (@Sendable (any Recommender, JSONValue, TrainingData, Range<Int>, ProgressHandler?) throws -> any Recommender)?

        /// Whether the model can continue training from an earlier model (``FineTunable``).
        public var canFineTune: Bool { fineTuneFromJSON != nil }

        /// Whether the configuration has `key` (a run's `seed` and `threads` go only where they apply).
        public func accepts(_ key: String) -> Bool { keys.contains(key) }
    }

    private var entries: [String: Entry] = [:]

    /// An empty registry.
    public init() {}

    /// The kinds registered, sorted.
    public var kinds: [String] { entries.keys.sorted() }
    /// All entries, sorted by kind.
    public var all: [Entry] { kinds.map { entries[$0]! } }

    /// Adds (or replaces) a trainable model kind.
    public mutating func register<M: TrainableRecommender>(_ type: M.Type, summary: String, defaults: M.Configuration) {
        let json = (try? JSONValue(encoding: defaults)) ?? .object([:])
        entries[M.kind] = Entry(
            kind: M.kind, summary: summary, modelType: M.self, defaults: json, keys: ConfigurationPatch.knownKeys(defaults),
            fitFromJSON: { configuration, data, progress in
                let c = try ConfigurationPatch.apply(configuration, to: defaults, context: "configuration")
                return try M.fit(data, configuration: c, progress: progress)
            },
            complete: { patch in try ConfigurationPatch.encode(ConfigurationPatch.apply(patch, to: defaults, context: "configuration")) },
            fineTuneFromJSON: (M.self as? any FineTunable.Type)?.erasedFineTune)
    }

    /// The entry for `kind`.
    ///
    /// - Throws: ``ModelError`` `.unknownModelKind`, listing the kinds there are.
    public func entry(_ kind: String) throws -> Entry {
        guard let e = entries[kind.lowercased()] else {
            throw ModelError(.unknownModelKind, reason: "unknown model '\(kind)'; this Tailor trains: \(kinds.joined(separator: ", "))")
        }
        return e
    }

    /// The full configuration of `kind`: its defaults with `patch` applied, decoded as the
    /// model's configuration type (so a wrong key or type fails here, before any data is read)
    /// and returned as JSON.
    ///
    /// - Throws: ``ModelError`` `.invalidConfiguration` for an unknown key (named, with the valid
    ///   ones) or a value of the wrong type.
    public func configuration(_ kind: String, patch: JSONValue?) throws -> JSONValue {
        let e = try entry(kind)
        do {
            return try e.complete(patch)
        } catch let error as DataError {
            throw ModelError(error)
        }
    }

    /// Fits `kind` on `data` with `patch` over its defaults.
    ///
    /// - Throws: ``ModelError`` for an unknown kind, a bad configuration (naming the key) or data
    ///   the model cannot learn from.
    public func fit(_ kind: String, patch: JSONValue? = nil, data: TrainingData, progress: ProgressHandler? = nil) throws -> any Recommender {
        let e = try entry(kind)
        do {
            return try e.fitFromJSON(patch ?? .object([:]), data, progress)
        } catch let error as DataError where error.code == .unknownConfigurationKey || error.code == .invalidConfiguration {
            throw ModelError(error)
        }
    }

    /// Continues training `base` (a model of `kind`) on the rows `freshRows` of `data`, with
    /// `patch` over the base's own configuration.
    ///
    /// - Throws: ``ModelError`` `.unsupported` for a kind that cannot fine-tune, or the model's errors.
    public func fineTune(_ kind: String, base: any Recommender, patch: JSONValue? = nil, data: TrainingData, freshRows: Range<Int>,
                         progress: ProgressHandler? = nil) throws -> any Recommender {
        try requireFineTuning(kind)
        let tune = try entry(kind).fineTuneFromJSON!
        do {
            return try tune(base, patch ?? .object([:]), data, freshRows, progress)
        } catch let error as DataError where error.code == .unknownConfigurationKey || error.code == .invalidConfiguration {
            throw ModelError(error)
        }
    }

    /// Throws unless `kind` can continue from an earlier model (``FineTunable``).
    public func requireFineTuning(_ kind: String) throws {
        guard try entry(kind).canFineTune else {
            let able = all.filter(\.canFineTune).map(\.kind)
            throw ModelError(.unsupported, reason: "the \(kind) model cannot continue from an earlier model",
                             hint: able.isEmpty ? "retrain it from scratch" : "fine-tuning works for: \(able.joined(separator: ", ")); retrain \(kind) from scratch")
        }
    }

    /// The type that reads model files of `kind`, if registered.
    public func modelType(_ kind: String) -> (any Recommender.Type)? { entries[kind]?.modelType }

    /// The classic models of TailorModels.
    public static let classic: ModelRegistry = {
        var r = ModelRegistry()
        r.register(ALS.self, summary: "implicit-feedback ALS (Hu, Koren and Volinsky 2008; CG solver of Takács et al. 2011)", defaults: .init())
        r.register(BPR.self, summary: "Bayesian personalized ranking by SGD (Rendle et al. 2009)", defaults: .init())
        r.register(ItemKNN.self, summary: "item nearest neighbours by cosine, TF-IDF or BM25 (Sarwar et al. 2001)", defaults: .init())
        r.register(EASE.self, summary: "closed-form shallow autoencoder (Steck 2019)", defaults: .init())
        r.register(ExplicitMF.self, summary: "explicit-rating matrix factorization with biases, SGD or ALS-WR (Koren et al. 2009)", defaults: .init())
        r.register(Item2Vec.self, summary: "skip-gram item embeddings (Barkan and Koenigstein 2016)", defaults: .init())
        r.register(Popularity.self, summary: "most-interacted items; trending with a half-life", defaults: .init())
        r.register(ContentModel.self, summary: "content-based: cosine of item vectors (text embeddings from `tailor embed`) with the user's history (Lops et al. 2011)", defaults: .init())
        return r
    }()

    private static let sharedStorage = Mutex(ModelRegistry.classic)

    /// The process-wide registry: the classic models, plus whatever other modules register
    /// (the neural models register themselves here). ``ModelBundle/load(from:)`` reads kinds
    /// from it.
    public static var shared: ModelRegistry {
        get { sharedStorage.withLock { $0 } }
    }

    /// Adds a model kind to ``shared``.
    public static func registerShared<M: TrainableRecommender>(_ type: M.Type, summary: String, defaults: M.Configuration) {
        sharedStorage.withLock { $0.register(type, summary: summary, defaults: defaults) }
    }
}

extension FineTunable {
    /// ``FineTunable/fineTune(from:data:freshRows:configuration:progress:)`` for the registry:
    /// the patch applies over the base's configuration.
    static var erasedFineTune: @Sendable (any Recommender, JSONValue, TrainingData, Range<Int>, ProgressHandler?) throws -> any Recommender {
        { base, patch, data, fresh, progress in
            guard let base = base as? Self else {
                throw ModelError(.unsupported, reason: "the base model is \(type(of: base).kind), not \(kind)")
            }
            let c = try ConfigurationPatch.apply(patch, to: base.configuration, context: "configuration")
            return try fineTune(from: base, data: data, freshRows: fresh, configuration: c, progress: progress)
        }
    }
}

extension ModelError {
    /// A configuration problem found while patching (`configuration.KEY: …`), as a model error.
    init(_ error: DataError) {
        self.init(.invalidConfiguration, reason: "\(error.field ?? "configuration"): \(error.reason)", hint: error.hint, cause: error)
    }
}
