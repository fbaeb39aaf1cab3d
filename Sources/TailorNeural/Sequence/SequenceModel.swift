import Foundation
import TailorAutodiff
import TailorData
import TailorLinalg
import TailorModels
import TailorNN

/// Training objectives of the sequence models.
public enum SequenceLoss: String, Sendable, Codable, CaseIterable {
    /// Cross-entropy over every item (fused: the logits are never held).
    case softmax
    /// Cross-entropy over the target and a shared set of uniform negative items.
    case sampledSoftmax
    /// Binary cross-entropy of the target against one uniform negative per position (SASRec's paper).
    case bce
}

/// How a recurrent sequence model's training batches are formed.
public enum SequenceBatching: String, Sendable, Codable, CaseIterable {
    /// Each user's latest `maxLength + 1` items as one left-padded window, `batchSize` windows a batch.
    case windows
    /// Session-parallel mini-batches (Hidasi et al. 2016): whole sequences laid end to end in
    /// `batchSize` lanes and read `maxLength` steps at a time, the state carried from one chunk
    /// to the next (gradients stop at chunk borders) and reset where a sequence starts; long
    /// histories are read in full, not cut to the window.
    case sessionParallel
}

/// What training a sequence model did.
public struct SequenceTrainingSummary: Sendable, Codable, Equatable {
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

/// A sequence model's network: outputs at the real positions of windows of item-table rows (0
/// is padding), a window's last output being the user's vector, scored against the item table.
protocol SequenceEncoder: Module {
    /// Items (the table has one more row, the padding).
    var items: Int { get }
    /// Width of the outputs and of the item table.
    var dimension: Int { get }
    /// The item table, shared by the inputs and the output scores.
    var itemEmbedding: Embedding { get }
    /// `[P, d]`: the outputs at the real (non-zero) rows of `[B × T]` `rows`, in order.
    func outputs(_ rows: [Int32], batch: Int, tape: Tape) -> Value
}

/// A sequence network with a state that can be carried across batches (session-parallel training).
protocol RecurrentSequenceEncoder: SequenceEncoder {
    /// `[P, d]` outputs at the real rows of `[lanes × steps]` `rows`, each lane continuing from
    /// `initial` (`[lanes, state]`; `nil`: zeros) and starting over where `resets` is true; and
    /// each lane's state after the chunk.
    func continuing(_ rows: [Int32], lanes: Int, initial: Tensor?, resets: [Bool]?, tape: Tape) -> (outputs: Value, state: Tensor)
}

/// The training recipe the sequence models share: one example per user (the latest `T + 1`
/// items, predicting each next one), early stopping on some users' held-out latest items.
struct SequenceTraining {
    var kind: String
    var maxLength: Int
    var loss: SequenceLoss
    var negatives: Int
    var epochs: Int
    var batchSize: Int
    var learningRate: Float
    var weightDecay: Float
    var patience: Int?
    var validationUsers: Int
    var seed: UInt64
    var batching: SequenceBatching = .windows

    /// The checks every configuration needs, by key.
    func validate() throws {
        func fail(_ key: String, _ why: String) -> ModelError { ModelError(.invalidConfiguration, reason: "configuration.\(key) \(why)") }
        if maxLength < 1 || maxLength > 4096 { throw fail("maxLength", "must be between 1 and 4096, got \(maxLength)") }
        if negatives < 1 || negatives > 100_000 { throw fail("negatives", "must be between 1 and 100000, got \(negatives)") }
        try TrainingSupport.validate(epochs: epochs, batchSize: batchSize, learningRate: learningRate, weightDecay: weightDecay,
                                     patience: patience, validationUsers: validationUsers)
    }

    /// Trains `network` on `data`'s user sequences; returns every user's vector, the item
    /// vectors, what training did and each user's latest items (for live sequences).
    func fit<E: SequenceEncoder>(_ network: E, data: TrainingData, progress: ProgressHandler?) throws
        -> (userFactors: Matrix, itemFactors: Matrix, summary: SequenceTrainingSummary, stored: RaggedRows) {
        guard data.matrix.userItems.nonZeroCount > 0 else {
            throw ModelError(.emptyData, reason: "the training data has no interactions", hint: "check the log or the store with `tailor stats`")
        }
        let items = data.itemCount
        let sequences = data.userSequences().map(\.items)
        let windows = SequenceWindows(length: maxLength)
        // Validation: the latest item of some users with at least three.
        let validation = TrainingSupport.validationUsers(sequences.indices.filter { sequences[$0].count >= 3 }, count: validationUsers, seed: seed)
        var trainSequences = sequences
        var heldOut: [Int32] = []
        for u in validation { heldOut.append(trainSequences[u].removeLast()) }
        let examples = trainSequences.indices.filter { trainSequences[$0].count >= 2 }
        guard !examples.isEmpty else {
            throw ModelError(.emptyData, reason: "no user has two or more items, so there is no next item to learn",
                             hint: "sequence models need histories; check the log's user column (sessions of one event teach nothing)")
        }
        let memberships = loss == .bce ? trainSequences.map { Set($0) } : []
        // Session-parallel: the examples (in a seeded order) laid into lanes once; a batch is a chunk.
        var lanes: SessionLanes?
        if batching == .sessionParallel {
            guard network is any RecurrentSequenceEncoder else {
                throw ModelError(.invalidConfiguration, reason: "configuration.batching sessionParallel needs a recurrent model (gru4rec)")
            }
            var order = examples
            var rng = TailorRandom(seed: seed, stream: 31)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
            lanes = SessionLanes(trainSequences.map { $0[...] }, order: order, lanes: batchSize, steps: maxLength)
        }
        let batches = lanes?.chunks ?? (examples.count + batchSize - 1) / batchSize
        let optimizer = Adam([ParameterGroup(network.namedParameters(), learningRate: learningRate, weightDecay: weightDecay)],
                             beta1: 0.9, beta2: 0.98, decoupledWeightDecay: true,
                             schedule: .warmupCosine(warmup: min(100, batches), total: max(batches + 1, epochs * batches), floor: 0.1))
        var loop = TrainingSupport.loop(kind: kind, epochs: epochs, batchSize: batchSize, seed: seed, patience: patience,
                                        validating: !validation.isEmpty, progress: progress)
        if lanes != nil {
            loop.batchSize = 1    // one chunk of every lane
            loop.shuffle = false  // chunks follow one another: each continues the lanes' states
        }
        var carried: Tensor?
        let trainer = Trainer(model: network, optimizer: optimizer, configuration: loop)
        let (t, lossKind, negativeCount) = (maxLength, loss, negatives)
        let run = try trainer.fit(examples: lanes?.chunks ?? examples.count, loss: { tape, batch in
            let queries: Value, wanted: [Int32], owners: [Int]
            if let lanes, let recurrent = network as? any RecurrentSequenceEncoder {
                if batch[0] == 0 { carried = nil }   // a new pass: the lanes start over
                let chunk = lanes.chunk(batch[0])
                let step = recurrent.continuing(chunk.rows, lanes: lanes.lanes, initial: carried, resets: chunk.resets, tape: tape)
                carried = step.state
                queries = step.outputs
                let positions = chunk.targets.indices.filter { chunk.targets[$0] >= 0 }
                wanted = positions.map { chunk.targets[$0] }
                owners = positions.map { Int(chunk.owners[$0]) }
            } else {
                let chosen = batch.map { trainSequences[examples[$0]][...] }
                let (rows, targets) = windows.training(chosen)
                // Real inputs and targets coincide (a window's every item but the last predicts the next).
                let positions = targets.indices.filter { targets[$0] >= 0 }
                queries = network.outputs(rows, batch: chosen.count, tape: tape)        // [P, d]
                wanted = positions.map { targets[$0] }
                owners = positions.map { examples[batch[$0 / t]] }
            }
            let table = tape.parameter(network.itemEmbedding.weight)
            switch lossKind {
            case .softmax:
                // Fused: the [positions × items] logits are never held (same value as matmul + cross-entropy).
                return softmaxCrossEntropy(queries: queries, table: table, first: 1, targets: wanted)
            case .sampledSoftmax:
                let negatives = (0..<negativeCount).map { _ in Int32(1 + tape.rng.nextInt(below: items)) }
                return TailorNN.Loss.sampledSoftmax(queries: queries, items: table, positives: wanted.map { $0 + 1 }, negatives: negatives,
                                                    logQ: [Float](repeating: 0, count: items + 1))
            case .bce:
                // One negative per position, outside the user's items (a few tries, then any).
                var negatives: [Int32] = []
                for owner in owners {
                    let seen = memberships[owner]
                    var n = Int32(tape.rng.nextInt(below: items))
                    for _ in 0..<10 where seen.contains(n) { n = Int32(tape.rng.nextInt(below: items)) }
                    negatives.append(n)
                }
                let pos = sum(queries * gather(table, indices: wanted.map { $0 + 1 }), axis: 1)
                let neg = sum(queries * gather(table, indices: negatives.map { $0 + 1 }), axis: 1)
                let n = owners.count
                return TailorNN.Loss.binaryCrossEntropy(logits: concat([pos, neg], axis: 0),
                                                        targets: Tensor(shape: [2 * n], storage: [Float](repeating: 1, count: n) + [Float](repeating: 0, count: n)))
            }
        }, validate: validation.isEmpty ? nil : {
            let queries = Self.userVectors(network, validation.map { trainSequences[$0][...] }, windows: windows)
            return fullRankNDCG(queries: queries, items: Self.itemVectors(network), exclude: validation.map { trainSequences[$0] }, heldOut: heldOut)
        })
        var stored = RaggedRows()
        for s in sequences { stored.append(Array(s.suffix(maxLength))) }
        let summary = SequenceTrainingSummary(losses: run.losses, validation: run.metrics, bestEpoch: run.bestEpoch, stoppedEarly: run.stoppedEarly,
                                              shortSequences: sequences.filter { $0.count < 2 }.count)
        return (Self.userVectors(network, sequences.map { $0[...] }, windows: windows), Self.itemVectors(network), summary, stored)
    }

    /// The last position's output for each sequence (zeros for an empty one), in chunks, without dropout.
    static func userVectors<E: SequenceEncoder>(_ network: E, _ sequences: [ArraySlice<Int32>], windows: SequenceWindows) -> Matrix {
        let d = network.dimension
        var out = Matrix(rows: sequences.count, columns: d)
        let chunk = 256
        for start in stride(from: 0, to: sequences.count, by: chunk) {
            let part = Array(sequences[start..<min(sequences.count, start + chunk)])
            let (rows, filled) = windows.inputs(part)
            let tape = Tape(training: false)
            let h = network.outputs(rows, batch: part.count, tape: tape).tensor   // the windows' real positions, in order
            out.withUnsafeMutableBufferPointer { o in
                var end = 0
                for r in part.indices where filled[r] > 0 {
                    end += filled[r]
                    for k in 0..<d { o[(start + r) * d + k] = h.storage[(end - 1) * d + k] }
                }
            }
        }
        return out
    }

    /// The item table without the padding row.
    static func itemVectors<E: SequenceEncoder>(_ network: E) -> Matrix {
        let d = network.dimension
        return Matrix(rows: network.items, columns: d, storage: Array(network.itemEmbedding.weight.value.storage[d...]))
    }
}

/// What SASRec and GRU4Rec share once trained: factors, each user's latest items, the network.
protocol SequenceRecommender: FactorModel, SequenceScoring {
    associatedtype Encoder: SequenceEncoder
    var window: Int { get }
    var sequences: RaggedRows { get }
    var encoder: NetworkBox<Encoder> { get }
}

extension SequenceRecommender {
    /// Vectors for users: a known user (a position) continues their stored sequence with
    /// `recent`, an unknown one (`nil`) reads `recent` alone; items outside the catalogue are
    /// left out and counted, as are items beyond the window.
    public func userVectors(users: [Int32?], recent: [[Int32]], warnings: inout SequenceWarnings) -> Matrix {
        precondition(users.count == recent.count, "one sequence per user")
        let t = window
        let joined = users.indices.map { r -> ArraySlice<Int32> in
            let fresh = recent[r].filter { $0 >= 0 && Int($0) < itemCount }
            warnings.unknownItems += recent[r].count - fresh.count
            let all = (users[r].map { Array(sequences[Int($0)]) } ?? []) + fresh
            warnings.truncatedItems += max(0, all.count - t)
            if all.isEmpty { warnings.emptySequences += 1 }
            return all.suffix(t)
        }
        return encoder.run { SequenceTraining.userVectors($0, joined, windows: SequenceWindows(length: t)) }
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

    /// `user_factors`, `item_factors`, the stored sequences (`sequence_offsets`, `sequences`) and
    /// every network weight as `net.NAME` (PyTorch names).
    func sequenceTensors() -> [String: SafeTensors.Tensor] {
        var out: [String: SafeTensors.Tensor] = ["user_factors": .init(userFactors), "item_factors": .init(itemFactors),
                                                  "sequence_offsets": .init(sequences.offsets.map(Int64.init), shape: [sequences.offsets.count]),
                                                  "sequences": .init(sequences.values, shape: [sequences.values.count])]
        for (name, t) in encoder.run({ $0.stateDict() }) { out["net." + name] = .init(t.storage, shape: t.shape) }
        return out
    }
}

/// Reading what ``SequenceRecommender/sequenceTensors()`` wrote, checked.
enum SequenceArchive {
    static func read(_ tensors: [String: SafeTensors.Tensor], kind: String, dimension: Int)
        throws -> (users: Matrix, items: Matrix, sequences: RaggedRows, reader: NeuralArchive.Reader) {
        let reader = NeuralArchive.Reader(tensors: tensors, model: kind)
        guard let users = tensors["user_factors"]?.matrix(), let items = tensors["item_factors"]?.matrix(),
              users.columns == dimension, items.columns == dimension else {
            throw reader.fail("lacks user_factors or item_factors of width \(dimension)")
        }
        try ArchiveChecks.finite(users, name: "user_factors", model: kind)
        try ArchiveChecks.finite(items, name: "item_factors", model: kind)
        let values = tensors["sequences"]?.int32s() ?? []
        let offsets = try ArchiveChecks.pointers(tensors["sequence_offsets"]?.int64s(), count: values.count, name: "sequence_offsets", model: kind)
        guard offsets.count == users.rows + 1 else { throw reader.fail("has sequences for \(offsets.count - 1) users, factors for \(users.rows)") }
        try ArchiveChecks.indices(values, below: items.rows, name: "sequences", model: kind)
        return (users, items, RaggedRows(offsets: offsets, values: values), reader)
    }
}
