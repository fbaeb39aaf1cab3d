import Foundation
import Testing
import TailorData
import TailorEval
import TailorLinalg
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
}
