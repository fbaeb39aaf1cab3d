import Foundation
import TailorAutodiff
import TailorData
import TailorLinalg
import TailorModels
import TailorNN

/// A two-tower hybrid recommender (Covington et al. 2016; Yi et al. 2019): a user tower over the
/// user's id, attributes and recent items, an item tower over the item's id and content, both
/// ending in unit vectors whose inner product is the score. Trained with an in-batch sampled
/// softmax corrected for popularity (log-Q), or BPR.
///
/// After training it serves like a factor model (the same top-K kernels and model files), and
/// computes vectors at request time for what training never saw: a new user from attributes
/// and a few events (``userVector(profile:history:)``), a new item from its content
/// (``itemVector(content:)``). Id dropout during training teaches both towers to work without
/// the id.
public struct TwoTower: FactorModel, TrainableRecommender, HistoryScoring {
    public static let kind = "two-tower"

    /// Hyperparameters. Defaults were chosen on MovieLens (see `Docs/Benchmarks.md`).
    public struct Configuration: Sendable, Codable, Equatable {
        /// Length of the output vectors (32–512).
        public var dimension = 64
        /// Width of the user and item id embeddings (and of the history and vector inputs).
        public var idDimension = 64
        /// Width of each attribute, category and tag embedding.
        public var featureDimension = 16
        /// Hidden layer sizes of each tower's MLP (empty: one linear layer).
        public var hidden: [Int] = [128]
        /// Dropout after each hidden layer.
        public var dropout: Float = 0.1
        /// Batch normalization after each hidden layer.
        public var batchNorm = false
        /// Chance, per training example, that the user id is replaced by the "unknown" row, so
        /// the tower learns to serve users it has never seen.
        public var userIDDropout: Float = 0.1
        /// Chance that the item id is replaced by the "unknown" row, so the item tower learns
        /// from content (cold items). Only applied when items have content. 0.3 against 0.1, with
        /// 80 % of the histories gapped, on MovieLens 100K: cold items 1.08–1.15× content-kNN on
        /// three splits (0.98–1.08× with 0.1), warm users 0.985× tuned ALS (1.009×); without
        /// gapped histories, split by global time, 0.1636 against 0.1593 (Docs/Benchmarks.md).
        public var itemIDDropout: Float = 0.3
        /// Chance that a training example's whole history is dropped (users known only by
        /// their attributes).
        public var historyDropout: Float = 0.05
        /// An example whose user id is dropped keeps only the user's first 1…N events (N drawn
        /// uniformly, at most this many), as a new user has, so the tower learns to serve users
        /// with a few events; 0 keeps the whole history. On MovieLens 100K cold users with 5
        /// events revealed went from NDCG@10 0.276 to 0.365 (the tower alone, 4 splits), warm
        /// users unchanged within noise (Docs/Benchmarks.md).
        public var newUserEvents = 20
        /// Chance that a training example's user attributes all read as unknown (new users
        /// without a profile).
        public var attributeDropout: Float = 0.05
        /// A learned popularity bias per item (the unknown row for items known only by content),
        /// added to the logits: the geometry of unit vectors need not encode how popular an item
        /// is. Served as one more factor (users read 1, items their bias times the temperature).
        /// Off by default: on MovieLens 100K the runs with it gave cold users 0.404 (0.394 without)
        /// and warm users 0.130 (0.136), differences near the noise of the random stream
        /// (Docs/Benchmarks.md).
        public var itemBias = false
        /// Share of training examples seen as a brand-new user: id and history both dropped,
        /// attributes kept, so the attributes-only path (cold users) gets trained on purpose
        /// rather than only when both independent drops coincide. With the cold prior, 0.1 lifted
        /// cold users on MovieLens 100K from 0.409 to 0.414 (4 splits) with warm users unchanged
        /// within noise (Docs/Benchmarks.md).
        public var coldUserFraction: Float = 0.1
        /// Weight of the demographic prior in the scores of users the model has never seen: their
        /// logits (inner product over the temperature) get `coldPrior · log p(item)`, where p is
        /// the share of the users in their segments (each attribute value of their profile; plain
        /// popularity without one) who took the item (``DemographicPopularity``). Counting knows
        /// segments better than a unit vector learned from few users per value can (on MovieLens
        /// 100K the tower alone stayed 7 % below demographic popularity for cold users;
        /// Docs/Benchmarks.md). 0: the tower alone. Users the model knows are never touched.
        public var coldPrior: Float = 3
        /// The prior's weight halves once a new user has this many events, and keeps falling as
        /// their history grows (`coldPrior · e / (e + events)`): their events say more than
        /// their segment.
        public var coldPriorEvents: Float = 3
        /// How recent items are pooled in the user tower. With ``historyGap`` the history is in
        /// time order and attention pays off (MovieLens 100K warm NDCG@10 0.1527 against 0.1448
        /// with the mean, every example gapped by up to 0.1, 3 seeds; Docs/Benchmarks.md).
        public var history: HistoryPooling = .attention
        /// What a training example's history holds. A number (0.1 by default): only the user's
        /// events *before* the target, ending a random gap of `0…historyGap × (the user's events)`
        /// events earlier, as serving has it (a vector from everything so far, used for what the
        /// user takes up next); ``historyGapShare`` says for how many examples. `nil`: every
        /// other training item of the user, later ones included (the target left out), so the
        /// model learns to fill a hole in a history (the default until 2026-12-06; model files from
        /// before the option read as `nil`). On temporal splits (each user's latest 20 % held
        /// out) gapping every example, with attention pooling, lifted NDCG@10 on MovieLens 100K
        /// from 0.132 to 0.153 and on ml-latest-small from 0.111 to 0.121, but cost 5 % on Last.fm
        /// (Docs/Benchmarks.md).
        public var historyGap: Float? = 0.1
        /// Share of training examples whose history is gapped as ``historyGap`` says; the rest
        /// read every other item, which is what items held out at random times (cold items) and
        /// a split by global time need. On MovieLens 100K (3 seeds, item id dropout 0.3), warm
        /// per-user temporal ÷ tuned ALS, global-time ÷ tuned ALS, cold items ÷ content-kNN on
        /// three splits: 1 (all gapped) 1.087×, —, 0.95–0.97×; 0.8 0.985×, 0.855×, 1.08–1.15×;
        /// 0.65 0.997×, 0.937×, 1.07–1.15×; 0.5 0.940×, 0.976×; none 0.932×, 0.985×
        /// (Docs/Benchmarks.md).
        public var historyGapShare: Float = 0.65
        /// At most this many of the user's latest items are pooled.
        public var historyLength = 50
        /// Recency half-life in events (`recency` and `attention` pooling).
        public var halfLife: Double = 20
        /// User attributes to use (`nil`: every attribute the profiles have; `[]`: none).
        public var userFeatures: [String]?
        /// Item content to use: `categories`, `tags`, `vector` and numeric attribute names
        /// (`nil`: everything the catalogue has; `[]`: none).
        public var itemFeatures: [String]?
        /// Context of the event for the user tower: `device`, `platform`, `country` (from a
        /// store's events) and `hour`, `weekday` (from event times, UTC). Each training example
        /// reads its event's context; serving reads the request's (`tailor recommend --context
        /// device=mobile,hour=20`), and unknown without one. Empty by default: evaluation
        /// requests carry no context, and on MovieLens 100K hour and weekday did not help (Docs/Benchmarks.md).
        public var context: [String] = []
        /// Chance that a training example's context reads as unknown, so requests without
        /// context (or with part of it) are served well.
        public var contextDropout: Float = 0.25
        /// `softmax` (in-batch, log-Q corrected) or `bpr` (one uniform negative per example).
        public var loss: Loss = .softmax
        /// Subtract log popularity from in-batch logits (Yi et al. 2019).
        public var logQCorrection = true
        /// Extra negatives per batch drawn uniformly from the catalogue, mixed into the in-batch
        /// softmax (mixed negative sampling, Yang et al. 2020; 0: in-batch only). Softmax loss only.
        public var uniformNegatives = 0
        /// Softmax temperature for unit vectors (the start value when learned).
        public var temperature: Float = 0.05
        /// Learn the temperature.
        public var learnTemperature = false
        /// Most passes over the training pairs.
        public var epochs = 40
        /// Pairs per batch (also the number of in-batch negatives).
        public var batchSize = 512
        /// Adam learning rate (after warm-up).
        public var learningRate: Float = 0.003
        /// Decoupled weight decay (AdamW); 0 for none.
        public var weightDecay: Float = 0
        /// Linear warm-up steps.
        public var warmupSteps = 100
        /// Stop after this many epochs without a better validation NDCG (`nil`: never); the
        /// best epoch's weights are kept.
        public var patience: Int? = 4
        /// Users whose latest items are held out to validate each epoch (0: no validation, every
        /// epoch runs).
        public var validationUsers = 1000
        /// Share of each validation user's training items held out, the latest ones (at least
        /// one; 0, the default: the latest item only), for protocols that serve a longer future
        /// than the next item. Held-out items are not trained on, so on small data (every user a
        /// validation user) 0.2 cost a fifth of the data (MovieLens 100K warm 0.942× tuned ALS
        /// against 0.985×, 80 % of histories gapped); with 200 validation users it stopped no
        /// better on a global-time split (seeds 1–3: 0.156 / 0.129 / 0.120 against 0.140 / 0.140 /
        /// 0.141; Docs/Benchmarks.md).
        public var validationShare: Float = 0
        /// The cut-off of the validation NDCG (`nil`: no cut-off, the held-out item's full rank).
        /// Without one every validation user counts, not only the tenth or so whose item makes a
        /// top 10, so the epoch choice is far less noisy: on MovieLens 100K NDCG@10 stopped one
        /// seed at epoch 2 (test NDCG@10 0.104 against 0.136 for another seed).
        public var validationK: Int?
        /// Parameter-name prefixes (PyTorch names: `user_id`, `item_id`, `user_mlp`, `item_mlp`,
        /// `user_attribute_0`, `item_categories`…) kept fixed during training, usually when
        /// fine-tuning from an earlier model (`tailor train --init-from DIR --freeze item_id`).
        public var freeze: [String] = []
        /// Gradual unfreezing: every this many epochs one more ``freeze`` prefix is released,
        /// the last listed first (list them from the input side to the output side). `nil`:
        /// they stay frozen.
        public var unfreezeEvery: Int?
        /// Seed for initialization, shuffling, dropout and the validation users.
        public var seed: UInt64 = 42

        /// The defaults.
        public init() {}
    }

    /// Training objectives.
    public enum Loss: String, Sendable, Codable, CaseIterable {
        /// In-batch sampled softmax.
        case softmax
        /// Bayesian personalized ranking with uniform negatives.
        case bpr
    }

    /// What training did.
    public struct TrainingSummary: Sendable, Codable, Equatable {
        /// Mean loss per epoch.
        public var losses: [Double] = []
        /// Validation NDCG per epoch.
        public var validation: [Double] = []
        /// The epoch whose weights were kept.
        public var bestEpoch: Int?
        /// Whether early stopping ended the run.
        public var stoppedEarly = false
        /// Feature problems met (counted, never fatal).
        public var warnings = FeatureWarnings()
    }

    public let configuration: Configuration
    public let userFactors: Matrix
    public let itemFactors: Matrix
    /// The features used and their encoders.
    public let schema: FeatureSchema
    /// What training did.
    public let summary: TrainingSummary
    let shapes: TowerShapes
    let userInputs: UserInputs
    let itemInputs: ItemInputs
    /// Each known user's latest training items (at most ``Configuration/historyLength``, oldest
    /// first), to recompute their vector for a request's context; `nil` in older files.
    let histories: RaggedRows?
    let network: NetworkBox<TwoTowerNetwork>
    /// Item popularity by segment of the attributes the user tower reads, for users the model
    /// never saw (``Configuration/coldPrior``); `nil` when the weight is 0 or in older files.
    let prior: DemographicPopularity?

    // MARK: Training

    public static func fit(_ data: TrainingData, configuration c: Configuration, progress: ProgressHandler?) throws -> TwoTower {
        try validate(c)
        guard data.matrix.userItems.nonZeroCount > 0 else {
            throw ModelError(.emptyData, reason: "the training data has no interactions", hint: "check the log or the store with `tailor stats`")
        }
        var schema: FeatureSchema
        if data.interactions != nil && !data.side.isEmpty {
            schema = try FeatureSchema(side: data.side, userFeatures: c.userFeatures, itemFeatures: c.itemFeatures)
        } else {
            if let named = ((c.userFeatures ?? []) + (c.itemFeatures ?? [])).first {
                throw ModelError(.invalidConfiguration, reason: "the configuration names the feature '\(named)', but this data has no item catalogue or user profiles",
                                 hint: "train from a store with imported items and users, or give the recipe \"items\" and \"users\" files")
            }
            schema = FeatureSchema()
        }
        try schema.fitContext(c.context, log: data.interactions)
        return try train(data, configuration: c, schema: schema, base: nil, freshRows: nil, progress: progress)
    }

    /// Continues training `base` on the rows `freshRows` of `data` (see ``FineTunable``): the
    /// base's feature encoders, network weights and id rows carry over, new users and items get
    /// fresh rows, and only the fresh events are training examples. Parameters named by
    /// ``Configuration/freeze`` stay fixed (unfrozen one by one with ``Configuration/unfreezeEvery``).
    /// The architecture keys (dimensions, hidden sizes, batch norm, pooling, features) must be
    /// the base's.
    public static func fineTune(from base: TwoTower, data: TrainingData, freshRows: Range<Int>, configuration c: Configuration,
                                progress: ProgressHandler?) throws -> TwoTower {
        try validate(c)
        let b = base.configuration
        for (key, same) in [("dimension", c.dimension == b.dimension), ("idDimension", c.idDimension == b.idDimension),
                            ("featureDimension", c.featureDimension == b.featureDimension), ("hidden", c.hidden == b.hidden),
                            ("batchNorm", c.batchNorm == b.batchNorm), ("history", c.history == b.history),
                            ("learnTemperature", c.learnTemperature == b.learnTemperature), ("itemBias", c.itemBias == b.itemBias),
                            ("userFeatures", c.userFeatures == b.userFeatures), ("itemFeatures", c.itemFeatures == b.itemFeatures),
                            ("context", c.context == b.context)] where !same {
            throw ModelError(.invalidConfiguration, reason: "configuration.\(key) cannot change when fine-tuning: it shapes the network the base model trained",
                             hint: "leave \(key) out to keep the base's value, or retrain from scratch")
        }
        guard data.interactions != nil, data.userCount >= base.userCount, data.itemCount >= base.itemCount else {
            throw ModelError(.invalidConfiguration, reason: "fine-tuning data must extend the base model's users and items (see FineTuning.merge)")
        }
        guard !freshRows.isEmpty else {
            throw ModelError(.emptyData, reason: "there are no fresh interactions to fine-tune on", hint: "check the new events' file or store")
        }
        return try train(data, configuration: c, schema: base.schema, base: base, freshRows: freshRows, progress: progress)
    }

    /// The training loop behind ``fit(_:configuration:progress:)`` and fine-tuning.
    static func train(_ data: TrainingData, configuration c: Configuration, schema: FeatureSchema, base: TwoTower?, freshRows: Range<Int>?,
                      progress: ProgressHandler?) throws -> TwoTower {
        let users = data.userCount, items = data.itemCount
        var warnings = FeatureWarnings()
        let profiles: [UserProfile?] = data.interactions.map { log in (0..<users).map { data.side.users[log.userIDs[Int32($0)]] } }
            ?? [UserProfile?](repeating: nil, count: users)
        let catalogue: [CatalogItem?] = data.interactions.map { log in (0..<items).map { data.side.items[log.itemIDs[Int32($0)]] } }
            ?? [CatalogItem?](repeating: nil, count: items)
        var userInputs: UserInputs, itemInputs: ItemInputs
        if let base {
            // The base's users and items without fresh side information keep what they had;
            // warnings count the rest.
            var ignored = FeatureWarnings()
            userInputs = schema.encode(users: profiles, warnings: &ignored).replacingRows(from: base.userInputs) { profiles[$0] == nil }
            itemInputs = schema.encode(items: catalogue, warnings: &ignored).replacingRows(from: base.itemInputs) { catalogue[$0] == nil }
            _ = schema.encode(users: profiles.indices.filter { $0 >= base.userCount || profiles[$0] != nil }.map { profiles[$0] }, warnings: &warnings)
            _ = schema.encode(items: catalogue.indices.filter { $0 >= base.itemCount || catalogue[$0] != nil }.map { catalogue[$0] }, warnings: &warnings)
        } else {
            userInputs = schema.encode(users: profiles, warnings: &warnings)
            itemInputs = schema.encode(items: catalogue, warnings: &warnings)
        }
        let shapes = TowerShapes(users: users, items: items, userVocabularies: schema.userCategoricalNames.map { schema.userCategorical[$0]!.size },
                                 userNumeric: schema.userNumeric.count, categoryVocabulary: schema.itemCategories?.size,
                                 tagVocabulary: schema.itemTags?.size, itemNumeric: schema.itemNumeric.count, vectorLength: schema.itemVectorLength,
                                 contextVocabularies: schema.context.map { encoders in schema.contextNames.map { encoders[$0]!.size } })
        let network = TwoTowerNetwork(shapes: shapes, configuration: c)
        if let base { try network.start(from: base) }
        try network.freeze(c.freeze)

        // Each user's distinct items, oldest first (a repeat moves the item to its latest time).
        let sequences = data.userSequences().map { distinctLatest($0.items) }
        // Context: the codes of each (user, item) pair's latest event.
        let contextWidth = schema.contextNames.count
        var pairContext: [Int64: ArraySlice<Int32>] = [:]
        if contextWidth > 0, let log = data.interactions {
            let codes = schema.encodeContext(of: log)
            let (order, _) = log.rowsByUser()
            for r in order { pairContext[Int64(log.users[r]) << 32 | Int64(log.items[r])] = codes[(r * contextWidth)..<((r + 1) * contextWidth)] }
        }
        // Fine-tuning learns from the fresh events only: (user, item) pairs of the fresh rows.
        var fresh: Set<Int64>?
        if let freshRows, let log = data.interactions {
            fresh = Set(freshRows.map { Int64(log.users[$0]) << 32 | Int64(log.items[$0]) })
        }
        func isExample(_ u: Int, _ item: Int32) -> Bool { fresh?.contains(Int64(u) << 32 | Int64(item)) ?? true }
        // Validation: the latest item of some users with at least three items (a fresh one when fine-tuning).
        let validationUsers = TrainingSupport.validationUsers(sequences.indices.filter { sequences[$0].count >= 3 && isExample($0, sequences[$0].last!) },
                                                              count: c.validationUsers, seed: c.seed)
        var trainSequences = sequences
        var heldOut: [Int32] = []
        var heldOutRows: [Int] = []   // per held-out item, its user's index in validationUsers
        for (n, u) in validationUsers.enumerated() {
            for i in Self.holdOut(&trainSequences[u], share: c.validationShare, isExample: { isExample(u, $0) }) {
                heldOut.append(i); heldOutRows.append(n)
            }
        }

        var pairs: [(user: Int32, position: Int32)] = []
        var counts = [Double](repeating: 0, count: items)
        for (u, s) in trainSequences.enumerated() {
            for (p, i) in s.enumerated() where isExample(u, i) { pairs.append((Int32(u), Int32(p))); counts[Int(i)] += 1 }
        }
        let total = counts.reduce(0, +)
        let logQ = c.logQCorrection ? counts.map { Float(log(max($0, 0.5) / total)) } : []

        let model = Model(network: network, configuration: c, userInputs: userInputs, itemInputs: itemInputs, schema: schema)
        let batches = (pairs.count + c.batchSize - 1) / c.batchSize
        let parameters = network.namedParameters()
        let optimizer = Adam([ParameterGroup(parameters, learningRate: c.learningRate, weightDecay: c.weightDecay)],
                             decoupledWeightDecay: true,
                             schedule: .warmupCosine(warmup: c.warmupSteps, total: max(c.warmupSteps + 1, c.epochs * batches), floor: 0.1))
        var loop = Trainer.Configuration()
        loop.epochs = c.epochs
        loop.batchSize = c.batchSize
        loop.seed = c.seed
        loop.patience = validationUsers.isEmpty ? nil : c.patience
        loop.progress = progress
        loop.name = kind
        if let every = c.unfreezeEvery {
            // The last prefix listed (nearest the output) thaws first, one more every `every` epochs.
            for (n, prefix) in c.freeze.reversed().enumerated() { loop.unfreeze[1 + (n + 1) * every, default: []].append(prefix) }
        }
        let trainer = Trainer(model: network, optimizer: optimizer, configuration: loop)
        let run = try trainer.fit(examples: pairs.count, loss: { tape, batch in
            // The tape's generator is seeded per (seed, epoch, batch) by the trainer, like dropout.
            let chosen = batch.map { pairs[$0] }
            let positives = chosen.map { trainSequences[Int($0.user)][Int($0.position)] }
            let userBatch = model.userBatch(chosen.map { p in
                if c.coldUserFraction > 0 && tape.rng.nextFloat() < c.coldUserFraction {
                    return UserRequest(user: p.user, history: [], skip: nil, dropID: true, dropHistory: true)
                }
                var request = UserRequest(user: p.user, history: trainSequences[Int(p.user)], skip: Int(p.position),
                                          dropID: tape.rng.nextFloat() < c.userIDDropout, dropHistory: tape.rng.nextFloat() < c.historyDropout,
                                          dropAttributes: tape.rng.nextFloat() < c.attributeDropout)
                if !request.dropID, let gap = c.historyGap, c.historyGapShare >= 1 || tape.rng.nextFloat() < c.historyGapShare {
                    request.history = priorHistory(trainSequences[Int(p.user)], target: Int(p.position), gap: gap, rng: &tape.rng)
                    request.skip = nil
                }
                if request.dropID && !request.dropHistory && c.newUserEvents > 0 {
                    (request.history, request.skip) = newUserHistory(trainSequences[Int(p.user)], target: Int(p.position),
                                                                     limit: c.newUserEvents, rng: &tape.rng)
                }
                if contextWidth > 0 && tape.rng.nextFloat() >= c.contextDropout {
                    let item = trainSequences[Int(p.user)][Int(p.position)]
                    request.context = Array(pairContext[Int64(p.user) << 32 | Int64(item)] ?? [])
                }
                return request
            })
            var queries = network.users(userBatch, tape: tape)
            if let scale = network.inverseTemperature(tape: tape) { queries = queries * scale }
            let temperature = network.temperatureLog == nil ? c.temperature : Float(1)
            switch c.loss {
            case .softmax:
                let batch = model.itemBatch(positives, dropID: { _ in schema.hasItemContent && tape.rng.nextFloat() < c.itemIDDropout })
                let (q, v) = network.withBias(queries: queries, items: network.items(batch, tape: tape), itemIDs: batch.ids,
                                              temperature: temperature, tape: tape)
                guard c.uniformNegatives > 0 else {
                    return TailorNN.Loss.inBatchSoftmax(queries: q, items: v, itemIDs: positives, logQ: logQ, temperature: temperature)
                }
                let drawn = (0..<c.uniformNegatives).map { _ in Int32(tape.rng.nextInt(below: items)) }
                let extraBatch = model.itemBatch(drawn, dropID: { _ in schema.hasItemContent && tape.rng.nextFloat() < c.itemIDDropout })
                let (_, u) = network.withBias(queries: queries, items: network.items(extraBatch, tape: tape), itemIDs: extraBatch.ids,
                                              temperature: temperature, tape: tape)
                return TailorNN.Loss.mixedSoftmax(queries: q, items: v, itemIDs: positives, logQ: logQ, temperature: temperature,
                                                  extra: u, extraIDs: drawn, catalogue: items)
            case .bpr:
                let negatives = positives.map { _ in Int32(tape.rng.nextInt(below: items)) }
                let batch = model.itemBatch(positives + negatives, dropID: { _ in schema.hasItemContent && tape.rng.nextFloat() < c.itemIDDropout })
                let n = positives.count
                let (q, both) = network.withBias(queries: concat([queries, queries], axis: 0), items: network.items(batch, tape: tape),
                                                 itemIDs: batch.ids, temperature: temperature, tape: tape)
                let scores = sum(q * both, axis: 1) * (1 / temperature)
                return TailorNN.Loss.bpr(positive: slice(scores, axis: 0, 0..<n), negative: slice(scores, axis: 0, n..<(2 * n)))
            }
        }, validate: validationUsers.isEmpty ? nil : {
            let itemVectors = model.allItemVectors()
            // Each user's vector once, then one query row per held-out item (a user's other
            // held-out items compete with it).
            let perUser = model.userVectors(validationUsers.map { UserRequest(user: Int32($0), history: trainSequences[$0], skip: nil) })
            let queries = heldOutRows.count == validationUsers.count ? perUser
                : Matrix(rows: heldOutRows.count, columns: perUser.columns, storage: heldOutRows.flatMap { perUser.row($0) })
            return validationNDCG(queries: queries, items: itemVectors, exclude: heldOutRows.map { trainSequences[validationUsers[$0]] },
                                  heldOut: heldOut, k: c.validationK)
        })
        let userFactors = model.userVectors((0..<users).map { UserRequest(user: Int32($0), history: sequences[$0], skip: nil) })
        let itemFactors = model.allItemVectors()
        let summary = TrainingSummary(losses: run.losses, validation: run.metrics, bestEpoch: run.bestEpoch, stoppedEarly: run.stoppedEarly,
                                      warnings: warnings)
        var histories = RaggedRows()
        for s in sequences { histories.append(Array(s.suffix(c.historyLength))) }
        return TwoTower(configuration: c, userFactors: userFactors, itemFactors: itemFactors, schema: schema, summary: summary,
                        shapes: shapes, userInputs: userInputs, itemInputs: itemInputs, histories: histories, network: NetworkBox(network),
                        prior: c.coldPrior > 0 ? coldPrior(seen: data.matrix.userItems, profiles: profiles, schema: schema) : nil)
    }

    /// Segment popularity over the attributes the user tower reads (every user's whole training
    /// history, the validation items included).
    static func coldPrior(seen: CSRMatrix, profiles: [UserProfile?], schema: FeatureSchema) -> DemographicPopularity {
        let used = Set(schema.userCategoricalNames + schema.userNumericNames)
        return DemographicPopularity(seen: seen, profiles: profiles.map { p in
            p.map { UserProfile(id: $0.id, attributes: $0.attributes.filter { used.contains($0.key) }) }
        })
    }

    /// A training example seen as a new user's: the first `1…min(count, limit)` events of
    /// `sequence` (the length uniform), and the target's position in it (`nil` when the target
    /// comes later), so the target is never its own input.
    static func newUserHistory(_ sequence: [Int32], target: Int, limit: Int, rng: inout TailorRandom) -> (history: [Int32], skip: Int?) {
        let length = 1 + rng.nextInt(below: max(1, min(sequence.count, limit)))
        return (Array(sequence.prefix(length)), target < length ? target : nil)
    }

    /// A validation user's held-out items, removed from the end of `sequence`: the latest
    /// `⌊share × count⌋` (at least one) while they are training examples, keeping two to train on.
    static func holdOut(_ sequence: inout [Int32], share: Float, isExample: (Int32) -> Bool) -> [Int32] {
        var out: [Int32] = []
        var n = max(1, Int(share * Float(sequence.count)))
        while n > 0, sequence.count > 2, isExample(sequence.last!) {
            out.append(sequence.removeLast()); n -= 1
        }
        return out
    }

    /// A training example's history under ``Configuration/historyGap``: the events of
    /// `sequence` before `target`, ending `0…⌊gap × count⌋` events earlier (uniform), so neither
    /// the target nor anything after it is an input.
    static func priorHistory(_ sequence: [Int32], target: Int, gap: Float, rng: inout TailorRandom) -> [Int32] {
        let widest = Int(gap * Float(sequence.count))
        let skipped = widest > 0 ? rng.nextInt(below: widest + 1) : 0
        return Array(sequence.prefix(max(0, target - skipped)))
    }

    static func validate(_ c: Configuration) throws {
        func fail(_ key: String, _ why: String) -> ModelError {
            ModelError(.invalidConfiguration, reason: "configuration.\(key) \(why)")
        }
        if c.dimension < 1 || c.dimension > 4096 { throw fail("dimension", "must be between 1 and 4096, got \(c.dimension)") }
        if c.idDimension < 1 || c.idDimension > 4096 { throw fail("idDimension", "must be between 1 and 4096, got \(c.idDimension)") }
        if c.featureDimension < 1 || c.featureDimension > 4096 { throw fail("featureDimension", "must be between 1 and 4096, got \(c.featureDimension)") }
        if let h = c.hidden.first(where: { $0 < 1 || $0 > 65_536 }) { throw fail("hidden", "sizes must be between 1 and 65536, got \(h)") }
        for (key, p) in [("dropout", c.dropout), ("userIDDropout", c.userIDDropout), ("itemIDDropout", c.itemIDDropout), ("historyDropout", c.historyDropout),
                        ("attributeDropout", c.attributeDropout), ("coldUserFraction", c.coldUserFraction), ("contextDropout", c.contextDropout)] {
            if !(p >= 0 && p < 1) { throw fail(key, "must be at least 0 and below 1, got \(p)") }
        }
        if c.uniformNegatives < 0 || c.uniformNegatives > 100_000 { throw fail("uniformNegatives", "must be between 0 and 100000, got \(c.uniformNegatives)") }
        if c.newUserEvents < 0 { throw fail("newUserEvents", "must be 0 (keep whole histories) or more, got \(c.newUserEvents)") }
        if c.historyLength < 1 { throw fail("historyLength", "must be at least 1, got \(c.historyLength)") }
        if !(c.validationShare >= 0 && c.validationShare <= 0.5) {
            throw fail("validationShare", "must be between 0 (the latest item only) and 0.5, got \(c.validationShare)")
        }
        if let gap = c.historyGap, !(gap >= 0 && gap <= 1) {
            throw fail("historyGap", "must be between 0 and 1 (a share of each user's events) or null, got \(gap)")
        }
        if !(c.historyGapShare >= 0 && c.historyGapShare <= 1) {
            throw fail("historyGapShare", "must be between 0 and 1, got \(c.historyGapShare)")
        }
        if !(c.halfLife > 0) { throw fail("halfLife", "must be positive, got \(c.halfLife)") }
        if !(c.temperature > 0 && c.temperature.isFinite) { throw fail("temperature", "must be positive, got \(c.temperature)") }
        if !(c.coldPrior >= 0 && c.coldPrior <= 100) { throw fail("coldPrior", "must be between 0 (no prior) and 100, got \(c.coldPrior)") }
        if !(c.coldPriorEvents > 0 && c.coldPriorEvents.isFinite) { throw fail("coldPriorEvents", "must be positive, got \(c.coldPriorEvents)") }
        if c.epochs < 1 { throw fail("epochs", "must be at least 1, got \(c.epochs)") }
        if c.batchSize < 2 { throw fail("batchSize", "must be at least 2 (the other examples are the negatives), got \(c.batchSize)") }
        if !(c.learningRate > 0 && c.learningRate.isFinite) { throw fail("learningRate", "must be positive, got \(c.learningRate)") }
        if !(c.weightDecay >= 0 && c.weightDecay.isFinite) { throw fail("weightDecay", "must be 0 or more, got \(c.weightDecay)") }
        if c.warmupSteps < 0 { throw fail("warmupSteps", "must be 0 or more, got \(c.warmupSteps)") }
        if let p = c.patience, p < 1 { throw fail("patience", "must be at least 1 (or null for no early stopping), got \(p)") }
        if c.validationUsers < 0 { throw fail("validationUsers", "must be 0 or more, got \(c.validationUsers)") }
        if let k = c.validationK, k < 1 { throw fail("validationK", "must be at least 1 (or null for the full rank), got \(k)") }
        if let e = c.unfreezeEvery, e < 1 { throw fail("unfreezeEvery", "must be at least 1 (or null to keep them frozen), got \(e)") }
        if c.unfreezeEvery != nil && c.freeze.isEmpty { throw fail("unfreezeEvery", "needs freeze: the prefixes to release one by one") }
    }

    // MARK: Serving

    /// Scores for a history alone (fold-in of a new user, or a known user's fresh events).
    public func scores(for history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        self.scores(profile: nil, history: history.items, into: scores)
    }

    /// Vectors from the user tower for users known only by their profiles and histories (the
    /// id input reads "unknown"; history positions outside the catalogue are ignored).
    public func userVectors(profiles: [UserProfile?], histories: [[Int32]]) -> Matrix {
        userVectors(users: profiles.map { _ in nil }, profiles: profiles, histories: histories, contextCodes: [])
    }

    /// Vectors for users with fresh histories: known users (positions) keep their id and
    /// trained attributes, unknown ones (`nil`) are encoded from `profiles`.
    public func userVectors(users: [Int32?], profiles: [UserProfile?], histories: [[Int32]]) -> Matrix {
        userVectors(users: users, profiles: profiles, histories: histories, contextCodes: [])
    }

    /// The context features the user tower reads (``Configuration/context``).
    public var contextFeatures: [String] { schema.contextNames }

    /// Vectors for users in the context of a request (`device`, `platform`, `country`, `hour`,
    /// `weekday`, or `time` in Unix seconds for both; see
    /// ``FeatureSchema/encode(context:warnings:)``). A `nil` history is a known user's
    /// training history (none for an unknown user). Context features the model was not trained
    /// with are ignored.
    ///
    /// - Throws: ``ModelError`` for an unknown context key or a value that does not parse.
    public func userVectors(users: [Int32?], profiles: [UserProfile?], histories: [[Int32]?], context: [String: String]) throws -> Matrix {
        precondition(users.count == profiles.count && users.count == histories.count, "one profile and history per user")
        var warnings = FeatureWarnings()
        let codes = try schema.encode(context: context, warnings: &warnings)
        let withContext = codes.contains { $0 != CategoricalEncoder.outOfVocabulary }
        // Known users without a fresh history and without context keep their trained vectors.
        let trained = users.indices.filter { r in histories[r] == nil && users[r] != nil && (!withContext || self.histories == nil) }
        let resolved = users.indices.map { r -> [Int32] in
            if let h = histories[r] { return h }
            guard let u = users[r], let stored = self.histories else { return [] }
            return Array(stored[Int(u)])
        }
        var out = userVectors(users: users, profiles: profiles, histories: resolved, contextCodes: codes)
        for r in trained { out.setRow(r, userFactors.row(Int(users[r]!))) }
        return out
    }

    /// The user tower for known users (positions) and unknown ones (`nil`, read from
    /// `profiles`), each with a history, in one context (`[]`: unknown).
    func userVectors(users: [Int32?], profiles: [UserProfile?], histories: [[Int32]], contextCodes: [Int32]) -> Matrix {
        precondition(users.count == profiles.count && users.count == histories.count, "one profile and history per user")
        let coldRows = users.indices.filter { users[$0] == nil }
        let knownRows = users.indices.filter { users[$0] != nil }
        var warnings = FeatureWarnings()
        let coldInputs = schema.encode(users: coldRows.map { profiles[$0] }, warnings: &warnings)
        func request(_ row: Int32, _ history: [Int32], dropID: Bool) -> UserRequest {
            var r = UserRequest(user: row, history: history.filter { $0 >= 0 && Int($0) < itemCount }, skip: nil, dropID: dropID)
            r.context = contextCodes
            return r
        }
        let (cold, warm) = network.run { net in
            (Model(network: net, configuration: configuration, userInputs: coldInputs, itemInputs: itemInputs, schema: schema)
                .userVectors(coldRows.enumerated().map { n, r in request(Int32(n), histories[r], dropID: true) }),
             Model(network: net, configuration: configuration, userInputs: userInputs, itemInputs: itemInputs, schema: schema)
                .userVectors(knownRows.map { r in request(users[r]!, histories[r], dropID: false) }))
        }
        var out = Matrix(rows: users.count, columns: factors)
        for (n, r) in coldRows.enumerated() { out.setRow(r, cold.row(n)) }
        for (n, r) in knownRows.enumerated() { out.setRow(r, warm.row(n)) }
        return out
    }

    /// Whether users the model never saw get the demographic prior (``Configuration/coldPrior``).
    public var hasColdPrior: Bool { prior != nil && configuration.coldPrior > 0 }

    /// Adds `coldPrior · e / (e + events) · log p(item | segments)` in logits (times the serving
    /// temperature, since scores are inner products) to a new user's `scores`.
    public func addColdPrior(profile: UserProfile?, historyLength: Int, to scores: UnsafeMutableBufferPointer<Float>) -> Bool {
        guard let prior, configuration.coldPrior > 0 else { return false }
        precondition(scores.count >= itemCount, "one score per item")
        let e = configuration.coldPriorEvents
        let weight = configuration.coldPrior * e / (e + Float(max(0, historyLength))) * network.run { $0.servingTemperature }
        var logP = [Float](repeating: 0, count: itemCount)
        logP.withUnsafeMutableBufferPointer { prior.logPrior(for: profile, into: $0) }
        for i in 0..<itemCount { scores[i] += weight * logP[i] }
        return true
    }

    /// Vectors from the item tower for items known only by their content (the id input reads
    /// "unknown").
    public func itemVectors(content: [CatalogItem?]) -> Matrix {
        var warnings = FeatureWarnings()
        let inputs = schema.encode(items: content, warnings: &warnings)
        return network.run { net in
            Model(network: net, configuration: configuration, userInputs: userInputs, itemInputs: inputs, schema: schema)
                .itemVectors(rows: (0..<Int32(content.count)).map { $0 }, dropID: true)
        }
    }

    init(configuration: Configuration, userFactors: Matrix, itemFactors: Matrix, schema: FeatureSchema, summary: TrainingSummary,
         shapes: TowerShapes, userInputs: UserInputs, itemInputs: ItemInputs, histories: RaggedRows?, network: NetworkBox<TwoTowerNetwork>,
         prior: DemographicPopularity?) {
        self.prior = prior
        self.configuration = configuration
        self.userFactors = userFactors
        self.itemFactors = itemFactors
        self.schema = schema
        self.summary = summary
        self.shapes = shapes
        self.userInputs = userInputs
        self.itemInputs = itemInputs
        self.histories = histories
        self.network = network
    }
}

/// The distinct items of a sequence, each at its latest position.
func distinctLatest(_ items: [Int32]) -> [Int32] {
    var seen = Set<Int32>(), out: [Int32] = []
    for i in items.reversed() where seen.insert(i).inserted { out.append(i) }
    return out.reversed()
}

/// NDCG@k of one held-out item per query, never ranking the query's `exclude` items; with no
/// `k`, `1/log₂(rank + 1)` of the item's rank among all items (ties count half).
func validationNDCG(queries: Matrix, items: Matrix, exclude: [[Int32]], heldOut: [Int32], k: Int?) -> Double {
    guard let k else { return fullRankNDCG(queries: queries, items: items, exclude: exclude, heldOut: heldOut) }
    let top = Kernels.topKInnerProducts(queries: queries, items: items, k: k, exclude: { exclude[$0][...] }, threads: 0)
    var total = 0.0
    for q in 0..<heldOut.count {
        for r in 0..<top.counts[q] where top.indices[q * top.k + r] == heldOut[q] {
            total += 1 / log2(Double(r) + 2)
        }
    }
    return total / Double(max(1, heldOut.count))
}

/// Mean `1/log₂(rank + 1)` of each query's held-out item ranked among all items but its
/// `exclude` ones, scored in blocks by GEMM.
func fullRankNDCG(queries: Matrix, items: Matrix, exclude: [[Int32]], heldOut: [Int32]) -> Double {
    let n = items.rows, d = items.columns, block = 256
    guard n > 0, !heldOut.isEmpty else { return 0 }
    var scores = [Float](repeating: 0, count: block * n)
    var total = 0.0
    for start in stride(from: 0, to: heldOut.count, by: block) {
        let m = min(block, heldOut.count - start)
        queries.withUnsafeBufferPointer { q in
            items.withUnsafeBufferPointer { v in
                scores.withUnsafeMutableBufferPointer { s in
                    Kernels.gemm(transposeB: true, m: m, n: n, k: d, a: q.baseAddress! + start * d, lda: d, b: v.baseAddress!, ldb: d,
                                 c: s.baseAddress!, ldc: n, threads: 0)
                }
            }
        }
        for r in 0..<m {
            let row = r * n, target = scores[row + Int(heldOut[start + r])]
            var above = 0.0
            for i in 0..<n where scores[row + i] > target { above += 1 }
            for i in 0..<n where scores[row + i] == target { above += 0.5 }
            above -= 0.5   // the item itself
            for i in exclude[start + r] where Int(i) != Int(heldOut[start + r]) {
                let x = scores[row + Int(i)]
                if x > target { above -= 1 } else if x == target { above -= 0.5 }
            }
            total += 1 / log2(above + 2)
        }
    }
    return total / Double(heldOut.count)
}

/// One user-tower request: a row of the model's user inputs (the user's position for known
/// users, or the row of freshly encoded profiles), their items, which of them to leave out (the
/// training target), and whether to drop the id, the history or the attributes.
struct UserRequest {
    var user: Int32
    var history: [Int32]
    var skip: Int?
    var dropID = false
    var dropHistory = false
    var dropAttributes = false
    /// Context codes in the schema's order (empty: unknown).
    var context: [Int32] = []
}

/// Batching and whole-table passes over a network.
struct Model {
    let network: TwoTowerNetwork
    let configuration: TwoTower.Configuration
    let userInputs: UserInputs
    let itemInputs: ItemInputs
    /// The encoded numbers of a user without a profile.
    let missingNumbers: [Float]

    init(network: TwoTowerNetwork, configuration: TwoTower.Configuration, userInputs: UserInputs, itemInputs: ItemInputs, schema: FeatureSchema) {
        self.network = network
        self.configuration = configuration
        self.userInputs = userInputs
        self.itemInputs = itemInputs
        var ignored = FeatureWarnings()
        missingNumbers = schema.encode(users: [nil], warnings: &ignored).numbers
    }

    /// User-tower inputs.
    func userBatch(_ requests: [UserRequest]) -> UserBatch {
        let c = configuration
        var b = UserBatch()
        let attributes = userInputs.categorical, numeric = userInputs.numeric, contexts = network.contextTables.count
        for r in requests {
            let row = Int(r.user)
            b.ids.append(r.dropID ? 0 : r.user + 1)
            if r.dropAttributes {
                // What a user without a profile encodes to: unknown codes, each number's missing value.
                b.codes.append(contentsOf: repeatElement(CategoricalEncoder.outOfVocabulary, count: attributes))
                b.numbers.append(contentsOf: missingNumbers)
            } else {
                b.codes.append(contentsOf: userInputs.codes[(row * attributes)..<((row + 1) * attributes)])
                b.numbers.append(contentsOf: userInputs.numbers[(row * numeric)..<((row + 1) * numeric)])
            }
            if contexts > 0 {
                if r.context.count == contexts { b.contextCodes.append(contentsOf: r.context) } else {
                    b.contextCodes.append(contentsOf: repeatElement(0, count: contexts))
                }
            }
            b.historyOffsets.append(b.historyItems.count)
            guard c.history != .none, !r.dropHistory else { continue }
            var chosen: [Int32] = []
            var p = r.history.count - 1
            while p >= 0 && chosen.count < c.historyLength {
                if p != r.skip { chosen.append(r.history[p]) }
                p -= 1
            }
            // chosen is newest first: age 0, 1, 2, …
            var weights = chosen.indices.map { c.history == .mean ? 1 : Float(pow(0.5, Double($0) / c.halfLife)) }
            if c.history != .attention {
                let total = weights.reduce(0, +)
                if total > 0 { weights = weights.map { $0 / total } }
            }
            b.historyItems.append(contentsOf: chosen.map { $0 + 1 })
            b.historyWeights.append(contentsOf: weights)
        }
        return b
    }

    /// Item-tower inputs for rows of ``itemInputs``, each id read as "unknown" when `dropID` says so.
    func itemBatch(_ rows: [Int32], dropID: (Int) -> Bool = { _ in false }) -> ItemBatch {
        var b = ItemBatch()
        b.ids = rows.enumerated().map { n, i in dropID(n) ? 0 : i + 1 }
        if network.categories != nil { b.categories = itemInputs.categories.bags(rows) }
        if network.tags != nil { b.tags = itemInputs.tags.bags(rows) }
        let numeric = itemInputs.numeric, length = itemInputs.vectorLength
        for r in rows {
            let r = Int(r)
            b.numbers.append(contentsOf: itemInputs.numbers[(r * numeric)..<((r + 1) * numeric)])
            b.vectors.append(contentsOf: itemInputs.vectors[(r * length)..<((r + 1) * length)])
        }
        return b
    }

    /// User vectors, evaluated without dropout, in chunks: unit vectors, then a 1 when items
    /// have a bias (see ``TwoTower/Configuration/itemBias``).
    func userVectors(_ requests: [UserRequest]) -> Matrix {
        let d = configuration.dimension, width = network.factorWidth
        var out = Matrix(rows: requests.count, columns: width)
        let chunk = 1024
        for start in stride(from: 0, to: requests.count, by: chunk) {
            let end = min(requests.count, start + chunk)
            let tape = Tape(training: false)
            let v = network.users(userBatch(Array(requests[start..<end])), tape: tape).tensor
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<(end - start) {
                    for c in 0..<d { o[(start + r) * width + c] = v.storage[r * d + c] }
                    if width > d { o[(start + r) * width + d] = 1 }
                }
            }
        }
        return out
    }

    /// Vectors of the items at `rows` of ``itemInputs`` (ids `rows`, or the unknown row): unit
    /// vectors, then the item's bias times the temperature when items have one.
    func itemVectors(rows: [Int32], dropID: Bool = false) -> Matrix {
        let d = configuration.dimension, width = network.factorWidth
        var out = Matrix(rows: rows.count, columns: width)
        let chunk = 1024
        let scale = network.servingTemperature
        for start in stride(from: 0, to: rows.count, by: chunk) {
            let end = min(rows.count, start + chunk)
            let tape = Tape(training: false)
            let batch = itemBatch(Array(rows[start..<end]), dropID: { _ in dropID })
            let v = network.items(batch, tape: tape).tensor
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<(end - start) {
                    for c in 0..<d { o[(start + r) * width + c] = v.storage[r * d + c] }
                    if let bias = network.itemBias { o[(start + r) * width + d] = scale * bias.weight.value.storage[Int(batch.ids[r])] }
                }
            }
        }
        return out
    }

    /// Every item's vector.
    func allItemVectors() -> Matrix { itemVectors(rows: (0..<Int32(itemInputs.count)).map { $0 }) }
}

extension TwoTower: ColdStartScoring, FineTunable {}

extension TwoTowerNetwork {
    /// Copies the base model's weights: same-shaped tensors whole, id tables row by row (the
    /// unknown row and the base's users or items, which come first in fine-tuning data; new
    /// rows keep their fresh initialization).
    func start(from base: TwoTower) throws {
        let old = base.network.run { $0.stateDict() }
        for (name, p) in namedParameters() {
            guard let t = old[name] else { continue }
            if t.shape == p.value.shape {
                p.value = t
            } else if t.shape.count == 2, p.value.shape.count == 2, t.shape[1] == p.value.shape[1], t.shape[0] <= p.value.shape[0] {
                var v = p.value
                for n in 0..<t.storage.count { v.storage[n] = t.storage[n] }
                p.value = v
            } else {
                throw ModelError(.invalidConfiguration, reason: "the base model's '\(name)' has shape \(t.shape), this network's \(p.value.shape)",
                                 hint: "fine-tune with the base's architecture, or retrain from scratch")
            }
        }
        var buffers: [String: Tensor] = [:]
        for (name, b) in namedBuffers() where old[name]?.shape == b.shape { buffers[name] = old[name]! }
        try load(stateDict: buffers, strict: false)
    }

    /// Freezes the parameters under `prefixes`; a prefix that names none is an error listing the names.
    func freeze(_ prefixes: [String]) throws {
        guard !prefixes.isEmpty else { return }
        let names = namedParameters().map(\.0)
        for prefix in prefixes where !names.contains(where: { $0.hasPrefix(prefix) }) {
            let tops = Array(Set(names.map { String($0.split(separator: ".").first!) })).sorted()
            throw ModelError(.invalidConfiguration, reason: "configuration.freeze names '\(prefix)', which matches no parameter of this network",
                             hint: "its parameters begin with: \(tops.joined(separator: ", "))")
        }
        freeze(Optional(prefixes))
    }
}
