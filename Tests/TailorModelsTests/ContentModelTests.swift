import Foundation
import Testing
import TailorData
import TailorLinalg
@testable import TailorModels

/// Items in two topics (vectors near e₀ or e₁, with noise); users of topic A touch only A items.
func topicData(itemsPerTopic: Int = 40, users: Int = 60, seed: UInt64 = 4) -> (TrainingData, vectors: [[Float]]) {
    var rng = TailorRandom(seed: seed)
    let n = 2 * itemsPerTopic, d = 8
    let vectors: [[Float]] = (0..<n).map { i in
        (0..<d).map { j in (j == i / itemsPerTopic ? 1 : 0) + 0.2 * (rng.nextFloat() - 0.5) }
    }
    var us: [Int32] = [], its: [Int32] = []
    for u in 0..<users {
        let topic = u % 2
        // Popular items come first in each topic: item k of a topic is touched by users with k < some bound.
        for k in 0..<itemsPerTopic where (u * 7 + k * 3) % 5 != 0 && k < 10 + (u % 20) {
            us.append(Int32(u)); its.append(Int32(topic * itemsPerTopic + k))
        }
    }
    let log = Interactions(users: us, items: its, values: us.map { _ in 1 }, userIDs: IDMap((0..<users).map { "u\($0)" }),
                           itemIDs: IDMap((0..<n).map { "i\($0)" }))
    let side = SideInformation(items: (0..<n).map { CatalogItem(id: "i\($0)", features: vectors[$0]) })
    return (TrainingData(log, side: side), vectors)
}

@Suite("Content model")
struct ContentModelTests {
    @Test("users are ranked toward their topic's items, and new items of their topic score above the other topic's")
    func topics() throws {
        let (data, _) = topicData()
        let model = try ContentModel.fit(data, configuration: .init(popularityWeight: 0))
        #expect(model.factors == 9 && model.itemsWithoutVectors == 0)
        // Cold items: one per topic, known by content alone.
        let cold = model.itemVectors(content: [CatalogItem(id: "new-a", features: [1, 0, 0, 0, 0, 0, 0, 0]),
                                               CatalogItem(id: "new-b", features: [0, 1, 0, 0, 0, 0, 0, 0]), nil])
        for u in 0..<data.userCount {
            let q = model.userFactors.row(u)
            let a = zip(q, cold.row(0)).map(*).reduce(0, +), b = zip(q, cold.row(1)).map(*).reduce(0, +)
            #expect(u % 2 == 0 ? a > b + 0.5 : b > a + 0.5, "user \(u): \(a) vs \(b)")
            #expect(cold.row(2).allSatisfy { $0 == 0 })
        }
    }

    @Test("the popularity blend orders a topic's items by popularity without changing the ranking among new items")
    func popularityBlend() throws {
        let (data, _) = topicData()
        let blended = try ContentModel.fit(data, configuration: .init(popularityWeight: 0.5))
        let pure = try ContentModel.fit(data, configuration: .init(popularityWeight: 0))
        // Item 0 (touched by every topic-A user) outscores item 35 (touched by few) for a topic-A user under the blend.
        var scores = [Float](repeating: 0, count: blended.itemCount)
        scores.withUnsafeMutableBufferPointer { blended.scores(users: [0], into: $0, threads: 1) }
        #expect(scores[0] > scores[35] + 0.05)
        // New items: the same order with and without the blend.
        let content = (0..<6).map { i in CatalogItem(id: "n\(i)", features: (0..<8).map { j in Float((i * 3 + j * 5) % 7) - 3 }) }
        let q = [Int32(0), 1, 2]
        func order(_ m: ContentModel, _ user: Int) -> [Int] {
            let v = m.itemVectors(content: content), u = m.userFactors.row(user)
            let s = (0..<6).map { i in zip(u, v.row(i)).map(*).reduce(0, +) }
            return (0..<6).sorted { s[$0] > s[$1] }
        }
        for user in q { #expect(order(blended, Int(user)) == order(pure, Int(user))) }
    }

    @Test("a history alone gives the same user vector as training did")
    func foldIn() throws {
        let (data, _) = topicData()
        let model = try ContentModel.fit(data)
        let seen = data.matrix.userItems
        let fresh = model.userVectors(profiles: [nil, nil], histories: [Array(seen.columns(inRow: 3)), Array(seen.columns(inRow: 4))])
        for (r, u) in [3, 4].enumerated() {
            for j in 0..<model.factors { #expect(abs(fresh[r, j] - model.userFactors[u, j]) < 1e-5) }
        }
        let known = try model.userVectors(users: [3, nil], profiles: [nil, nil], histories: [nil, []], context: [:])
        #expect(known.row(0) == model.userFactors.row(3))
        #expect(known.row(1).dropLast().allSatisfy { $0 == 0 } && known[1, model.factors - 1] == 1)
    }

    @Test("the model file reads back to the same vectors")
    func archive() throws {
        let (data, _) = topicData()
        let model = try ContentModel.fit(data, configuration: .init(historyWeighting: .strength, popularityWeight: 0.3))
        let back = try ContentModel(archiveTensors: model.archiveTensors(), configuration: try model.archiveConfiguration())
        #expect(back.userFactors == model.userFactors && back.itemFactors == model.itemFactors)
        #expect(back.configuration == model.configuration)
    }

    @Test("no item vectors, or a popularity weight outside [0, 1], is an error that says what to do")
    func errors() throws {
        let (data, _) = topicData()
        var bare = data
        bare.side = SideInformation()
        #expect { try ContentModel.fit(bare) } throws: { "\($0)".contains("tailor embed") }
        #expect { try ContentModel.fit(data, configuration: .init(popularityWeight: 1.5)) } throws: { "\($0)".contains("popularityWeight") }
    }
}
