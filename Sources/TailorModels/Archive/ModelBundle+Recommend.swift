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
    /// Where a user's recommendations came from.
    public enum Basis: String, Sendable, Codable {
        /// The model's trained vector or history for a user it knows (or fold-in of new events).
        case model
        /// A vector computed from the user's attributes (and events, if any) by a cold-start
        /// model, for a user it was never trained on.
        case profile
        /// The popularity fallback for an unknown user.
        case popular
    }

    /// The user's external identifier.
    public var user: String
    /// Recommended items, best first.
    public var items: [(item: String, score: Float)]
    /// Where they came from.
    public var basis: Basis
    /// Whether these came from the popularity fallback (unknown user).
    public var isFallback: Bool { basis == .popular }

    /// Recommendations for `user`.
    public init(user: String, items: [(item: String, score: Float)], basis: Basis) {
        self.user = user
        self.items = items
        self.basis = basis
    }

    /// Recommendations for `user`, from the model or the popularity fallback.
    public init(user: String, items: [(item: String, score: Float)], isFallback: Bool) {
        self.init(user: user, items: items, basis: isFallback ? .popular : .model)
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.user == b.user && a.basis == b.basis && a.items.map(\.item) == b.items.map(\.item)
            && a.items.map(\.score) == b.items.map(\.score)
    }
}

/// The items a ranking may return (a business filter, or a retrieval stage's shortlist): the
/// positions the model knows, and the identifiers it does not.
public struct CandidateItems: Sendable, Equatable {
    /// Item positions, sorted and distinct.
    public let positions: [Int32]
    /// Listed identifiers the model does not know (ignored, reported).
    public let unknownIDs: [String]

    /// Candidates from positions (sorted and deduplicated here).
    public init(positions: [Int32], unknownIDs: [String] = []) {
        self.positions = Array(Set(positions)).sorted()
        self.unknownIDs = unknownIDs
    }
}

extension ModelBundle {
    /// The candidate set for external item identifiers.
    ///
    /// - Throws: ``ModelError`` `.unknownItem` when the model knows none of them.
    public func candidates(_ ids: [String]) throws -> CandidateItems {
        var positions: [Int32] = [], unknown: [String] = []
        for id in ids {
            if let p = itemIDs.position(of: id) { positions.append(p) } else { unknown.append(id) }
        }
        guard !positions.isEmpty else {
            throw ModelError(.unknownItem, reason: ids.isEmpty ? "the candidate list is empty"
                                : "none of the \(ids.count) candidate items is known to the model (the first is '\(ids[0])')",
                             hint: "candidates are item ids as in the training log, one per line or in an item column")
        }
        return CandidateItems(positions: positions, unknownIDs: unknown)
    }

    /// The top `k` items for each user, best first.
    ///
    /// - Parameters:
    ///   - userIDs: external user identifiers.
    ///   - excludeSeen: leave out items the user interacted with in training (default).
    ///   - unknownUsers: what to do with users absent from training (default: throw).
    ///   - profiles: attributes of users the model never saw, by identifier: a cold-start model
    ///     (``ColdStartScoring``, such as two-tower) computes their vectors from them; such users
    ///     are not subject to `unknownUsers`. Known users keep their trained vectors.
    ///   - candidates: restrict the ranking to these items (`nil`: every item).
    ///   - context: the request's context (`device`, `platform`, `country`, `hour`, `weekday`,
    ///     `time`) for a model trained with context features: every user's vector is computed
    ///     in it (empty: the trained vectors).
    /// - Throws: ``ModelError`` for an unknown user under ``UnknownUserPolicy/error``, profiles
    ///   or a context given to a model that cannot use them, or a context that does not parse.
    public func recommend(userIDs ids: [String], k: Int, excludeSeen: Bool = true,
                          unknownUsers: UnknownUserPolicy = .error, profiles: [String: UserProfile] = [:],
                          candidates: CandidateItems? = nil, context: [String: String] = [:], threads: Int = 0) throws -> [UserRecommendations] {
        let k = clampedK(k)
        let cold = try coldStartModel(needed: !profiles.isEmpty, context: context)
        var known: [Int32] = [], knownSlots: [Int] = []
        var newProfiles: [UserProfile] = [], newSlots: [Int] = []
        var slots = [UserRecommendations?](repeating: nil, count: ids.count)
        for (slot, id) in ids.enumerated() {
            if let p = userIDs.position(of: id) {
                known.append(p); knownSlots.append(slot)
                continue
            }
            if let profile = profiles[id], cold != nil {
                newProfiles.append(profile); newSlots.append(slot)
                continue
            }
            switch unknownUsers {
            case .error:
                throw ModelError(.unknownUser, reason: "unknown user '\(id)': the model was trained on \(userIDs.count) users and this is not one of them",
                                 hint: cold == nil ? "use --unknown-users popular to recommend popular items instead, or --unknown-users skip"
                                     : "give the user's attributes (--user-features FILE), or use --unknown-users popular or skip")
            case .popular:
                let top = popularTop(k: k, candidates: candidates)
                slots[slot] = UserRecommendations(user: id, items: top.map { (itemIDs[$0.index], $0.score) }, basis: .popular)
            case .skip:
                continue
            }
        }
        let result: TopKResult
        if let cold, !context.isEmpty {
            let vectors = try cold.userVectors(users: known.map { $0 }, profiles: known.map { _ in nil }, histories: known.map { _ in nil }, context: context)
            let seen = self.seen, users = known
            result = rank(queries: vectors, items: cold.itemFactors, k: k,
                          exclude: excludeSeen ? { @Sendable q in seen.columns(inRow: Int(users[q])) } : nil, candidates: candidates, threads: threads)
        } else {
            result = recommend(positions: known, k: k, excludeSeen: excludeSeen, candidates: candidates, threads: threads)
        }
        for (q, slot) in knownSlots.enumerated() {
            slots[slot] = UserRecommendations(user: ids[slot], items: result.row(q).map { (itemIDs[$0.index], $0.score) }, basis: .model)
        }
        if let cold, !newProfiles.isEmpty {
            let vectors = try cold.userVectors(users: newProfiles.map { _ in nil }, profiles: newProfiles, histories: newProfiles.map { _ in [] }, context: context)
            let top = rankCold(cold, queries: vectors, priors: newProfiles.map { ($0, 0) }, k: k, exclude: nil, candidates: candidates, threads: threads)
            for (q, slot) in newSlots.enumerated() {
                slots[slot] = UserRecommendations(user: ids[slot], items: top.row(q).map { (itemIDs[$0.index], $0.score) }, basis: .profile)
            }
        }
        return slots.compactMap { $0 }
    }

    /// Top-`k` for users given by position (all users: `0..<userIDs.count`), optionally among
    /// `candidates` only. The low-level form used for bulk output.
    public func recommend(positions: [Int32], k: Int, excludeSeen: Bool = true, candidates: CandidateItems? = nil,
                          threads: Int = 0) -> TopKResult {
        let k = clampedK(k)
        guard let candidates else {
            return model.recommend(users: positions, k: k, exclude: excludeSeen ? seen : nil, threads: threads)
        }
        let seen = self.seen
        var exclude: (@Sendable (Int) -> ArraySlice<Int32>)?
        if excludeSeen { exclude = { @Sendable q in seen.columns(inRow: Int(positions[q])) } }
        if let factors = model as? any FactorModel {
            return rank(queries: gatherRows(factors.userFactors, positions), items: factors.itemFactors, k: k,
                        exclude: exclude, candidates: candidates, threads: threads)
        }
        // Any other model: score blocks of users over the whole catalogue, keep the candidates.
        var result = TopKResult(queries: positions.count, k: k)
        let n = model.itemCount, block = 64
        var buffer = [Float](repeating: 0, count: block * n)
        for start in stride(from: 0, to: positions.count, by: block) {
            let batch = Array(positions[start..<min(positions.count, start + block)])
            buffer.withUnsafeMutableBufferPointer { b in
                model.scores(users: batch, into: UnsafeMutableBufferPointer(rebasing: b[0..<(batch.count * n)]), threads: threads)
                for r in batch.indices {
                    let top = Self.topK(b.baseAddress! + r * n, count: n, k: k, banned: exclude?(start + r) ?? ArraySlice<Int32>(), candidates: candidates)
                    result.set(row: start + r, top)
                }
            }
        }
        return result
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

    /// The `k` trained items most similar to a new item known by its content (its text vector
    /// or catalogue features), for models that read content (``ContentSimilarity``).
    ///
    /// - Throws: ``ModelError`` for a model that cannot compare content.
    public func similarItems(toContent item: CatalogItem, k: Int) throws -> [(item: String, score: Float)] {
        guard let content = model as? any ContentSimilarity else {
            throw ModelError(.unknownItem, reason: "unknown item '\(item.id)': it does not appear in the training data, and the \(manifest.kind) model cannot compare content",
                             hint: "train --model content (with --item-vectors) to find items similar to new ones")
        }
        return content.similarItems(toContent: [item], k: clampedK(k), threads: 0).row(0).map { (itemIDs[$0.index], $0.score) }
    }

    /// The model as a cold-start model; throws if `needed` (or a `context` is given) and it is
    /// not one, or a context is given to one trained without context features.
    func coldStartModel(needed: Bool, context: [String: String] = [:]) throws -> (any ColdStartScoring)? {
        let cold = model as? any ColdStartScoring
        if needed && cold == nil {
            throw ModelError(.unsupported, reason: "the \(manifest.kind) model cannot use user attributes: it has no user tower",
                             hint: "train a model that reads them, such as --model two-tower from a store or recipe with user profiles")
        }
        if !context.isEmpty && (cold?.contextFeatures ?? []).isEmpty {
            throw ModelError(.unsupported, reason: "the \(manifest.kind) model was trained without context features, so a request context cannot change its recommendations",
                             hint: "train --model two-tower with --set 'context=[\"device\",\"hour\"]' (features: device, platform, country, hour, weekday), or leave out --context")
        }
        return cold
    }

    /// The most popular items (among `candidates`).
    func popularTop(k: Int, candidates: CandidateItems?) -> [(index: Int32, score: Float)] {
        guard let candidates else { return popularity.recommend(users: [-1], k: k, exclude: nil, threads: 1).row(0) }
        var scores = popularity.itemScores
        return scores.withUnsafeMutableBufferPointer { Self.topK($0.baseAddress!, count: $0.count, k: k, banned: [Int32](), candidates: candidates) }
    }

    /// Top-`k` inner products of `queries` with `items` (`exclude(q)`: sorted positions query `q`
    /// must not get), restricted to `candidates` by ranking only their rows (a few hundred candidates cost a few hundred dot products per user).
    public func rank(queries: Matrix, items: Matrix, k: Int, exclude: (@Sendable (Int) -> ArraySlice<Int32>)?,
                     candidates: CandidateItems?, threads: Int) -> TopKResult {
        guard let candidates else {
            return Kernels.topKInnerProducts(queries: queries, items: items, k: k, exclude: exclude, threads: threads)
        }
        let positions = candidates.positions
        var slot = [Int32](repeating: -1, count: items.rows)
        for (s, p) in positions.enumerated() { slot[Int(p)] = Int32(s) }
        let slots = slot
        // Positions are sorted, so mapped exclusions stay sorted.
        var mapped: (@Sendable (Int) -> ArraySlice<Int32>)?
        if let exclude {
            mapped = { @Sendable q -> ArraySlice<Int32> in
                var out: [Int32] = []
                for i in exclude(q) where Int(i) < slots.count && slots[Int(i)] >= 0 { out.append(slots[Int(i)]) }
                return out[...]
            }
        }
        var top = Kernels.topKInnerProducts(queries: queries, items: gatherRows(items, positions), k: k, exclude: mapped, threads: threads)
        for q in 0..<top.queries {
            for j in 0..<top.counts[q] { top.indices[q * top.k + j] = positions[Int(top.indices[q * top.k + j])] }
        }
        return top
    }

    /// ``rank(queries:items:k:exclude:candidates:threads:)`` for a cold-start model's user vectors,
    /// with the model's prior (``ColdStartScoring/addColdPrior(profile:historyLength:to:)``)
    /// added for the users it does not know: `priors[q]` is such a user's profile and history
    /// length, `nil` for a known user.
    func rankCold(_ cold: any ColdStartScoring, queries: Matrix, priors: [(profile: UserProfile?, events: Int)?], k: Int,
                  exclude: (@Sendable (Int) -> ArraySlice<Int32>)?, candidates: CandidateItems?, threads: Int) -> TopKResult {
        var result = rank(queries: queries, items: cold.itemFactors, k: k, exclude: exclude, candidates: candidates, threads: threads)
        guard cold.hasColdPrior else { return result }
        let n = cold.itemFactors.rows, d = cold.itemFactors.columns
        var row = [Float](repeating: 0, count: n)
        for q in 0..<queries.rows {
            guard let prior = priors[q] else { continue }
            let top = row.withUnsafeMutableBufferPointer { scores in
                queries.withUnsafeBufferPointer { u in
                    cold.itemFactors.withUnsafeBufferPointer { v in
                        Kernels.gemm(transposeB: true, m: 1, n: n, k: d, a: u.baseAddress! + q * d, lda: d, b: v.baseAddress!, ldb: d,
                                     c: scores.baseAddress!, ldc: n, threads: 1)
                    }
                }
                _ = cold.addColdPrior(profile: prior.profile, historyLength: prior.events, to: scores)
                return Self.topK(scores.baseAddress!, count: n, k: result.k, banned: exclude?(q) ?? [], candidates: candidates)
            }
            result.set(row: q, top)
        }
        return result
    }

    /// The best `k` of a full score row, never an item in `banned`, only `candidates` if given.
    /// Overwrites banned entries of `row` with −∞.
    static func topK(_ row: UnsafeMutablePointer<Float>, count n: Int, k: Int, banned: some Sequence<Int32>,
                     candidates: CandidateItems?) -> [(index: Int32, score: Float)] {
        for i in banned { row[Int(i)] = -.infinity }
        var idx = [Int32](repeating: 0, count: k), sc = [Float](repeating: 0, count: k)
        guard let candidates else {
            let found = Kernels.topK(row, count: n, k: k, outIndices: &idx, outScores: &sc)
            return (0..<found).map { (idx[$0], sc[$0]) }
        }
        var picked = candidates.positions.map { row[Int($0)] }
        let found = Kernels.topK(&picked, count: picked.count, k: k, outIndices: &idx, outScores: &sc)
        return (0..<found).map { (candidates.positions[Int(idx[$0])], sc[$0]) }
    }
}

extension TopKResult {
    /// Writes one query's results (at most `k`).
    mutating func set(row q: Int, _ entries: [(index: Int32, score: Float)]) {
        let n = Swift.min(entries.count, k)
        for j in 0..<n { indices[q * k + j] = entries[j].index; scores[q * k + j] = entries[j].score }
        counts[q] = n
    }
}

extension ModelBundle {
    /// Each user of `events` with their history: training interactions (for users the model
    /// knows) followed by the new events, values transformed as in training; items the model
    /// does not know are left out.
    func mergedHistories(_ events: Interactions) -> (histories: [UserHistory], known: [Int32?], order: [Int], offsets: [Int], itemMap: [Int32?]) {
        let itemMap = events.itemIDs.ids.map { itemIDs.position(of: $0) }
        // New events get the confidence transform the training values got (BM25 needs the
        // whole matrix, so under it new strengths go in as they are).
        let transform = manifest.data.recipe?.confidence
        let (order, offsets) = events.rowsByUser()
        var histories: [UserHistory] = [], known: [Int32?] = []
        for u in 0..<events.userIDs.count {
            var items: [Int32] = [], values: [Float] = [], times: [Int64]? = events.timestamps == nil ? nil : []
            let position = userIDs.position(of: events.userIDs[Int32(u)])
            if let position {
                for p in seen.range(ofRow: Int(position)) {
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
            histories.append(UserHistory(items: items, values: values, times: times))
            known.append(position)
        }
        return (histories, known, order, offsets, itemMap)
    }

    /// Recommendations for the users of `events` from those events plus their training events
    /// (for users the model knows), without retraining: fold-in. Items the model does not know
    /// are ignored. Users come out in the order they first appear in `events`.
    ///
    /// A cold-start model (two-tower) computes each user's vector from the combined history,
    /// keeping a known user's id and attributes, and reading a new user's attributes from
    /// `profiles`. Other models score the history (ALS solves for a user vector; item-based
    /// models score it directly).
    ///
    /// With a `context` (see ``recommend(userIDs:k:excludeSeen:unknownUsers:profiles:candidates:context:threads:)``)
    /// a context-aware two-tower computes every vector in it.
    ///
    /// - Throws: ``ModelError`` if the model cannot score histories, profiles or a context are
    ///   given to a model that cannot use them, or the context does not parse.
    public func recommend(histories events: Interactions, k: Int, excludeSeen: Bool = true, profiles: [String: UserProfile] = [:],
                          candidates: CandidateItems? = nil, context: [String: String] = [:], threads: Int = 0) throws -> [UserRecommendations] {
        let cold = try coldStartModel(needed: !profiles.isEmpty, context: context)
        let scorer = model as? any HistoryScoring
        guard cold != nil || scorer != nil else {
            throw ModelError(.unsupported, reason: "the \(manifest.kind) model cannot fold in new histories")
        }
        let k = clampedK(k)
        let (histories, known, order, offsets, itemMap) = mergedHistories(events)
        let external = (0..<events.userIDs.count).map { events.userIDs[Int32($0)] }
        let banned: [[Int32]] = histories.map { excludeSeen ? Array(Set($0.items)).sorted() : [] }
        if let cold {
            // Oldest first, so the tower's recency weighting sees the newest events last.
            let sequences = histories.map { h -> [Int32] in
                guard let t = h.times else { return h.items }
                return h.items.indices.sorted { (t[$0], $0) < (t[$1], $1) }.map { h.items[$0] }
            }
            let vectors = context.isEmpty ? cold.userVectors(users: known, profiles: external.map { profiles[$0] }, histories: sequences)
                : try cold.userVectors(users: known, profiles: external.map { profiles[$0] }, histories: sequences.map { $0 }, context: context)
            let exclusion = banned
            // Users the model does not know get its prior, by their profile and event count.
            let priors = external.indices.map { u -> (profile: UserProfile?, events: Int)? in
                known[u] == nil ? (profiles[external[u]], histories[u].items.count) : nil
            }
            let top = rankCold(cold, queries: vectors, priors: priors, k: k, exclude: { @Sendable q in exclusion[q][...] },
                               candidates: candidates, threads: threads)
            return external.indices.map { u in
                UserRecommendations(user: external[u], items: top.row(u).map { (itemIDs[$0.index], $0.score) },
                                    basis: known[u] == nil && profiles[external[u]] != nil ? .profile : .model)
            }
        }
        if let sequential = model as? any SequenceScoring {
            // Order matters: a known user's stored training sequence continues with the new
            // events in time order (the merged histories above lost the training order).
            let recent = (0..<events.userIDs.count).map { u -> [Int32] in
                order[offsets[u]..<offsets[u + 1]].compactMap { itemMap[Int(events.items[$0])] }
            }
            var scores = [Float](repeating: 0, count: model.itemCount)
            return external.indices.map { u in
                let top = scores.withUnsafeMutableBufferPointer { buffer in
                    sequential.scores(users: [known[u]], recent: [recent[u]], into: buffer)
                    return Self.topK(buffer.baseAddress!, count: buffer.count, k: k, banned: banned[u], candidates: candidates)
                }
                return UserRecommendations(user: external[u], items: top.map { (itemIDs[$0.index], $0.score) }, basis: .model)
            }
        }
        var scores = [Float](repeating: 0, count: model.itemCount)
        return external.indices.map { u in
            let top = scores.withUnsafeMutableBufferPointer { buffer in
                scorer!.scores(for: histories[u], into: buffer)
                return Self.topK(buffer.baseAddress!, count: buffer.count, k: k, banned: banned[u], candidates: candidates)
            }
            return UserRecommendations(user: external[u], items: top.map { (itemIDs[$0.index], $0.score) }, basis: .model)
        }
    }
}

extension ModelBundle {
    /// Two-stage recommendations: `retrieval` proposes `shortlist` items per user (its seen items
    /// left out when `excludeSeen`), this bundle's ranker (``ClickScoring``) orders them by click
    /// probability, and the best `k` are kept (scores are the probabilities).
    ///
    /// - Throws: ``ModelError`` when this model is not a ranker, or for unknown users under
    ///   ``UnknownUserPolicy/error`` (users are looked up in `retrieval`).
    public func rerank(userIDs ids: [String], k: Int, retrieval: ModelBundle, shortlist: Int = 300, excludeSeen: Bool = true,
                       unknownUsers: UnknownUserPolicy = .error, candidates: CandidateItems? = nil, threads: Int = 0) throws -> [UserRecommendations] {
        guard let ranker = model as? any ClickScoring else {
            throw ModelError(.unsupported, reason: "the \(manifest.kind) model does not predict clicks, so it cannot re-rank a shortlist",
                             hint: "train one with --model ranker")
        }
        let proposals = try retrieval.recommend(userIDs: ids, k: max(k, shortlist), excludeSeen: excludeSeen, unknownUsers: unknownUsers,
                                                candidates: candidates.map { try retrieval.candidates($0.positions.map { itemIDs[$0] }) }, threads: threads)
        var users = IDMap(), items = IDMap()
        var u: [Int32] = [], i: [Int32] = [], groups: [Int32] = []
        for (g, p) in proposals.enumerated() {
            let user = users.insert(p.user)
            for entry in p.items { u.append(user); i.append(items.insert(entry.item)); groups.append(Int32(g)) }
        }
        let shown = Impressions(rows: Interactions(users: u, items: i, values: [Float](repeating: 0, count: u.count), userIDs: users, itemIDs: items),
                                groups: groups)
        let p = ranker.clickProbabilities(shown)
        var start = 0
        return proposals.map { proposal in
            let n = proposal.items.count
            let order = (0..<n).sorted { (p[start + $0], -$0) > (p[start + $1], -$1) }.prefix(clampedK(k))
            let out = UserRecommendations(user: proposal.user, items: order.map { (proposal.items[$0].item, p[start + $0]) }, basis: proposal.basis)
            start += n
            return out
        }
    }
}

/// Factor models that compute a vector for a user from a history against their fixed item
/// vectors (fold-in), so a new event changes the user's vector without retraining.
public protocol UserFolding: FactorModel {
    /// The vector of a user with `history` (same length as a row of ``FactorModel/userFactors``).
    func foldIn(_ history: UserHistory) -> [Float]
}

extension ALS: UserFolding {}
extension BPR: UserFolding {}

extension ModelBundle {
    /// The vector of each user of `events` from their training interactions plus those events,
    /// without retraining: fold-in for ALS and BPR, the user tower for cold-start models (a new
    /// user's attributes from `profiles`). Users come out in the order they first appear.
    ///
    /// - Throws: ``ModelError`` `.unsupported` for a model without user vectors to fold in.
    public func userVectors(histories events: Interactions, profiles: [String: UserProfile] = [:]) throws -> [(user: String, vector: [Float])] {
        let (histories, known, _, _, _) = mergedHistories(events)
        let external = (0..<events.userIDs.count).map { events.userIDs[Int32($0)] }
        if let cold = model as? any ColdStartScoring {
            let sequences = histories.map { h -> [Int32] in
                guard let t = h.times else { return h.items }
                return h.items.indices.sorted { (t[$0], $0) < (t[$1], $1) }.map { h.items[$0] }
            }
            let vectors = cold.userVectors(users: known, profiles: external.map { profiles[$0] }, histories: sequences)
            return external.indices.map { (external[$0], vectors.row($0)) }
        }
        guard let folding = model as? any UserFolding else {
            throw ModelError(.unsupported, reason: "the \(manifest.kind) model cannot fold a history into a user vector",
                             hint: "ALS, BPR and two-tower models can")
        }
        return external.indices.map { (external[$0], folding.foldIn(histories[$0])) }
    }
}
