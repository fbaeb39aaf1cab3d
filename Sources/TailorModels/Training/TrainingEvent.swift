/// Progress of a long-running fit, reported through a callback.
///
/// Libraries never print (habit 11): `fit` calls the caller's closure once per step, and the
/// CLI decides whether to draw a progress bar or write JSON lines.
public struct TrainingEvent: Sendable, Codable, Equatable {
    /// The model being trained (`als`).
    public var model: String
    /// Completed steps (iterations or epochs), 1-based.
    public var step: Int
    /// Total steps planned.
    public var totalSteps: Int
    /// Seconds since the fit started.
    public var elapsedSeconds: Double
    /// Measurements for this step, for example `loss`.
    public var metrics: [String: Double]

    /// A new event.
    public init(model: String, step: Int, totalSteps: Int, elapsedSeconds: Double, metrics: [String: Double] = [:]) {
        self.model = model
        self.step = step
        self.totalSteps = totalSteps
        self.elapsedSeconds = elapsedSeconds
        self.metrics = metrics
    }
}

/// A closure receiving training progress; may be called from a worker thread.
public typealias ProgressHandler = @Sendable (TrainingEvent) -> Void

import Foundation

/// Monotonic seconds, for timing fits.
@usableFromInline
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
