import Testing
import TailorData
import TailorModels
import TailorEval

@Suite("README examples")
struct ReadmeExampleTests {
    @Test("the library example in the README compiles and runs")
    func libraryExample() throws {
        // Same code as the README, on a synthetic log instead of ratings.csv.
        var c = SyntheticLog.Configuration()
        c.users = 200; c.items = 100; c.interactions = 3_000
        let text = InteractionWriter.csv(SyntheticLog.generate(c).interactions)
        let (log, report) = try InteractionReader.read(text: text, name: "ratings.csv")
        #expect(report.rowsSkipped == 0)
        let split = try Split.make(log, method: .random(testFraction: 0.2), seed: 42)
        let train = InteractionMatrix(split.train)
        let als = try ALS.fit(train, configuration: .init(factors: 8, iterations: 3)) { event in
            _ = (event.step, event.metrics["loss"] ?? 0)
        }
        let bundle = try ModelBundle(model: als, training: split.train, matrix: train)
        let top10 = try bundle.recommend(userIDs: ["u42"], k: 10)
        #expect(top10.first?.items.count == 10)
    }
}
