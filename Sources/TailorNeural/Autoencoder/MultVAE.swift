import Foundation
import TailorAutodiff
import TailorData
import TailorLinalg
import TailorModels
import TailorNN

/// Mult-VAE (Liang et al. 2018): a variational autoencoder over each user's set of items with a
/// multinomial likelihood. The encoder reads the L2-normalized bag (with dropout on its items)
/// into a Gaussian latent; the decoder maps it to a softmax over every item. The KL term's
/// weight β rises linearly from 0 to ``Configuration/betaMax`` over
/// ``Configuration/annealSteps`` steps (the paper's partial annealing).
///
/// The decoder's last layer is linear, so the model serves as a factor model: a user's vector
/// is the decoder's last hidden layer at the latent mean (and a 1), an item's is its output
/// weights (and its bias). Any history folds in with one forward pass.
public struct MultVAE: FactorModel, TrainableRecommender, HistoryScoring {
    public static let kind = "mult-vae"

    /// Hyperparameters: the paper's [I → 600 → 200 → 600 → I], dropout 0.5, β capped at 0.2.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Width of the encoder's and the decoder's hidden layer.
        public var hidden = 600
        /// Width of the latent code.
        public var latent = 200
        /// Dropout on the input items.
        public var dropout: Float = 0.5
        /// The largest KL weight.
        public var betaMax: Float = 0.2
        /// Steps over which β rises from 0 to ``betaMax``.
        public var annealSteps = 20_000
        /// Most passes over the users.
        public var epochs = 200
        /// Users per batch.
        public var batchSize = 500
        /// Adam learning rate.
        public var learningRate: Float = 0.001
        /// Decoupled weight decay; 0 for none.
        public var weightDecay: Float = 0
        /// Stop after this many epochs without a better validation NDCG (`nil`: never).
        public var patience: Int? = 10
        /// Users whose latest item is held out to validate each epoch (0: none).
        public var validationUsers = 2000
        /// Seed for initialization, shuffling, dropout, sampling and the validation users.
        public var seed: UInt64 = 42

        /// The defaults.
        public init() {}
    }

    /// What training did.
    public typealias TrainingSummary = EpochSummary

    public let configuration: Configuration
    public let userFactors: Matrix
    public let itemFactors: Matrix
    public let summary: TrainingSummary
    let network: NetworkBox<MultVAENetwork>

    public static func fit(_ data: TrainingData, configuration c: Configuration, progress: ProgressHandler?) throws -> MultVAE {
        try validate(c)
        let seen = data.matrix.userItems
        guard seen.nonZeroCount > 0 else {
            throw ModelError(.emptyData, reason: "the training data has no interactions", hint: "check the log or the store with `tailor stats`")
        }
        let users = data.userCount, items = data.itemCount
        var bags = (0..<users).map { Array(seen.columns(inRow: $0)) }
        // Validation: the latest item of some users with at least three items.
        let latest = data.userSequences().map { $0.items.last }
        let validation = TrainingSupport.validationUsers((0..<users).filter { bags[$0].count >= 3 && latest[$0] != nil },
                                                         count: c.validationUsers, seed: c.seed)
        var heldOut: [Int32] = []
        for u in validation {
            let item = latest[u]!
            heldOut.append(item)
            bags[u].removeAll { $0 == item }
        }
        let examples = (0..<users).filter { !bags[$0].isEmpty }
        let network = MultVAENetwork(items: items, configuration: c)
        let optimizer = Adam([ParameterGroup(network.namedParameters(), learningRate: c.learningRate, weightDecay: c.weightDecay)],
                             decoupledWeightDecay: true)
        let loop = TrainingSupport.loop(kind: kind, epochs: c.epochs, batchSize: c.batchSize, seed: c.seed, patience: c.patience,
                                        validating: !validation.isEmpty, progress: progress)
        var step = 0
        let trainer = Trainer(model: network, optimizer: optimizer, configuration: loop)
        let run = try trainer.fit(examples: examples.count, loss: { tape, batch in
            step += 1
            let chosen = batch.map { bags[examples[$0]] }
            let beta = c.annealSteps == 0 ? c.betaMax : min(c.betaMax, c.betaMax * Float(step) / Float(c.annealSteps))
            let (logits, mu, logVariance) = network.forward(chosen, tape: tape)
            var target = Tensor(shape: [chosen.count, items])
            for (r, bag) in chosen.enumerated() { for i in bag { target.storage[r * items + Int(i)] = 1 } }
            let b = Float(chosen.count)
            let nll = sum(logSoftmax(logits) * tape.constant(target)) * (-1 / b)
            // KL(q(z|x) ‖ N(0, I)) = −½ Σ (1 + log σ² − μ² − σ²), averaged over users.
            let kl = sum((logVariance + 1) - mu * mu - exp(logVariance)) * (-0.5 / b)
            return nll + kl * beta
        }, validate: validation.isEmpty ? nil : {
            let queries = network.userVectors(validation.map { bags[$0] })
            return fullRankNDCG(queries: queries, items: network.itemVectors(), exclude: validation.map { bags[$0] }, heldOut: heldOut)
        })
        let summary = TrainingSummary(run)
        let all = (0..<users).map { Array(seen.columns(inRow: $0)) }
        return MultVAE(configuration: c, userFactors: network.userVectors(all), itemFactors: network.itemVectors(), summary: summary,
                       network: NetworkBox(network))
    }

    static func validate(_ c: Configuration) throws {
        func fail(_ key: String, _ why: String) -> ModelError { ModelError(.invalidConfiguration, reason: "configuration.\(key) \(why)") }
        if c.hidden < 1 || c.hidden > 65_536 { throw fail("hidden", "must be between 1 and 65536, got \(c.hidden)") }
        if c.latent < 1 || c.latent > 65_536 { throw fail("latent", "must be between 1 and 65536, got \(c.latent)") }
        if !(c.dropout >= 0 && c.dropout < 1) { throw fail("dropout", "must be at least 0 and below 1, got \(c.dropout)") }
        if !(c.betaMax >= 0 && c.betaMax.isFinite) { throw fail("betaMax", "must be 0 or more, got \(c.betaMax)") }
        if c.annealSteps < 0 { throw fail("annealSteps", "must be 0 or more, got \(c.annealSteps)") }
        try TrainingSupport.validate(epochs: c.epochs, batchSize: c.batchSize, learningRate: c.learningRate, weightDecay: c.weightDecay,
                                     patience: c.patience, validationUsers: c.validationUsers)
    }

    /// Scores for any history (fold-in): one encoder and decoder pass over its items.
    public func scores(for history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let bag = Array(Set(history.items.filter { $0 >= 0 && Int($0) < itemCount })).sorted()
        let q = network.run { $0.userVectors([bag]) }
        q.withUnsafeBufferPointer { qp in
            itemFactors.withUnsafeBufferPointer { v in
                Kernels.gemm(transposeB: true, m: 1, n: itemCount, k: factors, a: qp.baseAddress!, lda: factors, b: v.baseAddress!, ldb: factors,
                             c: scores.baseAddress!, ldc: itemCount, threads: 0)
            }
        }
    }

    init(configuration: Configuration, userFactors: Matrix, itemFactors: Matrix, summary: TrainingSummary, network: NetworkBox<MultVAENetwork>) {
        self.configuration = configuration
        self.userFactors = userFactors
        self.itemFactors = itemFactors
        self.summary = summary
        self.network = network
    }
}

extension MultVAE {
    /// `user_factors`, `item_factors` and every weight as `net.NAME` (`item_encoder.weight` is an
    /// `nn.EmbeddingBag` in PyTorch terms, the rest `nn.Linear`s).
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        var out: [String: SafeTensors.Tensor] = ["user_factors": .init(userFactors), "item_factors": .init(itemFactors)]
        for (name, t) in network.run({ $0.stateDict() }) { out["net." + name] = .init(t.storage, shape: t.shape) }
        return out
    }

    public func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try ConfigurationPatch.encode(configuration), "summary": try JSONValue(encoding: summary)])
    }

    public init(archiveTensors tensors: [String: SafeTensors.Tensor], configuration json: JSONValue) throws {
        let reader = NeuralArchive.Reader(tensors: tensors, model: Self.kind)
        guard case .object(let fields) = json, let c = fields["configuration"] else { throw reader.fail("lacks its configuration") }
        let configuration = try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration")
        try Self.validate(configuration)
        let summary = try fields["summary"]?.decode(TrainingSummary.self) ?? TrainingSummary()
        guard let users = tensors["user_factors"]?.matrix(), let items = tensors["item_factors"]?.matrix(),
              users.columns == configuration.hidden + 1, items.columns == configuration.hidden + 1 else {
            throw reader.fail("lacks user_factors or item_factors of width \(configuration.hidden + 1)")
        }
        try ArchiveChecks.finite(users, name: "user_factors", model: Self.kind)
        try ArchiveChecks.finite(items, name: "item_factors", model: Self.kind)
        let network = MultVAENetwork(items: items.rows, configuration: configuration)
        try reader.load(into: network)
        self.init(configuration: configuration, userFactors: users, itemFactors: items, summary: summary, network: NetworkBox(network))
    }
}

/// The encoder (a weighted bag over the item rows, then a linear map to μ and log σ²) and the
/// decoder (latent → hidden → every item's logit).
final class MultVAENetwork: Module {
    let items: Int
    let configuration: MultVAE.Configuration
    let itemEncoder: EmbeddingBag
    let encoderBias: Parameter
    let encoderOut: Linear
    let decoderHidden: Linear
    let decoderOut: Linear

    init(items: Int, configuration c: MultVAE.Configuration) {
        self.items = items
        configuration = c
        itemEncoder = EmbeddingBag(items, c.hidden, mode: .sum, seed: c.seed &+ 1)
        // Xavier-uniform, as the paper's code initializes its first layer.
        let bound = (6 / Float(items + c.hidden)).squareRoot()
        var rng = TailorRandom(seed: c.seed, stream: 17)
        itemEncoder.weight.value.storage = (0..<(items * c.hidden)).map { _ in (rng.nextFloat() * 2 - 1) * bound }
        encoderBias = Parameter(Tensor(shape: [c.hidden]))
        encoderOut = Linear(c.hidden, 2 * c.latent, seed: c.seed &+ 2)
        decoderHidden = Linear(c.latent, c.hidden, seed: c.seed &+ 3)
        decoderOut = Linear(c.hidden, items, seed: c.seed &+ 4)
    }

    override var localParameters: [(String, Parameter)] { [("item_encoder_bias", encoderBias)] }
    override var children: [(String, Module)] {
        [("item_encoder", itemEncoder), ("encoder_out", encoderOut), ("decoder_hidden", decoderHidden), ("decoder_out", decoderOut)]
    }

    /// The first layer over L2-normalized bags; in training each item is dropped with the
    /// dropout probability and the rest scaled by 1/(1 − p).
    func encode(_ bags: [[Int32]], tape: Tape) -> (mu: Value, logVariance: Value) {
        var indices: [Int32] = [], offsets: [Int] = [], weights: [Float] = []
        let p = tape.isTraining ? configuration.dropout : 0
        for bag in bags {
            offsets.append(indices.count)
            let w = 1 / Float(max(1, bag.count)).squareRoot() / (1 - p)
            for i in bag where p == 0 || tape.rng.nextFloat() >= p { indices.append(i); weights.append(w) }
        }
        let h = tanh(embeddingBag(tape.parameter(itemEncoder.weight), indices: indices, offsets: offsets, mode: .sum, weights: weights)
                     + tape.parameter(encoderBias))
        let stats = encoderOut(h)
        let l = configuration.latent
        return (slice(stats, axis: 1, 0..<l), slice(stats, axis: 1, l..<(2 * l)))
    }

    /// The decoder's last hidden layer for latent codes `z`.
    func decodeHidden(_ z: Value) -> Value { tanh(decoderHidden(z)) }

    /// Training pass: logits over every item, μ and log σ² (z sampled by reparameterization).
    func forward(_ bags: [[Int32]], tape: Tape) -> (logits: Value, mu: Value, logVariance: Value) {
        let (mu, logVariance) = encode(bags, tape: tape)
        var z = mu
        if tape.isTraining {
            let noise = (0..<(bags.count * configuration.latent)).map { _ in Float(tape.rng.nextGaussian()) }
            z = mu + exp(logVariance * 0.5) * tape.constant(Tensor(shape: [bags.count, configuration.latent], storage: noise))
        }
        return (decoderOut(decodeHidden(z)), mu, logVariance)
    }

    /// Serving vectors: the decoder's last hidden layer at the latent mean, then a 1 (for the bias).
    func userVectors(_ bags: [[Int32]]) -> Matrix {
        let width = configuration.hidden + 1
        var out = Matrix(rows: bags.count, columns: width)
        for start in stride(from: 0, to: bags.count, by: 512) {
            let part = Array(bags[start..<min(bags.count, start + 512)])
            let tape = Tape(training: false)
            let h = decodeHidden(encode(part, tape: tape).mu).tensor
            out.withUnsafeMutableBufferPointer { o in
                for r in part.indices {
                    for k in 0..<configuration.hidden { o[(start + r) * width + k] = h.storage[r * configuration.hidden + k] }
                    o[(start + r) * width + configuration.hidden] = 1
                }
            }
        }
        return out
    }

    /// Each item's output weights and bias.
    func itemVectors() -> Matrix {
        let hidden = configuration.hidden, w = decoderOut.weight.value.storage, b = decoderOut.bias!.value.storage
        var out = Matrix(rows: items, columns: hidden + 1)
        out.withUnsafeMutableBufferPointer { o in
            for i in 0..<items {
                for k in 0..<hidden { o[i * (hidden + 1) + k] = w[i * hidden + k] }
                o[i * (hidden + 1) + hidden] = b[i]
            }
        }
        return out
    }
}

