import Foundation
import Synchronization
import TailorData
import TailorLinalg
import TailorModels
import TailorStore

/// What a caller asks for: whose recommendations, how many, and the business filters.
public struct RecommendationRequest: Sendable, Hashable {
    /// The user (`nil`: an anonymous visitor known only by `recentItems`, `attributes`).
    public var user: String?
    /// Items to return.
    public var k = 10
    /// Items of the same ranking to skip first (paging).
    public var offset = 0
    /// Leave out items the user interacted with or was shown (exposures).
    public var excludeSeen = true
    /// Only items in any of these categories (empty: every category).
    public var categories: [String] = []
    /// Only these items (`nil`: every item).
    public var candidates: [String]?
    /// Never these items.
    public var exclude: [String] = []
    /// 0 ranks by the model alone; up to 1 trades relevance for variety (MMR, by cosine of the
    /// item vectors).
    public var diversity: Double = 0
    /// The request's context (device, platform, country, hour, weekday, time) for a two-tower
    /// model trained with context features.
    public var context: [String: String] = [:]
    /// Items the visitor interacted with in this session (anonymous or new users).
    public var recentItems: [String] = []
    /// The visitor's attributes, for a cold-start model (anonymous or new users).
    public var attributes: [String: String]?
    /// Let the server's ranker (``RecommendationService/Options/ranker``) re-order the model's
    /// shortlist; `false` serves the model's order (e.g. to compare the two).
    public var rerank = true

    /// A request for `user`'s top `k`.
    public init(user: String?, k: Int = 10) {
        self.user = user
        self.k = k
    }
}

/// One recommended item and where it came from.
public struct RankedItem: Sendable, Codable, Equatable {
    /// The item's id.
    public var item: String
    /// Its score under the source (model scores are not comparable with popularity counts).
    public var score: Float
    /// `model`, `profile` (a cold-start model from attributes), or a fallback: `trending`,
    /// `segment:NAME` (popular among users sharing the attribute NAME), `popular`.
    public var source: String
}

/// A ranking and how it was made.
public struct RecommendationResult: Sendable, Codable, Equatable {
    /// The user (`nil` for an anonymous request).
    public var user: String?
    /// The model version that ranked.
    public var model: String
    /// The items, best first.
    public var items: [RankedItem]
    /// Whether this came from the cache.
    public var cached: Bool
    /// The ranker that re-ordered the model's items (their scores are then its click
    /// probabilities); absent when none did.
    public var ranker: String?
    /// The running experiment the user is in (the earliest started, if several), and their
    /// variant (`interleaved` in an interleaving experiment).
    public var experiment: String?
    public var variant: String?
    /// Every experiment the user is in and their variant, when more than one.
    public var experiments: [String: String]?
}

/// A problem with a request that the caller can fix: which field, what is wrong.
public struct RequestError: Error, Sendable, Equatable {
    /// The kind, mapped to an HTTP status by the server.
    public enum Kind: String, Sendable { case invalid, notFound, unsupported, unavailable, conflict }
    public var kind: Kind
    /// The field (query parameter or JSON key) at fault, if one is.
    public var field: String?
    /// What is wrong and how to fix it.
    public var detail: String

    public init(_ kind: Kind, field: String? = nil, _ detail: String) {
        self.kind = kind; self.field = field; self.detail = detail
    }
}

/// The serving engine behind the HTTP API: the active model, each user's events since it was
/// trained (folded in at request time), a cache of rankings, and the catalogue's state.
/// Independent of HTTP, so the library can serve without the server.
///
/// Thread-safe. Rankings are computed outside the lock from a snapshot; a cache entry is keyed
/// by the model version and the user's generation (bumped by each of their events), so an
/// event or a model swap makes the old entries unreachable at once.
public final class RecommendationService: Sendable {
    /// Limits and sizes.
    public struct Options: Sendable {
        /// Rankings kept in the cache (0 turns it off).
        public var cacheCapacity = 100_000
        /// Events per user kept for fold-in until the next model (oldest dropped first).
        public var liveEventsPerUser = 200
        /// Live events kept in all (about 60 bytes each); past it the least recently active
        /// users' live events are dropped (they are served from the model's vectors).
        public var maxLiveEvents = 2_000_000
        /// Largest `k`.
        public var maxK = 1_000
        /// Largest `offset + k`.
        public var maxDepth = 10_000
        /// Rank factor models through an HNSW index over their item vectors (nil: exactly).
        /// Used for requests without category or candidate filters and without a context;
        /// the others are ranked exactly.
        public var ann: HNSWIndex.Configuration?
        /// Candidates explored per ANN query (at least the items asked for).
        public var annEF = 100
        /// User attributes whose segments get their own popular items, used (in this order)
        /// to fill a ranking the model leaves short, before overall popularity.
        public var segmentBy: [String] = []
        /// How far back the trending source counts events.
        public var trendingWindow: Duration = .seconds(3600)
        /// A second stage that re-orders the model's shortlist by predicted click probability
        /// (nil: the model's order is served).
        public var ranker: RankerStage?
        /// The defaults.
        public init() {}
    }

    let store: any EventStore
    let options: Options
    let state: Mutex<State>
    let cache: RankingCache
    let trending: TrendingItems

    struct NewItem {
        /// Strength per user position (summed over their events).
        var strengths: [Int32: Float] = [:]
        var vector: [Float] = []
    }

    /// One live event, only what fold-in needs (about 60 bytes; a full ``Event`` with its
    /// context is about 250).
    struct LiveEvent: Sendable {
        var item: String
        var type: EventType
        var value: Double?
        var milliseconds: Int64
        var key: Int64

        func event(user: String) -> Event {
            Event(user: user, item: item, type: type, value: value, timestampMilliseconds: milliseconds)
        }
    }

    struct LiveUser {
        /// Their events since the model, oldest first (at most `liveEventsPerUser`).
        var events: [LiveEvent] = []
        /// Items shown to them (exposures), oldest first, at most `exposuresPerUser`.
        var shown: [(item: String, key: Int64)] = []
        var exposed: Set<String> = []
        /// Keys of the events and exposures held (a retried event is absorbed once).
        var keys: Set<Int64> = []
        /// The state's clock at their last change: unique across users and evictions, so a
        /// cache entry can never be mistaken for a later state.
        var generation = 0

        func events(as user: String) -> [Event] { events.map { $0.event(user: user) } }
    }

    /// Users' events since the model, bounded: per user (the newest `perUser`), and overall
    /// (past `maxTotal` events, the users least recently active are dropped until 90 % remain;
    /// they are served from the model's vectors again until their next event or model).
    struct LiveEvents {
        var users: [String: LiveUser] = [:]
        var clock = 0
        var total = 0
        var perUser = 200, exposuresPerUser = 1_000, maxTotal = 2_000_000

        /// A new generation for `user` (their state changed).
        mutating func touch(_ user: String) {
            clock += 1
            users[user, default: LiveUser()].generation = clock
        }

        /// Adds one event (an exposure marks its item as shown); false if it was already here.
        @discardableResult
        mutating func absorb(_ e: Event) -> Bool {
            var user = users[e.user] ?? LiveUser()
            guard user.keys.insert(e.key).inserted else { return false }
            if e.type == RecommendationService.exposure {
                user.shown.append((e.item, e.key))
                user.exposed.insert(e.item)
                if user.shown.count > exposuresPerUser {
                    let dropped = user.shown.removeFirst()
                    user.keys.remove(dropped.key)
                    if !user.shown.contains(where: { $0.item == dropped.item }) { user.exposed.remove(dropped.item) }
                }
            } else {
                user.events.append(LiveEvent(item: e.item, type: e.type, value: e.value, milliseconds: e.timestampMilliseconds, key: e.key))
                total += 1
                if user.events.count > perUser {
                    let dropped = user.events.removeFirst()
                    user.keys.remove(dropped.key)
                    total -= 1
                }
            }
            clock += 1
            user.generation = clock
            users[e.user] = user
            if total > maxTotal { evict() }
            return true
        }

        /// Drops the least recently active users until 90 % of `maxTotal` events remain.
        mutating func evict() {
            let order = users.sorted { $0.value.generation < $1.value.generation }
            for (id, user) in order where total > maxTotal * 9 / 10 {
                total -= user.events.count
                users.removeValue(forKey: id)
            }
        }

        /// Removes a user's state, leaving a fresh generation.
        mutating func reset(_ id: String) {
            if let user = users[id] { total -= user.events.count }
            users[id] = LiveUser()
            touch(id)
        }
    }

    struct State {
        var model: ServingModel?
        var events = LiveEvents()
        var live: [String: LiveUser] {
            get { events.users }
            set { events.users = newValue }
        }
        /// Users erased since the model was trained: served as strangers.
        var erased: Set<String> = []
        var unavailable: Set<String> = []
        /// Item id → categories, from the store's catalogue and later writes.
        var categories: [String: [String]] = [:]
        /// Category → positions in the active model, built on first use.
        var categoryIndex: [String: [Int32]]?
        /// Items the model was not trained on, with events from users it knows: their vectors by
        /// item fold-in (models that can; ALS).
        var newItems: [String: NewItem] = [:]
        /// "attribute=value" → the model's items by popularity among training users with it.
        var segments: [String: [(index: Int32, score: Float)]] = [:]
        /// The store's event cursor up to which events are live here (``catchUp()`` reads on).
        var followCursor: Int64?
    }

    /// A service reading the catalogue's state from `store`, serving `model` (if any yet).
    public init(store: any EventStore, model: ServingModel?, options: Options = .init()) throws {
        self.store = store
        self.options = options
        var s = State(model: nil)
        s.events = LiveEvents(perUser: options.liveEventsPerUser, maxTotal: options.maxLiveEvents)
        s.unavailable = Set(try store.unavailableItems())
        for item in try store.loadItems() where !item.categories.isEmpty { s.categories[item.id] = item.categories }
        s.followCursor = try store.eventCursor()
        state = Mutex(s)
        cache = RankingCache(capacity: options.cacheCapacity)
        trending = TrendingItems(window: options.trendingWindow)
        if let model { try activate(model) }
    }

    /// The active model, if one is loaded.
    public var model: ServingModel? { state.withLock { $0.model } }

    /// Serves `model` from now on; requests that started keep the old one.
    ///
    /// A model trained from this store records the store's event cursor at training
    /// (``ModelManifest/DataSummary/storeCursor``): the events appended after it are read back
    /// and folded in, so a restarted server or a swapped model forgets no user's recent events.
    /// Other models start with no live events. The erased-user list starts afresh.
    public func activate(_ model: ServingModel) throws {
        var fresh = LiveEvents(perUser: options.liveEventsPerUser, maxTotal: options.maxLiveEvents)
        var cursor = replayCursor(for: model)
        if let start = cursor { cursor = try replay(after: start) { for e in $0 { fresh.absorb(e) } } }
        let follow = try cursor ?? store.eventCursor()
        let segments = try segmentPopularity(model)
        state.withLock { s in
            s.model = model
            s.categoryIndex = nil
            // The clock keeps running across models, so generations stay unique.
            fresh.clock += s.events.clock
            s.events = fresh
            s.erased = []
            s.segments = segments
            s.newItems = [:]
            s.followCursor = follow
            for (id, user) in fresh.users { foldInItems(user.events(as: id), model: model, into: &s.newItems) }
        }
        cache.removeAll()
        // Events stored while the replay ran (whose live update may have gone to the old state).
        if let cursor {
            _ = try replay(after: cursor) { events in
                state.withLock { s in for e in events { s.events.absorb(e) } }
            }
        }
    }

    /// For each `attribute=value` of the `segmentBy` attributes: the model's items by how many
    /// training users with that value have them (the top 500).
    func segmentPopularity(_ model: ServingModel) throws -> [String: [(index: Int32, score: Float)]] {
        guard !options.segmentBy.isEmpty else { return [:] }
        let bundle = model.bundle
        var counts: [String: [Int32: Float]] = [:]
        for profile in try store.loadUsers() {
            guard let u = bundle.userIDs.position(of: profile.id) else { continue }
            for name in options.segmentBy {
                guard let value = profile.attributes[name] else { continue }
                let key = "\(name)=\(value)"
                // In place: taking the dictionary out and putting it back would copy it per user.
                for i in bundle.seen.columns(inRow: Int(u)) { counts[key, default: [:]][i, default: 0] += 1 }
            }
        }
        return counts.mapValues { c in
            Array(c.sorted { ($0.value, -$0.key) > ($1.value, -$1.key) }.prefix(500).map { (index: $0.key, score: $0.value) })
        }
    }

    /// The cursor to replay from: the model's, when it was trained from this store.
    func replayCursor(for model: ServingModel) -> Int64? {
        let data = model.bundle.manifest.data
        guard let cursor = data.storeCursor, case .store(let path)? = data.recipe?.source else { return nil }
        return store.isLocated(at: path) ? cursor : nil
    }

    /// Reads the store's events after `cursor` in pages, handing each page to `body`; returns
    /// the last cursor read.
    func replay(after cursor: Int64, _ body: ([Event]) -> Void) throws -> Int64 {
        var at = cursor
        while true {
            let page = try store.events(after: at, limit: 50_000)
            guard let last = page.last else { return at }
            body(page.map(\.event))
            at = last.cursor
        }
    }

    // MARK: Rankings

    /// The ranking for `request`.
    ///
    /// - Throws: ``RequestError`` for a bad request (unknown item in `recentItems` is not one:
    ///   such items are ignored), `.unavailable` when no model is loaded.
    ///
    /// - Parameter override: serve this model instead of the active one (an experiment's
    ///   variant); the user's live events are folded in against it the same way.
    public func recommend(_ request: RecommendationRequest, model override: ServingModel? = nil) throws -> RecommendationResult {
        try validate(request)
        // One consistent snapshot (copy-on-write: no dictionary is copied here).
        let snapshot = state.withLock { s in
            (model: s.model, live: request.user.flatMap { s.live[$0] }, erased: request.user.map { s.erased.contains($0) } ?? false,
             unavailable: s.unavailable, newItems: s.newItems, categories: s.categories)
        }
        guard let model = override ?? snapshot.model else { throw RequestError(.unavailable, "no model is loaded yet") }
        // New items were folded in against the active model's vectors: only it may use them.
        let newItems = model === snapshot.model ? snapshot.newItems : [:]
        let live = snapshot.live ?? LiveUser()
        let cacheable = request.recentItems.isEmpty && request.attributes == nil && request.user != nil
        let key = RankingCache.Key(version: model.version, generation: live.generation, request: request)
        if cacheable, let hit = cache.get(key) {
            return RecommendationResult(user: request.user, model: model.version, items: hit, cached: true, ranker: rankerName(request, hit))
        }
        let items = try rank(request, model: model, live: live, erased: snapshot.erased, unavailable: snapshot.unavailable,
                             newItems: newItems, categories: snapshot.categories)
        // Only if no event of this user arrived meanwhile (their generation is unchanged).
        if cacheable && state.withLock({ ($0.live[request.user!]?.generation ?? 0) == live.generation && (override != nil || $0.model === model) }) {
            cache.set(key, items)
        }
        return RecommendationResult(user: request.user, model: model.version, items: items, cached: false, ranker: rankerName(request, items))
    }

    /// The ranker's name when it ordered some of `items` (the model's; fallbacks are not
    /// re-ranked).
    func rankerName(_ request: RecommendationRequest, _ items: [RankedItem]) -> String? {
        guard request.rerank, let ranker = options.ranker, items.contains(where: { $0.source == "model" || $0.source == "profile" }) else { return nil }
        return ranker.name
    }

    func validate(_ r: RecommendationRequest) throws {
        guard r.k >= 1 && r.k <= options.maxK else { throw RequestError(.invalid, field: "k", "k must be between 1 and \(options.maxK), got \(r.k)") }
        guard r.offset >= 0 else { throw RequestError(.invalid, field: "offset", "offset must be 0 or more, got \(r.offset)") }
        guard r.offset + r.k <= options.maxDepth else {
            throw RequestError(.invalid, field: "offset", "offset + k must be at most \(options.maxDepth), got \(r.offset + r.k)")
        }
        guard r.diversity.isFinite && r.diversity >= 0 && r.diversity <= 1 else {
            throw RequestError(.invalid, field: "diversity", "diversity must be between 0 and 1, got \(r.diversity)")
        }
    }

    func rank(_ request: RecommendationRequest, model: ServingModel, live: LiveUser, erased: Bool, unavailable: Set<String>,
              newItems: [String: NewItem] = [:], categories: [String: [String]] = [:]) throws -> [RankedItem] {
        let bundle = model.bundle
        let allowed = try allowedItems(request, model: model)
        if let allowed, allowed.positions.isEmpty { return [] }
        // Items that must never appear: unavailable, excluded by the caller, shown before.
        var banned = Set<Int32>()
        for id in unavailable { if let p = bundle.itemIDs.position(of: id) { banned.insert(p) } }
        for id in request.exclude { if let p = bundle.itemIDs.position(of: id) { banned.insert(p) } }
        if request.excludeSeen { for id in live.exposed { if let p = bundle.itemIDs.position(of: id) { banned.insert(p) } } }
        let need = request.offset + request.k
        var pool = need + banned.count
        if request.diversity > 0 { pool = max(pool, 3 * need) }
        let ranker = request.rerank ? options.ranker : nil
        if let ranker { pool = max(pool, ranker.shortlist + banned.count) }

        // The user's events the model has not seen: live ones, then the request's session.
        var events = live.events(as: request.user ?? "")
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let anonymous = "\u{1}anonymous"
        let userID = request.user ?? anonymous
        for item in request.recentItems { events.append(Event(user: userID, item: item, type: .click, timestampMilliseconds: now)) }
        let known = !erased && request.user.flatMap { bundle.userIDs.position(of: $0) } != nil
        let isCold = bundle.model is any ColdStartScoring
        var profiles: [String: UserProfile] = [:]
        if isCold && !known {
            if let attributes = request.attributes {
                profiles[userID] = UserProfile(id: userID, attributes: attributes)
            } else if let user = request.user, let stored = try store.user(user), !stored.attributes.isEmpty {
                profiles[userID] = stored
            }
        }

        var ranked: [(index: Int32, score: Float)] = []
        var source = "model"
        // Events on items the model does not know carry nothing it can fold in.
        if !known && !events.contains(where: { bundle.itemIDs.position(of: $0.item) != nil }) { events = [] }
        // Factor models rank from the user's vector (trained, or folded in from their events):
        // through the HNSW index when there is one and no filter narrows the items, else by
        // one matrix-vector product over the items (or only the allowed ones).
        var approximated = false
        var userVector: [Float]?
        if request.context.isEmpty, profiles.isEmpty,
           let (vector, history) = try annQuery(bundle: bundle, userID: userID, known: known, erased: erased, events: events, weights: model.weights) {
            userVector = vector
            var exclude = banned
            if request.excludeSeen { exclude.formUnion(history) }
            if let index = model.index, allowed == nil {
                let sorted = exclude.sorted()
                ranked = index.search(vector, k: pool, ef: max(options.annEF, pool), exclude: sorted[...])
            } else if let factors = bundle.model as? any FactorModel {
                ranked = ServingPipeline.exactTopK(vector, items: factors.itemFactors, k: pool, exclude: exclude, allowed: allowed)
            }
            approximated = true
        }
        do {
            if approximated {
                // Ranked from the user's vector above.
            } else if !events.isEmpty {
                let interactions = self.interactions(events, user: userID, weights: model.weights)
                // An erased user's trained history must not come back: rename them.
                let renamed = erased ? interactions.renamingUser(to: "\u{1}erased:" + userID) : interactions
                if renamed.count > 0 {
                    let r = try bundle.recommend(histories: renamed, k: pool, excludeSeen: request.excludeSeen, profiles: profiles.isEmpty ? [:] : [renamed.userIDs[0]: profiles[userID]!],
                                                 candidates: allowed, context: request.context, threads: 1)
                    if let first = r.first { ranked = positions(first, bundle); source = first.basis == .profile ? "profile" : "model" }
                } else if known {
                    ranked = positions(try bundle.recommend(userIDs: [userID], k: pool, excludeSeen: request.excludeSeen, unknownUsers: .skip,
                                                            candidates: allowed, context: request.context, threads: 1)[0], bundle)
                }
            } else if known {
                let r = try bundle.recommend(userIDs: [userID], k: pool, excludeSeen: request.excludeSeen, unknownUsers: .skip,
                                             candidates: allowed, context: request.context, threads: 1)
                if let first = r.first { ranked = positions(first, bundle) }
            } else if !profiles.isEmpty {
                let r = try bundle.recommend(userIDs: [userID], k: pool, excludeSeen: request.excludeSeen, unknownUsers: .skip,
                                             profiles: profiles, candidates: allowed, context: request.context, threads: 1)
                if let first = r.first { ranked = positions(first, bundle); source = "profile" }
            } else if !request.context.isEmpty {
                // Validate the context even when the popular fallback answers.
                _ = try bundle.recommend(userIDs: [], k: 1, context: request.context)
            }
        } catch let error as ModelError {
            throw RequestError(error.code == .unsupported ? .unsupported : .invalid, field: error.code == .unsupported ? nil : "context",
                               error.reason + (error.hint.map { ". " + $0 } ?? ""))
        }
        ranked.removeAll { banned.contains($0.index) }
        try Deadline.check()
        // Items new since the model, folded in from their first events, compete by the same
        // score (not under diversification, which needs the model's item vectors).
        var extras: [RankedItem] = []
        if let vector = userVector, !newItems.isEmpty, request.diversity == 0 {
            let seenIDs = Set(events.map(\.item)).union(live.exposed)
            let wanted = Set(request.categories), listed = request.candidates.map(Set.init), excluded = Set(request.exclude)
            for (id, item) in newItems where item.vector.count == vector.count {
                if unavailable.contains(id) || excluded.contains(id) || (request.excludeSeen && seenIDs.contains(id)) { continue }
                if !wanted.isEmpty && wanted.isDisjoint(with: categories[id] ?? []) { continue }
                if let listed, !listed.contains(id) { continue }
                let score = zip(vector, item.vector).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                extras.append(RankedItem(item: id, score: score, source: "model"))
            }
        }
        // The ranker re-orders the model's shortlist (and the new items) by click probability.
        if let ranker, !ranked.isEmpty || !extras.isEmpty {
            let shortlist = Array(ranked.prefix(max(need, ranker.shortlist)))
            let ids = shortlist.map { bundle.itemIDs[$0.index] } + extras.map(\.item)
            let p = ranker.clickProbabilities(user: erased ? "\u{1}erased:" + userID : userID, items: ids, at: now / 1000)
            ranked = shortlist.indices.map { (shortlist[$0].index, p[$0]) }.sorted { ($0.score, -$0.index) > ($1.score, -$1.index) }
            for j in extras.indices { extras[j].score = p[shortlist.count + j] }
            try Deadline.check()
        }
        if request.diversity > 0, let items = model.normalizedItems {
            ranked = ServingPipeline.mmr(ranked, items: items, k: need, diversity: Float(request.diversity))
        } else if request.diversity > 0 {
            throw RequestError(.unsupported, field: "diversity", "the \(model.kind) model has no item vectors to diversify by; leave out diversity")
        }
        var out = ranked.prefix(need).map { RankedItem(item: bundle.itemIDs[$0.index], score: $0.score, source: source) }
        if !extras.isEmpty {
            out = Array((out + extras).sorted { ($0.score, $1.item) > ($1.score, $0.item) }.prefix(need))
        }
        if out.count < need {
            // Fill, under the same filters and never with an item the user has: first what is
            // trending (most events in the last hour), then what is popular among users sharing
            // an attribute with this one (--segment-by), then what is popular overall.
            var skip = banned
            for entry in ranked.prefix(need) { skip.insert(entry.index) }
            if request.excludeSeen {
                if known, let p = bundle.userIDs.position(of: userID) { for i in bundle.seen.columns(inRow: Int(p)) { skip.insert(i) } }
                for e in events { if let p = bundle.itemIDs.position(of: e.item) { skip.insert(p) } }
            }
            let allowedSet = allowed.map { Set($0.positions) }
            func fill(_ source: String, _ entries: [(index: Int32, score: Float)]) {
                for (p, score) in entries where out.count < need {
                    if skip.contains(p) || allowedSet.map({ !$0.contains(p) }) == true { continue }
                    skip.insert(p)
                    out.append(RankedItem(item: bundle.itemIDs[p], score: score, source: source))
                }
            }
            fill("trending", trending.top(model: model))
            if out.count < need, !options.segmentBy.isEmpty {
                let attributes = try request.attributes ?? request.user.flatMap { try store.user($0)?.attributes } ?? [:]
                // Segment popularity is in the active model's item positions.
                let segments = state.withLock { s in s.model === model ? s.segments : [:] }
                for name in options.segmentBy {
                    guard let value = attributes[name], let top = segments["\(name)=\(value)"] else { continue }
                    fill("segment:\(name)", top)
                }
            }
            let scores = bundle.popularity.itemScores
            if out.count < need { fill("popular", model.popularOrder.map { ($0, scores[Int($0)]) }) }
        }
        return Array(out.dropFirst(request.offset))
    }

    /// The user's vector for the index and the items of their history (training and live), or
    /// nil when the model has no vector for them.
    func annQuery(bundle: ModelBundle, userID: String, known: Bool, erased: Bool, events: [Event],
                  weights: EventWeights) throws -> ([Float], Set<Int32>)? {
        guard let factors = bundle.model as? any FactorModel else { return nil }
        var history = Set<Int32>()
        let position = known ? bundle.userIDs.position(of: userID) : nil
        if let position { for i in bundle.seen.columns(inRow: Int(position)) { history.insert(i) } }
        if events.isEmpty {
            guard let position else { return nil }
            return (factors.userFactors.row(Int(position)), history)
        }
        guard bundle.model is any UserFolding || bundle.model is any ColdStartScoring else { return nil }
        // A new user's scores carry the model's prior, which a vector alone cannot: rank exactly.
        if position == nil, let cold = bundle.model as? any ColdStartScoring, cold.hasColdPrior { return nil }
        let interactions = self.interactions(events, user: erased ? "\u{1}erased:" + userID : userID, weights: weights)
        guard interactions.count > 0 else { return nil }
        for e in events { if let p = bundle.itemIDs.position(of: e.item) { history.insert(p) } }
        do {
            guard let vector = try bundle.userVectors(histories: interactions).first?.vector else { return nil }
            return (vector, history)
        } catch let error as ModelError {
            throw RequestError(.unsupported, error.reason)
        }
    }

    func positions(_ r: UserRecommendations, _ bundle: ModelBundle) -> [(index: Int32, score: Float)] {
        r.items.compactMap { entry in bundle.itemIDs.position(of: entry.item).map { ($0, entry.score) } }
    }

    /// The positions a request may return: its categories' items, its candidates, or both.
    func allowedItems(_ request: RecommendationRequest, model: ServingModel) throws -> CandidateItems? {
        var allowed: Set<Int32>?
        if !request.categories.isEmpty {
            let index = categoryIndex(model)
            allowed = Set(request.categories.flatMap { index[$0] ?? [] })
        }
        if let candidates = request.candidates {
            let listed = Set(candidates.compactMap { model.bundle.itemIDs.position(of: $0) })
            allowed = allowed.map { $0.intersection(listed) } ?? listed
        }
        return allowed.map { CandidateItems(positions: Array($0)) }
    }

    func categoryIndex(_ model: ServingModel) -> [String: [Int32]] {
        state.withLock { s in
            if let index = s.categoryIndex, s.model === model { return index }
            var index: [String: [Int32]] = [:]
            for (item, categories) in s.categories {
                guard let p = model.bundle.itemIDs.position(of: item) else { continue }
                for c in categories { index[c, default: []].append(p) }
            }
            if s.model === model { s.categoryIndex = index }
            return index
        }
    }

    /// `events` of one user as interactions, weighted as in training (events whose type has
    /// no weight, such as exposures, are left out). Times in seconds.
    func interactions(_ events: [Event], user: String, weights: EventWeights) -> Interactions {
        var items = IDMap(), rows: [Int32] = [], values: [Float] = [], times: [Int64] = []
        for e in events {
            guard let w = weights.weight(type: e.type, value: e.value ?? .nan), w != 0 else { continue }
            rows.append(items.insert(e.item)); values.append(Float(w)); times.append(e.timestampMilliseconds / 1000)
        }
        return Interactions(users: [Int32](repeating: 0, count: rows.count), items: rows, values: values, timestamps: times,
                            userIDs: IDMap([user]), itemIDs: items)
    }

    // MARK: Similar items and users, embeddings

    /// The `k` items most like `item` by cosine of the model's item vectors, under the same
    /// filters as rankings (categories, candidates, excludes, unavailable): exactly `k` when
    /// that many items pass them.
    public func similarItems(to item: String, k: Int, categories: [String] = [], candidates: [String]? = nil,
                             exclude: [String] = []) throws -> (model: String, items: [RankedItem]) {
        let (model, unavailable) = try activeModel()
        guard k >= 1 && k <= options.maxK else { throw RequestError(.invalid, field: "k", "k must be between 1 and \(options.maxK), got \(k)") }
        guard let items = model.normalizedItems else {
            throw RequestError(.unsupported, "the \(model.kind) model has no item vectors; similar items need a factor model such as ALS")
        }
        // A new item folded in from its events is compared by its vector.
        let query: [Float]
        var own: [Int32] = []
        if let p = model.bundle.itemIDs.position(of: item) {
            query = items.row(Int(p))
            own = [p]
        } else if let folded = state.withLock({ $0.newItems[item]?.vector }), folded.count == items.columns,
                  case let norm = folded.reduce(Float(0), { $0 + $1 * $1 }).squareRoot(), norm > 0 {
            query = folded.map { $0 / norm }
        } else {
            throw RequestError(.notFound, field: "item", "unknown item '\(item)': the model \(model.version) was not trained on it and no events from its users arrived since")
        }
        var request = RecommendationRequest(user: nil, k: k)
        request.categories = categories; request.candidates = candidates
        let allowed = try allowedItems(request, model: model)
        var banned = Set(own)
        for id in exclude + Array(unavailable) { if let q = model.bundle.itemIDs.position(of: id) { banned.insert(q) } }
        let excluded = banned.sorted()
        let top = model.bundle.rank(queries: Matrix(rows: 1, columns: items.columns, storage: query), items: items, k: k,
                                    exclude: { _ in excluded[...] }, candidates: allowed, threads: 1)
        return (model.version, top.row(0).map { RankedItem(item: model.bundle.itemIDs[$0.index], score: $0.score, source: "model") })
    }

    /// The `k` users most like `user` by cosine of their vectors (trained vectors; a user with
    /// live events is compared by their folded-in vector).
    public func similarUsers(to user: String, k: Int) throws -> (model: String, users: [RankedItem]) {
        guard k >= 1 && k <= options.maxK else { throw RequestError(.invalid, field: "k", "k must be between 1 and \(options.maxK), got \(k)") }
        let (model, _) = try activeModel()
        guard let users = model.normalizedUsers else {
            throw RequestError(.unsupported, "the \(model.kind) model has no user vectors; similar users need a factor model such as ALS")
        }
        let vector = try embedding(of: user).vector
        var q = vector
        let norm = Kernels.dot(q, q, count: q.count).squareRoot()
        guard norm > 0, q.count == users.columns else { return (model.version, []) }
        for i in q.indices { q[i] /= norm }
        let own = model.bundle.userIDs.position(of: user).map { [$0] } ?? []
        let top = Kernels.topKInnerProducts(queries: Matrix(rows: 1, columns: q.count, storage: q), items: users, k: k,
                                            exclude: { _ in own[...] }, threads: 1)
        return (model.version, top.row(0).map { RankedItem(item: model.bundle.userIDs[$0.index], score: $0.score, source: "model") })
    }

    /// The user's vector now: the trained one, or folded in from their events since training.
    /// Returns the vector and whether it was folded in.
    ///
    /// `updated` is when the vector last changed: the user's latest event folded in, else the
    /// model's training (its staleness is the time since).
    public func embedding(of user: String) throws -> (vector: [Float], foldedIn: Bool, updated: Date?) {
        let (model, live, erased) = try state.withLock { s -> (ServingModel, LiveUser, Bool) in
            guard let m = s.model else { throw RequestError(.unavailable, "no model is loaded yet") }
            return (m, s.live[user] ?? LiveUser(), s.erased.contains(user))
        }
        let bundle = model.bundle
        if !live.events.isEmpty {
            let interactions = self.interactions(live.events(as: user), user: erased ? "\u{1}erased:" + user : user, weights: model.weights)
            if interactions.count > 0 {
                do {
                    if let v = try bundle.userVectors(histories: interactions).first {
                        let latest = live.events.map(\.milliseconds).max() ?? 0
                        return (v.vector, true, Date(timeIntervalSince1970: Double(latest) / 1000))
                    }
                } catch let error as ModelError {
                    throw RequestError(.unsupported, error.reason)
                }
            }
        }
        guard !erased, let p = bundle.userIDs.position(of: user) else {
            throw RequestError(.notFound, field: "user", "unknown user '\(user)': not in the model \(model.version) and no events since")
        }
        guard let factors = bundle.model as? any FactorModel else {
            throw RequestError(.unsupported, "the \(model.kind) model has no user vectors")
        }
        return (factors.userFactors.row(Int(p)), false, ISO8601DateFormatter().date(from: bundle.manifest.createdAt))
    }

    func activeModel() throws -> (ServingModel, Set<String>) {
        try state.withLock { s in
            guard let m = s.model else { throw RequestError(.unavailable, "no model is loaded yet") }
            return (m, s.unavailable)
        }
    }

    // MARK: Events and the catalogue

    /// What ``record(_:)`` did.
    public struct Recorded: Sendable, Codable, Equatable {
        /// Events stored now.
        public var inserted: Int
        /// Events the store already had (client retries): counted once.
        public var alreadyPresent: Int
        /// Repeats within the batch.
        public var duplicates: Int
    }

    /// Stores `events` durably, then folds them into their users' live state (their next
    /// ranking reflects them; their cached rankings are dropped). Exposure events (type
    /// `exposure`) mark items as shown, so they are not recommended again.
    public func record(_ events: [Event]) throws -> Recorded {
        let counts = try store.append(events)
        let fresh = state.withLock { s in
            let fresh = events.filter { s.events.absorb($0) }
            if let model = s.model { foldInItems(fresh, model: model, into: &s.newItems) }
            return fresh
        }
        trending.add(fresh.filter { $0.type != RecommendationService.exposure }.map(\.item))
        return Recorded(inserted: counts.inserted, alreadyPresent: counts.alreadyPresent, duplicates: counts.duplicates)
    }

    /// Folds new items in: each event on an item the model does not know, by a user it does,
    /// adds to that item's interactions, and the item's vector is solved again. O(n·k² + k³)
    /// per touched item.
    func foldInItems(_ events: [Event], model: ServingModel, into items: inout [String: NewItem]) {
        guard let gram = model.itemFoldingGram, let folding = model.bundle.model as? any ItemFolding else { return }
        var touched = Set<String>()
        for e in events where e.type != RecommendationService.exposure && model.bundle.itemIDs.position(of: e.item) == nil {
            guard let u = model.bundle.userIDs.position(of: e.user),
                  let w = model.weights.weight(type: e.type, value: e.value ?? .nan), w != 0 else { continue }
            items[e.item, default: NewItem()].strengths[u, default: 0] += Float(w)
            touched.insert(e.item)
        }
        for id in touched {
            // Summed strengths get the training's confidence transform, as in training.
            let transform = model.bundle.manifest.data.recipe?.confidence
            let entries = items[id]!.strengths.map { (user: $0.key, value: transform?.transform(value: $0.value) ?? $0.value) }
            items[id]!.vector = folding.foldInItem(entries, gram: gram)
        }
    }

    /// The event type of "this item was shown to this user".
    public static let exposure = EventType("exposure")

    /// Records that `items` were shown to `user` (stored as exposure events).
    public func recordExposures(user: String, items: [String]) throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try record(items.map { Event(user: user, item: $0, type: RecommendationService.exposure, timestampMilliseconds: now) })
    }

    /// Inserts or replaces a catalogue item; it becomes available (again).
    public func putItem(_ item: CatalogItem) throws {
        try store.upsert(items: [item])
        state.withLock { s in
            s.unavailable.remove(item.id)
            s.categories[item.id] = item.categories.isEmpty ? nil : item.categories
            s.categoryIndex = nil
        }
        cache.removeAll()
    }

    /// Marks an item unavailable: it is never recommended again until it is put back.
    /// Returns whether the store had it.
    public func removeItem(_ id: String) throws -> Bool {
        var found = try store.markUnavailable(item: id)
        let inModel = model?.bundle.itemIDs.position(of: id) != nil
        if !found && inModel {
            // An item known only to the model: recorded in the catalogue as unavailable, so a
            // restart (or another server on the store) keeps it out too.
            try store.upsert(items: [CatalogItem(id: id)])
            found = try store.markUnavailable(item: id)
        }
        if found || inModel {
            state.withLock { _ = $0.unavailable.insert(id) }
            cache.removeAll()
        }
        return found
    }

    /// Inserts or replaces a user profile.
    public func putUser(_ user: UserProfile) throws {
        try store.upsert(users: [user])
        state.withLock { $0.events.touch(user.id) }
    }

    /// Erases a user: profile and events in the store, live state here; until the next model
    /// they are served as a stranger. Returns whether anything was found.
    public func deleteUser(_ id: String) throws -> Bool {
        let removed = try store.deleteUser(id)
        let inModel = model?.bundle.userIDs.position(of: id) != nil
        // A store that erased them told the other servers; one that had nothing of theirs did not.
        if removed == nil, inModel, let shared = store as? any ChangeNotifyingStore { try shared.announce(.erased(id)) }
        state.withLock { s in
            s.events.reset(id)
            if inModel { s.erased.insert(id) }
        }
        return removed != nil || inModel
    }

    // MARK: Following other processes

    /// Reads the events other processes appended to the store since the last call (or
    /// activation) and makes them live here, as ``record(_:)`` does for this process's own:
    /// their users' next rankings reflect them (events this process recorded itself are
    /// recognised by key and not counted twice). Returns the events read.
    @discardableResult
    public func catchUp() throws -> Int {
        guard var at = state.withLock({ $0.followCursor }) else { return 0 }
        var read = 0
        while true {
            let page = try store.events(after: at, limit: 10_000)
            guard let last = page.last else { break }
            let events = page.map(\.event)
            let fresh = state.withLock { s in
                let fresh = events.filter { s.events.absorb($0) }
                if let model = s.model { foldInItems(fresh, model: model, into: &s.newItems) }
                s.followCursor = max(s.followCursor ?? 0, last.cursor)
                return fresh
            }
            trending.add(fresh.filter { $0.type != RecommendationService.exposure }.map(\.item))
            read += page.count
            at = last.cursor
        }
        return read
    }

    /// Re-reads item `id`'s catalogue state (another process wrote or removed it).
    public func reloadItem(_ id: String) throws {
        let item = try store.item(id)
        let unavailable = Set(try store.unavailableItems())
        state.withLock { s in
            s.unavailable = unavailable
            s.categories[id] = item.flatMap { $0.categories.isEmpty ? nil : $0.categories }
            s.categoryIndex = nil
        }
        cache.removeAll()
    }

    /// Re-reads the whole catalogue state (another process wrote many items).
    public func reloadCatalogue() throws {
        let unavailable = Set(try store.unavailableItems())
        var categories: [String: [String]] = [:]
        for item in try store.loadItems() where !item.categories.isEmpty { categories[item.id] = item.categories }
        state.withLock { s in
            s.unavailable = unavailable
            s.categories = categories
            s.categoryIndex = nil
        }
        cache.removeAll()
    }

    /// Forgets user `id` here (another process erased them from the store).
    public func forgetUser(_ id: String) {
        let inModel = model?.bundle.userIDs.position(of: id) != nil
        state.withLock { s in
            s.events.reset(id)
            if inModel { s.erased.insert(id) }
        }
    }

    /// Counts for `/readyz` and the dashboard.
    public var liveUsers: Int { state.withLock { $0.live.count } }
}

extension Interactions {
    /// The same rows under a single new user id.
    func renamingUser(to id: String) -> Interactions {
        Interactions(users: users, items: items, values: values, timestamps: timestamps, userIDs: IDMap([id]), itemIDs: itemIDs)
    }
}
