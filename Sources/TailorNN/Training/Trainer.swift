import Foundation
import TailorAutodiff
import TailorLinalg

/// A minibatch training loop with validation, early stopping, checkpoints and gradual
/// unfreezing.
///
/// Each epoch shuffles the example indices with a stream seeded by (seed, epoch), so a run is
/// reproducible and a resumed run continues exactly as an uninterrupted one would. After every
/// epoch with validation, the best state is kept (in memory, and in the checkpoint directory if
/// one is set); training stops after `patience` epochs without improvement, and the best
/// parameters are restored at the end.
public final class Trainer {
    /// Loop settings.
    public struct Configuration: Sendable {
        /// Passes over the examples.
        public var epochs = 10
        /// Examples per batch.
        public var batchSize = 256
        /// Seed for shuffling and dropout.
        public var seed: UInt64 = 1
        /// Shuffle the examples each epoch; `false` keeps them in order (batches that must follow
        /// one another, as session-parallel chunks carrying a recurrent state do).
        public var shuffle = true
        /// Stop after this many epochs without a better validation metric (`nil`: never).
        public var patience: Int?
        /// Whether a larger metric is better (NDCG, accuracy) or a smaller one (loss).
        public var higherIsBetter = true
        /// Clip the global gradient norm to this value (`nil`: no clipping).
        public var gradientClip: Float?
        /// Where to keep `last` and `best` checkpoints (`nil`: in memory only).
        public var checkpointDirectory: URL?
        /// Parameter-name prefixes to unfreeze at the start of an epoch (1-based), for gradual
        /// unfreezing of pre-trained layers.
        public var unfreeze: [Int: [String]] = [:]
        /// Progress callback.
        public var progress: ProgressHandler?
        /// The name in progress events (the model being trained).
        public var name = "trainer"
        /// Also report every this many batches (0: epochs only).
        public var reportEveryBatches = 0

        /// The defaults.
        public init() {}
    }

    /// What a run did.
    public struct Summary: Sendable, Codable, Equatable {
        /// Mean training loss per epoch.
        public var losses: [Double] = []
        /// Validation metric per epoch (when validating).
        public var metrics: [Double] = []
        /// The best epoch (1-based) and its metric.
        public var bestEpoch: Int?
        /// See ``bestEpoch``.
        public var bestMetric: Double?
        /// Whether early stopping ended the run.
        public var stoppedEarly = false
    }

    public let model: Module
    public let optimizer: any Optimizer
    public var configuration: Configuration
    /// The next epoch to run (1-based); advanced as epochs finish, restored on resume.
    public private(set) var nextEpoch = 1
    /// The run so far.
    public private(set) var summary = Summary()
    var epochsWithoutImprovement = 0
    var bestState: [String: Tensor]?

    /// A trainer for `model` with `optimizer`.
    public init(model: Module, optimizer: any Optimizer, configuration: Configuration = .init()) {
        self.model = model
        self.optimizer = optimizer
        self.configuration = configuration
    }

    /// Trains on `examples` examples. `loss(tape, batch)` computes the mean loss of the batch's
    /// example indices on the training `tape`; `validate()` returns the metric (run it on an
    /// evaluation tape).
    @discardableResult
    public func fit(examples: Int, loss: (Tape, [Int]) throws -> Value, validate: (() throws -> Double)? = nil) throws -> Summary {
        guard examples > 0 else { throw NNError("no training examples") }
        AllocationPolicy.keepLargeBuffers()
        let c = configuration
        let batches = (examples + c.batchSize - 1) / c.batchSize
        let start = Date()
        while nextEpoch <= c.epochs {
            let epoch = nextEpoch
            if let prefixes = c.unfreeze[epoch] { model.unfreeze(prefixes) }
            var order = Array(0..<examples)
            var rng = TailorRandom(seed: c.seed, stream: UInt64(epoch))
            if c.shuffle { for i in stride(from: examples - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) } }
            var total = 0.0
            for b in 0..<batches {
                let batch = Array(order[(b * c.batchSize)..<min(examples, (b + 1) * c.batchSize)])
                let tape = Tape(training: true, seed: c.seed &+ UInt64(epoch) &* 1_000_003 &+ UInt64(b))
                let value = try loss(tape, batch)
                guard value.scalar.isFinite else {
                    throw NNError("the loss became \(value.scalar) in epoch \(epoch), batch \(b + 1)", hint: "lower the learning rate or clip gradients")
                }
                total += Double(value.scalar)
                tape.backward(value)
                if let clip = c.gradientClip { optimizer.clipGradientNorm(clip) }
                optimizer.step()
                optimizer.zeroGrad()
                if c.reportEveryBatches > 0 && (b + 1) % c.reportEveryBatches == 0 {
                    c.progress?(TrainingEvent(model: c.name, kind: .batch, step: epoch, totalSteps: c.epochs, batch: b + 1, batches: batches,
                                              elapsedSeconds: Date().timeIntervalSince(start), metrics: ["loss": total / Double(b + 1)]))
                }
            }
            summary.losses.append(total / Double(batches))
            var improved = false
            var metric: Double?
            if let validate {
                let m = try validate()
                metric = m
                summary.metrics.append(m)
                if summary.bestMetric.map({ c.higherIsBetter ? m > $0 : m < $0 }) ?? true {
                    improved = true
                    summary.bestMetric = m
                    summary.bestEpoch = epoch
                    epochsWithoutImprovement = 0
                    bestState = model.stateDict()
                    if let dir = c.checkpointDirectory { try Checkpoint.save(model: model, to: dir.appendingPathComponent("best")) }
                } else {
                    epochsWithoutImprovement += 1
                }
            }
            nextEpoch = epoch + 1
            if let dir = c.checkpointDirectory { try saveLast(to: dir) }
            var metrics = ["loss": summary.losses.last!]
            if let metric { metrics["validation"] = metric }
            c.progress?(TrainingEvent(model: c.name, kind: .step, step: epoch, totalSteps: c.epochs, batch: batches, batches: batches,
                                      elapsedSeconds: Date().timeIntervalSince(start), metrics: metrics, improved: metric == nil ? nil : improved))
            if let patience = c.patience, epochsWithoutImprovement >= patience {
                summary.stoppedEarly = true
                break
            }
            if TrainingStop.current?.isRequested == true {
                summary.stoppedEarly = true
                break
            }
        }
        if let best = bestState { try model.load(stateDict: best) }
        return summary
    }

    struct State: Codable {
        var nextEpoch: Int
        var summary: Summary
        var epochsWithoutImprovement: Int
    }

    func saveLast(to dir: URL) throws {
        let last = dir.appendingPathComponent("last")
        try Checkpoint.save(model: model, optimizer: optimizer, to: last)
        let state = State(nextEpoch: nextEpoch, summary: summary, epochsWithoutImprovement: epochsWithoutImprovement)
        try JSONEncoder().encode(state).write(to: last.appendingPathComponent("trainer.json"), options: .atomic)
    }

    /// Continues a run from `directory/last` (model, optimizer and loop state) and the best
    /// state from `directory/best`.
    public func resume(from directory: URL) throws {
        let last = directory.appendingPathComponent("last")
        try Checkpoint.load(model: model, optimizer: optimizer, from: last)
        let state: State
        do {
            state = try JSONDecoder().decode(State.self, from: Data(contentsOf: last.appendingPathComponent("trainer.json")))
        } catch {
            throw NNError("\(last.path)/trainer.json cannot be read (\(error.localizedDescription))", hint: "the checkpoint is incomplete; start over")
        }
        nextEpoch = state.nextEpoch
        // The layers unfrozen in the epochs already run were trainable when the run stopped;
        // the fresh model starts with them frozen again, so replay those unfreezings.
        for (epoch, prefixes) in configuration.unfreeze.sorted(by: { $0.key < $1.key }) where epoch < nextEpoch {
            model.unfreeze(prefixes)
        }
        summary = state.summary
        epochsWithoutImprovement = state.epochsWithoutImprovement
        let best = directory.appendingPathComponent("best/model.safetensors")
        if FileManager.default.fileExists(atPath: best.path) {
            let (tensors, _) = try SafeTensors.read(from: best)
            bestState = tensors.mapValues { Tensor(shape: $0.shape, storage: $0.floats()) }
        }
    }
}

/// Checkpoint directories: `model.safetensors` (the state dict by parameter name, readable by
/// `safetensors.torch.load_file`) and, when given, `optimizer.safetensors` (moments by parameter
/// name and the step).
public enum Checkpoint {
    /// Writes a checkpoint into `directory` (created if needed).
    public static func save(model: Module, optimizer: (any Optimizer)? = nil, to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try model.save(to: directory.appendingPathComponent("model.safetensors"), metadata: ["format": "tailor-nn-checkpoint"])
        if let optimizer {
            try SafeTensors.write(optimizer.state().mapValues { SafeTensors.Tensor($0.storage, shape: $0.shape) },
                                  to: directory.appendingPathComponent("optimizer.safetensors"))
        }
    }

    /// Reads a checkpoint written by ``save(model:optimizer:to:)``.
    public static func load(model: Module, optimizer: (any Optimizer)? = nil, from directory: URL) throws {
        let modelURL = directory.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: modelURL.path) else {
            throw NNError("\(directory.path) holds no checkpoint (model.safetensors is missing)")
        }
        try model.load(from: modelURL)
        if let optimizer {
            let (tensors, _) = try SafeTensors.read(from: directory.appendingPathComponent("optimizer.safetensors"))
            try optimizer.load(state: tensors.mapValues { Tensor(shape: $0.shape, storage: $0.floats()) })
        }
    }
}
