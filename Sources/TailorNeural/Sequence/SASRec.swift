import Foundation
import Synchronization
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
public struct SASRec: FactorModel, TrainableRecommender, SequenceScoring {
    public static let kind = "sasrec"

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

        /// The defaults.
        public init() {}
    }

    /// Training objectives.
    public enum Loss: String, Sendable, Codable, CaseIterable {
        /// Cross-entropy over every item.
        case softmax
        /// Cross-entropy over the target and ``Configuration/negatives`` shared uniform items.
        case sampledSoftmax
        /// Binary cross-entropy of the target against one uniform negative per position (the paper's).
        case bce
    }

    /// What training did.
    public struct TrainingSummary: Sendable, Codable, Equatable {
        /// Mean loss per epoch.
        public var losses: [Double] = []
        /// Validation NDCG (held-out item's full rank) per epoch.
        public var validation: [Double] = []
        /// The epoch whose weights were kept.
        public var bestEpoch: Int?
        /// Whether early stopping ended the run.
        public var stoppedEarly = false
        /// Users with fewer than two items (nothing to predict; they are served from what they have).
        public var shortSequences = 0
    }

    public let configuration: Configuration
    public let userFactors: Matrix
    public let itemFactors: Matrix
    /// What training did.
    public let summary: TrainingSummary
    /// Each user's latest training items (at most the window), to continue with live events.
    let sequences: RaggedRows
    let network: SASRecBox

    // MARK: Training

    public static func fit(_ data: TrainingData, configuration c: Configuration, progress: ProgressHandler?) throws -> SASRec {
        try validate(c)
        guard data.matrix.userItems.nonZeroCount > 0 else {
            throw ModelError(.emptyData, reason: "the training data has no interactions", hint: "check the log or the store with `tailor stats`")
        }
        let users = data.userCount, items = data.itemCount
        let sequences = data.userSequences().map(\.items)
        let windows = SequenceWindows(length: c.maxLength)
        // Validation: the latest item of some users with at least three.
        var rng = TailorRandom(seed: c.seed, stream: 91)
        var candidates = sequences.indices.filter { sequences[$0].count >= 3 }
        for i in stride(from: candidates.count - 1, to: 0, by: -1) { candidates.swapAt(i, rng.nextInt(below: i + 1)) }
        let validationUsers = Array(candidates.prefix(c.validationUsers)).sorted()
        var trainSequences = sequences
        var heldOut: [Int32] = []
        for u in validationUsers { heldOut.append(trainSequences[u].removeLast()) }
        let examples = trainSequences.indices.filter { trainSequences[$0].count >= 2 }
        guard !examples.isEmpty else {
            throw ModelError(.emptyData, reason: "no user has two or more items, so there is no next item to learn",
                             hint: "sequence models need histories; check the log's user column (sessions of one event teach nothing)")
        }
        let memberships = c.loss == .bce ? trainSequences.map { Set($0) } : []

        let network = SASRecNetwork(items: items, configuration: c)
        let batches = (examples.count + c.batchSize - 1) / c.batchSize
        let optimizer = Adam([ParameterGroup(network.namedParameters(), learningRate: c.learningRate, weightDecay: c.weightDecay)],
                             beta1: 0.9, beta2: 0.98, decoupledWeightDecay: true,
                             schedule: .warmupCosine(warmup: min(100, batches), total: max(batches + 1, c.epochs * batches), floor: 0.1))
        var loop = Trainer.Configuration()
        loop.epochs = c.epochs
        loop.batchSize = c.batchSize
        loop.seed = c.seed
        loop.patience = validationUsers.isEmpty ? nil : c.patience
        loop.progress = progress
        loop.name = kind
        let trainer = Trainer(model: network, optimizer: optimizer, configuration: loop)
        let run = try trainer.fit(examples: examples.count, loss: { tape, batch in
            let chosen = batch.map { trainSequences[examples[$0]][...] }
            let (rows, targets) = windows.training(chosen)
            let b = chosen.count
            let h = reshape(network.hidden(rows, batch: b, tape: tape), [b * c.maxLength, c.dimension])
            let positions = targets.indices.filter { targets[$0] >= 0 }
            let queries = gather(h, indices: positions.map(Int32.init))                 // [P, d]
            let wanted = positions.map { targets[$0] }
            switch c.loss {
            case .softmax:
                // Fused: the [positions × items] logits are never held (same value as matmul + cross-entropy).
                return softmaxCrossEntropy(queries: queries, table: tape.parameter(network.itemEmbedding.weight), first: 1, targets: wanted)
            case .sampledSoftmax:
                let negatives = (0..<c.negatives).map { _ in Int32(1 + tape.rng.nextInt(below: items)) }
                return TailorNN.Loss.sampledSoftmax(queries: queries, items: tape.parameter(network.itemEmbedding.weight),
                                                    positives: wanted.map { $0 + 1 }, negatives: negatives,
                                                    logQ: [Float](repeating: 0, count: items + 1))
            case .bce:
                // One negative per position, outside the user's items (a few tries, then any).
                var negatives: [Int32] = []
                for p in positions {
                    let seen = memberships[examples[batch[p / c.maxLength]]]
                    var n = Int32(tape.rng.nextInt(below: items))
                    for _ in 0..<10 where seen.contains(n) { n = Int32(tape.rng.nextInt(below: items)) }
                    negatives.append(n)
                }
                let table = tape.parameter(network.itemEmbedding.weight)
                let pos = sum(queries * gather(table, indices: wanted.map { $0 + 1 }), axis: 1)
                let neg = sum(queries * gather(table, indices: negatives.map { $0 + 1 }), axis: 1)
                let n = positions.count
                return TailorNN.Loss.binaryCrossEntropy(logits: concat([pos, neg], axis: 0),
                                                        targets: Tensor(shape: [2 * n], storage: [Float](repeating: 1, count: n) + [Float](repeating: 0, count: n)))
            }
        }, validate: validationUsers.isEmpty ? nil : {
            let queries = userVectors(network, validationUsers.map { trainSequences[$0][...] }, windows: windows)
            return fullRankNDCG(queries: queries, items: itemVectors(network), exclude: validationUsers.map { trainSequences[$0] }, heldOut: heldOut)
        })
        let userFactors = userVectors(network, sequences.map { $0[...] }, windows: windows)
        var stored = RaggedRows()
        for s in sequences { stored.append(Array(s.suffix(c.maxLength))) }
        let summary = TrainingSummary(losses: run.losses, validation: run.metrics, bestEpoch: run.bestEpoch, stoppedEarly: run.stoppedEarly,
                                      shortSequences: sequences.filter { $0.count < 2 }.count)
        return SASRec(configuration: c, userFactors: userFactors, itemFactors: itemVectors(network), summary: summary,
                      sequences: stored, network: SASRecBox(network))
    }

    static func validate(_ c: Configuration) throws {
        func fail(_ key: String, _ why: String) -> ModelError { ModelError(.invalidConfiguration, reason: "configuration.\(key) \(why)") }
        if c.dimension < 1 || c.dimension > 4096 { throw fail("dimension", "must be between 1 and 4096, got \(c.dimension)") }
        if c.blocks < 1 || c.blocks > 64 { throw fail("blocks", "must be between 1 and 64, got \(c.blocks)") }
        if c.heads < 1 || c.dimension % c.heads != 0 { throw fail("heads", "must be at least 1 and divide dimension \(c.dimension), got \(c.heads)") }
        if c.maxLength < 1 || c.maxLength > 4096 { throw fail("maxLength", "must be between 1 and 4096, got \(c.maxLength)") }
        if !(c.dropout >= 0 && c.dropout < 1) { throw fail("dropout", "must be at least 0 and below 1, got \(c.dropout)") }
        if c.negatives < 1 || c.negatives > 100_000 { throw fail("negatives", "must be between 1 and 100000, got \(c.negatives)") }
        if c.epochs < 1 { throw fail("epochs", "must be at least 1, got \(c.epochs)") }
        if c.batchSize < 1 { throw fail("batchSize", "must be at least 1, got \(c.batchSize)") }
        if !(c.learningRate > 0 && c.learningRate.isFinite) { throw fail("learningRate", "must be positive, got \(c.learningRate)") }
        if !(c.weightDecay >= 0 && c.weightDecay.isFinite) { throw fail("weightDecay", "must be 0 or more, got \(c.weightDecay)") }
        if let p = c.patience, p < 1 { throw fail("patience", "must be at least 1 (or null for no early stopping), got \(p)") }
        if c.validationUsers < 0 { throw fail("validationUsers", "must be 0 or more, got \(c.validationUsers)") }
    }

    // MARK: Vectors

    /// The last position's output for each sequence (zeros for an empty one), in chunks, without dropout.
    static func userVectors(_ network: SASRecNetwork, _ sequences: [ArraySlice<Int32>], windows: SequenceWindows) -> Matrix {
        let d = network.configuration.dimension, t = windows.length
        var out = Matrix(rows: sequences.count, columns: d)
        let chunk = 256
        for start in stride(from: 0, to: sequences.count, by: chunk) {
            let part = Array(sequences[start..<min(sequences.count, start + chunk)])
            let (rows, filled) = windows.inputs(part)
            let tape = Tape(training: false)
            let h = network.hidden(rows, batch: part.count, tape: tape).tensor
            out.withUnsafeMutableBufferPointer { o in
                for r in part.indices where filled[r] > 0 {
                    let last = (r * t + t - 1) * d
                    for k in 0..<d { o[(start + r) * d + k] = h.storage[last + k] }
                }
            }
        }
        return out
    }

    /// The item table without the padding row.
    static func itemVectors(_ network: SASRecNetwork) -> Matrix {
        let d = network.configuration.dimension
        return Matrix(rows: network.items, columns: d, storage: Array(network.itemEmbedding.weight.value.storage[d...]))
    }

    /// Vectors for users: a known user (a position) continues their stored sequence with
    /// `recent`, an unknown one (`nil`) reads `recent` alone; items outside the catalogue are
    /// left out and counted, as are items beyond the window.
    public func userVectors(users: [Int32?], recent: [[Int32]], warnings: inout SequenceWarnings) -> Matrix {
        precondition(users.count == recent.count, "one sequence per user")
        let t = configuration.maxLength
        let joined = users.indices.map { r -> ArraySlice<Int32> in
            let fresh = recent[r].filter { $0 >= 0 && Int($0) < itemCount }
            warnings.unknownItems += recent[r].count - fresh.count
            let all = (users[r].map { Array(sequences[Int($0)]) } ?? []) + fresh
            warnings.truncatedItems += max(0, all.count - t)
            if all.isEmpty { warnings.emptySequences += 1 }
            return all.suffix(t)
        }
        return network.run { SASRec.userVectors($0, joined, windows: SequenceWindows(length: t)) }
    }

    public func scores(users: [Int32?], recent: [[Int32]], into scores: UnsafeMutableBufferPointer<Float>) {
        var warnings = SequenceWarnings()
        let queries = userVectors(users: users, recent: recent, warnings: &warnings)
        precondition(scores.count >= users.count * itemCount, "scores buffer too small")
        queries.withUnsafeBufferPointer { q in
            itemFactors.withUnsafeBufferPointer { v in
                Kernels.gemm(transposeB: true, m: users.count, n: itemCount, k: factors, a: q.baseAddress!, lda: factors,
                             b: v.baseAddress!, ldb: factors, c: scores.baseAddress!, ldc: itemCount, threads: 0)
            }
        }
    }

    /// Scores for a history alone (its items in time order, when it has times).
    public func scores(for history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        var items = history.items
        if let t = history.times { items = history.items.indices.sorted { (t[$0], $0) < (t[$1], $1) }.map { history.items[$0] } }
        self.scores(users: [nil], recent: [items], into: scores)
    }

    init(configuration: Configuration, userFactors: Matrix, itemFactors: Matrix, summary: TrainingSummary, sequences: RaggedRows, network: SASRecBox) {
        self.configuration = configuration
        self.userFactors = userFactors
        self.itemFactors = itemFactors
        self.summary = summary
        self.sequences = sequences
        self.network = network
    }
}

/// A network shared by concurrent requests (forward passes take turns; never mutated after training).
final class SASRecBox: @unchecked Sendable {
    private let network: SASRecNetwork
    private let lock = Mutex(())

    init(_ network: SASRecNetwork) { self.network = network }

    func run<T>(_ body: (SASRecNetwork) -> T) -> T { lock.withLock { _ in body(network) } }
}

extension SASRec {
    /// `user_factors`, `item_factors`, the stored sequences (`sequence_offsets`, `sequences`) and
    /// every network weight as `net.NAME` (PyTorch names).
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        var out: [String: SafeTensors.Tensor] = ["user_factors": .init(userFactors), "item_factors": .init(itemFactors),
                                                  "sequence_offsets": .init(sequences.offsets.map(Int64.init), shape: [sequences.offsets.count]),
                                                  "sequences": .init(sequences.values, shape: [sequences.values.count])]
        for (name, t) in network.run({ $0.stateDict() }) { out["net." + name] = .init(t.storage, shape: t.shape) }
        return out
    }

    /// The configuration and the training summary.
    public func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try ConfigurationPatch.encode(configuration), "summary": try JSONValue(encoding: summary)])
    }

    /// Restores a model written by ``archiveTensors()``.
    public init(archiveTensors tensors: [String: SafeTensors.Tensor], configuration json: JSONValue) throws {
        let reader = NeuralArchive.Reader(tensors: tensors, model: Self.kind)
        guard case .object(let fields) = json, let c = fields["configuration"] else { throw reader.fail("lacks its configuration") }
        let configuration = try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration")
        try Self.validate(configuration)
        let summary = try fields["summary"]?.decode(TrainingSummary.self) ?? TrainingSummary()
        guard let users = tensors["user_factors"]?.matrix(), let items = tensors["item_factors"]?.matrix(),
              users.columns == configuration.dimension, items.columns == configuration.dimension else {
            throw reader.fail("lacks user_factors or item_factors of width \(configuration.dimension)")
        }
        try ArchiveChecks.finite(users, name: "user_factors", model: Self.kind)
        try ArchiveChecks.finite(items, name: "item_factors", model: Self.kind)
        let values = tensors["sequences"]?.int32s() ?? []
        let offsets = try ArchiveChecks.pointers(tensors["sequence_offsets"]?.int64s(), count: values.count, name: "sequence_offsets", model: Self.kind)
        guard offsets.count == users.rows + 1 else { throw reader.fail("has sequences for \(offsets.count - 1) users, factors for \(users.rows)") }
        try ArchiveChecks.indices(values, below: items.rows, name: "sequences", model: Self.kind)
        let network = SASRecNetwork(items: items.rows, configuration: configuration)
        try reader.load(into: network)
        self.init(configuration: configuration, userFactors: users, itemFactors: items, summary: summary,
                  sequences: RaggedRows(offsets: offsets, values: values), network: SASRecBox(network))
    }
}
