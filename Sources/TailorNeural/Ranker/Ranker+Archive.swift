import TailorAutodiff
import TailorData
import TailorLinalg
import TailorModels

extension Ranker {
    /// The network (`net.NAME`, PyTorch names) and its tables: `user_codes`, `user_numbers`,
    /// `item_category_offsets`/`item_categories`, `item_tag_offsets`/`item_tags`,
    /// `item_numbers`, `item_published`, `click_rate`, the event times behind the counts
    /// (`user_activity`, `item_popularity`, `item_shown`, `item_clicked`: `_offsets` and
    /// sorted `_times` per row), and the retrieval
    /// vectors `retrieval_users`/`retrieval_items` with `retrieval_user_known`/`retrieval_item_known`.
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        let t = tables, users = t.userIDs.count + 1, items = t.itemIDs.count + 1, d = t.retrievalWidth
        var out = NeuralArchive.tensors(users: t.userInputs, items: t.itemInputs, network: network.run { $0.stateDict() })
        out["item_published"] = .init(t.published, shape: [items])
        out["click_rate"] = .init([t.clickRate], shape: [1])
        out["retrieval_users"] = .init(t.userVectors, shape: [users, d])
        out["retrieval_items"] = .init(t.itemVectors, shape: [items, d])
        out["retrieval_user_known"] = .init(t.userKnown.map { $0 ? Float(1) : 0 }, shape: [users])
        out["retrieval_item_known"] = .init(t.itemKnown.map { $0 ? Float(1) : 0 }, shape: [items])
        for (name, counts) in [("user_activity", t.userActivity), ("item_popularity", t.itemPopularity), ("item_shown", t.itemShown),
                               ("item_clicked", t.itemClicked)] {
            out[name + "_offsets"] = .init(counts.offsets.map(Int64.init), shape: [counts.offsets.count])
            out[name + "_times"] = .init(counts.times, shape: [counts.times.count])
        }
        return out
    }

    /// The configuration, schema, shapes, standardizer, summary, serving time, and the ids of its
    /// rows: the training interactions' users and items, then those seen only in impressions
    /// (the ranker matches impressions by id, so it keeps them itself).
    public func archiveConfiguration() throws -> JSONValue {
        .object([
            "configuration": try ConfigurationPatch.encode(configuration), "schema": try JSONValue(encoding: schema),
            "shapes": try JSONValue(encoding: shapes), "standardizer": try JSONValue(encoding: standardizer),
            "summary": try JSONValue(encoding: summary), "servingTime": .number(Double(servingTime)),
            "users": .number(Double(userCount)), "items": .number(Double(itemCount)),
            "rowUsers": .array(tables.userIDs.ids.map { .string($0) }),
            "rowItems": .array(tables.itemIDs.ids.map { .string($0) }),
        ])
    }

    /// Restores a ranker written by ``archiveTensors()`` and ``archiveConfiguration()``.
    public init(archiveTensors tensors: [String: SafeTensors.Tensor], configuration json: JSONValue) throws {
        let reader = NeuralArchive.Reader(tensors: tensors, model: "ranker")
        let fail = reader.fail
        guard case .object(let f) = json, let c = f["configuration"], let sc = f["schema"], let sh = f["shapes"], let st = f["standardizer"],
              case .number(let users)? = f["users"], case .number(let items)? = f["items"], case .array(let rowUsers)? = f["rowUsers"],
              case .array(let rowItems)? = f["rowItems"], case .number(let time)? = f["servingTime"] else {
            throw fail("lacks its configuration, schema, shapes, standardizer or id lists")
        }
        let configuration = try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration")
        try Self.validate(configuration)
        let schema = try sc.decode(FeatureSchema.self), shapes = try sh.decode(RankerShapes.self), standardizer = try st.decode(Standardizer.self)
        let summary = try f["summary"]?.decode(TrainingSummary.self) ?? TrainingSummary()
        // Counts and times from JSON numbers: refuse what would not convert (a crafted file must not trap).
        guard [users, items].allSatisfy({ $0 >= 0 && $0 < 1e12 && $0 == $0.rounded() }), abs(time) < 1e15 else {
            throw fail("has user or item counts or a serving time that are not whole numbers in range")
        }
        let userCount = Int(users), itemCount = Int(items)
        guard userCount >= 0, itemCount >= 0, rowUsers.count >= userCount, rowItems.count >= itemCount,
              shapes.users == rowUsers.count + 1, shapes.items == rowItems.count + 1 else {
            throw fail("has \(shapes.users) user rows and \(shapes.items) item rows for \(rowUsers.count) users and \(rowItems.count) items")
        }
        guard standardizer.mean.count == shapes.dense, standardizer.scale.count == shapes.dense else { throw fail("has a standardizer of the wrong width") }
        let u = shapes.users, i = shapes.items
        let floats = reader.floats
        let userInputs = try reader.userInputs(rows: u, vocabularies: shapes.userVocabularies, numeric: shapes.userNumeric)
        let itemInputs = try reader.itemInputs(rows: i, numeric: shapes.itemNumeric, vectorLength: 0,
                                               categoryVocabulary: shapes.categoryVocabulary, tagVocabulary: shapes.tagVocabulary)
        guard let published = tensors["item_published"]?.int64s(), published.count == i else { throw fail("'item_published' is missing or the wrong size") }
        let retrievalItems = tensors["retrieval_items"]
        let d = retrievalItems?.shape.count == 2 ? retrievalItems!.shape[1] : 0
        guard shapes.dense == denseFeatureCount(retrievalWidth: d) else { throw fail("has retrieval vectors of width \(d), which do not fit its \(shapes.dense) dense features") }
        func ids(_ list: [JSONValue], _ what: String) throws -> IDMap {
            var map = IDMap()
            for e in list {
                guard case .string(let id) = e, map.position(of: id) == nil else { throw fail("lists a bad or repeated \(what) id") }
                _ = map.insert(id)
            }
            return map
        }
        let userIDs = try ids(rowUsers, "user"), itemIDs = try ids(rowItems, "item")
        func times(_ name: String, _ rows: Int) throws -> TimeCounts {
            let values = tensors[name + "_times"]?.int64s() ?? []
            let offsets = try ArchiveChecks.pointers(tensors[name + "_offsets"]?.int64s(), count: values.count, name: name + "_offsets", model: "ranker")
            guard offsets.count == rows + 1 else { throw fail("'\(name)_offsets' has \(offsets.count - 1) rows for \(rows)") }
            for r in 0..<rows where offsets[r] < offsets[r + 1] {
                guard zip(values[offsets[r]..<(offsets[r + 1] - 1)], values[(offsets[r] + 1)..<offsets[r + 1]]).allSatisfy({ $0 <= $1 }) else {
                    throw fail("'\(name)_times' are not sorted within a row")
                }
            }
            return TimeCounts(offsets: offsets, times: values)
        }
        let tables = RankerTables(userIDs: userIDs, itemIDs: itemIDs, userInputs: userInputs, itemInputs: itemInputs,
                                  userActivity: try times("user_activity", u), itemPopularity: try times("item_popularity", i),
                                  itemShown: try times("item_shown", i), itemClicked: try times("item_clicked", i),
                                  clickRate: try floats("click_rate", 1)[0], published: published,
                                  retrievalWidth: d, userVectors: try floats("retrieval_users", u * d), itemVectors: try floats("retrieval_items", i * d),
                                  userKnown: try floats("retrieval_user_known", u).map { $0 > 0 }, itemKnown: try floats("retrieval_item_known", i).map { $0 > 0 })
        let network = RankerNetwork(shapes: shapes, configuration: configuration)
        try reader.load(into: network)
        self.init(configuration: configuration, summary: summary, userCount: userCount, itemCount: itemCount, schema: schema, tables: tables,
                  standardizer: standardizer, shapes: shapes, servingTime: Int64(time), network: NetworkBox(network))
    }
}
