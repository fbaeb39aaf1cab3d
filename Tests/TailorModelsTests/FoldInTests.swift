import Foundation
import Testing
import TailorData
import TailorLinalg
@testable import TailorModels

@Suite("Fold-in and partial refit")
struct FoldInTests {
    /// A synthetic log, its split, and a set of held-out users.
    struct Setup {
        let split: Split
        let heldOut: Set<Int32>
        static let shared: Setup = {
            var c = SyntheticLog.Configuration()
            c.users = 800; c.items = 300; c.interactions = 30_000; c.seed = 21
            let log = SyntheticLog.generate(c).interactions
            let split = try! Split.make(log, method: .random(testFraction: 0.2), seed: 3)
            return Setup(split: split, heldOut: Set((0..<Int32(800)).filter { $0 % 8 == 0 }))
        }()
    }

    /// Mean recall@10 over the held-out users, from a function giving each user's top 10.
    func recall(_ setup: Setup, _ top10: (Int32, UserHistory) -> [Int32]) -> Double {
        let test = setup.split.test, train = setup.split.train
        var trainRows: [Int32: [Int32]] = [:], testRows: [Int32: Set<Int32>] = [:]
        for i in 0..<train.count where setup.heldOut.contains(train.users[i]) { trainRows[train.users[i], default: []].append(train.items[i]) }
        for i in 0..<test.count where setup.heldOut.contains(test.users[i]) { testRows[test.users[i], default: []].insert(test.items[i]) }
        var total = 0.0, n = 0
        for (u, relevant) in testRows {
            let top = top10(u, UserHistory(items: trainRows[u] ?? []))
            total += Double(top.filter(relevant.contains).count) / Double(min(10, relevant.count))
            n += 1
        }
        return total / Double(n)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        /// The folded-in users' recall@10 must reach this fraction of the trained users'.
        let tolerance: Double
        let fit: @Sendable (TrainingData) throws -> any HistoryScoring
        var testDescription: String { "\(name) (within \(Int((1 - tolerance) * 100))%)" }
    }

    static let cases: [Case] = [
        .init(name: "als", tolerance: 0.9) { try ALS.fit($0, configuration: .init(factors: 16, iterations: 10, seed: 1, threads: 2), progress: nil) },
        .init(name: "ease", tolerance: 0.9) { try EASE.fit($0, configuration: .init(l2: 100)) },
        .init(name: "itemknn", tolerance: 0.9) { try ItemKNN.fit($0, configuration: .init(neighbors: 50)) },
        .init(name: "bpr", tolerance: 0.8) { try BPR.fit($0, configuration: .init(factors: 16, epochs: 40, seed: 1, threads: 2)) },
        .init(name: "item2vec", tolerance: 0.8) { try Item2Vec.fit($0, configuration: .init(factors: 16, epochs: 10, seed: 1)) },
    ]

    @Test("a folded-in held-out user gets recommendations about as good as when trained with the rest", arguments: cases)
    func foldIn(c: Case) throws {
        let setup = Setup.shared
        let train = setup.split.train
        // Trained with everyone.
        let full = try c.fit(TrainingData(train))
        let trainedRecall = recall(setup) { u, _ in
            full.recommend(users: [u], k: 10, exclude: InteractionMatrix(train).userItems, threads: 1).row(0).map(\.index)
        }
        // Trained without the held-out users, who are then folded in from their training rows.
        let without = train.filter { !setup.heldOut.contains(train.users[$0]) }
        let partial = try c.fit(TrainingData(without))
        let foldedRecall = recall(setup) { _, history in
            partial.recommend(history: history, k: 10).map(\.index)
        }
        let popularity = try Popularity.fit(TrainingData(without))
        let popularRecall = recall(setup) { _, history in popularity.recommend(history: history, k: 10).map(\.index) }
        #expect(foldedRecall >= c.tolerance * trainedRecall, "\(c.name): folded-in \(foldedRecall) vs trained \(trainedRecall)")
        #expect(foldedRecall > popularRecall, "\(c.name): folded-in \(foldedRecall) vs popularity \(popularRecall)")
    }

    @Test("ALS refits chosen users and items exactly, leaving the others untouched")
    func alsRefit() throws {
        let setup = Setup.shared
        let train = setup.split.train
        let model = try ALS.fit(TrainingData(train), configuration: .init(factors: 8, iterations: 5, seed: 1, threads: 2), progress: nil)
        // New events: user 0 takes items 1–5; a brand-new user appears with items 7 and 8.
        var log = train
        let newUser = log.userIDs.insert("newcomer")
        for item in [Int32(1), 2, 3, 4, 5] { log.users.append(0); log.items.append(item); log.values.append(1); log.timestamps?.append(0) }
        for item in [Int32(7), 8] { log.users.append(newUser); log.items.append(item); log.values.append(1); log.timestamps?.append(0) }
        let matrix = InteractionMatrix(log)
        let refit = try model.refitting(users: [0, newUser], from: matrix)
        #expect(refit.userCount == model.userCount + 1)
        // Listed rows equal the fold-in of their full history; other rows are unchanged.
        for u in [Int32(0), newUser] {
            let history = UserHistory(items: Array(matrix.userItems.columns(inRow: Int(u))), values: Array(matrix.userItems.values(inRow: Int(u))))
            #expect(relativeDifference(refit.userFactors.row(Int(u)), model.foldIn(history)) < 1e-4)
        }
        #expect(refit.userFactors.row(1) == model.userFactors.row(1))
        #expect(refit.itemFactors == model.itemFactors)

        // A new item bought by users 2 and 3 gets a vector by refitting items.
        var withItem = train
        let newItem = withItem.itemIDs.insert("new-item")
        for u in [Int32(2), 3] { withItem.users.append(u); withItem.items.append(newItem); withItem.values.append(1); withItem.timestamps?.append(0) }
        let refitItems = try model.refitting(items: [newItem], from: InteractionMatrix(withItem))
        #expect(refitItems.itemCount == model.itemCount + 1)
        #expect(refitItems.itemFactors.row(Int(newItem)).contains { $0 != 0 })
        #expect(refitItems.itemFactors.row(0) == model.itemFactors.row(0))
        #expect(throws: ModelError.self) { try model.refitting(users: [0], from: InteractionMatrix(withItem)) }
    }

    @Test("BPR refits chosen users by fold-in")
    func bprRefit() throws {
        let train = Setup.shared.split.train
        let model = try BPR.fit(TrainingData(train), configuration: .init(factors: 8, epochs: 5, seed: 1, threads: 1))
        let matrix = InteractionMatrix(train)
        let refit = try model.refitting(users: [4], from: matrix)
        #expect(refit.userFactors.row(4) == model.foldIn(UserHistory(items: Array(matrix.userItems.columns(inRow: 4)))))
        #expect(refit.userFactors.row(5) == model.userFactors.row(5))
    }

    @Test("BPR item fold-in: a vector from an item's users separates them from the others about as well as its trained vector")
    func bprItemFoldIn() throws {
        let train = Setup.shared.split.train
        let model = try BPR.fit(TrainingData(train), configuration: .init(factors: 16, epochs: 40, seed: 1, threads: 2))
        let matrix = InteractionMatrix(train)
        let byItem = matrix.userItems.transposed()
        let k = model.configuration.factors
        /// AUC of an item vector: its users against everyone else, by x_u · y (the bias is shared).
        func auc(_ y: [Float], users: Set<Int32>) -> Double {
            let scores = (0..<model.userCount).map { u in (0..<k).reduce(Float(0)) { $0 + model.userFactors[u, $1] * y[$1] } }
            var wins = 0.0, pairs = 0.0
            for p in users { for n in 0..<Int32(model.userCount) where !users.contains(n) {
                wins += scores[Int(p)] > scores[Int(n)] ? 1 : scores[Int(p)] == scores[Int(n)] ? 0.5 : 0
                pairs += 1
            } }
            return wins / pairs
        }
        var trained = 0.0, folded = 0.0
        let items = (0..<Int32(model.itemCount)).filter { byItem.columns(inRow: Int($0)).count >= 20 }.prefix(20)
        for i in items {
            let users = Array(byItem.columns(inRow: Int(i)))
            let vector = model.foldInItem(users.map { (user: $0, value: 1) }, gram: model.itemFoldingGram())
            #expect(vector == model.foldInItem(users.map { (user: $0, value: 1) }, gram: model.itemFoldingGram()), "deterministic")
            trained += auc(model.itemFactors.row(Int(i)), users: Set(users))
            folded += auc(vector, users: Set(users))
        }
        trained /= Double(items.count); folded /= Double(items.count)
        #expect(items.count == 20)
        #expect(folded >= 0.95 * trained && folded > 0.6, "folded-in AUC \(folded) vs trained \(trained)")
        #expect(model.foldInItem([], gram: model.itemFoldingGram()) == [Float](repeating: 0, count: k + 1), "no users: the zero vector")
    }
}

func relativeDifference(_ a: [Float], _ b: [Float]) -> Float {
    let scale = max(1e-6, b.map(abs).max() ?? 1)
    return zip(a, b).map { abs($0 - $1) }.max()! / scale
}

@Suite("Resumable training")
struct ResumableTrainingTests {
    @Test("ALS trained 4 iterations then continued 6 equals ALS trained 10, bit for bit")
    func alsContinues() throws {
        let train = FoldInTests.Setup.shared.split.train
        let data = TrainingData(train)
        let c = ALS.Configuration(factors: 8, iterations: 10, seed: 3, threads: 1)
        var short = c
        short.iterations = 4
        let whole = try ALS.fit(data, configuration: c, progress: nil)
        let resumed = try ALS.fit(data, configuration: short, progress: nil).continued(on: data, steps: 6)
        #expect(resumed.userFactors == whole.userFactors && resumed.itemFactors == whole.itemFactors)
        #expect(resumed.configuration.iterations == 10 && resumed.history.map(\.iteration) == Array(1...10))
        let other = TrainingData(FoldInTests.Setup.shared.split.test.selecting(Array(0..<100)).compacted())
        #expect(throws: ModelError.self) { try whole.continued(on: other, steps: 1) }
    }
}
