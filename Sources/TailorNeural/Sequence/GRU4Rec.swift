import Foundation
import TailorAutodiff
import TailorData
import TailorLinalg
import TailorModels
import TailorNN

/// GRU4Rec (Hidasi et al. 2016, with the 2018 paper's cross-entropy over many negatives): a
/// gated recurrent unit reads a user's (or a session's) latest items; its last state, projected
/// to the item space, scores every item. Trained and served like ``SASRec`` (same windows,
/// losses, early stopping and live sequences); the recurrent state starts from zeros at each
/// sequence's first item.
public struct GRU4Rec: SequenceRecommender, TrainableRecommender {
    public static let kind = "gru4rec"
    /// Training objectives.
    public typealias Loss = SequenceLoss
    /// What training did.
    public typealias TrainingSummary = SequenceTrainingSummary

    /// Hyperparameters (RecBole's GRU4Rec defaults, with the cross-entropy loss and a higher
    /// learning rate).
    public struct Configuration: Sendable, Codable, Equatable {
        /// Width of the item vectors (input and output).
        public var dimension = 64
        /// Width of the recurrent state.
        public var hidden = 128
        /// Dropout on the item embeddings.
        public var dropout: Float = 0.3
        /// The window: at most this many latest items are read.
        public var maxLength = 50
        /// Training objective.
        public var loss: Loss = .softmax
        /// Shared uniform negatives per batch for `sampledSoftmax`.
        public var negatives = 256
        /// Most passes over the users.
        public var epochs = 100
        /// Sequences per batch. 16, not SASRec's 128: with 128, MovieLens latest-small's 610 users
        /// made five steps an epoch and early stopping ended the run undertrained, below
        /// popularity (NDCG@10 0.074 vs 0.086); 16 gave 0.095 / 0.089 / 0.090 over three seeds
        /// there and was as good or better on MovieLens 100K, Last.fm and play counts
        /// (Docs/Benchmarks.md).
        public var batchSize = 16
        /// Adam learning rate. 5·10⁻³, not SASRec's 10⁻³: at 10⁻³ early stopping ended
        /// MovieLens 100K (temporal split) below popularity (NDCG@10 0.111 against 0.115);
        /// 5·10⁻³ reached 0.209 (Docs/Benchmarks.md).
        public var learningRate: Float = 0.005
        /// Decoupled weight decay (AdamW); 0 for none.
        public var weightDecay: Float = 0
        /// Stop after this many epochs without a better validation NDCG (`nil`: never).
        public var patience: Int? = 5
        /// Users whose latest training item is held out to validate each epoch (0: none).
        public var validationUsers = 2000
        /// Seed for initialization, shuffling, dropout, negatives and the validation users.
        public var seed: UInt64 = 42
        /// How batches are formed: each user's latest window (`windows`), or Hidasi et al.'s
        /// session-parallel mini-batches (`sessionParallel`: `batchSize` lanes of whole sequences
        /// read `maxLength` steps at a time, the state carried between chunks).
        public var batching: SequenceBatching = .windows

        /// The defaults.
        public init() {}

        var training: SequenceTraining {
            SequenceTraining(kind: GRU4Rec.kind, maxLength: maxLength, loss: loss, negatives: negatives, epochs: epochs, batchSize: batchSize,
                             learningRate: learningRate, weightDecay: weightDecay, patience: patience, validationUsers: validationUsers, seed: seed,
                             batching: batching)
        }
    }

    public let configuration: Configuration
    public let userFactors: Matrix
    public let itemFactors: Matrix
    /// What training did.
    public let summary: TrainingSummary
    let sequences: RaggedRows
    let encoder: NetworkBox<GRU4RecNetwork>
    var window: Int { configuration.maxLength }

    public static func fit(_ data: TrainingData, configuration c: Configuration, progress: ProgressHandler?) throws -> GRU4Rec {
        try validate(c)
        let network = GRU4RecNetwork(items: data.itemCount, configuration: c)
        let trained = try c.training.fit(network, data: data, progress: progress)
        return GRU4Rec(configuration: c, userFactors: trained.userFactors, itemFactors: trained.itemFactors, summary: trained.summary,
                       sequences: trained.stored, encoder: NetworkBox(network))
    }

    static func validate(_ c: Configuration) throws {
        func fail(_ key: String, _ why: String) -> ModelError { ModelError(.invalidConfiguration, reason: "configuration.\(key) \(why)") }
        if c.dimension < 1 || c.dimension > 4096 { throw fail("dimension", "must be between 1 and 4096, got \(c.dimension)") }
        if c.hidden < 1 || c.hidden > 8192 { throw fail("hidden", "must be between 1 and 8192, got \(c.hidden)") }
        if !(c.dropout >= 0 && c.dropout < 1) { throw fail("dropout", "must be at least 0 and below 1, got \(c.dropout)") }
        try c.training.validate()
    }

    init(configuration: Configuration, userFactors: Matrix, itemFactors: Matrix, summary: TrainingSummary, sequences: RaggedRows,
         encoder: NetworkBox<GRU4RecNetwork>) {
        self.configuration = configuration
        self.userFactors = userFactors
        self.itemFactors = itemFactors
        self.summary = summary
        self.sequences = sequences
        self.encoder = encoder
    }
}

extension GRU4Rec {
    /// `user_factors`, `item_factors`, the stored sequences and every weight as `net.NAME`
    /// (`item_embedding.weight`, `gru.weight_ih_l0`…, `output.weight`: PyTorch names).
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
        let network = GRU4RecNetwork(items: items.rows, configuration: configuration)
        try reader.load(into: network)
        self.init(configuration: configuration, userFactors: users, itemFactors: items, summary: summary, sequences: sequences,
                  encoder: NetworkBox(network))
    }
}

/// GRU4Rec's network: item embeddings with dropout, one GRU layer, a linear map from the state
/// to the item space.
final class GRU4RecNetwork: Module, RecurrentSequenceEncoder {
    let items: Int
    let configuration: GRU4Rec.Configuration
    let itemEmbedding: Embedding
    let gru: GRU
    let output: Linear
    var dimension: Int { configuration.dimension }

    init(items: Int, configuration c: GRU4Rec.Configuration) {
        self.items = items
        configuration = c
        itemEmbedding = Embedding(items + 1, c.dimension, padding: 0, seed: c.seed &+ 1)
        itemEmbedding.weight.value.storage = itemEmbedding.weight.value.storage.map { $0 * 0.02 }
        gru = GRU(inputs: c.dimension, hidden: c.hidden, seed: c.seed &+ 2)
        output = Linear(c.hidden, c.dimension, seed: c.seed &+ 3)
    }

    override var children: [(String, Module)] { [("item_embedding", itemEmbedding), ("gru", gru), ("output", output)] }

    /// The states at the real rows, then the output map (on those rows only).
    func outputs(_ rows: [Int32], batch b: Int, tape: Tape) -> Value {
        continuing(rows, lanes: b, initial: nil, resets: nil, tape: tape).outputs
    }

    func continuing(_ rows: [Int32], lanes b: Int, initial: Tensor?, resets: [Bool]?, tape: Tape) -> (outputs: Value, state: Tensor) {
        let t = rows.count / b
        let x = dropout(itemEmbedding(rows, shape: [b, t], tape: tape), probability: configuration.dropout)
        let (states, last) = gru(x, initial: initial.map { tape.constant($0) }, keep: rows.map { $0 != 0 }, resets: resets)
        let real = rows.indices.filter { rows[$0] != 0 }.map(Int32.init)
        return (output(gather(reshape(states, [b * t, configuration.hidden]), indices: real)), last.tensor)
    }
}
