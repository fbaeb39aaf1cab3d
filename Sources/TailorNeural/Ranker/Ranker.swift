import Foundation
import TailorAutodiff
import TailorData
import TailorEval
import TailorLinalg
import TailorModels
import TailorNN

/// A click-through ranker, the second stage after retrieval: for a user, an item and the time it
/// is shown, the probability of a click.
///
/// Inputs: a retrieval model's user and item vectors with their product and inner product (any
/// factor model: two-tower, ALS…, named by ``Configuration/retrieval``), id embeddings, user
/// attributes and item categories and tags (embeddings), numeric attributes, item popularity,
/// user activity, item age, hour of day and weekday. A deep & cross network (Wang et al. 2021:
/// cross layers `x₀ ⊙ (W xₗ + b) + xₗ`, then an MLP) gives a logit; binary cross-entropy.
///
/// Trained on impressions (shown and clicked vs shown and skipped; ``TrainingData/impressions``),
/// or, when there are none, on every interaction against items drawn at random. Clicks are rare,
/// so ``Configuration/balance`` either weights the positives or keeps only a share of the
/// negatives; either way the logit is corrected afterwards so the probabilities are calibrated
/// for the real click rate.
public struct Ranker: TrainableRecommender, ClickScoring {
    public static let kind = "ranker"

    /// How training copes with rare clicks.
    public enum Balance: String, Sendable, Codable, CaseIterable {
        /// Train on every row as it is.
        case none
        /// Weight positives by negatives ÷ positives; the logit is shifted back by its log.
        case weights
        /// Keep a random share of the negatives (``Configuration/negativeRate``); the logit is
        /// shifted back by the log of that rate (He et al. 2014).
        case downsample
    }

    /// Hyperparameters.
    public struct Configuration: Sendable, Codable, Equatable {
        /// A model directory whose user and item vectors are features (a factor model: two-tower,
        /// ALS, BPR…); `nil`: none. Its vectors are copied into the ranker's file.
        public var retrieval: String?
        /// Width of the ranker's own user and item id embeddings (0: none).
        public var idDimension = 16
        /// Chance, per training row, that the user id and (independently) the item id read as
        /// unknown, so the unknown rows learn what a new user or item is like.
        public var idDropout: Float = 0.2
        /// Width of each attribute, category and tag embedding.
        public var featureDimension = 8
        /// Cross layers.
        public var crossLayers = 2
        /// Hidden layer sizes of the MLP after the cross layers.
        public var hidden: [Int] = [128, 64]
        /// Dropout after each hidden layer.
        public var dropout: Float = 0.1
        /// User attributes to use (`nil`: all the profiles have).
        public var userFeatures: [String]?
        /// Item features to use (`nil`: all the catalogue has).
        public var itemFeatures: [String]?
        /// How rare clicks are handled. Weights by default: on the MIND sample they gave the best
        /// AUC, log loss and calibration of the three (Docs/Benchmarks.md).
        public var balance: Balance = .weights
        /// Share of negatives kept under ``Balance/downsample`` (`nil`: enough for four negatives
        /// per positive, or all of them if there are fewer).
        public var negativeRate: Float?
        /// SMOTE (Chawla et al. 2002): synthetic clicks made by interpolating the dense features of
        /// a click and one of its this-many nearest clicks (ids and attributes copied from the
        /// first); 0: off. The prior shift it causes is undone in the logit like the balancing.
        public var smoteNeighbors = 0
        /// Synthetic clicks per real click under SMOTE.
        public var smoteRatio: Float = 1
        /// Random items per interaction when there are no impressions.
        public var sampledNegatives = 4
        /// Passes over the training rows.
        public var epochs = 10
        /// Rows per step.
        public var batchSize = 512
        /// Adam learning rate.
        public var learningRate: Float = 0.002
        /// Decoupled weight decay.
        public var weightDecay: Float = 0.00001
        /// Epochs without a better validation AUC before stopping (`nil`: never stop early).
        public var patience: Int? = 3
        /// Share of the latest training impressions held out for early stopping (0: none).
        public var validationFraction = 0.1
        /// Seed for initialization, sampling, shuffling and dropout.
        public var seed: UInt64 = 42

        public init() {}
    }

    /// What training did.
    public struct TrainingSummary: Sendable, Codable, Equatable {
        /// Mean loss per epoch.
        public var losses: [Double] = []
        /// Validation AUC per epoch.
        public var validation: [Double] = []
        /// The epoch kept.
        public var bestEpoch: Int?
        /// Training rows, and how many were clicks (after balancing).
        public var rows = 0
        public var positives = 0
        /// Synthetic clicks added by SMOTE (included in ``rows``).
        public var synthetic = 0
        /// Whether the rows came from logged impressions (or from sampled negatives).
        public var fromImpressions = false
        /// The logit correction for the balancing (added before the sigmoid).
        public var logitOffset: Float = 0
        /// Counted problems in the side information.
        public var warnings = FeatureWarnings()
    }

    public let configuration: Configuration
    public let summary: TrainingSummary
    /// Users and items the model serves: the training interactions'.
    public let userCount: Int
    public let itemCount: Int
    let schema: FeatureSchema
    let tables: RankerTables
    let standardizer: Standardizer
    let shapes: RankerShapes
    /// The time full-catalogue scores are computed for (the latest training time).
    let servingTime: Int64
    let network: NetworkBox<RankerNetwork>

    // MARK: Training

    public static func fit(_ data: TrainingData, configuration c: Configuration, progress: ProgressHandler?) throws -> Ranker {
        try validate(c)
        guard let log = data.interactions, log.count > 0 else {
            throw ModelError(.emptyData, reason: "the training data has no interactions", hint: "check the log or the store with `tailor stats`")
        }
        let schema = data.side.isEmpty ? FeatureSchema()
            : try FeatureSchema(side: data.side, userFeatures: c.userFeatures, itemFeatures: c.itemFeatures)
        var warnings = FeatureWarnings()
        // Training rows: logged impressions, or interactions against random items.
        let shown = data.impressions ?? Impressions.sampled(from: log, negatives: c.sampledNegatives, seed: c.seed)
        var (trainPart, validationPart) = (shown, Impressions?.none)
        if c.validationFraction > 0 {
            let (a, b) = shown.splitByTime(testFraction: c.validationFraction)
            if a.positives > 0 && b.positives > 0 && b.count > b.positives { (trainPart, validationPart) = (a, b) }
        }
        let tables = try makeTables(log: log, impressions: shown, counting: trainPart, side: data.side, schema: schema, retrieval: c.retrieval,
                                    warnings: &warnings)
        func rows(_ s: Impressions) -> [RankerRow] {
            (0..<s.count).map { r in
                RankerRow(user: tables.userRow(s.rows.userIDs[s.rows.users[r]]), item: tables.itemRow(s.rows.itemIDs[s.rows.items[r]]),
                          time: s.rows.timestamps?[r] ?? 0)
            }
        }
        var trainRows = rows(trainPart)
        var labels = trainPart.rows.values.map { $0 > 0 ? Float(1) : 0 }
        let positives = labels.filter { $0 > 0 }.count, negatives = labels.count - positives
        guard positives > 0, negatives > 0 else {
            throw ModelError(.emptyData, reason: "the impressions hold \(positives) clicks and \(negatives) skips; a ranker needs both",
                             hint: "check the impressions, or train without them (random items then stand in for skips)")
        }
        // Balancing, and the logit offset that undoes it.
        var offset: Float = 0
        var positiveWeight: Float = 1
        switch c.balance {
        case .none, .weights: break  // weights are set once the synthetic clicks (if any) exist
        case .downsample:
            let rate = c.negativeRate ?? min(1, 4 * Float(positives) / Float(negatives))
            if rate < 1 {
                var rng = TailorRandom(seed: c.seed, stream: 23)
                let keep = labels.indices.filter { labels[$0] > 0 || rng.nextFloat() < rate }
                trainRows = keep.map { trainRows[$0] }
                labels = keep.map { labels[$0] }
                offset = logf(rate)
            }
        }

        // Standardize the dense features on (up to 50,000 of) the training rows.
        let width = denseFeatureCount(retrievalWidth: tables.retrievalWidth)
        var sample: [Float] = []
        let stride = max(1, trainRows.count / 50_000)
        for n in Swift.stride(from: 0, to: trainRows.count, by: stride) { denseFeatures(trainRows[n], tables, into: &sample) }
        let standardizer = Standardizer(fitting: sample, width: width)
        // SMOTE: synthetic clicks between neighbouring clicks, in standardized dense space.
        var synthetic: [Float] = [], syntheticBase: [Int] = []
        if c.smoteNeighbors > 0 {
            var rng = TailorRandom(seed: c.seed, stream: 29)
            let clicked = labels.indices.filter { labels[$0] > 0 }
            let pool = Swift.stride(from: 0, to: clicked.count, by: max(1, clicked.count / 20_000)).map { clicked[$0] }
            var x: [Float] = []
            for n in pool { denseFeatures(trainRows[n], tables, into: &x) }
            standardizer.apply(&x, width: width)
            var neighbours: [Int: [Int]] = [:]
            let count = Int(Float(clicked.count) * c.smoteRatio)
            for _ in 0..<count {
                let a = rng.nextInt(below: pool.count)
                if neighbours[a] == nil {
                    var d: [(Float, Int)] = []
                    for b in pool.indices where b != a {
                        var s: Float = 0
                        for k in 0..<width { let e = x[a * width + k] - x[b * width + k]; s += e * e }
                        d.append((s, b))
                    }
                    neighbours[a] = d.sorted { $0 < $1 }.prefix(c.smoteNeighbors).map(\.1)
                }
                guard let near = neighbours[a], !near.isEmpty else { continue }
                let b = near[rng.nextInt(below: near.count)], t = rng.nextFloat()
                for k in 0..<width { synthetic.append(x[a * width + k] + t * (x[b * width + k] - x[a * width + k])) }
                syntheticBase.append(pool[a])
            }
            if !syntheticBase.isEmpty { offset -= logf(Float(positives + syntheticBase.count) / Float(positives)) }
        }
        let realRows = trainRows.count
        labels += [Float](repeating: 1, count: syntheticBase.count)
        if c.balance == .weights {
            let keptNegatives = labels.filter { $0 == 0 }.count
            positiveWeight = Float(keptNegatives) / Float(labels.count - keptNegatives)
            offset -= logf(positiveWeight)
        }
        let shapes = RankerShapes(users: tables.userIDs.count + 1, items: tables.itemIDs.count + 1,
                                  userVocabularies: schema.userCategoricalNames.map { schema.userCategorical[$0]!.size },
                                  userNumeric: schema.userNumeric.count, categoryVocabulary: schema.itemCategories?.size,
                                  tagVocabulary: schema.itemTags?.size, itemNumeric: schema.itemNumeric.count, dense: width)
        let network = RankerNetwork(shapes: shapes, configuration: c)
        let batches = (labels.count + c.batchSize - 1) / c.batchSize
        let optimizer = Adam([ParameterGroup(network.namedParameters(), learningRate: c.learningRate, weightDecay: c.weightDecay)],
                             decoupledWeightDecay: true, schedule: .warmupCosine(warmup: min(100, batches), total: max(2, c.epochs * batches), floor: 0.1))
        var loop = Trainer.Configuration()
        loop.epochs = c.epochs
        loop.batchSize = c.batchSize
        loop.seed = c.seed
        loop.patience = validationPart == nil ? nil : c.patience
        loop.progress = progress
        loop.name = kind
        let trainer = Trainer(model: network, optimizer: optimizer, configuration: loop)
        let validationRows = validationPart.map { rows($0) } ?? []
        let validationLabels = validationPart?.rows.values ?? []
        let run = try trainer.fit(examples: labels.count, loss: { tape, batch in
            // The tape's generator is seeded per (seed, epoch, batch) by the trainer.
            let chosen = batch.map { n -> RankerRow in
                var r = trainRows[n < realRows ? n : syntheticBase[n - realRows]]
                if tape.rng.nextFloat() < c.idDropout { r.user = 0 }
                if tape.rng.nextFloat() < c.idDropout { r.item = 0 }
                return r
            }
            var inputs = makeBatch(chosen, tables, standardizer, schema: schema)
            for (p, n) in batch.enumerated() where n >= realRows {
                let s = n - realRows
                for k in 0..<width { inputs.dense[p * width + k] = synthetic[s * width + k] }
            }
            let logits = network.logits(inputs, tape: tape)
            return TailorNN.Loss.binaryCrossEntropy(logits: logits, targets: Tensor(shape: [batch.count], storage: batch.map { labels[$0] }),
                                                    positiveWeight: positiveWeight)
        }, validate: validationPart == nil ? nil : {
            let scores = Self.logits(network, validationRows, tables, standardizer, schema: schema)
            return ClickReport.auc(scores.map(Double.init), validationLabels)
        })
        let summary = TrainingSummary(losses: run.losses, validation: run.metrics, bestEpoch: run.bestEpoch, rows: labels.count,
                                      positives: positives, synthetic: syntheticBase.count, fromImpressions: data.impressions != nil, logitOffset: offset, warnings: warnings)
        return Ranker(configuration: c, summary: summary, userCount: log.userIDs.count, itemCount: log.itemIDs.count, schema: schema,
                      tables: tables, standardizer: standardizer, shapes: shapes, servingTime: log.timestamps?.max() ?? 0,
                      network: NetworkBox(network))
    }

    static func validate(_ c: Configuration) throws {
        func fail(_ key: String, _ why: String) -> ModelError { ModelError(.invalidConfiguration, reason: "configuration.\(key) \(why)") }
        if c.idDimension < 0 || c.idDimension > 4096 { throw fail("idDimension", "must be between 0 and 4096, got \(c.idDimension)") }
        if c.featureDimension < 1 || c.featureDimension > 4096 { throw fail("featureDimension", "must be between 1 and 4096, got \(c.featureDimension)") }
        if c.crossLayers < 0 || c.crossLayers > 16 { throw fail("crossLayers", "must be between 0 and 16, got \(c.crossLayers)") }
        if let h = c.hidden.first(where: { $0 < 1 || $0 > 65_536 }) { throw fail("hidden", "sizes must be between 1 and 65536, got \(h)") }
        if !(c.dropout >= 0 && c.dropout < 1) { throw fail("dropout", "must be at least 0 and below 1, got \(c.dropout)") }
        if !(c.idDropout >= 0 && c.idDropout < 1) { throw fail("idDropout", "must be at least 0 and below 1, got \(c.idDropout)") }
        if let r = c.negativeRate, !(r > 0 && r <= 1) { throw fail("negativeRate", "must be above 0 and at most 1, got \(r)") }
        if c.smoteNeighbors < 0 || c.smoteNeighbors > 1_000 { throw fail("smoteNeighbors", "must be between 0 and 1000, got \(c.smoteNeighbors)") }
        if !(c.smoteRatio > 0 && c.smoteRatio <= 100) { throw fail("smoteRatio", "must be above 0 and at most 100, got \(c.smoteRatio)") }
        if c.sampledNegatives < 1 { throw fail("sampledNegatives", "must be at least 1, got \(c.sampledNegatives)") }
        if c.epochs < 1 { throw fail("epochs", "must be at least 1, got \(c.epochs)") }
        if c.batchSize < 1 { throw fail("batchSize", "must be at least 1, got \(c.batchSize)") }
        if !(c.learningRate > 0 && c.learningRate.isFinite) { throw fail("learningRate", "must be positive, got \(c.learningRate)") }
        if !(c.weightDecay >= 0 && c.weightDecay.isFinite) { throw fail("weightDecay", "must be 0 or more, got \(c.weightDecay)") }
        if let p = c.patience, p < 1 { throw fail("patience", "must be at least 1 (or null for no early stopping), got \(p)") }
        if !(c.validationFraction >= 0 && c.validationFraction < 1) { throw fail("validationFraction", "must be at least 0 and below 1, got \(c.validationFraction)") }
    }

    /// The tables for the interactions' users and items, then the impressions' others.
    /// Shown and click counts come from `counting` (the training part of the impressions).
    static func makeTables(log: Interactions, impressions: Impressions, counting: Impressions, side: SideInformation, schema: FeatureSchema,
                           retrieval: String?, warnings: inout FeatureWarnings) throws -> RankerTables {
        var users = log.userIDs, items = log.itemIDs
        for id in impressions.rows.userIDs.ids { _ = users.insert(id) }
        for id in impressions.rows.itemIDs.ids { _ = items.insert(id) }
        // Event times by row; without times every event counts as earlier than any row.
        let never = Int64.min
        var shownPairs: [(row: Int, time: Int64)] = [], clickPairs: [(row: Int, time: Int64)] = []
        for r in 0..<counting.count {
            let i = Int(items.position(of: counting.rows.itemIDs[counting.rows.items[r]])!) + 1
            let t = counting.rows.timestamps?[r] ?? never
            shownPairs.append((i, t))
            if counting.rows.values[r] > 0 { clickPairs.append((i, t)) }
        }
        let rate = Float(counting.positives) / Float(max(1, counting.count))
        let profiles: [UserProfile?] = [nil] + users.ids.map { side.users[$0] }
        let catalogue: [CatalogItem?] = [nil] + items.ids.map { side.items[$0] }
        let userInputs = schema.encode(users: profiles, warnings: &warnings)
        let itemInputs = schema.encode(items: catalogue, warnings: &warnings)
        // Row 0 (unknown) is nobody's missing profile or content.
        if schema.hasUserFeatures { warnings.usersWithoutProfile -= 1 }
        if schema.hasItemContent { warnings.itemsWithoutContent -= 1 }
        let activity = TimeCounts(rows: users.count + 1, pairs: (0..<log.count).map { (Int(log.users[$0]) + 1, log.timestamps?[$0] ?? never) })
        let popularity = TimeCounts(rows: items.count + 1, pairs: (0..<log.count).map { (Int(log.items[$0]) + 1, log.timestamps?[$0] ?? never) })
        let published = [Int64.min] + items.ids.map { side.items[$0]?.publishedMilliseconds.map { $0 / 1000 } ?? Int64.min }
        var tables = RankerTables(userIDs: users, itemIDs: items, userInputs: userInputs, itemInputs: itemInputs, userActivity: activity,
                                  itemPopularity: popularity, itemShown: TimeCounts(rows: items.count + 1, pairs: shownPairs),
                                  itemClicked: TimeCounts(rows: items.count + 1, pairs: clickPairs), clickRate: rate, published: published,
                                  retrievalWidth: 0, userVectors: [], itemVectors: [],
                                  userKnown: [Bool](repeating: false, count: users.count + 1), itemKnown: [Bool](repeating: false, count: items.count + 1))
        if let retrieval {
            let bundle = try ModelBundle.load(from: URL(fileURLWithPath: retrieval))
            guard let factors = bundle.model as? any FactorModel else {
                throw ModelError(.invalidConfiguration, reason: "configuration.retrieval names a \(bundle.manifest.kind) model, which has no user and item vectors",
                                 hint: "name a factor model's directory (two-tower, als, bpr, mf)")
            }
            let d = factors.factors
            tables.retrievalWidth = d
            tables.userVectors = [Float](repeating: 0, count: (users.count + 1) * d)
            tables.itemVectors = [Float](repeating: 0, count: (items.count + 1) * d)
            for (n, id) in users.ids.enumerated() {
                guard let p = bundle.userIDs.position(of: id) else { continue }
                tables.userKnown[n + 1] = true
                for c in 0..<d { tables.userVectors[(n + 1) * d + c] = factors.userFactors[Int(p), c] }
            }
            for (n, id) in items.ids.enumerated() {
                guard let p = bundle.itemIDs.position(of: id) else { continue }
                tables.itemKnown[n + 1] = true
                for c in 0..<d { tables.itemVectors[(n + 1) * d + c] = factors.itemFactors[Int(p), c] }
            }
        }
        return tables
    }

    // MARK: Scoring

    /// Logits (before the balancing offset) of `rows`, in batches, without dropout.
    static func logits(_ network: RankerNetwork, _ rows: [RankerRow], _ tables: RankerTables, _ standardizer: Standardizer,
                       schema: FeatureSchema) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(rows.count)
        for start in stride(from: 0, to: rows.count, by: 2048) {
            let tape = Tape(training: false)
            let part = Array(rows[start..<min(rows.count, start + 2048)])
            out += network.logits(makeBatch(part, tables, standardizer, schema: schema), tape: tape).tensor.storage
        }
        return out
    }

    func logits(_ rows: [RankerRow]) -> [Float] {
        network.run { Self.logits($0, rows, tables, standardizer, schema: schema) }
    }

    /// Calibrated click probabilities for impressions, matched by identifier.
    public func clickProbabilities(_ impressions: Impressions) -> [Float] {
        let rows = (0..<impressions.count).map { r in
            RankerRow(user: tables.userRow(impressions.rows.userIDs[impressions.rows.users[r]]),
                      item: tables.itemRow(impressions.rows.itemIDs[impressions.rows.items[r]]),
                      time: impressions.rows.timestamps?[r] ?? servingTime)
        }
        let offset = summary.logitOffset
        return logits(rows).map { 1 / (1 + expf(-($0 + offset))) }
    }

    /// Logits for every item (as shown at the latest training time): a ranker can serve alone,
    /// though it is meant to re-rank a retrieval model's shortlist.
    public func scores(users: [Int32], into scores: UnsafeMutableBufferPointer<Float>, threads: Int) {
        for (q, u) in users.enumerated() {
            let rows = (0..<itemCount).map { RankerRow(user: u + 1, item: Int32($0) + 1, time: servingTime) }
            let l = logits(rows)
            for i in 0..<itemCount { scores[q * itemCount + i] = l[i] }
        }
    }

    init(configuration: Configuration, summary: TrainingSummary, userCount: Int, itemCount: Int, schema: FeatureSchema, tables: RankerTables,
         standardizer: Standardizer, shapes: RankerShapes, servingTime: Int64, network: NetworkBox<RankerNetwork>) {
        self.configuration = configuration
        self.summary = summary
        self.userCount = userCount
        self.itemCount = itemCount
        self.schema = schema
        self.tables = tables
        self.standardizer = standardizer
        self.shapes = shapes
        self.servingTime = servingTime
        self.network = network
    }
}

/// The inputs of a batch of rows.
func makeBatch(_ rows: [RankerRow], _ t: RankerTables, _ standardizer: Standardizer, schema: FeatureSchema) -> RankerBatch {
    var b = RankerBatch()
    let attributes = t.userInputs.categorical, userNumeric = t.userInputs.numeric, itemNumeric = t.itemInputs.numeric
    for r in rows {
        b.users.append(r.user)
        b.items.append(r.item)
        let u = Int(r.user), i = Int(r.item)
        b.codes.append(contentsOf: t.userInputs.codes[(u * attributes)..<((u + 1) * attributes)])
        b.userNumbers.append(contentsOf: t.userInputs.numbers[(u * userNumeric)..<((u + 1) * userNumeric)])
        b.itemNumbers.append(contentsOf: t.itemInputs.numbers[(i * itemNumeric)..<((i + 1) * itemNumeric)])
        denseFeatures(r, t, into: &b.dense)
    }
    standardizer.apply(&b.dense, width: standardizer.mean.count)
    if schema.itemCategories != nil { b.categories = t.itemInputs.categories.bags(b.items) }
    if schema.itemTags != nil { b.tags = t.itemInputs.tags.bags(b.items) }
    return b
}

