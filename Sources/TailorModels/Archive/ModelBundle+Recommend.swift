import TailorData
import TailorLinalg

/// What to do with a user the model has never seen.
public enum UnknownUserPolicy: String, Sendable, Codable, CaseIterable {
    /// Throw a ``ModelError`` naming the user (the default: silent fallbacks hide data problems).
    case error
    /// Recommend the most popular training items.
    case popular
    /// Leave the user out of the results.
    case skip
}

/// Recommendations for one user.
public struct UserRecommendations: Sendable, Equatable {
    /// The user's external identifier.
    public var user: String
    /// Recommended items, best first.
    public var items: [(item: String, score: Float)]
    /// Whether these came from the popularity fallback (unknown user).
    public var isFallback: Bool

    /// Recommendations for `user`.
    public init(user: String, items: [(item: String, score: Float)], isFallback: Bool) {
        self.user = user
        self.items = items
        self.isFallback = isFallback
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.user == b.user && a.isFallback == b.isFallback && a.items.map(\.item) == b.items.map(\.item)
            && a.items.map(\.score) == b.items.map(\.score)
    }
}

extension ModelBundle {
    /// The top `k` items for each user, best first.
    ///
    /// - Parameters:
    ///   - userIDs: external user identifiers.
    ///   - excludeSeen: leave out items the user interacted with in training (default).
    ///   - unknownUsers: what to do with users absent from training (default: throw).
    /// - Throws: ``ModelError`` for an unknown user under ``UnknownUserPolicy/error``.
    public func recommend(userIDs ids: [String], k: Int, excludeSeen: Bool = true,
                          unknownUsers: UnknownUserPolicy = .error, threads: Int = 0) throws -> [UserRecommendations] {
        let k = clampedK(k)
        var known: [Int32] = [], knownSlots: [Int] = []
        var slots = [UserRecommendations?](repeating: nil, count: ids.count)
        for (slot, id) in ids.enumerated() {
            if let p = userIDs.position(of: id) {
                known.append(p); knownSlots.append(slot)
                continue
            }
            switch unknownUsers {
            case .error:
                throw ModelError(.unknownUser, reason: "unknown user '\(id)': the model was trained on \(userIDs.count) users and this is not one of them",
                                 hint: "use --unknown-users popular to recommend popular items instead, or --unknown-users skip")
            case .popular:
                let top = popularity.recommend(users: [-1], k: k, exclude: nil, threads: 1)
                slots[slot] = UserRecommendations(user: id, items: top.row(0).map { (itemIDs[$0.index], $0.score) }, isFallback: true)
            case .skip:
                continue
            }
        }
        let result = recommend(positions: known, k: k, excludeSeen: excludeSeen, threads: threads)
        for (q, slot) in knownSlots.enumerated() {
            slots[slot] = UserRecommendations(user: ids[slot], items: result.row(q).map { (itemIDs[$0.index], $0.score) }, isFallback: false)
        }
        return slots.compactMap { $0 }
    }

    /// Top-`k` for users given by position (all users: `0..<userIDs.count`). The low-level form
    /// used for bulk output.
    public func recommend(positions: [Int32], k: Int, excludeSeen: Bool = true, threads: Int = 0) -> TopKResult {
        model.recommend(users: positions, k: clampedK(k), exclude: excludeSeen ? seen : nil, threads: threads)
    }

    /// `k` limited to the catalogue: no user can get more items than there are, so a request for
    /// more (a typo, `--k 1000000000`) must not allocate room for them.
    func clampedK(_ k: Int) -> Int { Swift.max(0, Swift.min(k, itemIDs.count)) }

    /// The `k` items most similar to `itemID` by cosine of the model's item vectors.
    ///
    /// - Throws: ``ModelError`` for an unknown item, or a model without item vectors.
    public func similarItems(to itemID: String, k: Int) throws -> [(item: String, score: Float)] {
        guard let similarity = model as? any ItemSimilarity else {
            throw ModelError(.unsupported, reason: "the \(manifest.kind) model has no item vectors, so it cannot find similar items",
                             hint: "train a model with item vectors or similarities, such as --model als or itemknn")
        }
        guard let p = itemIDs.position(of: itemID) else {
            throw ModelError(.unknownItem, reason: "unknown item '\(itemID)': it does not appear in the training data",
                             hint: "item ids are as in the training log (e.g. the movieId column)")
        }
        return similarity.similarItems(to: [p], k: clampedK(k), threads: 0).row(0).map { (itemIDs[$0.index], $0.score) }
    }
}

extension ModelBundle {
    /// Recommendations for the users of `events` from those events plus their training events
    /// (for users the model knows), without retraining: fold-in. Items the model does not know
    /// are ignored. Users come out in the order they first appear in `events`.
    ///
    /// - Throws: ``ModelError`` if the model cannot score histories.
    public func recommend(histories events: Interactions, k: Int, excludeSeen: Bool = true, threads: Int = 0) throws -> [UserRecommendations] {
        guard let scorer = model as? any HistoryScoring else {
            throw ModelError(.unsupported, reason: "the \(manifest.kind) model cannot fold in new histories")
        }
        let k = clampedK(k)
        let itemMap = events.itemIDs.ids.map { itemIDs.position(of: $0) }
        // New events get the confidence transform the training values got (BM25 needs the
        // whole matrix, so under it new strengths go in as they are).
        let transform = manifest.data.recipe?.confidence
        let (order, offsets) = events.rowsByUser()
        var results: [UserRecommendations] = []
        for u in 0..<events.userIDs.count {
            var items: [Int32] = [], values: [Float] = [], times: [Int64]? = events.timestamps == nil ? nil : []
            let external = events.userIDs[Int32(u)]
            if let known = userIDs.position(of: external) {
                for p in seen.range(ofRow: Int(known)) {
                    items.append(seen.columnIndices[p]); values.append(seen.values[p]); times?.append(Int64.min)
                }
            }
            for row in order[offsets[u]..<offsets[u + 1]] {
                guard let item = itemMap[Int(events.items[row])] else { continue }
                let raw = events.values[row]
                items.append(item); values.append(transform?.transform(value: raw) ?? raw); times?.append(events.timestamps![row])
            }
            // Training rows have no times here; give them the earliest new time.
            if var t = times, let earliest = t.filter({ $0 != Int64.min }).min() {
                for i in t.indices where t[i] == Int64.min { t[i] = earliest }
                times = t
            } else { times = nil }
            let top = scorer.recommend(history: UserHistory(items: items, values: values, times: times), k: k, includeHistory: !excludeSeen)
            results.append(UserRecommendations(user: external, items: top.map { (itemIDs[$0.index], $0.score) }, isFallback: false))
        }
        return results
    }
}
