/// What a model recorded of its training, step by step (for charts and reports): the training
/// loss and, for models that validate while training, the validation metric.
public struct TrainingCurve: Sendable, Equatable {
    /// What a step is: `iteration` or `epoch`.
    public var unit: String
    /// Training loss by step (index 0 is step 1); nil where it was not computed.
    public var losses: [Double?]
    /// Validation metric by step (empty when the model did not validate).
    public var validation: [Double]
    /// What the validation metric is (e.g. "NDCG@10 of each validation user's latest item").
    public var validationMetric: String
    /// The step whose weights were kept (early stopping), if any.
    public var bestStep: Int?

    public init(unit: String, losses: [Double?], validation: [Double] = [], validationMetric: String = "", bestStep: Int? = nil) {
        self.unit = unit
        self.losses = losses
        self.validation = validation
        self.validationMetric = validationMetric
        self.bestStep = bestStep
    }

    /// The kept step's validation metric (the last one without early stopping).
    public var bestValidation: Double? {
        if let bestStep, bestStep >= 1, bestStep <= validation.count { return validation[bestStep - 1] }
        return validation.last
    }
}

/// A model that keeps its training curve in its file (ALS and the neural models).
public protocol RecordsTraining {
    var trainingCurve: TrainingCurve { get }
}

extension ALS: RecordsTraining {
    public var trainingCurve: TrainingCurve {
        var losses = [Double?](repeating: nil, count: history.map(\.iteration).max() ?? 0)
        for r in history where r.iteration >= 1 { losses[r.iteration - 1] = r.loss }
        return TrainingCurve(unit: "iteration", losses: losses)
    }
}
