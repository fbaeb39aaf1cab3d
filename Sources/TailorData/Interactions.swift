import TailorLinalg

/// A log of user–item interactions in columnar form, with the maps back to external IDs.
///
/// Row `i` says user `users[i]` interacted with item `items[i]` with strength `values[i]`
/// (a rating, a count, or 1 for plain implicit feedback) at `timestamps?[i]` (Unix seconds,
/// UTC). This is what readers produce and what splits, models and evaluation consume.
public struct Interactions: Sendable, Equatable {
    /// User position of each row.
    public var users: [Int32]
    /// Item position of each row.
    public var items: [Int32]
    /// Strength of each row.
    public var values: [Float]
    /// Time of each row in Unix seconds, or `nil` when the log has no time column.
    public var timestamps: [Int64]?
    /// External user identifiers.
    public var userIDs: IDMap
    /// External item identifiers.
    public var itemIDs: IDMap
    /// Device, platform and country of each row (for a merged pair, its latest event's), or
    /// `nil` when the source has none (logs read from files; events without context).
    public var context: ContextColumns?

    /// Interactions from parallel columns; all columns must have the same length and positions
    /// must lie inside the ID maps.
    public init(users: [Int32], items: [Int32], values: [Float], timestamps: [Int64]? = nil,
                userIDs: IDMap, itemIDs: IDMap, context: ContextColumns? = nil) {
        precondition(users.count == items.count && items.count == values.count && (timestamps?.count ?? users.count) == users.count
                        && (context?.count ?? users.count) == users.count,
                     "Interactions columns differ in length")
        self.context = context
        self.users = users
        self.items = items
        self.values = values
        self.timestamps = timestamps
        self.userIDs = userIDs
        self.itemIDs = itemIDs
    }

    /// Number of rows.
    @inlinable public var count: Int { users.count }

    /// The rows at `positions`, in that order, with the same ID maps.
    public func selecting(_ positions: [Int]) -> Interactions {
        Interactions(users: positions.map { users[$0] }, items: positions.map { items[$0] },
                     values: positions.map { values[$0] }, timestamps: timestamps.map { t in positions.map { t[$0] } },
                     userIDs: userIDs, itemIDs: itemIDs, context: context?.selecting(positions))
    }

    /// The rows for which `keep(row)` is true, with the same ID maps.
    public func filter(_ keep: (Int) -> Bool) -> Interactions {
        selecting((0..<count).filter(keep))
    }

    /// Positions of the rows grouped by user (users in position order), each user's rows by
    /// time when timestamps exist, else in log order. O(n) plus the per-user time sorts.
    public func rowsByUser() -> (order: [Int], offsets: [Int]) {
        var order = CountingSort.permutation(keys: users, keyCount: userIDs.count)
        var offsets = [Int](repeating: 0, count: userIDs.count + 1)
        for u in users { offsets[Int(u) + 1] += 1 }
        for u in 0..<userIDs.count { offsets[u + 1] += offsets[u] }
        if let timestamps {
            for u in 0..<userIDs.count where offsets[u + 1] - offsets[u] > 1 {
                order[offsets[u]..<offsets[u + 1]].sort { (timestamps[$0], $0) < (timestamps[$1], $1) }
            }
        }
        return (order, offsets)
    }
}

extension Interactions {
    /// The same rows with users and items renumbered so that only those with at least one row
    /// remain in the ID maps (in their original order). O(n + users + items).
    public func compacted() -> Interactions {
        var userMap = [Int32](repeating: -1, count: userIDs.count), itemMap = [Int32](repeating: -1, count: itemIDs.count)
        for u in users { userMap[Int(u)] = 0 }
        for i in items { itemMap[Int(i)] = 0 }
        var newUsers = IDMap(), newItems = IDMap()
        for u in 0..<userIDs.count where userMap[u] == 0 { userMap[u] = newUsers.insert(userIDs[Int32(u)]) }
        for i in 0..<itemIDs.count where itemMap[i] == 0 { itemMap[i] = newItems.insert(itemIDs[Int32(i)]) }
        return Interactions(users: users.map { userMap[Int($0)] }, items: items.map { itemMap[Int($0)] }, values: values,
                            timestamps: timestamps, userIDs: newUsers, itemIDs: newItems, context: context)
    }
}

/// How rows with the same (user, item) pair are combined.
public enum DuplicateRule: String, Sendable, Codable, CaseIterable {
    /// Add the values (repeated plays or clicks add confidence; what scipy and implicit do when
    /// building a sparse matrix). The default.
    case sum
    /// Keep the value of the latest row (by timestamp, then file order): a re-rating replaces
    /// the old rating.
    case last
    /// Keep the largest value.
    case max
    /// Keep the value of the earliest row (by timestamp, then file order).
    case first
}

extension Interactions {
    /// Combines rows with the same (user, item) into one, by `rule`; the merged row keeps the
    /// latest timestamp. Rows come out ordered by user, then item. O(n + users + items).
    ///
    /// - Returns: the merged interactions and how many rows were folded into others.
    public func mergingDuplicates(_ rule: DuplicateRule = .sum) -> (Interactions, merged: Int) {
        let byItem = CountingSort.permutation(keys: items, keyCount: itemIDs.count)
        let order = CountingSort.permutation(keys: users, keyCount: userIDs.count, order: byItem)
        var outUsers = [Int32](), outItems = [Int32](), outValues = [Float](), outTimes = [Int64]()
        outUsers.reserveCapacity(count); outItems.reserveCapacity(count); outValues.reserveCapacity(count)
        if timestamps != nil { outTimes.reserveCapacity(count) }
        var merged = 0
        // Time and file position of the row that currently decides the value (for first/last).
        var decidingTime = Int64.min, decidingRow = 0
        // The latest row of each merged pair, whose context the pair keeps.
        var latestRows: [Int] = []
        for p in order {
            let t = timestamps?[p] ?? 0
            if let lastU = outUsers.last, lastU == users[p], outItems.last == items[p] {
                merged += 1
                let i = outValues.count - 1
                switch rule {
                case .sum: outValues[i] += values[p]
                case .max: outValues[i] = Swift.max(outValues[i], values[p])
                case .last:
                    if (t, p) > (decidingTime, decidingRow) { outValues[i] = values[p]; decidingTime = t; decidingRow = p }
                case .first:
                    if (t, p) < (decidingTime, decidingRow) { outValues[i] = values[p]; decidingTime = t; decidingRow = p }
                }
                if timestamps != nil { outTimes[i] = Swift.max(outTimes[i], t) }
                let l = latestRows[i]
                if (t, p) > (timestamps?[l] ?? 0, l) { latestRows[i] = p }
            } else {
                latestRows.append(p)
                outUsers.append(users[p]); outItems.append(items[p]); outValues.append(values[p])
                if timestamps != nil { outTimes.append(t) }
                decidingTime = t; decidingRow = p
            }
        }
        let result = Interactions(users: outUsers, items: outItems, values: outValues,
                                  timestamps: timestamps == nil ? nil : outTimes, userIDs: userIDs, itemIDs: itemIDs,
                                  context: context?.selecting(latestRows))
        return (result, merged)
    }
}
