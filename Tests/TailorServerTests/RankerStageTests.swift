import Foundation
import Testing
import TailorData
import TailorModels
import TailorNeural
import TailorSQLite
@testable import TailorServer

@Suite("The serving pipeline's ranker stage")
struct RankerStageTests {
    let f: Fixture
    let ranker: ModelBundle
    init() throws {
        f = try Fixture()
        // A small click model over the fixture's interactions (sampled negatives), with the
        // item genres as features.
        var c = Ranker.Configuration()
        c.hidden = [16]; c.epochs = 3; c.batchSize = 256; c.idDimension = 8
        let items = try f.store.loadItems()
        let data = TrainingData(f.log.interactions, side: SideInformation(items: items, users: []))
        ranker = try ModelBundle(model: Ranker.fit(data, configuration: c, progress: nil), training: f.log.interactions)
    }

    @Test("the ranker re-orders the model's shortlist by its click probabilities; rerank=false serves the model's order")
    func reordersShortlist() throws {
        var stage = try RankerStage(bundle: ranker, name: "r1", shortlist: 30)
        stage.fixedTime = 1_750_000_000
        var options = RecommendationService.Options()
        options.ranker = stage
        let service = try f.service(options)
        let plain = try f.service()
        let model = try #require(ranker.model as? any ClickScoring)
        var changed = 0
        for user in f.users.prefix(25) {
            let served = try service.recommend(RecommendationRequest(user: user, k: 10))
            var off = RecommendationRequest(user: user, k: 10)
            off.rerank = false
            let unranked = try service.recommend(off)
            let shortlist = try plain.recommend(RecommendationRequest(user: user, k: 30)).items.map(\.item)
            // Reference: the click model on the shortlist, directly through the library.
            var users = IDMap(), ids = IDMap()
            let u = users.insert(user)
            let rows = Interactions(users: [Int32](repeating: u, count: shortlist.count), items: shortlist.map { ids.insert($0) },
                                    values: [Float](repeating: 0, count: shortlist.count),
                                    timestamps: [Int64](repeating: 1_750_000_000, count: shortlist.count), userIDs: users, itemIDs: ids)
            let p = model.clickProbabilities(Impressions(rows: rows, groups: [Int32](repeating: 0, count: shortlist.count)))
            let expected = shortlist.indices.sorted { (p[$0], -$0) > (p[$1], -$1) }.prefix(10)
            #expect(served.items.map(\.item) == expected.map { shortlist[$0] }, "user \(user)")
            for (entry, j) in zip(served.items, expected) { #expect(abs(entry.score - p[j]) <= 1e-5) }
            #expect(served.ranker == "r1" && served.items.allSatisfy { $0.source == "model" })
            let modelOrder = try plain.recommend(RecommendationRequest(user: user, k: 10)).items
            #expect(unranked.ranker == nil && unranked.items == modelOrder)
            if served.items.map(\.item) != unranked.items.map(\.item) { changed += 1 }
        }
        #expect(changed > 0, "the ranker never changed an order: the stage would be invisible")
    }

    @Test("re-ranked lists keep the filters, page through one ranking, and fallbacks are not re-ranked")
    func filtersAndPaging() throws {
        var options = RecommendationService.Options()
        options.ranker = try RankerStage(bundle: ranker, name: "r1", shortlist: 20)
        let service = try f.service(options)
        let user = f.users[7]
        let first = try service.recommend(RecommendationRequest(user: user, k: 10)).items
        var next = RecommendationRequest(user: user, k: 10)
        next.offset = 10
        let second = try service.recommend(next).items
        var all = RecommendationRequest(user: user, k: 20)
        all.offset = 0
        let whole = try service.recommend(all).items
        #expect(first + second == whole, "offset pages through the same re-ranked list")
        var narrow = RecommendationRequest(user: user, k: 5)
        let genre = f.category(of: first[0].item)
        narrow.categories = [genre]
        narrow.exclude = [first[0].item]
        let filtered = try service.recommend(narrow).items
        #expect(filtered.count == 5 && filtered.allSatisfy { f.category(of: $0.item) == genre && $0.item != first[0].item })
        // A user the model does not know gets the fallbacks, in their own order, not re-ranked.
        let stranger = try service.recommend(RecommendationRequest(user: "never-seen", k: 10))
        let plain = try f.service().recommend(RecommendationRequest(user: "never-seen", k: 10))
        #expect(stranger.ranker == nil && stranger.items == plain.items && stranger.items.allSatisfy { $0.source == "popular" })
    }

    @Test("a model that does not predict clicks is refused as a ranker, with the reason")
    func refusesNonRanker() {
        #expect(throws: ModelError.self) { try RankerStage(bundle: f.bundle, name: "als") }
        #expect(throws: ModelError.self) { try RankerStage(bundle: ranker, name: "r", shortlist: 0) }
    }
}
