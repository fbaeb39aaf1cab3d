import Foundation
import Testing
import TailorData
import TailorLinalg
@testable import TailorModels

@Suite("Ranking among candidates")
struct CandidateTests {
    func bundles() throws -> [ModelBundle] {
        let (log, _) = plantedLog(users: 40, items: 30, perUser: 6)
        let data = TrainingData(log)
        let als = try ALS.fit(data.matrix, configuration: .init(factors: 6, iterations: 3, threads: 1))
        let knn = try ItemKNN.fit(data, configuration: .init(), progress: nil)
        return [try ModelBundle(model: als, training: log), try ModelBundle(model: knn, training: log)]
    }

    /// The full ranking of every item (k = catalogue), restricted afterwards to `allowed`.
    func filtered(_ full: [(item: String, score: Float)], _ allowed: Set<String>, k: Int) -> [String] {
        Array(full.filter { allowed.contains($0.item) }.prefix(k).map(\.item))
    }

    @Test("candidates give the full ranking filtered to them, for factor and item-based models, known and unknown users")
    func matchesFilteredRanking() throws {
        for bundle in try bundles() {
            let listed = ["i3", "i5", "i8", "i13", "i21", "i22", "i29", "nonexistent"]
            let candidates = try bundle.candidates(listed)
            #expect(candidates.unknownIDs == ["nonexistent"] && candidates.positions.count == 7)
            let allowed = Set(listed)
            for user in ["u1", "u7", "u30"] {
                let full = try bundle.recommend(userIDs: [user], k: 30)[0].items
                let some = try bundle.recommend(userIDs: [user], k: 4, candidates: candidates)[0].items
                #expect(some.map(\.item) == filtered(full, allowed, k: 4), "\(bundle.manifest.kind) \(user)")
                #expect(some.allSatisfy { allowed.contains($0.item) })
                // Seen items stay excluded among candidates.
                let seen = Set(bundle.seen.columns(inRow: Int(bundle.userIDs.position(of: user)!)).map { bundle.itemIDs[$0] })
                #expect(some.allSatisfy { !seen.contains($0.item) })
            }
            let popular = try bundle.recommend(userIDs: ["nobody"], k: 3, unknownUsers: .popular, candidates: candidates)[0]
            #expect(popular.isFallback && popular.items.allSatisfy { allowed.contains($0.item) } && popular.items.count == 3)
            let scores = popular.items.map(\.score)
            #expect(scores == scores.sorted(by: >))
        }
    }

    @Test("folded-in histories honour candidates and leave out the history's items")
    func foldIn() throws {
        for bundle in try bundles() {
            let (events, _) = try InteractionReader.read(text: "user,item,rating\nfresh,i3,1\nfresh,i5,1\nfresh,i8,1\n")
            let candidates = try bundle.candidates(["i3", "i5", "i8", "i13", "i21", "i22"])
            let recs = try bundle.recommend(histories: events, k: 10, candidates: candidates)
            #expect(recs.count == 1 && Set(recs[0].items.map(\.item)) == ["i13", "i21", "i22"], "\(bundle.manifest.kind)")
        }
    }

    @Test("a candidate list with no known item is an error naming one of them")
    func noneKnown() throws {
        let bundle = try bundles()[0]
        #expect { try bundle.candidates(["x1", "x2"]) } throws: { "\($0)".contains("'x1'") }
        #expect { try bundle.candidates([]) } throws: { "\($0)".contains("empty") }
    }

    @Test("attributes for a model without a user tower are an error that says so")
    func profilesNeedAColdStartModel() throws {
        let bundle = try bundles()[0]
        #expect { try bundle.recommend(userIDs: ["new"], k: 3, profiles: ["new": UserProfile(id: "new", attributes: ["age": "30"])]) }
            throws: { "\($0)".contains("cannot use user attributes") }
    }
}
