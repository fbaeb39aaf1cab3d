import Foundation
import Testing
import TailorData
import TailorEval
import TailorLinalg
import TailorModels
@testable import TailorNeural

@Suite("Cold-start protocols and baselines")
struct ColdStartTests {
    @Test("cold-users and cold-items splits hold out whole users or items, seeded")
    func splits() throws {
        let log = groupedData().interactions!
        let users = try Split.make(log, method: .coldUsers(testFraction: 0.25, revealed: 2), seed: 3)
        let trainUsers = Set(users.train.users), testUsers = Set(users.test.users)
        #expect(trainUsers.isDisjoint(with: testUsers))
        #expect(testUsers.count == 30, "a quarter of 120 users")
        #expect(users.train.count + users.test.count == log.count)
        let again = try Split.make(log, method: .coldUsers(testFraction: 0.25, revealed: 2), seed: 3)
        #expect(Set(again.test.users) == testUsers)
        let items = try Split.make(log, method: .coldItems(testFraction: 0.2), seed: 3)
        #expect(Set(items.train.items).isDisjoint(with: Set(items.test.items)))
        #expect(Set(items.test.items).count == 18)
        // The recipe's file form round-trips.
        let holdout = DatasetRecipe.Holdout(method: .coldUsers(testFraction: 0.25, revealed: 2), seed: 3)
        let decoded = try JSONDecoder().decode(DatasetRecipe.Holdout.self, from: JSONEncoder().encode(holdout))
        #expect(decoded == holdout)
        #expect(throws: DataError.self) { try Split.make(log, method: .coldItems(testFraction: 1.5)) }
    }

    @Test("demographic popularity: each attribute's share, averaged; plain popularity without a profile")
    func demographicPopularity() {
        // Users 0, 1 are "a" and saw item 0; user 2 is "b" and saw item 1.
        let seen = CSRMatrix(rows: 3, columns: 2, rowIndices: [0, 1, 2], columnIndices: [0, 0, 1], values: [1, 1, 1])
        let profiles: [UserProfile?] = [UserProfile(id: "0", attributes: ["g": "a"]), UserProfile(id: "1", attributes: ["g": "a"]),
                                        UserProfile(id: "2", attributes: ["g": "b"])]
        let model = DemographicPopularity(seen: seen, profiles: profiles, minimumUsers: 1)
        #expect(model.scores(for: UserProfile(id: "x", attributes: ["g": "b"])) == [0, 1])
        #expect(model.scores(for: UserProfile(id: "x", attributes: ["g": "a"])) == [1, 0])
        #expect(model.scores(for: nil) == [2 / 3, 1 / 3])
        let strict = DemographicPopularity(seen: seen, profiles: profiles, minimumUsers: 2)
        #expect(strict.scores(for: UserProfile(id: "x", attributes: ["g": "b"])) == [2 / 3, 1 / 3], "a segment of one user is too small")
    }

    @Test("content-kNN ranks the new item sharing the user's categories and words first")
    func contentKNN() {
        let known = [CatalogItem(id: "a", title: "space opera", categories: ["scifi"]), CatalogItem(id: "b", title: "love story", categories: ["romance"])]
        let new = [CatalogItem(id: "c", title: "another love", categories: ["romance"]), CatalogItem(id: "d", title: "space war", categories: ["scifi"]), nil]
        let seen = CSRMatrix(rows: 2, columns: 2, rowIndices: [0, 1], columnIndices: [0, 1], values: [1, 1])
        let knn = ContentKNN(known: known, new: new, seen: seen)
        var s = [Float](repeating: 0, count: 3)
        s.withUnsafeMutableBufferPointer { knn.scores(user: 0, into: $0) }
        #expect(s[1] > s[0] && s[2] == 0, "\(s)")
        s.withUnsafeMutableBufferPointer { knn.scores(user: 1, into: $0) }
        #expect(s[0] > s[1], "\(s)")
    }

    @Test("on grouped data the two-tower model beats popularity for cold users and content-kNN's chance level for cold items")
    func protocols() throws {
        let data = groupedData()
        let log = data.interactions!
        let users = try Split.make(log, method: .coldUsers(testFraction: 0.25, revealed: 0), seed: 3)
        let train = users.train.compacted()
        let model = try TwoTower.fit(TrainingData(train, side: data.side), configuration: smallConfiguration(), progress: nil)
        let bundle = try ModelBundle(model: model, training: train)
        let result = ColdStartEvaluation.coldUsers(bundle: bundle, test: users.test, revealed: 0, side: data.side,
                                                   configuration: .init(ks: [10], computeAUC: false, threads: 1))
        let ndcg = Dictionary(result.reports.map { ($0.0, $0.1.value("ndcg", at: 10) ?? -1) }, uniquingKeysWith: { a, _ in a })
        #expect(result.heldOut == 30)
        #expect(ndcg["two-tower"]! > ndcg["popularity"]! + 0.1, "\(ndcg)")

        let items = try Split.make(log, method: .coldItems(testFraction: 0.2), seed: 3)
        let itemTrain = items.train.compacted()
        let itemModel = try TwoTower.fit(TrainingData(itemTrain, side: data.side), configuration: smallConfiguration(), progress: nil)
        let cold = ColdStartEvaluation.coldItems(bundle: try ModelBundle(model: itemModel, training: itemTrain), test: items.test, side: data.side,
                                                 configuration: .init(ks: [5], computeAUC: true, threads: 1))
        let auc = Dictionary(cold.reports.map { ($0.0, $0.1.auc ?? -1) }, uniquingKeysWith: { a, _ in a })
        #expect(cold.heldOut == 18)
        #expect(auc["two-tower"]! > 0.75 && auc["content-knn"]! > 0.75, "both read the category: \(auc)")
    }

    @Test("the cold prior: a new user's scores are the tower's plus coldPrior·τ·e/(e+n)·log p(item | segments); known users get the tower alone")
    func coldPrior() throws {
        let data = groupedData()
        let model = try TwoTower.fit(data, configuration: smallConfiguration(), progress: nil)
        #expect(model.hasColdPrior)
        let c = model.configuration
        let profiles = (0..<data.userCount).map { data.side.users[data.interactions!.userIDs[Int32($0)]] }
        let segments = DemographicPopularity(seen: data.matrix.userItems, profiles: profiles)
        let profile = UserProfile(id: "new", attributes: ["group": "g1", "age": "33"])
        var logP = [Float](repeating: 0, count: model.itemCount)
        logP.withUnsafeMutableBufferPointer { segments.logPrior(for: profile, into: $0) }
        func tower(_ history: [Int32]) -> [Float] {
            let v = model.userVector(profile: profile, history: history)
            return (0..<model.itemCount).map { i in zip(v, model.itemFactors.row(i)).map(*).reduce(0, +) }
        }
        func served(_ history: [Int32]) -> [Float] {
            var out = [Float](repeating: 0, count: model.itemCount)
            out.withUnsafeMutableBufferPointer { model.scores(profile: profile, history: history, into: $0) }
            return out
        }
        let tau = model.configuration.temperature
        // No events: the whole weight; as many events as coldPriorEvents (3): half of it.
        #expect(c.coldPriorEvents == 3)
        for (history, weight) in [([Int32](), c.coldPrior), ([1, 4, 7], c.coldPrior / 2)] {
            let expected = zip(tower(history), logP).map { $0 + weight * tau * $1 }
            let worst = zip(served(history), expected).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-5, "\(history.count) events: largest difference \(worst)")
        }
        #expect(zip(served([]), tower([])).contains { abs($0 - $1) > 0.01 }, "the prior changes the scores")

        // Through the bundle: a new user with a profile, and with events, gets the top of those
        // scores; a known user gets their trained vector's.
        let bundle = try ModelBundle(model: model, training: data.interactions!)
        func top(_ scores: [Float], k: Int, banned: Set<Int32> = []) -> [String] {
            scores.indices.filter { !banned.contains(Int32($0)) }.sorted { (scores[$0], -$0) > (scores[$1], -$1) }.prefix(k).map { "i\($0)" }
        }
        let fresh = try bundle.recommend(userIDs: ["new"], k: 10, profiles: ["new": profile])
        #expect(fresh[0].basis == .profile && fresh[0].items.map(\.item) == top(served([]), k: 10))
        let events = Interactions(users: [0, 0], items: [0, 1], values: [1, 1], timestamps: [1, 2], userIDs: IDMap(["new"]), itemIDs: IDMap(["i4", "i7"]))
        let folded = try bundle.recommend(histories: events, k: 10, profiles: ["new": profile])
        #expect(folded[0].items.map(\.item) == top(served([4, 7]), k: 10, banned: [4, 7]))
        let known = try bundle.recommend(userIDs: ["u5"], k: 10)
        let trained = (0..<model.itemCount).map { i in zip(model.userFactors.row(5), model.itemFactors.row(i)).map(*).reduce(0, +) }
        #expect(known[0].items.map(\.item) == top(trained, k: 10, banned: Set(data.matrix.userItems.columns(inRow: 5))))

        // The model file keeps the prior; a file without it loads with the tower alone.
        let copy = try TwoTower(archiveTensors: model.archiveTensors(), configuration: model.archiveConfiguration())
        var a = [Float](repeating: 0, count: model.itemCount), b = a
        a.withUnsafeMutableBufferPointer { model.scores(profile: profile, history: [], into: $0) }
        b.withUnsafeMutableBufferPointer { copy.scores(profile: profile, history: [], into: $0) }
        #expect(a == b)
        guard case .object(var fields) = try model.archiveConfiguration() else { Issue.record("not an object"); return }
        fields["coldPrior"] = nil
        #expect(try !TwoTower(archiveTensors: model.archiveTensors(), configuration: .object(fields)).hasColdPrior)
        // A damaged prior is refused by name.
        var tensors = model.archiveTensors()
        tensors["cold_prior_items"] = .init([Int32](repeating: 9_999, count: tensors["cold_prior_items"]!.int32s().count), shape: [tensors["cold_prior_items"]!.int32s().count])
        #expect { try TwoTower(archiveTensors: tensors, configuration: model.archiveConfiguration()) } throws: { "\($0)".contains("cold_prior_items") }
        // coldPrior 0 keeps no prior; a negative weight is refused.
        var off = smallConfiguration()
        off.coldPrior = 0
        off.epochs = 1
        #expect(try !TwoTower.fit(data, configuration: off, progress: nil).hasColdPrior)
        off.coldPrior = -1
        #expect { try TwoTower.fit(data, configuration: off, progress: nil) } throws: { "\($0)".contains("coldPrior") }
    }

    @Test("the demographic prior is log(segment share + 1/users), numbers bucketed by tens, small segments left out")
    func logPrior() {
        // Users 0–2 aged 21–29 (one bucket) saw item 0; user 3, aged 45, saw item 1.
        let seen = CSRMatrix(rows: 4, columns: 2, rowIndices: [0, 1, 2, 3], columnIndices: [0, 0, 0, 1], values: [1, 1, 1, 1])
        let profiles: [UserProfile?] = [21, 25, 29, 45].map { UserProfile(id: "\($0)", attributes: ["age": "\($0)"]) }
        let prior = DemographicPopularity(seen: seen, profiles: profiles, minimumUsers: 2)
        var out = [Float](repeating: 0, count: 2)
        out.withUnsafeMutableBufferPointer { prior.logPrior(for: UserProfile(id: "x", attributes: ["age": "27"]), into: $0) }
        #expect(abs(out[0] - log(1 + 0.25)) < 1e-6 && abs(out[1] - log(0.25)) < 1e-6, "\(out)")
        // The 40s segment has one user, below the minimum: plain popularity.
        out.withUnsafeMutableBufferPointer { prior.logPrior(for: UserProfile(id: "y", attributes: ["age": "41"]), into: $0) }
        #expect(abs(out[0] - log(0.75 + 0.25)) < 1e-6 && abs(out[1] - log(0.25 + 0.25)) < 1e-6, "\(out)")
    }

    @Test("newUserEvents: an example seen as a new user's keeps a prefix of 1…N events, never its own target as input")
    func newUserHistories() throws {
        var rng = TailorRandom(seed: 3)
        let sequence: [Int32] = Array(10..<40)   // 30 events
        var lengths = Set<Int>()
        for n in 0..<2_000 {
            let target = n % 30
            let (history, skip) = TwoTower.newUserHistory(sequence, target: target, limit: 5, rng: &rng)
            #expect((1...5).contains(history.count) && history == Array(sequence.prefix(history.count)))
            #expect(skip == (target < history.count ? target : nil))
            lengths.insert(history.count)
        }
        #expect(lengths == Set(1...5), "every length up to the limit is drawn: \(lengths.sorted())")
        // A sequence shorter than the limit: at most its own length.
        let short = TwoTower.newUserHistory([1, 2], target: 1, limit: 20, rng: &rng)
        #expect(short.history.count <= 2)
        var c = smallConfiguration()
        c.newUserEvents = -1
        #expect { try TwoTower.fit(groupedData(), configuration: c, progress: nil) } throws: { "\($0)".contains("newUserEvents") }
    }

    @Test("historyGap: a training example's history is the events before its target, ending 0…gap×count earlier; out-of-range gap or share refused")
    func priorHistories() throws {
        var rng = TailorRandom(seed: 5)
        let sequence: [Int32] = Array(100..<140)   // 40 events: a gap of up to 4 at 0.1
        var gaps = Set<Int>()
        for n in 0..<4_000 {
            let target = n % 40
            let history = TwoTower.priorHistory(sequence, target: target, gap: 0.1, rng: &rng)
            // A prefix of the sequence (time order kept) that ends before the target.
            #expect(history == Array(sequence.prefix(history.count)))
            #expect(history.count <= target && !history.contains(sequence[target]))
            if history.count > 0 || target <= 4 { gaps.insert(target - history.count) }
        }
        #expect(gaps == Set(0...4), "every gap up to ⌊0.1 × 40⌋ is drawn: \(gaps.sorted())")
        // Gap 0: exactly the events before the target.
        #expect(TwoTower.priorHistory(sequence, target: 7, gap: 0, rng: &rng) == Array(sequence.prefix(7)))
        var c = smallConfiguration()
        for bad: Float in [-0.1, 1.5, .nan] {
            c.historyGap = bad
            #expect { try TwoTower.fit(groupedData(), configuration: c, progress: nil) } throws: { "\($0)".contains("historyGap") }
        }
        c.historyGap = 0.1
        for bad: Float in [-0.5, 1.01, .nan] {
            c.historyGapShare = bad
            #expect { try TwoTower.fit(groupedData(), configuration: c, progress: nil) } throws: { "\($0)".contains("historyGapShare") }
        }
    }
}
