import Testing
import TailorData
import TailorModels
import TailorEval

@Suite("README examples")
struct ReadmeExampleTests {
    @Test("the library example in the README compiles and runs")
    func libraryExample() throws {
        // Same code as the README, on a synthetic log instead of ratings.csv, of the generator's
        // default size (2,000 users × 1,000 items, 60,000 interactions). (On a toy log of 200 × 100
        // with 15 interactions per user, 64 factors overfit and popularity wins; see the note in
        // Docs/Benchmarks.md.)
        let c = SyntheticLog.Configuration()
        let text = InteractionWriter.csv(SyntheticLog.generate(c).interactions)
        let (log, report) = try InteractionReader.read(text: text, name: "ratings.csv")
        #expect(report.rowsSkipped == 0)
        let split = try Split.make(log, method: .random(testFraction: 0.2), seed: 42)
        let train = InteractionMatrix(split.train)
        let losses = LossLog()
        let als = try ALS.fit(train, configuration: .init(factors: 64, iterations: 15)) { event in
            losses.add(event.step, event.metrics["loss"] ?? 0)
        }
        let bundle = try ModelBundle(model: als, training: split.train, matrix: train)
        let top10 = try bundle.recommend(userIDs: ["u42"], k: 10)
        // What the example promises: progress per iteration with a falling loss, and ten unseen
        // items, best first, from a model that ranks held-out items better than popularity.
        #expect(losses.steps == Array(1...15) && losses.values.last! < losses.values.first!)
        let items = top10.first!.items
        #expect(items.count == 10 && Set(items.map(\.item)).count == 10)
        #expect(zip(items, items.dropFirst()).allSatisfy { $0.score >= $1.score })
        let seen = Set(split.train.items.indices.filter { split.train.userIDs[split.train.users[$0]] == "u42" }.map { split.train.itemIDs[split.train.items[$0]] })
        #expect(seen.isDisjoint(with: items.map(\.item)))
        let test = AlignedInteractions(split.test, to: bundle)
        let ndcg = Evaluator.evaluate(als, train: train.userItems, test: test.matrix, configuration: .init(ks: [10])).value("ndcg", at: 10)!
        let popular = Evaluator.evaluate(try Popularity.fit(train), train: train.userItems, test: test.matrix, configuration: .init(ks: [10])).value("ndcg", at: 10)!
        #expect(ndcg > popular, "ALS NDCG@10 \(ndcg) vs popularity \(popular)")
    }
}

final class LossLog: @unchecked Sendable {
    private(set) var steps: [Int] = [], values: [Double] = []
    func add(_ step: Int, _ value: Double) { steps.append(step); values.append(value) }
}
