import Foundation
import TailorAutodiff
import TailorData
import TailorLinalg
import TailorNN

/// Fine-tuning a sentence encoder on a platform's own engagement, as the news example of the
/// brief does: pairs of items consumed one after the other by the same user are positives,
/// the other items of the batch negatives (the multiple-negatives ranking loss of Henderson
/// et al. 2017, symmetric, with sentence-transformers' scale 20), AdamW at a small learning
/// rate with linear warm-up and decay, the embeddings and the lower layers frozen and released
/// one layer per epoch from the top (gradual unfreezing, Howard and Ruder 2018), and early
/// stopping on the validation pairs' loss with the best epoch's weights restored — including
/// the encoder as it came, when no epoch beats it.
public enum ContrastiveFineTuning {
    /// Fine-tuning settings.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Passes over the training pairs.
        public var epochs = 3
        /// Pairs per batch (each batch's other pairs are its negatives).
        public var batchSize = 32
        /// Peak learning rate (AdamW).
        public var learningRate: Float = 2e-5
        /// Share of the steps spent warming the learning rate up from 0.
        public var warmupFraction: Float = 0.1
        /// Decoupled weight decay.
        public var weightDecay: Float = 0.01
        /// Encoder layers kept fixed at the start, counted from the bottom (nil: the lower half).
        public var frozenLayers: Int?
        /// Keep the token, position and type embeddings fixed throughout.
        public var freezeEmbeddings = true
        /// Release one more frozen layer (from the top) every this many epochs (nil: never).
        public var unfreezeEvery: Int? = 1
        /// Similarities are multiplied by this before the softmax (a temperature of 1/20).
        public var scale: Float = 20
        /// Epochs without a better validation loss before stopping.
        public var patience = 1
        /// Longest training text in tokens (nil: the encoder's own limit).
        public var maxLength: Int? = 128
        /// Gradient norm clip.
        public var clipNorm: Float = 1
        /// Shuffling and dropout.
        public var seed: UInt64 = 42

        /// The defaults.
        public init() {}

        /// Checks the values; `field` names come from here.
        public func validate(layers: Int) throws {
            func bad(_ field: String, _ reason: String) -> TextError { TextError(.invalidInput, field: field, reason: reason) }
            guard epochs >= 1 else { throw bad("epochs", "must be at least 1, got \(epochs)") }
            guard batchSize >= 2 else { throw bad("batchSize", "needs at least 2 pairs (the others are the negatives), got \(batchSize)") }
            guard learningRate > 0 && learningRate.isFinite else { throw bad("learningRate", "must be positive, got \(learningRate)") }
            guard warmupFraction >= 0 && warmupFraction < 1 else { throw bad("warmupFraction", "must be in [0, 1), got \(warmupFraction)") }
            guard weightDecay >= 0 else { throw bad("weightDecay", "must not be negative, got \(weightDecay)") }
            if let k = frozenLayers, k < 0 || k > layers { throw bad("frozenLayers", "must be in 0...\(layers), got \(k)") }
            if let n = unfreezeEvery, n < 1 { throw bad("unfreezeEvery", "must be at least 1 epoch, got \(n)") }
            guard scale > 0 && scale.isFinite else { throw bad("scale", "must be positive, got \(scale)") }
            guard patience >= 1 else { throw bad("patience", "must be at least 1 epoch, got \(patience)") }
            if let m = maxLength, m < 2 { throw bad("maxLength", "must be at least 2, got \(m)") }
            guard clipNorm > 0 else { throw bad("clipNorm", "must be positive, got \(clipNorm)") }
        }
    }

    /// One epoch (epoch 0: the encoder as it came, before any step).
    public struct EpochReport: Sendable, Codable, Equatable {
        public var epoch: Int
        /// Mean training loss over the epoch's batches (nil for epoch 0).
        public var trainLoss: Float?
        /// Mean loss on the validation pairs.
        public var validationLoss: Float
        /// The validator's score (higher is better), when one was given: what early stopping used.
        public var validationScore: Float?
        /// Layers frozen during the epoch.
        public var frozenLayers: Int
        /// Seconds the epoch took.
        public var seconds: Double
        /// Whether it is the best so far.
        public var improved: Bool
    }

    /// What a run did.
    public struct Summary: Sendable, Codable, Equatable {
        public var epochs: [EpochReport]
        /// The epoch whose weights were kept (0: none beat the encoder as it came).
        public var bestEpoch: Int
        public var trainingPairs: Int
        public var validationPairs: Int
    }

    /// Pairs of texts of items a user consumed one right after the other (in `interactions`'
    /// time order, or row order without times), both with text and different; each unordered
    /// pair once, at most `limit` of them (a seeded sample).
    public static func pairs(from interactions: Interactions, texts: [String: String], limit: Int = 20_000, seed: UInt64 = 42) -> [(String, String)] {
        let (order, offsets) = interactions.rowsByUser()
        var seen = Set<String>(), out: [(String, String)] = []
        for u in 0..<interactions.userIDs.count {
            var rows = Array(order[offsets[u]..<offsets[u + 1]])
            if let times = interactions.timestamps { rows.sort { (times[$0], $0) < (times[$1], $1) } }
            var previous: String?
            for r in rows {
                let id = interactions.itemIDs[interactions.items[r]]
                guard let text = texts[id], !text.isEmpty else { continue }
                if let p = previous, p != id, let a = texts[p] {
                    let key = p < id ? p + "\u{1F}" + id : id + "\u{1F}" + p
                    if seen.insert(key).inserted { out.append((a, text)) }
                }
                previous = id
            }
        }
        var rng = TailorRandom(seed: seed)
        out.shuffle(using: &rng)
        return Array(out.prefix(limit))
    }

    /// Fine-tunes a copy of `encoder` on `train` pairs, stopping early on `validation`'s loss,
    /// or on `validator`'s score of each epoch's encoder when given (higher is better; see
    /// ``ColdItemValidation``); returns the best encoder (perhaps the original) and what
    /// happened. `progress` hears each epoch as it ends.
    public static func fineTune(_ encoder: SentenceEncoder, train: [(String, String)], validation: [(String, String)],
                                configuration c: Configuration = .init(), validator: ((SentenceEncoder) -> Float)? = nil,
                                progress: ((EpochReport) -> Void)? = nil) throws -> (encoder: SentenceEncoder, summary: Summary) {
        let layers = encoder.encoder.configuration.numHiddenLayers
        try c.validate(layers: layers)
        guard encoder.pooling != .max else {
            throw TextError(.unsupportedConfiguration, field: "pooling", reason: "fine-tuning supports mean and CLS pooling, this encoder uses max")
        }
        guard train.count >= 2 else {
            throw TextError(.invalidInput, reason: "\(train.count) training pairs are too few to fine-tune on",
                            hint: "it needs items consumed one after the other by the same users, with text")
        }
        guard !validation.isEmpty else { throw TextError(.invalidInput, reason: "no validation pairs to stop on") }
        let maxLength = min(c.maxLength ?? encoder.maxLength, encoder.maxLength)
        func tokens(_ pairs: [(String, String)]) -> [([Int32], [Int32])] {
            pairs.map { (encoder.tokenizer.encode($0.0, maxLength: maxLength), encoder.tokenizer.encode($0.1, maxLength: maxLength)) }
        }
        let trainTokens = tokens(train), validationTokens = tokens(validation)
        let module = BertModule(configuration: encoder.encoder.configuration, weights: encoder.encoder.weights)
        let padding = encoder.tokenizer.paddingID, pooling = encoder.pooling

        func loss(_ batch: ArraySlice<([Int32], [Int32])>, tape: Tape) -> Value {
            let a = module.sentenceVectors(batch.map(\.0), padding: padding, pooling: pooling, tape: tape)
            let p = module.sentenceVectors(batch.map(\.1), padding: padding, pooling: pooling, tape: tape)
            let targets = (0..<Int32(batch.count)).map { $0 }
            return (softmaxCrossEntropy(queries: a * c.scale, table: p, targets: targets)
                + softmaxCrossEntropy(queries: p * c.scale, table: a, targets: targets)) * 0.5
        }
        func validationLoss() -> Float {
            var total: Float = 0, batches = 0
            var start = 0
            while start < validationTokens.count {
                let batch = validationTokens[start..<min(validationTokens.count, start + c.batchSize)]
                if batch.count >= 2 {
                    let tape = Tape(training: false)
                    total += loss(batch, tape: tape).tensor.scalar
                    batches += 1
                }
                start += c.batchSize
            }
            return batches > 0 ? total / Float(batches) : .nan
        }

        let initialFrozen = c.frozenLayers ?? layers / 2
        let stepsPerEpoch = (trainTokens.count + c.batchSize - 1) / c.batchSize
        let total = stepsPerEpoch * c.epochs
        let optimizer = Adam([ParameterGroup(module.namedParameters(), learningRate: c.learningRate, weightDecay: c.weightDecay)],
                             decoupledWeightDecay: true,
                             schedule: .warmupLinear(warmup: Int(Float(total) * c.warmupFraction), total: total))
        var reports: [EpochReport] = []
        let started = Date()
        func snapshot(_ weights: BertWeights) -> SentenceEncoder {
            SentenceEncoder(tokenizer: encoder.tokenizer, encoder: BertEncoder(configuration: encoder.encoder.configuration, weights: weights),
                            pooling: encoder.pooling, normalize: encoder.normalize, maxLength: encoder.maxLength)
        }
        let firstLoss = validationLoss(), firstScore = validator?(encoder)
        // Early stopping maximizes the validator's score, or minimizes the validation loss.
        var best = firstScore ?? -firstLoss, bestEpoch = 0
        var bestWeights = encoder.encoder.weights
        reports.append(EpochReport(epoch: 0, trainLoss: nil, validationLoss: firstLoss, validationScore: firstScore, frozenLayers: layers,
                                   seconds: Date().timeIntervalSince(started), improved: true))
        progress?(reports[0])
        var rng = TailorRandom(seed: c.seed)
        var order = Array(trainTokens.indices)
        var sinceBest = 0
        for epoch in 1...c.epochs {
            let epochStart = Date()
            let released = c.unfreezeEvery.map { (epoch - 1) / $0 } ?? 0
            let frozen = max(0, initialFrozen - released)
            for p in module.embeddingParameters { p.requiresGrad = !c.freezeEmbeddings }
            for (l, block) in module.blocks.enumerated() {
                for (_, p) in block.namedParameters() { p.requiresGrad = l >= frozen }
            }
            order.shuffle(using: &rng)
            var sum: Float = 0
            var start = 0
            while start < order.count {
                let batch = order[start..<min(order.count, start + c.batchSize)].map { trainTokens[$0] }
                start += c.batchSize
                guard batch.count >= 2 else { continue }
                let tape = Tape(training: true, seed: c.seed &+ UInt64(optimizer.steps))
                let value = loss(batch[...], tape: tape)
                optimizer.zeroGrad()
                tape.backward(value)
                optimizer.clipGradientNorm(c.clipNorm)
                optimizer.step()
                sum += value.tensor.scalar
            }
            let validation = validationLoss()
            let weights = module.weights()
            let score = validator.map { $0(snapshot(weights)) }
            let value = score ?? -validation
            let improved = value > best
            if improved {
                best = value
                bestEpoch = epoch
                bestWeights = weights
                sinceBest = 0
            } else {
                sinceBest += 1
            }
            let report = EpochReport(epoch: epoch, trainLoss: sum / Float(max(1, stepsPerEpoch)), validationLoss: validation, validationScore: score, frozenLayers: frozen,
                                     seconds: Date().timeIntervalSince(epochStart), improved: improved)
            reports.append(report)
            progress?(report)
            if sinceBest >= c.patience { break }
        }
        let tuned = bestEpoch == 0 ? encoder : snapshot(bestWeights)
        return (tuned, Summary(epochs: reports, bestEpoch: bestEpoch, trainingPairs: train.count, validationPairs: validation.count))
    }
}

/// A validation that measures what content fine-tuning is for: some training items are set
/// aside as if new (no pairs are made with them), and each epoch's encoder is scored by how
/// well its vectors rank those items for the users who read them (NDCG@10 of the cosine
/// between the item and the mean of the user's other items), among the set-aside items only.
/// The contrastive loss on held-out pairs can fall while this ranking gets worse.
public struct ColdItemValidation: Sendable {
    /// The items set aside (their ids).
    public let heldOutItems: Set<String>
    let itemTexts: [String], itemIDs: [String]
    /// Per user: positions (in `itemTexts`) of their other items and of their set-aside items.
    let histories: [[Int32]], targets: [[Int32]]
    let heldOutPositions: [Int32]

    /// Sets aside `fraction` of the items with text (at least one, seeded) from `interactions`.
    public init(interactions: Interactions, texts: [String: String], fraction: Double = 0.1, seed: UInt64 = 42, maxUsers: Int = 2_000) {
        var rng = TailorRandom(seed: seed &+ 0x5EED)
        let candidates = (0..<interactions.itemIDs.count).map { interactions.itemIDs[Int32($0)] }.filter { texts[$0] != nil }.sorted()
        var shuffled = candidates
        shuffled.shuffle(using: &rng)
        let held = Set(shuffled.prefix(max(1, Int(Double(candidates.count) * fraction))))
        heldOutItems = held
        var position: [String: Int32] = [:], ids: [String] = [], textList: [String] = []
        func index(_ id: String) -> Int32 {
            if let p = position[id] { return p }
            let p = Int32(ids.count)
            position[id] = p
            ids.append(id)
            textList.append(texts[id]!)
            return p
        }
        let (order, offsets) = interactions.rowsByUser()
        var histories: [[Int32]] = [], targets: [[Int32]] = []
        for u in 0..<interactions.userIDs.count {
            var history: [Int32] = [], target: [Int32] = []
            for r in order[offsets[u]..<offsets[u + 1]] {
                let id = interactions.itemIDs[interactions.items[r]]
                guard texts[id] != nil else { continue }
                if held.contains(id) { target.append(index(id)) } else { history.append(index(id)) }
            }
            if !history.isEmpty && !target.isEmpty {
                histories.append(Array(Set(history)).sorted())
                targets.append(Array(Set(target)).sorted())
            }
        }
        if histories.count > maxUsers {
            let keep = Array(histories.indices.shuffled(using: &rng).prefix(maxUsers)).sorted()
            histories = keep.map { histories[$0] }
            targets = keep.map { targets[$0] }
        }
        self.histories = histories
        self.targets = targets
        itemTexts = textList
        itemIDs = ids
        heldOutPositions = held.compactMap { position[$0] }.sorted()
    }

    /// Users with both set-aside and other items.
    public var userCount: Int { histories.count }

    /// NDCG@10 of `encoder`'s vectors on the set-aside items (0 without users).
    public func score(_ encoder: SentenceEncoder, threads: Int = 0) -> Float {
        guard !histories.isEmpty, !heldOutPositions.isEmpty else { return 0 }
        let vectors = encoder.encode(itemTexts, threads: threads)
        let d = vectors.columns
        var total: Double = 0
        for (history, target) in zip(histories, targets) {
            var profile = [Float](repeating: 0, count: d)
            for i in history { let row = vectors.row(Int(i)); for j in 0..<d { profile[j] += row[j] } }
            let scored = heldOutPositions.map { i -> (Int32, Float) in
                let row = vectors.row(Int(i))
                var s: Float = 0
                for j in 0..<d { s += profile[j] * row[j] }
                return (i, s)
            }.sorted { ($0.1, -$0.0) > ($1.1, -$1.0) }
            let relevant = Set(target)
            var dcg = 0.0
            for (rank, entry) in scored.prefix(10).enumerated() where relevant.contains(entry.0) { dcg += 1 / log2(Double(rank) + 2) }
            let ideal = (0..<min(10, relevant.count)).reduce(0.0) { $0 + 1 / log2(Double($1) + 2) }
            total += dcg / ideal
        }
        return Float(total / Double(histories.count))
    }
}
