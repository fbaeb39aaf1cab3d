import Foundation
import TailorData
import TailorLinalg

/// Models whose training can continue: `steps` more iterations or epochs from a trained model,
/// the same as having trained that many more from the start. A tuner can then score a trial
/// after a few iterations and carry on only with the promising ones, paying nothing twice.
public protocol ResumableTraining: TrainableRecommender {
    /// The configuration key that counts the iterations or epochs (`iterations` for ALS).
    static var budgetKey: String { get }
    /// Trains `steps` more on `data` (the data it was trained on).
    ///
    /// - Throws: ``ModelError`` when `data` does not have the model's users and items.
    func continued(on data: TrainingData, steps: Int, progress: ProgressHandler?) throws -> Self
}

extension ALS: ResumableTraining {
    public static var budgetKey: String { "iterations" }

    public func continued(on data: TrainingData, steps: Int, progress: ProgressHandler? = nil) throws -> ALS {
        guard data.matrix.userCount == userCount, data.matrix.itemCount == itemCount else {
            throw ModelError(reason: "training continues on the data it began on: \(userCount) users and \(itemCount) items, got \(data.matrix.userCount) and \(data.matrix.itemCount)")
        }
        guard steps >= 0 else { throw ModelError(.invalidConfiguration, reason: "steps must be ≥ 0, got \(steps)") }
        var c = configuration
        c.iterations += steps
        return ALS.iterate(data.matrix, configuration: c, users: userFactors, items: itemFactors, history: history, steps: steps, progress: progress)
    }
}
