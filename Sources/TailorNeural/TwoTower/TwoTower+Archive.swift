import TailorAutodiff
import TailorData
import TailorLinalg
import TailorModels

extension TwoTower {
    /// `user_factors`, `item_factors`, the encoded features (`user_codes`, `user_numbers`,
    /// `item_category_offsets`/`item_categories`, `item_tag_offsets`/`item_tags`,
    /// `item_numbers`, `item_vectors`) and every network weight as `net.NAME` (PyTorch names).
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        var out = NeuralArchive.tensors(users: userInputs, items: itemInputs, network: network.run { $0.stateDict() })
        out["user_factors"] = .init(userFactors)
        out["item_factors"] = .init(itemFactors)
        if let histories {
            out["user_history_offsets"] = .init(histories.offsets.map(Int64.init), shape: [histories.offsets.count])
            out["user_history"] = .init(histories.values, shape: [histories.values.count])
        }
        if let prior { out.merge(prior.archiveTensors(prefix: "cold_prior")) { a, _ in a } }
        return out
    }

    /// The configuration, the feature schema (encoders), the network's shapes, the training
    /// summary and the cold-user prior's segments.
    public func archiveConfiguration() throws -> JSONValue {
        var fields: [String: JSONValue] = ["configuration": try ConfigurationPatch.encode(configuration), "schema": try JSONValue(encoding: schema),
                                           "shapes": try JSONValue(encoding: shapes), "summary": try JSONValue(encoding: summary)]
        if let prior { fields["coldPrior"] = try prior.archiveSegments }
        return .object(fields)
    }

    /// Restores a model written by ``archiveTensors()``.
    public init(archiveTensors tensors: [String: SafeTensors.Tensor], configuration json: JSONValue) throws {
        let reader = NeuralArchive.Reader(tensors: tensors, model: "two-tower")
        let fail = reader.fail
        guard case .object(let fields) = json, let c = fields["configuration"], let s = fields["schema"], let sh = fields["shapes"] else {
            throw fail("lacks its configuration, schema or shapes")
        }
        var configuration = try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration")
        // Files written before the item bias existed have neither the key nor the tensor.
        if case .object(let keys) = c, keys["itemBias"] == nil, tensors["net.item_bias.weight"] == nil { configuration.itemBias = false }
        // Files from before the gapped histories were trained on every other item.
        if case .object(let keys) = c, keys["historyGap"] == nil { configuration.historyGap = nil }
        try Self.validate(configuration)
        let schema = try s.decode(FeatureSchema.self)
        let shapes = try sh.decode(TowerShapes.self)
        let summary = try fields["summary"]?.decode(TrainingSummary.self) ?? TrainingSummary()
        guard let users = tensors["user_factors"]?.matrix(), let items = tensors["item_factors"]?.matrix() else {
            throw fail("lacks user_factors or item_factors")
        }
        let width = configuration.dimension + (configuration.itemBias ? 1 : 0)
        guard users.rows == shapes.users, items.rows == shapes.items, users.columns == width, items.columns == width else {
            throw fail("has factors of \(users.rows)×\(users.columns) and \(items.rows)×\(items.columns), but its manifest says \(shapes.users) users, \(shapes.items) items and \(width) columns")
        }
        try ArchiveChecks.finite(users, name: "user_factors", model: "two-tower")
        try ArchiveChecks.finite(items, name: "item_factors", model: "two-tower")
        let userInputs = try reader.userInputs(rows: shapes.users, vocabularies: shapes.userVocabularies, numeric: shapes.userNumeric)
        let itemInputs = try reader.itemInputs(rows: shapes.items, numeric: shapes.itemNumeric, vectorLength: shapes.vectorLength ?? 0,
                                               categoryVocabulary: shapes.categoryVocabulary, tagVocabulary: shapes.tagVocabulary)
        // Training histories (files written before request context existed have none).
        var histories: RaggedRows?
        if let values = tensors["user_history"]?.int32s() {
            let offsets = try ArchiveChecks.pointers(tensors["user_history_offsets"]?.int64s(), count: values.count, name: "user_history_offsets", model: "two-tower")
            guard offsets.count == shapes.users + 1 else { throw fail("'user_history_offsets' has \(offsets.count - 1) rows for \(shapes.users) users") }
            try ArchiveChecks.indices(values, below: shapes.items, name: "user_history", model: "two-tower")
            histories = RaggedRows(offsets: offsets, values: values)
        }
        guard (shapes.contextVocabularies ?? []).count == schema.contextNames.count else {
            throw fail("has \(shapes.contextVocabularies?.count ?? 0) context tables for \(schema.contextNames.count) context features")
        }
        // Files written before the cold-user prior have none (their users get the tower alone).
        let prior = try fields["coldPrior"].map {
            try DemographicPopularity(archiveTensors: tensors, prefix: "cold_prior", segments: $0, items: shapes.items, model: "two-tower")
        }
        let network = TwoTowerNetwork(shapes: shapes, configuration: configuration)
        try reader.load(into: network)
        self.init(configuration: configuration, userFactors: users, itemFactors: items, schema: schema, summary: summary, shapes: shapes,
                  userInputs: userInputs, itemInputs: itemInputs, histories: histories, network: NetworkBox(network), prior: prior)
    }
}
