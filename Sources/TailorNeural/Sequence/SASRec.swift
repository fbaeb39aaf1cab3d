import Foundation
import TailorAutodiff
import TailorData
import TailorLinalg
import TailorModels
import TailorNN

/// SASRec (Kang & McAuley 2018): causal self-attention over a user's latest items predicts the
/// next one. The user's vector is the last position's output, scored against the item table by
/// inner product, so it serves like a factor model, and a live sequence (`recommend --history`)
/// gives a fresh vector with no retraining.
///
/// Trained per user (or per session, when the log's users are sessions, as `tailor sessions`
/// writes them). Losses: full softmax over the catalogue (the default; cross-entropy usually
/// beats the paper's sampled BCE by a wide margin, Klenitskiy & Vasilev 2023), sampled softmax
/// over shared uniform negatives for large catalogues, or the paper's BCE with one negative per
/// position.
public struct SASRec: SequenceRecommender, TrainableRecommender {
    public static let kind = "sasrec"
    /// Training objectives.
    public typealias Loss = SequenceLoss
    /// What training did.
    public typealias TrainingSummary = SequenceTrainingSummary

    /// Hyperparameters; defaults follow the paper's setting for sparse data, with the
    /// cross-entropy loss.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Width of item, position and hidden vectors.
        public var dimension = 64
        /// Transformer blocks.
        public var blocks = 2
        /// Attention heads (must divide ``dimension``).
        public var heads = 1
        /// The window: at most this many latest items are read (longer histories are truncated
        /// to their latest items).
        public var maxLength = 50
        /// Dropout on the embeddings, attention, and feed-forward layers.
        public var dropout: Float = 0.2
        /// Training objective.
        public var loss: Loss = .softmax
        /// Shared uniform negatives per batch for `sampledSoftmax`.
        public var negatives = 256
        /// Most passes over the users.
        public var epochs = 100
        /// Sequences per batch.
        public var batchSize = 128
        /// Adam learning rate.
        public var learningRate: Float = 0.001
        /// Decoupled weight decay (AdamW); 0 for none.
        public var weightDecay: Float = 0
        /// Stop after this many epochs without a better validation NDCG (`nil`: never); the best
        /// epoch's weights are kept.
        public var patience: Int? = 5
        /// Users whose latest training item is held out to validate each epoch (0: none).
        public var validationUsers = 2000
        /// Seed for initialization, shuffling, dropout, negatives and the validation users.
        public var seed: UInt64 = 42
        /// Compute only the windows' real items (packed; the default). `false` runs the
        /// left-padded `[B, T]` batch with masks, as PyTorch's `nn.TransformerEncoderLayer` does:
        /// the same function, slower on short histories; kept for comparison.
        public var packed = true

        /// The defaults.
        public init() {}

        var training: SequenceTraining {
            SequenceTraining(kind: SASRec.kind, maxLength: maxLength, loss: loss, negatives: negatives, epochs: epochs, batchSize: batchSize,
                             learningRate: learningRate, weightDecay: weightDecay, patience: patience, validationUsers: validationUsers, seed: seed)
        }
    }

    public let configuration: Configuration
    public let userFactors: Matrix
    public let itemFactors: Matrix
    /// What training did.
    public let summary: TrainingSummary
    /// Each user's latest training items (at most the window), to continue with live events.
    let sequences: RaggedRows
    let encoder: NetworkBox<SASRecNetwork>
    var window: Int { configuration.maxLength }

    public static func fit(_ data: TrainingData, configuration c: Configuration, progress: ProgressHandler?) throws -> SASRec {
        try validate(c)
        let network = SASRecNetwork(items: data.itemCount, configuration: c)
        let trained = try c.training.fit(network, data: data, progress: progress)
        return SASRec(configuration: c, userFactors: trained.userFactors, itemFactors: trained.itemFactors, summary: trained.summary,
                      sequences: trained.stored, encoder: NetworkBox(network))
    }

    static func validate(_ c: Configuration) throws {
        func fail(_ key: String, _ why: String) -> ModelError { ModelError(.invalidConfiguration, reason: "configuration.\(key) \(why)") }
        if c.dimension < 1 || c.dimension > 4096 { throw fail("dimension", "must be between 1 and 4096, got \(c.dimension)") }
        if c.blocks < 1 || c.blocks > 64 { throw fail("blocks", "must be between 1 and 64, got \(c.blocks)") }
        if c.heads < 1 || c.dimension % c.heads != 0 { throw fail("heads", "must be at least 1 and divide dimension \(c.dimension), got \(c.heads)") }
        if !(c.dropout >= 0 && c.dropout < 1) { throw fail("dropout", "must be at least 0 and below 1, got \(c.dropout)") }
        try c.training.validate()
    }

    init(configuration: Configuration, userFactors: Matrix, itemFactors: Matrix, summary: TrainingSummary, sequences: RaggedRows,
         encoder: NetworkBox<SASRecNetwork>) {
        self.configuration = configuration
        self.userFactors = userFactors
        self.itemFactors = itemFactors
        self.summary = summary
        self.sequences = sequences
        self.encoder = encoder
    }
}

extension SASRec {
    /// `user_factors`, `item_factors`, the stored sequences (`sequence_offsets`, `sequences`) and
    /// every network weight as `net.NAME` (PyTorch names).
    public func archiveTensors() -> [String: SafeTensors.Tensor] { sequenceTensors() }

    /// The configuration and the training summary.
    public func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try ConfigurationPatch.encode(configuration), "summary": try JSONValue(encoding: summary)])
    }

    /// Restores a model written by ``archiveTensors()``.
    public init(archiveTensors tensors: [String: SafeTensors.Tensor], configuration json: JSONValue) throws {
        guard case .object(let fields) = json, let c = fields["configuration"] else {
            throw NeuralArchive.Reader(tensors: tensors, model: Self.kind).fail("lacks its configuration")
        }
        let configuration = try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration")
        try Self.validate(configuration)
        let summary = try fields["summary"]?.decode(TrainingSummary.self) ?? TrainingSummary()
        let (users, items, sequences, reader) = try SequenceArchive.read(tensors, kind: Self.kind, dimension: configuration.dimension)
        let network = SASRecNetwork(items: items.rows, configuration: configuration)
        try reader.load(into: network)
        self.init(configuration: configuration, userFactors: users, itemFactors: items, summary: summary, sequences: sequences,
                  encoder: NetworkBox(network))
    }
}
