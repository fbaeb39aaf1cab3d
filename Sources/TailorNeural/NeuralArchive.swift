import TailorAutodiff
import TailorData
import TailorLinalg
import TailorModels
import TailorNN

/// The parts of a neural model file that two-tower and ranker files share: encoded user
/// attributes and item content, and the network's weights as `net.NAME`.
enum NeuralArchive {
    /// `user_codes`, `user_numbers`, `item_category_offsets`/`item_categories`,
    /// `item_tag_offsets`/`item_tags`, `item_numbers`, `item_vectors`, and `net.NAME` for every
    /// parameter and buffer of `network`.
    static func tensors(users: UserInputs, items: ItemInputs, network: [String: Tensor]) -> [String: SafeTensors.Tensor] {
        var out: [String: SafeTensors.Tensor] = [
            "user_codes": .init(users.codes, shape: [users.count, users.categorical]),
            "user_numbers": .init(users.numbers, shape: [users.count, users.numeric]),
            "item_category_offsets": .init(items.categories.offsets.map(Int64.init), shape: [items.categories.offsets.count]),
            "item_categories": .init(items.categories.values, shape: [items.categories.values.count]),
            "item_tag_offsets": .init(items.tags.offsets.map(Int64.init), shape: [items.tags.offsets.count]),
            "item_tags": .init(items.tags.values, shape: [items.tags.values.count]),
            "item_numbers": .init(items.numbers, shape: [items.count, items.numeric]),
            "item_vectors": .init(items.vectors, shape: [items.count, items.vectorLength]),
        ]
        for (name, t) in network { out["net." + name] = .init(t.storage, shape: t.shape) }
        return out
    }

    /// Reads and checks what ``tensors(users:items:network:)`` wrote.
    struct Reader {
        let tensors: [String: SafeTensors.Tensor]
        /// The model kind, for error messages.
        let model: String

        func fail(_ reason: String) -> ModelError {
            ModelError(.invalidModelFile, reason: "the \(model) model file \(reason)", hint: "the model directory is damaged; retrain the model")
        }

        /// Finite floats, exactly `count` of them.
        func floats(_ name: String, _ count: Int) throws -> [Float] {
            guard let v = tensors[name]?.floats(), v.count == count else { throw fail("'\(name)' is missing or does not have \(count) values") }
            guard v.allSatisfy(\.isFinite) else { throw fail("'\(name)' holds NaN or infinite values") }
            return v
        }

        /// `rows` users' attribute codes (each inside its vocabulary) and numbers.
        func userInputs(rows: Int, vocabularies: [Int], numeric: Int) throws -> UserInputs {
            let categorical = vocabularies.count
            guard let codes = tensors["user_codes"]?.int32s(), codes.count == rows * categorical else { throw fail("'user_codes' is missing or the wrong size") }
            for (n, code) in codes.enumerated() where code < 0 || Int(code) >= vocabularies[n % categorical] {
                throw fail("'user_codes' holds \(code), outside its vocabulary")
            }
            return UserInputs(count: rows, categorical: categorical, numeric: numeric, codes: codes, numbers: try floats("user_numbers", rows * numeric))
        }

        /// `rows` items' numbers, vectors (`vectorLength` each), categories and tags.
        func itemInputs(rows: Int, numeric: Int, vectorLength: Int, categoryVocabulary: Int?, tagVocabulary: Int?) throws -> ItemInputs {
            var items = ItemInputs(count: rows, numeric: numeric, vectorLength: vectorLength)
            items.numbers = try floats("item_numbers", rows * numeric)
            if vectorLength > 0 { items.vectors = try floats("item_vectors", rows * vectorLength) }
            func ragged(_ offsets: String, _ values: String, vocabulary: Int?) throws -> RaggedRows {
                guard let vocabulary else { return RaggedRows() }
                let v = tensors[values]?.int32s() ?? []
                let o = try ArchiveChecks.pointers(tensors[offsets]?.int64s(), count: v.count, name: offsets, model: model)
                guard o.count == rows + 1 else { throw fail("'\(offsets)' has \(o.count - 1) rows for \(rows) items") }
                try ArchiveChecks.indices(v, below: vocabulary, name: values, model: model)
                return RaggedRows(offsets: o, values: v)
            }
            items.categories = try ragged("item_category_offsets", "item_categories", vocabulary: categoryVocabulary)
            items.tags = try ragged("item_tag_offsets", "item_tags", vocabulary: tagVocabulary)
            return items
        }

        /// Loads the `net.NAME` tensors into `network` (finite, every name matching).
        func load(into network: Module) throws {
            var state: [String: Tensor] = [:]
            for (name, t) in tensors where name.hasPrefix("net.") {
                let values = t.floats()
                guard values.allSatisfy(\.isFinite) else { throw fail("'\(name)' holds NaN or infinite values") }
                state[String(name.dropFirst(4))] = Tensor(shape: t.shape, storage: values)
            }
            do { try network.load(stateDict: state) } catch { throw fail("does not match its network: \(error)") }
        }
    }
}
