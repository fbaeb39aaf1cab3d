import TailorData
import TailorLinalg

/// Models that continue training from an earlier model of theirs on fresh data (fine-tuning),
/// instead of starting again from scratch.
public protocol FineTunable: TrainableRecommender {
    /// The hyperparameters the model was trained with: fine-tuning patches these.
    var configuration: Configuration { get }

    /// Continues training from `base` on the log rows `freshRows` of `data`.
    ///
    /// `data`'s ID maps begin with `base`'s users and items in `base`'s order (new ones follow),
    /// and its log holds `base`'s training interactions before the fresh rows (see
    /// ``FineTuning/merge(base:fresh:)``), so histories and "seen" items cover both.
    ///
    /// - Throws: ``ModelError`` for a configuration that changes the architecture, or no fresh rows.
    static func fineTune(from base: Self, data: TrainingData, freshRows: Range<Int>, configuration: Configuration,
                         progress: ProgressHandler?) throws -> Self
}

/// Preparing fine-tuning data.
public enum FineTuning {
    /// The base model's training interactions followed by `fresh`, over ID maps that begin with
    /// the base's users and items (in its order) and add the fresh ones after them.
    ///
    /// The base's rows carry no times in a model file; when `fresh` has times they get one
    /// second before the earliest fresh time, so every history reads old items first.
    ///
    /// - Returns: the merged log and the range of its rows that came from `fresh`.
    public static func merge(base: ModelBundle, fresh: Interactions) -> (log: Interactions, freshRows: Range<Int>) {
        var users = base.userIDs, items = base.itemIDs
        let seen = base.seen
        var u: [Int32] = [], i: [Int32] = [], v: [Float] = []
        u.reserveCapacity(seen.nonZeroCount + fresh.count)
        i.reserveCapacity(seen.nonZeroCount + fresh.count)
        v.reserveCapacity(seen.nonZeroCount + fresh.count)
        for row in 0..<seen.rows {
            for p in seen.range(ofRow: row) {
                u.append(Int32(row)); i.append(seen.columnIndices[p]); v.append(seen.values[p])
            }
        }
        let old = u.count
        let userMap = fresh.userIDs.ids.map { users.insert($0) }
        let itemMap = fresh.itemIDs.ids.map { items.insert($0) }
        for r in 0..<fresh.count {
            u.append(userMap[Int(fresh.users[r])]); i.append(itemMap[Int(fresh.items[r])]); v.append(fresh.values[r])
        }
        var times: [Int64]?
        if let t = fresh.timestamps {
            let before = (t.min() ?? 0) &- 1
            times = [Int64](repeating: before, count: old) + t
        }
        // The base's rows have no context in a model file; the fresh rows keep theirs.
        var context: ContextColumns?
        if let c = fresh.context {
            var merged = ContextColumns()
            for _ in 0..<old { merged.append([nil, nil, nil]) }
            for r in 0..<fresh.count { merged.append(ContextColumns.fields.indices.map { c.value(field: $0, row: r) }) }
            context = merged
        }
        let log = Interactions(users: u, items: i, values: v, timestamps: times, userIDs: users, itemIDs: items, context: context)
        return (log, old..<log.count)
    }
}
