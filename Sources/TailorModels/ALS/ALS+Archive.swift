import TailorData
import TailorLinalg

extension ALS {
    /// `user_factors` and `item_factors`, float32, `[rows, factors]`.
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        ["user_factors": .init(userFactors), "item_factors": .init(itemFactors)]
    }

    /// The ``Configuration`` and the per-iteration history.
    public func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try ConfigurationPatch.encode(configuration), "history": try JSONValue(encoding: history)])
    }

    /// Restores a model written by ``archiveTensors()``.
    public init(archiveTensors tensors: [String: SafeTensors.Tensor], configuration: JSONValue) throws {
        guard let users = tensors["user_factors"]?.matrix(), let items = tensors["item_factors"]?.matrix() else {
            throw ModelError(reason: "the ALS model file lacks user_factors or item_factors")
        }
        guard users.columns == items.columns else {
            throw ModelError(reason: "user_factors has \(users.columns) columns but item_factors has \(items.columns)")
        }
        guard case .object(let fields) = configuration, let c = fields["configuration"] else {
            throw ModelError(reason: "the ALS manifest lacks its configuration")
        }
        let history = try fields["history"]?.decode([IterationRecord].self) ?? []
        let decoded = try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration")
        try ArchiveChecks.factorWidth(users.columns, configured: decoded.factors, model: "ALS")
        try ArchiveChecks.finite(users, name: "user_factors", model: "ALS")
        try ArchiveChecks.finite(items, name: "item_factors", model: "ALS")
        self.init(configuration: decoded, userFactors: users, itemFactors: items, history: history)
    }
}
