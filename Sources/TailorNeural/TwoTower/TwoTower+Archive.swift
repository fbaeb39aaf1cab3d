import TailorAutodiff
import TailorData
import TailorLinalg
import TailorModels

extension TwoTower {
    /// `user_factors`, `item_factors`, the encoded features (`user_codes`, `user_numbers`,
    /// `item_category_offsets`/`item_categories`, `item_tag_offsets`/`item_tags`,
    /// `item_numbers`, `item_vectors`) and every network weight as `net.NAME` (PyTorch names).
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        var out: [String: SafeTensors.Tensor] = [
            "user_factors": .init(userFactors), "item_factors": .init(itemFactors),
            "user_codes": .init(userInputs.codes, shape: [userInputs.count, userInputs.categorical]),
            "user_numbers": .init(userInputs.numbers, shape: [userInputs.count, userInputs.numeric]),
            "item_category_offsets": .init(itemInputs.categories.offsets.map(Int64.init), shape: [itemInputs.categories.offsets.count]),
            "item_categories": .init(itemInputs.categories.values, shape: [itemInputs.categories.values.count]),
            "item_tag_offsets": .init(itemInputs.tags.offsets.map(Int64.init), shape: [itemInputs.tags.offsets.count]),
            "item_tags": .init(itemInputs.tags.values, shape: [itemInputs.tags.values.count]),
            "item_numbers": .init(itemInputs.numbers, shape: [itemInputs.count, itemInputs.numeric]),
            "item_vectors": .init(itemInputs.vectors, shape: [itemInputs.count, itemInputs.vectorLength]),
        ]
        for (name, t) in network.run({ $0.stateDict() }) { out["net." + name] = .init(t.storage, shape: t.shape) }
        return out
    }

    /// The configuration, the feature schema (encoders), the network's shapes and the training summary.
    public func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try ConfigurationPatch.encode(configuration), "schema": try JSONValue(encoding: schema),
                 "shapes": try JSONValue(encoding: shapes), "summary": try JSONValue(encoding: summary)])
    }

    /// Restores a model written by ``archiveTensors()``.
    public init(archiveTensors tensors: [String: SafeTensors.Tensor], configuration json: JSONValue) throws {
        func fail(_ reason: String) -> ModelError {
            ModelError(.invalidModelFile, reason: "the two-tower model file \(reason)", hint: "the model directory is damaged; retrain the model")
        }
        guard case .object(let fields) = json, let c = fields["configuration"], let s = fields["schema"], let sh = fields["shapes"] else {
            throw fail("lacks its configuration, schema or shapes")
        }
        var configuration = try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration")
        // Files written before the item bias existed have neither the key nor the tensor.
        if case .object(let keys) = c, keys["itemBias"] == nil, tensors["net.item_bias.weight"] == nil { configuration.itemBias = false }
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
        func floats(_ name: String, _ count: Int) throws -> [Float] {
            guard let v = tensors[name]?.floats(), v.count == count else { throw fail("'\(name)' is missing or does not have \(count) values") }
            guard v.allSatisfy(\.isFinite) else { throw fail("'\(name)' holds NaN or infinite values") }
            return v
        }
        let categorical = shapes.userVocabularies.count
        guard let codes = tensors["user_codes"]?.int32s(), codes.count == shapes.users * categorical else { throw fail("'user_codes' is missing or the wrong size") }
        for (n, code) in codes.enumerated() where code < 0 || Int(code) >= shapes.userVocabularies[n % categorical] {
            throw fail("'user_codes' holds \(code), outside its vocabulary")
        }
        let userInputs = UserInputs(count: shapes.users, categorical: categorical, numeric: shapes.userNumeric, codes: codes,
                                    numbers: try floats("user_numbers", shapes.users * shapes.userNumeric))
        var itemInputs = ItemInputs(count: shapes.items, numeric: shapes.itemNumeric, vectorLength: shapes.vectorLength ?? 0)
        itemInputs.numbers = try floats("item_numbers", shapes.items * shapes.itemNumeric)
        itemInputs.vectors = try floats("item_vectors", shapes.items * (shapes.vectorLength ?? 0))
        func ragged(_ offsets: String, _ values: String, vocabulary: Int?) throws -> RaggedRows {
            guard let vocabulary else { return RaggedRows() }
            let v = tensors[values]?.int32s() ?? []
            let o = try ArchiveChecks.pointers(tensors[offsets]?.int64s(), count: v.count, name: offsets, model: "two-tower")
            guard o.count == shapes.items + 1 else { throw fail("'\(offsets)' has \(o.count - 1) rows for \(shapes.items) items") }
            try ArchiveChecks.indices(v, below: vocabulary, name: values, model: "two-tower")
            return RaggedRows(offsets: o, values: v)
        }
        itemInputs.categories = try ragged("item_category_offsets", "item_categories", vocabulary: shapes.categoryVocabulary)
        itemInputs.tags = try ragged("item_tag_offsets", "item_tags", vocabulary: shapes.tagVocabulary)
        let network = TwoTowerNetwork(shapes: shapes, configuration: configuration)
        var state: [String: Tensor] = [:]
        for (name, t) in tensors where name.hasPrefix("net.") {
            let values = t.floats()
            guard values.allSatisfy(\.isFinite) else { throw fail("'\(name)' holds NaN or infinite values") }
            state[String(name.dropFirst(4))] = Tensor(shape: t.shape, storage: values)
        }
        do { try network.load(stateDict: state) } catch { throw fail("does not match its network: \(error)") }
        self.init(configuration: configuration, userFactors: users, itemFactors: items, schema: schema, summary: summary, shapes: shapes,
                  userInputs: userInputs, itemInputs: itemInputs, network: NetworkBox(network))
    }
}
