import TailorData

/// The JSON manifest of a model directory (`manifest.json`). `Docs/ModelFormat.md` specifies it.
///
/// A model directory holds this manifest and `embeddings.safetensors` (the tensors, readable by
/// numpy and PyTorch). The manifest says what the model is, how it was trained and on what
/// data, and maps dense positions back to the identifiers of the training log.
public struct ModelManifest: Sendable, Codable, Equatable {
    /// Always `tailor-model`; anything else is not a Tailor model.
    public var format: String
    /// Version of this layout; readers refuse versions newer than they know.
    public var formatVersion: Int
    /// The model family (`als`, `popularity`).
    public var kind: String
    /// When the model was written (ISO 8601, UTC).
    public var createdAt: String
    /// The Tailor version that wrote it.
    public var tailorVersion: String
    /// The model's hyperparameters and training history.
    public var model: JSONValue
    /// Facts about the training data.
    public var data: DataSummary
    /// External user identifiers by position.
    public var users: [String]
    /// External item identifiers by position.
    public var items: [String]
    /// The tensor file, relative to the directory.
    public var tensorFile: String

    /// Facts about the training data.
    public struct DataSummary: Sendable, Codable, Equatable {
        /// Distinct users.
        public var users: Int
        /// Distinct items.
        public var items: Int
        /// (user, item) pairs.
        public var interactions: Int
        /// A fingerprint of the training matrix and identifiers (see `Interactions.fingerprint`).
        public var fingerprint: String
        /// Where the data came from, if known (a file path, or `store:PATH`).
        public var source: String?
        /// Format 1 only: the held-out split and the store's cleaning and weights. Format 2
        /// records the whole ``DatasetRecipe`` in ``recipe`` instead; ``effectiveRecipe``
        /// reads either.
        public var holdout: Holdout?
        /// How the training data was made (source, reading, cleaning, weights, confidence
        /// transform, split and seed), so `tailor evaluate` can rebuild the same split.
        public var recipe: DatasetRecipe?
        /// For a model trained from a store: the store's event cursor when its events were read;
        /// `tailor serve` folds in the events appended after it.
        public var storeCursor: Int64?

        /// The recipe the model was trained with: ``recipe``, or one rebuilt from a format-1
        /// ``holdout`` (stores only; those models had no confidence transform).
        public var effectiveRecipe: DatasetRecipe? {
            if let recipe { return recipe }
            guard let holdout, let source, source.hasPrefix("store:") else { return nil }
            let cleaning = (try? holdout.cleaning?.decode(CleaningConfiguration.self)) ?? CleaningConfiguration()
            let weights = (try? holdout.weights?.decode(EventWeights.self)) ?? EventWeights()
            return DatasetRecipe(source: .store(String(source.dropFirst("store:".count))), cleaning: cleaning, weights: weights,
                                 confidence: .linear, holdout: .init(method: holdout.method, seed: holdout.seed))
        }

        private enum CodingKeys: String, CodingKey { case users, items, interactions, fingerprint, source, holdout, recipe, storeCursor }

        /// A recorded split.
        public struct Holdout: Sendable, Codable, Equatable {
            /// The method.
            public var method: SplitMethod
            /// Its seed.
            public var seed: UInt64
            /// The cleaning configuration and event weights used (JSON), for store sources.
            public var cleaning: JSONValue?
            /// See ``cleaning``.
            public var weights: JSONValue?

            private enum CodingKeys: String, CodingKey { case method, seed, cleaning, weights }

            /// A record.
            public init(method: SplitMethod, seed: UInt64, cleaning: JSONValue? = nil, weights: JSONValue? = nil) {
                self.method = method
                self.seed = seed
                self.cleaning = cleaning
                self.weights = weights
            }
        }

        /// A summary.
        public init(users: Int, items: Int, interactions: Int, fingerprint: String, source: String? = nil, holdout: Holdout? = nil,
                    recipe: DatasetRecipe? = nil, storeCursor: Int64? = nil) {
            self.recipe = recipe
            self.storeCursor = storeCursor
            self.users = users
            self.items = items
            self.interactions = interactions
            self.fingerprint = fingerprint
            self.source = source
            self.holdout = holdout
        }
    }

    private enum CodingKeys: String, CodingKey { case format, formatVersion, kind, createdAt, tailorVersion, model, data, users, items, tensorFile }

    /// The format marker.
    public static let formatName = "tailor-model"
    /// The newest layout this build reads and the one it writes. 2 added ``DataSummary/recipe``.
    public static let currentVersion = 2
}

import TailorData

/// This library's version, written into model manifests.
public let tailorVersion = "0.1.0"
