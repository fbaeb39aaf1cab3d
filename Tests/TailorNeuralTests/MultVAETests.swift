import Foundation
import Testing
import TailorData
import TailorLinalg
import TailorModels
@testable import TailorNeural
import TailorExperiments

@Suite("Mult-VAE")
struct MultVAETests {
    static func configuration() -> MultVAE.Configuration {
        var c = MultVAE.Configuration()
        c.hidden = 32
        c.latent = 8
        c.epochs = 60
        c.batchSize = 40
        c.learningRate = 0.005
        c.annealSteps = 100
        c.validationUsers = 0
        return c
    }

    static let data = groupedData()
    static let model = try! MultVAE.fit(data, configuration: configuration(), progress: nil)

    func groupShare(_ scores: [Float], group: Int, banned: Set<Int32> = []) -> Int {
        scores.indices.filter { !banned.contains(Int32($0)) }.sorted { scores[$0] > scores[$1] }.prefix(10).filter { $0 % 3 == group }.count
    }

    @Test("known users rank their group's unseen items first; the loss falls")
    func knownUsers() {
        let model = Self.model, seen = Self.data.matrix.userItems
        var matching = 0
        for u in 0..<model.userCount {
            let row = model.userFactors.row(u)
            let scores = (0..<model.itemCount).map { i in zip(row, model.itemFactors.row(i)).map(*).reduce(0, +) }
            matching += groupShare(scores, group: u % 3, banned: Set(seen.columns(inRow: u)))
        }
        // Chance is a third of 10 per user.
        #expect(Double(matching) / Double(10 * model.userCount) >= 0.8, "\(matching) of \(10 * model.userCount)")
        #expect(model.summary.losses.last! < model.summary.losses.first!)
    }

    @Test("a new user's history folds in with one pass; unknown items are ignored; the file round-trips")
    func foldInAndArchive() throws {
        let model = Self.model
        var scores = [Float](repeating: 0, count: model.itemCount)
        scores.withUnsafeMutableBufferPointer { model.scores(for: UserHistory(items: [4, 7, 13, 999, -2]), into: $0) }
        #expect(scores.allSatisfy { $0.isFinite })
        #expect(groupShare(scores, group: 1, banned: [4, 7, 13]) >= 8)
        let back = try MultVAE(archiveTensors: model.archiveTensors(), configuration: model.archiveConfiguration())
        var again = [Float](repeating: 0, count: model.itemCount)
        again.withUnsafeMutableBufferPointer { back.scores(for: UserHistory(items: [4, 7, 13]), into: $0) }
        var plain = [Float](repeating: 0, count: model.itemCount)
        plain.withUnsafeMutableBufferPointer { model.scores(for: UserHistory(items: [4, 7, 13]), into: $0) }
        #expect(again == plain && back.userFactors == model.userFactors)
    }

    @Test("early stopping keeps the best validation epoch; bad settings name the key")
    func validationAndSettings() throws {
        var c = Self.configuration()
        c.epochs = 8
        c.validationUsers = 40
        c.patience = 2
        let model = try MultVAE.fit(Self.data, configuration: c, progress: nil)
        let best = try #require(model.summary.bestEpoch)
        #expect(model.summary.validation[best - 1] == model.summary.validation.max())
        c.dropout = 1
        #expect { try MultVAE.fit(Self.data, configuration: c, progress: nil) } throws: { "\($0)".contains("configuration.dropout") }
    }
}

@Suite("Training curves")
struct TrainingCurveTests {
    @Test("a neural model's curve is its summary: a loss and a validation value per epoch trained, the kept epoch's value as the best")
    func neuralCurve() throws {
        var c = MultVAETests.configuration()
        c.epochs = 12; c.validationUsers = 40; c.patience = 3
        let model = try MultVAE.fit(MultVAETests.data, configuration: c, progress: nil)
        let curve = model.trainingCurve
        #expect(curve.unit == "epoch" && curve.losses.count == model.summary.losses.count && curve.losses.count >= 1 && curve.losses.count <= 12)
        #expect(curve.validation == model.summary.validation && curve.validation.count == curve.losses.count)
        let best = try #require(model.summary.bestEpoch)
        #expect(curve.bestValidation == model.summary.validation[best - 1] && curve.bestValidation == curve.validation.max())
    }

    @Test("ALS's curve holds the loss of each iteration it computed")
    func alsCurve() throws {
        var c = ALS.Configuration(factors: 4, iterations: 5, seed: 1, threads: 1)
        c.computeLoss = true
        let model = try ALS.fit(InteractionMatrix(MultVAETests.data.interactions!), configuration: c)
        let curve = model.trainingCurve
        #expect(curve.unit == "iteration" && curve.losses.count == 5 && curve.losses.allSatisfy { $0 != nil } && curve.validation.isEmpty)
        #expect(curve.losses.map { $0! } == model.history.map { $0.loss! })
    }
}

@Suite("Tuning a neural model")
struct NeuralTuningTests {
    @Test("median pruning stops a trial inside its one fit at the rung (cost = the rung's epochs), judged by the model's own validation metric")
    func pruningInsideTheFit() throws {
        TailorNeural.register()
        let data = groupedData()
        var c = Tuner.Configuration()
        c.method = .random; c.trials = 8; c.rungs = [2, 6]; c.minTrialsToPrune = 2; c.threads = 2; c.seed = 3
        let space = SearchSpace(["learningRate": .float(low: 0.00001, high: 0.05, log: true, grid: nil)])
        let base: JSONValue = .object(["hidden": .number(32), "latent": .number(8), "batchSize": .number(40), "validationUsers": .number(60),
                                       "patience": .null, "annealSteps": .number(20)])
        let result = try Tuner(model: "mult-vae", space: space, base: base, configuration: c).run(data.interactions!, side: data.side)
        let pruned = result.trials.filter(\.pruned), finished = result.trials.filter { !$0.pruned }
        #expect(!pruned.isEmpty && !finished.isEmpty, "\(pruned.count) pruned, \(finished.count) finished")
        // A pruned trial trained 2 epochs, not 2 + a refit; a finished one 6.
        #expect(pruned.allSatisfy { $0.cost == 2 && $0.rungs.map(\.budget) == [2] })
        #expect(finished.allSatisfy { $0.cost == 6 && $0.rungs.map(\.budget) == [2, 6] })
        // Each pruned trial was below the median of the trials before it at epoch 2.
        for t in pruned {
            let earlier = result.trials.filter { $0.number < t.number }.compactMap { $0.rungs.first?.score }.sorted()
            #expect(earlier.count >= 2)
            let median = earlier.count % 2 == 1 ? earlier[earlier.count / 2] : (earlier[earlier.count / 2 - 1] + earlier[earlier.count / 2]) / 2
            #expect(t.score < median)
        }
        #expect(result.best.score == finished.map(\.score).max())
    }
}
