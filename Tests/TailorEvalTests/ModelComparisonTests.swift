import Testing
import Foundation
import TailorData
import TailorModels
import TailorEval

@Suite("Comparing models on held-out data (what tailor evaluate runs)")
struct ModelComparisonTests {
    /// A synthetic log split at random, and ALS trained on its training part.
    func fixture() throws -> (split: Split, bundle: ModelBundle) {
        let log = synthetic(users: 300, items: 200, interactions: 9_000, seed: 3)
        let split = try Split.make(log, method: .random(testFraction: 0.2), seed: 42)
        let matrix = InteractionMatrix(split.train)
        let als = try ALS.fit(matrix, configuration: .init(factors: 16, iterations: 5))
        return (split, try ModelBundle(model: als, training: split.train, matrix: matrix))
    }

    @Test("ranking scores each model as the evaluator does, labels repeated kinds by directory, adds popularity once, and says what it left out")
    func ranking() throws {
        let (split, bundle) = try fixture()
        // A second ALS trained on other data: its training log is not the one given.
        let otherLog = synthetic(users: 300, items: 200, interactions: 9_000, seed: 4)
        let otherMatrix = InteractionMatrix(otherLog)
        let otherBundle = try ModelBundle(model: try ALS.fit(otherMatrix, configuration: .init(factors: 16, iterations: 5)),
                                          training: otherLog, matrix: otherMatrix)
        // A test row for a user no model saw.
        let t = split.test
        var userIDs = t.userIDs
        let stranger = userIDs.insert("stranger")
        let test = Interactions(users: t.users + [stranger], items: t.items + [t.items[0]], values: t.values + [1],
                                timestamps: t.timestamps.map { $0 + [$0[0]] }, userIDs: userIDs, itemIDs: t.itemIDs)
        let entries = ModelComparison.Entry.labelled(paths: ["runs/a", "runs/b"], bundles: [bundle, otherBundle])
        #expect(entries.map(\.label) == ["a", "b"])
        let configuration = Evaluator.Configuration(ks: [10])
        let result = try ModelComparison.ranking(entries, train: split.train, test: test, trainName: "train.csv", configuration: configuration)
        #expect(result.rows.map(\.0) == ["a", "b", "popularity"])
        #expect(result.trainMatchesModel == ["a": true, "b": false])
        #expect(result.notes.contains { $0.contains("train.csv differs from the data runs/b was trained on") })
        #expect(result.unknownTestUsers == 1 && result.unknownTestUserRows == 1)
        #expect(result.notes.contains { $0.hasPrefix("left out of the test: 1 users") })
        // The same numbers as scoring the model directly.
        let aligned = (AlignedInteractions(split.train, to: bundle), AlignedInteractions(test, to: bundle))
        let direct = Evaluator.evaluate(bundle.model, train: aligned.0.matrix, test: aligned.1.matrix, configuration: configuration)
        #expect(result.rows[0].1.value("ndcg", at: 10) == direct.value("ndcg", at: 10))
        let popular = result.rows[2].1.value("ndcg", at: 10)!
        #expect(result.rows[0].1.value("ndcg", at: 10)! > popular, "ALS beats popularity on its own data")
        // One model, no baseline: one row, labelled by its kind; no rating errors from ALS.
        let alone = try ModelComparison.ranking(ModelComparison.Entry.labelled(paths: ["runs/a"], bundles: [bundle]), train: split.train,
                                                test: split.test, trainName: "train.csv", configuration: configuration, baseline: false)
        #expect(alone.rows.map(\.0) == ["als"] && alone.ratingErrors.isEmpty && alone.notes.isEmpty)
        #expect(throws: ModelError.self) { try ModelComparison.ranking([], train: split.train, test: split.test, trainName: "x", configuration: configuration) }
    }

    @Test("cold start and click protocols refuse models that cannot take part, by name, and recipes without the right holdout")
    func refusals() throws {
        let (_, bundle) = try fixture()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("comparison-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("log.csv").path
        let log = synthetic(users: 100, items: 50, interactions: 2_000, seed: 5)
        try InteractionWriter.csv(log).write(toFile: path, atomically: true, encoding: .utf8)
        let entries = ModelComparison.Entry.labelled(paths: ["runs/als"], bundles: [bundle])
        let cold = try DatasetRecipe(source: .log(path), holdout: .init(method: .coldUsers(testFraction: 0.2, revealed: 0))).prepare()
        #expect { try ModelComparison.coldStart(entries, method: .coldUsers(testFraction: 0.2, revealed: 0), prepared: cold, configuration: .init()) }
            throws: { e in (e as? ModelError)?.code == .unsupported && "\(e)".contains("no model given can score cold users") }
        let random = try DatasetRecipe(source: .log(path), holdout: .init(method: .random(testFraction: 0.2))).prepare()
        #expect { try ModelComparison.coldStart(entries, method: .random(testFraction: 0.2), prepared: random, configuration: .init()) }
            throws: { e in (e as? ModelError)?.code == .invalidConfiguration }
        // Clicks: ALS is left out with a note; the item click rate is still scored.
        let clicks = try ModelComparison.clicks(entries, prepared: random, seed: 1)
        #expect(clicks.rows.map(\.0) == ["item click rate"])
        #expect(clicks.notes == ["warning: runs/als (als) does not predict clicks; left out (train --model ranker)"])
        #expect(clicks.shown == 5 * clicks.clicked && clicks.clicked == random.test!.count)
        let none = try DatasetRecipe(source: .log(path)).prepare()
        #expect(throws: ModelError.self) { try ModelComparison.clicks(entries, prepared: none, seed: 1) }
    }

    func synthetic(users: Int, items: Int, interactions: Int, seed: UInt64) -> Interactions {
        var c = SyntheticLog.Configuration()
        (c.users, c.items, c.interactions, c.seed) = (users, items, interactions, seed)
        return SyntheticLog.generate(c).interactions
    }
}
