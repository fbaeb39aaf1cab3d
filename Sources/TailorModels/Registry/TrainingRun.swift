import Foundation
import TailorData

/// One training run as a value: the data recipe, the model kind and its configuration (a patch
/// over the model's defaults), the seed and thread count. This is what `tailor train --config
/// run.json` reads, what the tuner varies and what the server's retraining starts; the CLI's
/// flags only build or override it.
///
/// ```json
/// {
///   "data": {"log": "ratings.csv", "holdout": {"method": "temporal", "testFraction": 0.2}},
///   "model": "als",
///   "configuration": {"factors": 64, "iterations": 15},
///   "seed": 1,
///   "threads": 2,
///   "output": "model"
/// }
/// ```
public struct TrainingRun: Sendable, Equatable, Codable {
    /// Where the training data comes from and how it is prepared.
    public var data: DatasetRecipe
    /// The model kind (see ``ModelRegistry``).
    public var model: String
    /// Keys of the model's configuration to change from its defaults.
    public var configuration: JSONValue?
    /// The seed, given to the model when its configuration has a `seed`.
    public var seed: UInt64?
    /// Worker threads (0: all cores), given to the model when its configuration has `threads`.
    public var threads: Int?
    /// Where to write the model directory, if the run writes one.
    public var output: String?
    /// A model directory to continue from (fine-tuning, for ``FineTunable`` models): the data
    /// are then the fresh events, the configuration patches the base model's, and the new
    /// model knows the base's users and items plus the new ones.
    public var initFrom: String?

    /// A run.
    public init(data: DatasetRecipe, model: String = "als", configuration: JSONValue? = nil, seed: UInt64? = nil,
                threads: Int? = nil, output: String? = nil, initFrom: String? = nil) {
        self.data = data
        self.model = model
        self.configuration = configuration
        self.seed = seed
        self.threads = threads
        self.output = output
        self.initFrom = initFrom
    }

    private enum CodingKeys: String, CodingKey { case data, model, configuration, seed, threads, output, initFrom }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let unknown = Set(try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue))
            .subtracting(["data", "model", "configuration", "seed", "threads", "output", "initFrom"])
        if let key = unknown.sorted().first {
            throw DataError(.unknownConfigurationKey, field: key,
                            reason: "unknown key '\(key)' in the run; the keys are configuration, data, initFrom, model, output, seed, threads")
        }
        data = try c.decode(DatasetRecipe.self, forKey: .data)
        model = try c.decodeIfPresent(String.self, forKey: .model) ?? "als"
        configuration = try c.decodeIfPresent(JSONValue.self, forKey: .configuration)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        output = try c.decodeIfPresent(String.self, forKey: .output)
        initFrom = try c.decodeIfPresent(String.self, forKey: .initFrom)
    }

    /// Reads a run file.
    ///
    /// - Throws: ``DataError`` naming the file and the key for anything wrong in it.
    public static func read(from path: String) throws -> TrainingRun {
        let data = try readFile(path)
        do {
            return try JSONDecoder().decode(TrainingRun.self, from: data)
        } catch var error as DataError {
            error.file = path
            throw error
        } catch let error as DecodingError {
            throw DataError(.invalidConfiguration, file: path, field: String(ConfigurationPatch.path(of: error).dropFirst()),
                            reason: ConfigurationPatch.describe(error), cause: error)
        } catch {
            throw DataError(.invalidConfiguration, file: path, reason: "is not a valid run file (\(error))")
        }
    }

    /// The model configuration this run uses: the patch plus the run's seed and threads where the
    /// model has those keys.
    public func effectiveConfiguration(registry: ModelRegistry = .shared) throws -> JSONValue {
        try registry.configuration(model, patch: effectivePatch(registry: registry))
    }

    /// The configuration patch with the run's seed and threads added where the model has them.
    func effectivePatch(registry: ModelRegistry) throws -> JSONValue {
        let entry = try registry.entry(model)
        guard case .object(var patch) = configuration ?? .object([:]) else {
            throw ModelError(.invalidConfiguration, reason: "configuration must be a JSON object of keys to change")
        }
        if let seed, entry.accepts("seed") { patch["seed"] = .number(Double(seed)) }
        if let threads, entry.accepts("threads") { patch["threads"] = .number(Double(threads)) }
        return .object(patch)
    }

    /// What a run produced.
    public struct Outcome: Sendable {
        /// The trained model with its id maps and manifest (recipe and configuration recorded).
        public var bundle: ModelBundle
        /// The prepared data (reports, split).
        public var data: DatasetRecipe.Prepared
        /// Seconds reading and preparing the data.
        public var secondsPreparing: Double
        /// Seconds fitting.
        public var secondsFitting: Double
    }

    /// Prepares the data, fits the model and bundles it (without saving; see ``ModelBundle/save(to:)``).
    ///
    /// - Parameters:
    ///   - openStore: opens a store named by the recipe (TailorModels knows no database).
    ///   - progress: called per iteration or epoch.
    /// - Throws: ``DataError`` for the data, ``ModelError`` for the model.
    public func train(registry: ModelRegistry = .shared, openStore: ((String) throws -> any EventSource)? = nil,
                      progress: ProgressHandler? = nil) throws -> Outcome {
        let configuration = try effectiveConfiguration(registry: registry)
        var base: ModelBundle?
        if let initFrom {
            // Checked before any data is read: the base exists, is this kind, and can continue.
            let entry = try registry.entry(model)
            base = try ModelBundle.load(from: URL(fileURLWithPath: initFrom), registry: registry)
            guard base!.manifest.kind == entry.kind else {
                throw ModelError(.invalidConfiguration, path: initFrom, reason: "is a \(base!.manifest.kind) model, and the run trains \(entry.kind)",
                                 hint: "fine-tune with the base's kind (--model \(base!.manifest.kind)), or drop --init-from to train from scratch")
            }
            try registry.requireFineTuning(entry.kind)
        }
        let t0 = monotonicSeconds()
        let prepared = try data.prepare(openStore: openStore)
        let t1 = monotonicSeconds()
        var training = prepared.train
        let model: any Recommender
        let matrix: InteractionMatrix
        if let base {
            let (merged, fresh) = FineTuning.merge(base: base, fresh: prepared.train)
            training = merged
            matrix = InteractionMatrix(merged)
            var tuning = TrainingData(merged, matrix: matrix, side: prepared.side)
            tuning.impressions = prepared.impressions
            model = try registry.fineTune(self.model, base: base.model, patch: effectivePatch(registry: registry),
                                          data: tuning, freshRows: fresh, progress: progress)
        } else {
            matrix = InteractionMatrix(prepared.train)
            var training = TrainingData(prepared.train, matrix: matrix, side: prepared.side)
            training.impressions = prepared.impressions
            model = try registry.fit(self.model, patch: configuration, data: training, progress: progress)
        }
        let t2 = monotonicSeconds()
        let source: String
        switch data.source { case .log(let p): source = p; case .store(let p): source = "store:" + p }
        // The fingerprint is of the training part as read (before the confidence transform), so
        // `evaluate --train FILE` recognizes the file the model was trained on.
        let bundle = try ModelBundle(model: model, training: training, matrix: matrix, source: source, recipe: data,
                                     fingerprint: prepared.trainRaw.fingerprint(), storeCursor: prepared.storeCursor)
        return Outcome(bundle: bundle, data: prepared, secondsPreparing: t1 - t0, secondsFitting: t2 - t1)
    }
}

/// Any key, for listing the keys present in a JSON object.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}
