import Synchronization
import TailorData
import TailorLinalg
import TailorModels
import TailorNN

/// Pieces every neural model's training shares: the validation hold-out, the trainer's loop
/// settings and the checks on the keys they all have.
enum TrainingSupport {
    /// Up to `count` users (sorted positions), drawn by `seed`, among those `eligible`: the ones
    /// whose latest item is held out to validate each epoch.
    static func validationUsers(_ eligible: [Int], count: Int, seed: UInt64) -> [Int] {
        var rng = TailorRandom(seed: seed, stream: 91)
        var candidates = eligible
        for i in stride(from: candidates.count - 1, to: 0, by: -1) { candidates.swapAt(i, rng.nextInt(below: i + 1)) }
        return Array(candidates.prefix(count)).sorted()
    }

    /// The trainer's loop: `epochs` passes of `batchSize`, early stopping after `patience`
    /// epochs without a better validation metric when there is validation.
    static func loop(kind: String, epochs: Int, batchSize: Int, seed: UInt64, patience: Int?, validating: Bool,
                     progress: ProgressHandler?) -> Trainer.Configuration {
        var loop = Trainer.Configuration()
        loop.epochs = epochs
        loop.batchSize = batchSize
        loop.seed = seed
        loop.patience = validating ? patience : nil
        loop.progress = progress
        loop.name = kind
        return loop
    }

    /// Checks the keys every neural configuration has, naming the one that is wrong.
    static func validate(epochs: Int, batchSize: Int, learningRate: Float, weightDecay: Float = 0, patience: Int?, validationUsers: Int) throws {
        func fail(_ key: String, _ why: String) -> ModelError { ModelError(.invalidConfiguration, reason: "configuration.\(key) \(why)") }
        if epochs < 1 { throw fail("epochs", "must be at least 1, got \(epochs)") }
        if batchSize < 1 { throw fail("batchSize", "must be at least 1, got \(batchSize)") }
        if !(learningRate > 0 && learningRate.isFinite) { throw fail("learningRate", "must be positive, got \(learningRate)") }
        if !(weightDecay >= 0 && weightDecay.isFinite) { throw fail("weightDecay", "must be 0 or more, got \(weightDecay)") }
        if let p = patience, p < 1 { throw fail("patience", "must be at least 1 (or null for no early stopping), got \(p)") }
        if validationUsers < 0 { throw fail("validationUsers", "must be 0 or more, got \(validationUsers)") }
    }
}

/// What a training run did, epoch by epoch (Mult-VAE, LightGCN).
public struct EpochSummary: Sendable, Codable, Equatable {
    /// Mean loss per epoch.
    public var losses: [Double] = []
    /// Validation NDCG (held-out item's full rank) per epoch.
    public var validation: [Double] = []
    /// The epoch whose weights were kept.
    public var bestEpoch: Int?
    /// Whether early stopping ended the run.
    public var stoppedEarly = false

    /// Nothing yet.
    public init() {}

    /// The trainer's record.
    init(_ run: Trainer.Summary) {
        losses = run.losses
        validation = run.metrics
        bestEpoch = run.bestEpoch
        stoppedEarly = run.stoppedEarly
    }
}

/// A trained network shared by concurrent requests: forward passes take turns (a module is not
/// thread-safe), and the wrapped network is never mutated after training.
final class NetworkBox<M: Module>: @unchecked Sendable {
    private let network: M
    private let lock = Mutex(())

    init(_ network: M) { self.network = network }

    func run<T>(_ body: (M) -> T) -> T { lock.withLock { _ in body(network) } }
}

/// The summaries neural models keep (loss and validation per epoch, the epoch kept).
protocol EpochRecord {
    var losses: [Double] { get }
    var validation: [Double] { get }
    var bestEpoch: Int? { get }
}

extension EpochRecord {
    func curve(metric: String) -> TrainingCurve {
        TrainingCurve(unit: "epoch", losses: losses, validation: validation, validationMetric: metric, bestStep: bestEpoch)
    }
}

extension EpochSummary: EpochRecord {}
extension SequenceTrainingSummary: EpochRecord {}
extension TwoTower.TrainingSummary: EpochRecord {}
extension Ranker.TrainingSummary: EpochRecord {}

private let heldOutNDCG = "NDCG of each validation user's latest item (full rank)"

extension MultVAE: RecordsTraining {
    public var trainingCurve: TrainingCurve { summary.curve(metric: heldOutNDCG) }
}

extension LightGCN: RecordsTraining {
    public var trainingCurve: TrainingCurve { summary.curve(metric: heldOutNDCG) }
}

extension SASRec: RecordsTraining {
    public var trainingCurve: TrainingCurve { summary.curve(metric: heldOutNDCG) }
}

extension GRU4Rec: RecordsTraining {
    public var trainingCurve: TrainingCurve { summary.curve(metric: heldOutNDCG) }
}

extension TwoTower: RecordsTraining {
    public var trainingCurve: TrainingCurve {
        summary.curve(metric: configuration.validationK.map { "NDCG@\($0) of each validation user's latest item" } ?? heldOutNDCG)
    }
}

extension Ranker: RecordsTraining {
    public var trainingCurve: TrainingCurve { summary.curve(metric: "click AUC on held-out rows") }
}
