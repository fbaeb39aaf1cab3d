import Foundation
import Synchronization

/// Progress of any training run, classic or neural, reported through a callback.
///
/// Libraries never print (habit 11): ALS, BPR, Item2Vec and the neural `Trainer` call the
/// caller's closure once per step (an iteration or an epoch) and, for minibatch training,
/// optionally every few batches; the CLI decides whether to draw a bar or write JSON lines.
/// It lives in TailorLinalg because that is the one module both model families build on.
public struct TrainingEvent: Sendable, Codable, Equatable {
    /// After a whole step (iteration or epoch), or after some batches within one.
    public enum Kind: String, Sendable, Codable {
        /// A step (iteration or epoch) finished.
        case step
        /// Some batches of the current step finished.
        case batch
    }

    /// The model being trained (`als`, or the name a neural model gives its trainer).
    public var model: String
    /// What finished.
    public var kind: Kind
    /// Completed (or current, for batch events) step: iteration or epoch, 1-based.
    public var step: Int
    /// Steps planned.
    public var totalSteps: Int
    /// Batches done in this step (minibatch training).
    public var batch: Int?
    /// Batches per step (minibatch training).
    public var batches: Int?
    /// Seconds since training started.
    public var elapsedSeconds: Double
    /// Measurements: `loss` (training loss), `validation` (the validation metric), and any
    /// model-specific ones (`pairs`, `fallback_solves`).
    public var metrics: [String: Double]
    /// Whether this step set a new best validation metric (when validating).
    public var improved: Bool?

    /// A new event.
    public init(model: String, kind: Kind = .step, step: Int, totalSteps: Int, batch: Int? = nil, batches: Int? = nil,
                elapsedSeconds: Double, metrics: [String: Double] = [:], improved: Bool? = nil) {
        self.model = model
        self.kind = kind
        self.step = step
        self.totalSteps = totalSteps
        self.batch = batch
        self.batches = batches
        self.elapsedSeconds = elapsedSeconds
        self.metrics = metrics
        self.improved = improved
    }
}

/// A closure receiving training progress; may be called from a worker thread.
public typealias ProgressHandler = @Sendable (TrainingEvent) -> Void

/// A request to end a training run after its current step, for training loops that check it
/// (the neural `Trainer`, after each epoch's progress event). A tuner's pruner binds one around
/// a fit and requests the stop from its progress handler when the trial falls below the median,
/// so a model that cannot resume is pruned inside one fit instead of being refitted per rung.
public final class TrainingStop: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    /// Asks the run to stop after the step in progress.
    public func request() { flag.store(true, ordering: .relaxed) }

    /// Whether a stop was requested.
    public var isRequested: Bool { flag.load(ordering: .relaxed) }

    /// The stop request bound around the training running here (``TaskLocal/withValue(_:operation:file:line:)``
    /// works on plain threads too), if any.
    @TaskLocal public static var current: TrainingStop?
}
