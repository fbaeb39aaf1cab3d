import Foundation
import Testing
import TailorData
import TailorLinalg
import TailorModels
import TailorNeural
import TailorSQLite
@testable import TailorServer

@Suite("The serving engine")
struct ServiceTests {
    let f: Fixture
    init() throws { f = try Fixture() }

    func event(_ user: String, _ item: String, _ type: EventType = .purchase, id: String? = nil) -> Event {
        Event(id: id, user: user, item: item, type: type, timestampMilliseconds: 1_750_000_000_000)
    }

    @Test("an event changes that user's next ranking at once: its item leaves the list, the cached entry is not served")
    func liveUpdate() throws {
        let service = try f.service()
        let user = f.users[3]
        let before = try service.recommend(RecommendationRequest(user: user, k: 10))
        #expect(!before.cached)
        #expect(try service.recommend(RecommendationRequest(user: user, k: 10)).cached, "the second identical request is a cache hit")
        // Buying the second-best item: it must disappear, and the fold-in must move the rest.
        let bought = before.items[1].item
        try service.record([event(user, bought)])
        let after = try service.recommend(RecommendationRequest(user: user, k: 10))
        #expect(!after.cached, "the user's cached ranking must not survive their event")
        #expect(!after.items.map(\.item).contains(bought))
        #expect(after.items.map(\.score) != before.items.filter { $0.item != bought }.map(\.score), "scores unchanged: nothing was folded in")
        // Other users' cached rankings are untouched.
        let other = f.users[4]
        _ = try service.recommend(RecommendationRequest(user: other, k: 10))
        try service.record([event(user, before.items[2].item)])
        #expect(try service.recommend(RecommendationRequest(user: other, k: 10)).cached)
    }

    @Test("the fold-in matches the library's: a served ranking equals ModelBundle.recommend(histories:) on the same events")
    func foldInMatchesLibrary() throws {
        let service = try f.service()
        let user = f.users[10]
        let items = [f.bundle.itemIDs[5], f.bundle.itemIDs[17], f.bundle.itemIDs[40]]
        try service.record(items.map { event(user, $0, .click) })
        let served = try service.recommend(RecommendationRequest(user: user, k: 10))
        let log = Interactions(users: [0, 0, 0], items: [0, 1, 2], values: [1, 1, 1], timestamps: [1_750_000_000, 1_750_000_000, 1_750_000_000],
                               userIDs: IDMap([user]), itemIDs: IDMap(items))
        let expected = try f.bundle.recommend(histories: log, k: 10)[0]
        #expect(served.items.map(\.item) == expected.items.map(\.item))
        let (vector, folded, updated) = try service.embedding(of: user)
        #expect(folded)
        #expect(vector == (try f.bundle.userVectors(histories: log))[0].vector)
        // Staleness: a folded-in vector dates from the user's latest event; a trained one from
        // the model's training.
        #expect(updated == Date(timeIntervalSince1970: 1_750_000_000))
        let trained = try service.embedding(of: f.users[11])
        #expect(!trained.foldedIn && trained.updated == ISO8601DateFormatter().date(from: f.bundle.manifest.createdAt) && trained.updated != nil)
    }

    @Test("an unavailable item is never recommended or listed as similar until it is put back")
    func unavailable() throws {
        let service = try f.service()
        let top = try service.recommend(RecommendationRequest(user: f.users[0], k: 1)).items[0].item
        #expect(try service.removeItem(top))
        for user in f.users.prefix(60) {
            #expect(!(try service.recommend(RecommendationRequest(user: user, k: 20)).items.map(\.item).contains(top)))
        }
        let neighbour = try service.similarItems(to: f.bundle.itemIDs[0], k: 119).items
        #expect(!neighbour.map(\.item).contains(top) && neighbour.count == 118, "119 other items minus the unavailable one")
        try service.putItem(CatalogItem(id: top, categories: [f.category(of: top)]))
        #expect(try service.recommend(RecommendationRequest(user: f.users[0], k: 1)).items[0].item == top)
        #expect(try f.store.unavailableItems().isEmpty)
    }

    @Test("removing an item the catalogue never had (known only to the model) is recorded in the store, so a restarted service keeps it out")
    func removalOfAModelOnlyItemSurvivesRestart() throws {
        let path = f.directory + "/bare-\(UUID().uuidString).db"
        let model = try ServingModel(path: f.versions.path(of: "v1"), version: "v1")
        let item = f.bundle.itemIDs[3]
        let first = try RecommendationService(store: SQLiteEventStore(path: path), model: model)
        #expect(try first.removeItem(item))
        let restarted = try RecommendationService(store: SQLiteEventStore(path: path), model: model)
        for user in f.users.prefix(30) {
            #expect(!(try restarted.recommend(RecommendationRequest(user: user, k: 119)).items.map(\.item).contains(item)))
        }
        #expect(try SQLiteEventStore(path: path).unavailableItems() == [item])
        #expect(!(try first.removeItem("no-such-item")), "an item neither the store nor the model knows is not found")
    }

    @Test("category filters return exactly k items of those categories, and offset pages through the same ranking")
    func filtersAndPaging() throws {
        let service = try f.service()
        let category = f.category(of: f.bundle.itemIDs[0])
        let inCategory = f.bundle.itemIDs.ids.filter { f.category(of: $0) == category }
        #expect(inCategory.count >= 8, "the fixture needs a category of 8 or more items")
        var r = RecommendationRequest(user: f.users[1], k: 4)
        r.categories = [category]
        r.excludeSeen = false
        let page1 = try service.recommend(r).items
        r.offset = 4
        let page2 = try service.recommend(r).items
        var both = RecommendationRequest(user: f.users[1], k: 8)
        both.categories = [category]; both.excludeSeen = false
        let whole = try service.recommend(both).items
        #expect(page1.count == 4 && page2.count == 4)
        #expect((page1 + page2).map(\.item) == whole.map(\.item))
        #expect(whole.allSatisfy { f.category(of: $0.item) == category })
        // Asking for more than the category holds returns all of it, no more.
        both.k = inCategory.count + 5
        #expect(try service.recommend(both).items.count == inCategory.count)
        // Candidates and excludes.
        var c = RecommendationRequest(user: f.users[1], k: 3)
        c.candidates = Array(f.bundle.itemIDs.ids.suffix(5)); c.exclude = [f.bundle.itemIDs.ids.last!]; c.excludeSeen = false
        let picked = try service.recommend(c).items.map(\.item)
        #expect(picked.count == 3 && Set(picked).isSubset(of: Set(c.candidates!)) && !picked.contains(c.exclude[0]))
    }

    @Test("exposures are stored, not folded in as interest, and the shown items are not shown again")
    func exposures() throws {
        let service = try f.service()
        let user = f.users[7]
        let first = try service.recommend(RecommendationRequest(user: user, k: 5)).items.map(\.item)
        try service.recordExposures(user: user, items: first)
        let second = try service.recommend(RecommendationRequest(user: user, k: 5)).items.map(\.item)
        #expect(Set(first).isDisjoint(with: second))
        #expect(try f.store.counts().events == 5, "five exposure events stored")
        #expect(try service.embedding(of: user).foldedIn == false, "exposures are not interest")
    }

    @Test("a stranger with session items gets model rankings; one with nothing gets popular items, marked as such")
    func strangers() throws {
        let service = try f.service()
        var r = RecommendationRequest(user: nil, k: 5)
        r.recentItems = [f.bundle.itemIDs[3], f.bundle.itemIDs[9]]
        let session = try service.recommend(r)
        #expect(session.items.count == 5 && session.items.allSatisfy { $0.source == "model" })
        #expect(!session.items.map(\.item).contains(f.bundle.itemIDs[3]))
        let nobody = try service.recommend(RecommendationRequest(user: "never-seen", k: 5))
        let popular = f.bundle.popularity.recommend(users: [-1], k: 5, exclude: nil, threads: 1).row(0).map { f.bundle.itemIDs[$0.index] }
        #expect(nobody.items.map(\.item) == popular && nobody.items.allSatisfy { $0.source == "popular" })
        // Items the model does not know carry nothing: still popular, not a zero-vector ranking.
        var unknown = RecommendationRequest(user: nil, k: 5)
        unknown.recentItems = ["not-an-item"]
        #expect(try service.recommend(unknown).items.allSatisfy { $0.source == "popular" })
    }

    @Test("an erased user loses their profile and events, and is served as a stranger")
    func erasure() throws {
        let service = try f.service()
        let user = f.users[2]
        try service.putUser(UserProfile(id: user, attributes: ["age": "30"]))
        try service.record([event(user, f.bundle.itemIDs[1])])
        #expect(try service.deleteUser(user))
        #expect(try f.store.user(user) == nil)
        #expect(try service.recommend(RecommendationRequest(user: user, k: 5)).items.allSatisfy { $0.source == "popular" })
        #expect(throws: RequestError.self) { try service.embedding(of: user) }
        #expect(!(try service.deleteUser("nobody-at-all")))
    }

    @Test("bad requests name the field: k, offset, diversity, unknown items for similar")
    func badRequests() throws {
        let service = try f.service()
        for (request, field) in [(RecommendationRequest(user: "u", k: 0), "k"), (RecommendationRequest(user: "u", k: 100_000), "k")] {
            #expect { try service.recommend(request) } throws: { ($0 as? RequestError)?.field == field }
        }
        var r = RecommendationRequest(user: "u", k: 5)
        r.offset = -1
        #expect { try service.recommend(r) } throws: { ($0 as? RequestError)?.field == "offset" }
        r.offset = 0; r.diversity = 2
        #expect { try service.recommend(r) } throws: { ($0 as? RequestError)?.field == "diversity" }
        #expect { try service.similarItems(to: "no-such-item", k: 5) } throws: { ($0 as? RequestError)?.kind == .notFound }
    }

    @Test("diversity (MMR) spreads a list over categories the plain ranking crowds")
    func diversity() throws {
        let service = try f.service()
        var plainCategories = 0, diverseCategories = 0
        for user in f.users.prefix(30) {
            var r = RecommendationRequest(user: user, k: 8)
            plainCategories += Set(try service.recommend(r).items.map { f.category(of: $0.item) }).count
            r.diversity = 0.7
            let diverse = try service.recommend(r).items
            #expect(diverse.count == 8)
            diverseCategories += Set(diverse.map { f.category(of: $0.item) }).count
        }
        #expect(diverseCategories > plainCategories, "categories per list: plain \(plainCategories), diverse \(diverseCategories)")
    }

    @Test("with an HNSW index: rankings match the exact ones closely, never hold seen or unavailable items, and follow live events")
    func approximate() throws {
        var options = RecommendationService.Options()
        options.ann = .init(m: 8, efConstruction: 64)
        options.annEF = 40
        let approximate = try f.service(options), exact = try f.service()
        #expect(approximate.model?.index != nil)
        var hits = 0
        for user in f.users.prefix(100) {
            let a = try approximate.recommend(RecommendationRequest(user: user, k: 10)).items.map(\.item)
            let e = try exact.recommend(RecommendationRequest(user: user, k: 10)).items.map(\.item)
            hits += Set(a).intersection(e).count
            let seen = Set(f.bundle.seen.columns(inRow: Int(f.bundle.userIDs.position(of: user)!)).map { f.bundle.itemIDs[$0] })
            #expect(a.count == 10 && seen.isDisjoint(with: a))
        }
        #expect(Double(hits) / 1_000 >= 0.95, "recall@10 of the served rankings: \(Double(hits) / 1_000)")
        let user = f.users[20]
        let top = try approximate.recommend(RecommendationRequest(user: user, k: 3)).items
        _ = try approximate.removeItem(top[0].item)
        try approximate.record([event(user, top[1].item)])
        let after = try approximate.recommend(RecommendationRequest(user: user, k: 10)).items.map(\.item)
        #expect(!after.contains(top[0].item) && !after.contains(top[1].item) && after.count == 10)
        // The same event and removal under exact ranking: the two folded-in lists mostly agree.
        _ = try exact.removeItem(top[0].item)
        try exact.record([event(user, top[1].item)])
        let folded = try exact.recommend(RecommendationRequest(user: user, k: 10)).items.map(\.item)
        #expect(Set(folded).intersection(after).count >= 8, "approximate \(after) vs exact \(folded)")
    }

    @Test("with an HNSW index, a user the model never saw is ranked exactly when the model keeps a cold prior (the index would rank by the tower's vector alone)")
    func annBypassForColdPrior() throws {
        TailorNeural.register()
        var c = TwoTower.Configuration()
        c.dimension = 16; c.idDimension = 16; c.featureDimension = 8; c.hidden = [32]
        c.epochs = 15; c.batchSize = 128; c.validationUsers = 0; c.temperature = 0.1
        let model = try TwoTower.fit(TrainingData(f.log.interactions), configuration: c, progress: nil)
        #expect(model.hasColdPrior, "the default prior: popularity, as the store has no profiles")
        try ModelBundle(model: model, training: f.log.interactions).save(to: URL(fileURLWithPath: f.versions.path(of: "tt")))
        var options = RecommendationService.Options()
        options.ann = .init(m: 8, efConstruction: 64)
        options.annEF = 40
        let approximate = try RecommendationService(store: f.store, model: ServingModel(path: f.versions.path(of: "tt"), version: "tt", ann: options.ann), options: options)
        #expect(approximate.model?.index != nil)
        let exact = try RecommendationService(store: f.store, model: ServingModel(path: f.versions.path(of: "tt"), version: "tt", ann: nil), options: .init())

        // Three items of one genre: the tower leans to that genre, the prior to popular items.
        let history = (0..<Int32(f.bundle.itemIDs.count)).filter { f.log.itemGenres[Int(f.log.interactions.itemIDs.position(of: f.bundle.itemIDs[$0])!)] == 2 }.suffix(3).map { $0 }
        try approximate.record(history.map { event("newbie", f.bundle.itemIDs[$0]) })
        let served = try approximate.recommend(RecommendationRequest(user: "newbie", k: 10)).items.map(\.item)
        func top(_ scores: [Float]) -> [String] {
            scores.indices.filter { !history.contains(Int32($0)) }.sorted { (scores[$0], -$0) > (scores[$1], -$1) }.prefix(10).map { f.bundle.itemIDs[Int32($0)] }
        }
        var withPrior = [Float](repeating: 0, count: model.itemCount)
        withPrior.withUnsafeMutableBufferPointer { model.scores(profile: nil, history: history, into: $0) }
        let vector = model.userVector(profile: nil, history: history)
        let towerOnly = (0..<model.itemCount).map { i in zip(vector, model.itemFactors.row(i)).map(*).reduce(0, +) }
        #expect(top(towerOnly) != top(withPrior), "the prior must change this list, or the test shows nothing")
        #expect(served == top(withPrior), "served \(served), tower + prior \(top(withPrior))")
        // The service without an index serves the same list to a user with the same events.
        try exact.record(history.map { event("newbie2", f.bundle.itemIDs[$0]) })
        #expect(try exact.recommend(RecommendationRequest(user: "newbie2", k: 10)).items.map(\.item) == served)
        // A known user still goes through the index (their trained vector carries no prior).
        let known = try approximate.recommend(RecommendationRequest(user: f.users[5], k: 10)).items.map(\.item)
        #expect(known.count == 10)
    }

    @Test("a stranger's list is filled with trending items first, then their segment's popular items, then overall popular ones")
    func fallbackSources() throws {
        var options = RecommendationService.Options()
        options.segmentBy = ["group"]
        // Profiles: the first 150 training users are in group a, the rest in group b.
        try f.store.upsert(users: f.users.enumerated().map { UserProfile(id: $1, attributes: ["group": $0 < 150 ? "a" : "b"]) })
        let service = try f.service(options)
        // Two items trend: events from other users in the last minute (3 and 2 events).
        let hot = [f.bundle.itemIDs.ids.last!, f.bundle.itemIDs.ids[f.bundle.itemIDs.count - 2]]
        try service.record([event("x1", hot[0], .click), event("x2", hot[0], .click), event("x3", hot[0], .click),
                            event("x1", hot[1], .click), event("x2", hot[1], .click)])
        var r = RecommendationRequest(user: nil, k: 6)
        r.attributes = ["group": "b"]
        let items = try service.recommend(r).items
        #expect(items.prefix(2).map(\.item) == hot && items.prefix(2).allSatisfy { $0.source == "trending" }, "\(items)")
        #expect(items.dropFirst(2).allSatisfy { $0.source == "segment:group" }, "\(items)")
        // The segment's items are the most common among group b's training users.
        var counts: [Int32: Int] = [:]
        for u in 150..<f.users.count { for i in f.bundle.seen.columns(inRow: u) { counts[i, default: 0] += 1 } }
        let expected = counts.sorted { ($0.value, -$0.key) > ($1.value, -$1.key) }.map { f.bundle.itemIDs[$0.key] }.filter { !hot.contains($0) }
        #expect(items.dropFirst(2).map(\.item) == Array(expected.prefix(4)))
        // Without attributes: trending, then overall popular.
        let plain = try service.recommend(RecommendationRequest(user: "nobody", k: 4)).items
        #expect(plain.prefix(2).map(\.item) == hot && plain.dropFirst(2).allSatisfy { $0.source == "popular" })
    }

    @Test("trending counts expire with their window")
    func trendingWindow() {
        let t = TrendingItems(window: .seconds(600))
        let old = Date().addingTimeInterval(-3_600)
        t.add(["a", "a", "a"], at: old)
        t.add(["b", "b"])
        t.add(["c"])
        #expect(t.ranked().map(\.item) == ["b"], "a expired, c has one event")
    }

    @Test("a new item with events from known users gets the exact ALS item vector, competes in rankings by its score, and has similar items")
    func newItemFoldIn() throws {
        let service = try f.service()
        let als = try #require(f.bundle.model as? ALS)
        // The fans: the 20 users most like one user; the users next most like them should see it.
        let target = f.users[299]
        let neighbours = try service.similarUsers(to: target, k: 60).users.map(\.item)
        let fans = Array(neighbours.prefix(20))
        try service.record(fans.map { event($0, "fresh", .purchase) })
        let folded = try #require(service.state.withLock { $0.newItems["fresh"]?.vector })
        // Reference: the normal equations in double precision, (XᵀX + λI + Σ (c−1) x xᵀ) y = Σ c x,
        // with c = 1 + α·t(w) for the purchase weight w under the training's transform.
        let k = als.factors, x = als.userFactors
        let w = Float(try #require(EventWeights().weight(type: .purchase, value: .nan)))
        let c = Double(1 + als.configuration.alpha * w)
        var a = [Double](repeating: 0, count: k * k), b = [Double](repeating: 0, count: k)
        for u in 0..<x.rows { for i in 0..<k { for j in 0..<k { a[i * k + j] += Double(x[u, i]) * Double(x[u, j]) } } }
        for i in 0..<k { a[i * k + i] += Double(als.configuration.regularization) }
        for id in fans {
            let u = Int(f.bundle.userIDs.position(of: id)!)
            for i in 0..<k {
                b[i] += c * Double(x[u, i])
                for j in 0..<k { a[i * k + j] += (c - 1) * Double(x[u, i]) * Double(x[u, j]) }
            }
        }
        // Gaussian elimination (the system is symmetric positive definite).
        for col in 0..<k {
            for row in (col + 1)..<k {
                let m = a[row * k + col] / a[col * k + col]
                for j in col..<k { a[row * k + j] -= m * a[col * k + j] }
                b[row] -= m * b[col]
            }
        }
        var y = [Double](repeating: 0, count: k)
        for row in stride(from: k - 1, through: 0, by: -1) {
            var sum = b[row]
            for j in (row + 1)..<k { sum -= a[row * k + j] * y[j] }
            y[row] = sum / a[row * k + row]
        }
        for i in 0..<k { #expect(abs(Double(folded[i]) - y[i]) <= 1e-3 * max(1, abs(y[i])), "component \(i): \(folded[i]) vs \(y[i])") }
        // In a ranking: present exactly when its score beats the model's 10th item.
        var present = 0
        for user in [target] + neighbours.suffix(40) {
            let served = try service.recommend(RecommendationRequest(user: user, k: 10)).items
            let u = als.userFactors.row(Int(f.bundle.userIDs.position(of: user)!))
            let score = zip(u, folded).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let modelOnly = served.filter { $0.item != "fresh" }
            if let entry = served.first(where: { $0.item == "fresh" }) {
                present += 1
                #expect(abs(entry.score - score) <= 1e-4 * max(1, abs(score)))
                #expect(served.count == 10)
            } else {
                #expect(score <= (modelOnly.last?.score ?? .infinity) + 1e-5, "left out although it scores \(score)")
            }
        }
        #expect(present > 0, "the new item should reach some lists (the fixture's users are alike)")
        let similar = try service.similarItems(to: "fresh", k: 5).items
        #expect(similar.count == 5 && !similar.map(\.item).contains("fresh"))
        #expect(throws: RequestError.self) { try service.similarItems(to: "never-seen", k: 5) }
    }

    @Test("live state is bounded: events per user, exposures per user, and in all (least recently active users go first)")
    func boundedLiveState() {
        var live = RecommendationService.LiveEvents(perUser: 5, exposuresPerUser: 3, maxTotal: 20)
        for k in 0..<8 { live.absorb(event("a", "i\(k)", .click, id: "a\(k)")) }
        #expect(live.users["a"]?.events.map(\.item) == ["i3", "i4", "i5", "i6", "i7"] && live.total == 5)
        let retried = live.absorb(event("a", "i7", .click, id: "a7"))
        #expect(!retried, "a retry of a held event is absorbed once")
        let again = live.absorb(event("a", "i0", .click, id: "a0"))
        #expect(again, "an event dropped by the cap is no longer held")
        for k in 0..<5 { live.absorb(event("a", "x\(k)", RecommendationService.exposure, id: "x\(k)")) }
        #expect(live.users["a"]?.exposed == ["x2", "x3", "x4"])
        // Four more users of 5 events each: past 20 in all, the least recently active go.
        for u in ["b", "c", "d", "e"] { for k in 0..<5 { live.absorb(event(u, "i\(k)", .click, id: "\(u)\(k)")) } }
        #expect(live.total <= 20 && live.users["a"] == nil && live.users["e"]?.events.count == 5, "users: \(live.users.keys.sorted()), total \(live.total)")
        // Generations never repeat, even for a user who was dropped and came back.
        let before = live.clock
        live.absorb(event("a", "z", .click, id: "z"))
        #expect(live.users["a"]!.generation > before)
    }

    @Test("MMR picks the most relevant first, then the item least like it among near-equals")
    func mmrReference() {
        // Items 0 and 1 point the same way, item 2 is orthogonal.
        let items = Matrix([[1, 0], [1, 0], [0, 1]])
        let ranked: [(index: Int32, score: Float)] = [(0, 1.0), (1, 0.95), (2, 0.9)]
        let picked = ServingPipeline.mmr(ranked, items: items, k: 3, diversity: 0.5).map(\.index)
        #expect(picked == [0, 2, 1])
        #expect(ServingPipeline.mmr(ranked, items: items, k: 3, diversity: 0.01).map(\.index) == [0, 1, 2], "almost no diversity keeps relevance order")
    }

    @Test("the cache keeps at most its capacity and drops the least recently used")
    func cacheEviction() {
        let cache = RankingCache(capacity: 10)
        func key(_ u: Int) -> RankingCache.Key { .init(version: "v", generation: 0, request: RecommendationRequest(user: "u\(u)")) }
        for u in 0..<10 { cache.set(key(u), []) }
        _ = cache.get(key(0))  // recently used
        cache.set(key(10), [])
        #expect(cache.statistics.entries <= 10)
        #expect(cache.get(key(0)) != nil, "the recently used entry survives")
        #expect(cache.get(key(1)) == nil, "the least recently used entry is gone")
    }
}

@Suite("Live events across restarts")
struct ReplayTests {
    @Test("a model trained from the store records its cursor, and a new service folds in the events stored after it")
    func replay() throws {
        let f = try Fixture()
        // The synthetic log's first 3,000 interactions as click events in the store.
        let log = f.log.interactions
        let t0: Int64 = 1_750_000_000_000
        let events = (0..<3_000).map { r in
            Event(id: "e\(r)", user: log.userIDs[log.users[r]], item: log.itemIDs[log.items[r]], type: .click, timestampMilliseconds: t0 + Int64(r))
        }
        try f.store.append(events)
        let run = TrainingRun(data: DatasetRecipe(source: .store(f.store.path)), model: "als",
                              configuration: .object(["factors": .number(8), "iterations": .number(4), "threads": .number(1)]))
        let bundle = try run.train(openStore: { _ in f.store }).bundle
        let cursor = try #require(bundle.manifest.data.storeCursor)
        #expect(cursor == (try f.store.eventCursor()))
        // After training: one user buys their top item.
        let user = bundle.userIDs[0]
        let before = try RecommendationService(store: f.store, model: ServingModel(bundle: bundle, version: "t")).recommend(RecommendationRequest(user: user, k: 5))
        let bought = before.items[0].item
        try f.store.append([Event(id: "late", user: user, item: bought, type: .purchase, timestampMilliseconds: t0 + 10_000)])
        // A new service (a restarted server) over the same store and model sees it.
        let restarted = try RecommendationService(store: f.store, model: ServingModel(bundle: bundle, version: "t"))
        let after = try restarted.recommend(RecommendationRequest(user: user, k: 5)).items.map(\.item)
        #expect(!after.contains(bought))
        #expect(try restarted.embedding(of: user).foldedIn)
        // A model not trained from this store replays nothing.
        let other = try f.service()
        #expect(other.liveUsers == 0)
        // Re-activating keeps exactly one copy of each replayed event.
        try restarted.activate(ServingModel(bundle: bundle, version: "t2"))
        #expect(restarted.state.withLock { $0.live[user]?.events.count } == 1)
    }
}
