import Foundation
import Testing
import TailorData
import TailorLinalg
@testable import TailorModels

/// One entry per model: how to fit it small and fast on synthetic data.
struct ModelFactory: CustomTestStringConvertible, Sendable {
    let name: String
    /// Minimum recall@10 on the planted data (its structure is low-rank, so every personalized
    /// model should do far better than chance; the thresholds leave room for each family).
    let minimumRecall: Double
    /// Rating models learn the structure of ratings: they are checked by held-out RMSE.
    var isRatingModel = false
    let fit: @Sendable (TrainingData, _ seed: UInt64, _ threads: Int) throws -> any Recommender
    var testDescription: String { name }

    static let all: [ModelFactory] = [
        .init(name: "als", minimumRecall: 0.5) { d, seed, threads in
            try ALS.fit(d, configuration: .init(factors: 8, iterations: 10, regularization: 0.1, alpha: 2, seed: seed, threads: threads), progress: nil)
        },
        .init(name: "bpr", minimumRecall: 0.35) { d, seed, threads in
            try BPR.fit(d, configuration: .init(factors: 8, epochs: 60, learningRate: 0.05, regularization: 0.001, seed: seed, threads: threads))
        },
        .init(name: "bpr-popularity-negatives", minimumRecall: 0.3) { d, seed, threads in
            try BPR.fit(d, configuration: .init(factors: 8, epochs: 60, learningRate: 0.05, regularization: 0.001,
                                                negativeSampling: .popularity, seed: seed, threads: threads))
        },
        .init(name: "itemknn", minimumRecall: 0.4) { d, _, threads in
            try ItemKNN.fit(d, configuration: .init(neighbors: 50, threads: threads))
        },
        .init(name: "itemknn-bm25", minimumRecall: 0.35) { d, _, threads in
            try ItemKNN.fit(d, configuration: .init(neighbors: 50, shrinkage: 5, weighting: .bm25, threads: threads))
        },
        .init(name: "ease", minimumRecall: 0.5) { d, _, threads in
            try EASE.fit(d, configuration: .init(l2: 50, threads: threads))
        },
        .init(name: "mf-sgd", minimumRecall: 0, isRatingModel: true) { d, seed, threads in
            try ExplicitMF.fit(d, configuration: .init(factors: 8, epochs: 30, learningRate: 0.02, regularization: 0.02, seed: seed, threads: threads))
        },
        .init(name: "mf-als-wr", minimumRecall: 0, isRatingModel: true) { d, seed, threads in
            try ExplicitMF.fit(d, configuration: .init(factors: 8, epochs: 10, regularization: 0.05, solver: .alsWR, seed: seed, threads: threads))
        },
        .init(name: "item2vec", minimumRecall: 0.3) { d, seed, _ in
            try Item2Vec.fit(d, configuration: .init(factors: 16, epochs: 15, seed: seed))
        },
        .init(name: "item2vec-attention", minimumRecall: 0.3) { d, seed, _ in
            try Item2Vec.fit(d, configuration: .init(factors: 16, epochs: 15, aggregation: .attention, seed: seed))
        },
        .init(name: "popularity", minimumRecall: 0.15) { d, _, _ in try Popularity.fit(d) },
    ]
}

/// The planted data, split once.
struct PlantedSplit: Sendable {
    let train: Interactions, test: Interactions
    let trainMatrix: InteractionMatrix, testMatrix: InteractionMatrix

    static let shared: PlantedSplit = {
        var (log, truth) = plantedLog(users: 240, items: 120, rank: 3, perUser: 20, seed: 11)
        // Ratings 1–5 from the planted affinity (standardized over the observed pairs), so rating
        // models have the same structure to learn.
        let affinity = (0..<log.count).map { truth[Int(log.users[$0]), Int(log.items[$0])] }
        let mean = affinity.reduce(0, +) / Float(affinity.count)
        let sd = (affinity.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(affinity.count)).squareRoot()
        log.values = affinity.map { min(5, max(1, (3 + 1.5 * ($0 - mean) / sd).rounded())) }
        log.timestamps = (0..<log.count).map { Int64($0) * 60 }
        let split = try! Split.make(log, method: .random(testFraction: 0.2), seed: 1)
        return PlantedSplit(train: split.train, test: split.test,
                            trainMatrix: InteractionMatrix(split.train), testMatrix: InteractionMatrix(split.test))
    }()

    var data: TrainingData { TrainingData(train, matrix: trainMatrix) }

    /// The expected recall@10 of ranking the unseen items at random: for each user,
    /// E[hits] = 10·|relevant| / |unseen items|, over min(10, |relevant|).
    func randomRecallAt10() -> Double {
        let users = (0..<testMatrix.userCount).filter { testMatrix.userItems.count(ofRow: $0) > 0 }
        let n = trainMatrix.itemCount
        return users.map { u in
            let relevant = Double(testMatrix.userItems.count(ofRow: u))
            let unseen = Double(n - (u < trainMatrix.userCount ? trainMatrix.userItems.count(ofRow: u) : 0))
            return min(10, unseen) * relevant / unseen / min(10, relevant)
        }.reduce(0, +) / Double(users.count)
    }

    /// Mean recall@10 of held-out items, seen items excluded.
    func recallAt10(_ model: any Recommender) -> Double {
        let users = (0..<Int32(testMatrix.userCount)).filter { testMatrix.userItems.count(ofRow: Int($0)) > 0 }
        let top = model.recommend(users: users, k: 10, exclude: trainMatrix.userItems, threads: 2)
        var total = 0.0
        for (q, u) in users.enumerated() {
            let relevant = Set(testMatrix.userItems.columns(inRow: Int(u)))
            total += Double(top.row(q).filter { relevant.contains($0.index) }.count) / Double(min(10, relevant.count))
        }
        return total / Double(users.count)
    }
}

/// Every item's score for every user, as one array.
func allScores(_ model: any Recommender) -> [Float] {
    var scores = [Float](repeating: .nan, count: model.userCount * model.itemCount)
    scores.withUnsafeMutableBufferPointer { model.scores(users: Array(0..<Int32(model.userCount)), into: $0, threads: 1) }
    return scores
}

@Suite("Conformance: every model")
struct ConformanceTests {
    let planted = PlantedSplit.shared

    @Test("learns the planted structure (beats popularity and a per-model floor; rating models: RMSE)", arguments: ModelFactory.all)
    func learnsStructure(factory: ModelFactory) throws {
        let model = try factory.fit(planted.data, 3, 2)
        if factory.isRatingModel {
            let predictor = try #require(model as? any RatingPredictor)
            var squared = 0.0, baseline = 0.0
            let mean = Double(planted.train.values.reduce(0, +)) / Double(planted.train.count)
            for i in 0..<planted.test.count {
                let r = Double(planted.test.values[i])
                let e = r - Double(predictor.predictRating(user: planted.test.users[i], item: planted.test.items[i]))
                squared += e * e
                baseline += (r - mean) * (r - mean)
            }
            let rmse = (squared / Double(planted.test.count)).squareRoot(), meanRMSE = (baseline / Double(planted.test.count)).squareRoot()
            #expect(rmse < 0.8 * meanRMSE, "\(factory.name) held-out RMSE \(rmse) vs predicting the mean \(meanRMSE)")
            return
        }
        let recall = planted.recallAt10(model)
        let popularity = planted.recallAt10(try Popularity.fit(planted.data))
        #expect(recall >= factory.minimumRecall, "\(factory.name) recall@10 \(recall)")
        // Every model, popularity included, must beat ranking the unseen items at random
        // (measured: popularity 0.20 vs 0.096 at random; the learned models 0.76–0.96).
        let random = planted.randomRecallAt10()
        #expect(recall > 1.5 * random, "\(factory.name) recall@10 \(recall) vs \(random) at random")
        if factory.name != "popularity" {
            #expect(recall > popularity * 1.5, "\(factory.name) recall@10 \(recall) vs popularity \(popularity)")
        }
    }

    @Test("excludes seen items when asked, and only then", arguments: ModelFactory.all)
    func excludesSeen(factory: ModelFactory) throws {
        let model = try factory.fit(planted.data, 3, 2)
        let users = Array(0..<Int32(40))
        let excluded = model.recommend(users: users, k: 20, exclude: planted.trainMatrix.userItems, threads: 2)
        let included = model.recommend(users: users, k: 20, exclude: nil, threads: 2)
        var sawSeen = false
        for (q, u) in users.enumerated() {
            let seen = Set(planted.trainMatrix.userItems.columns(inRow: Int(u)))
            #expect(excluded.row(q).allSatisfy { !seen.contains($0.index) })
            #expect(excluded.counts[q] == 20)
            if included.row(q).contains(where: { seen.contains($0.index) }) { sawSeen = true }
        }
        if factory.name != "popularity" { #expect(sawSeen, "without exclusion, training items should rank high") }
    }

    @Test("is deterministic for a seed and thread count", arguments: ModelFactory.all)
    func deterministic(factory: ModelFactory) throws {
        for threads in [1, 2] {
            let a = try factory.fit(planted.data, 5, threads), b = try factory.fit(planted.data, 5, threads)
            #expect(allScores(a) == allScores(b), "\(factory.name) threads \(threads)")
        }
    }

    @Test("save → load gives identical scores", arguments: ModelFactory.all)
    func roundTrip(factory: ModelFactory) throws {
        let model = try factory.fit(planted.data, 3, 2)
        let bundle = try ModelBundle(model: model, training: planted.train, matrix: planted.trainMatrix)
        let dir = temporaryDirectory("conformance-\(factory.name)")
        try bundle.save(to: dir)
        let back = try ModelBundle.load(from: dir)
        #expect(type(of: back.model).kind == type(of: model).kind)
        #expect(allScores(back.model) == allScores(model))
    }

    @Test("handles users and items without interactions", arguments: ModelFactory.all)
    func emptyRowsAndColumns(factory: ModelFactory) throws {
        // Add a user with no interactions and an item nobody touched.
        var train = planted.train
        train.userIDs.insert("lonely-user")
        train.itemIDs.insert("unseen-item")
        let model = try factory.fit(TrainingData(train), 3, 2)
        #expect(model.userCount == planted.trainMatrix.userCount + 1 && model.itemCount == planted.trainMatrix.itemCount + 1)
        let scores = allScores(model)
        let finite = scores.allSatisfy { $0.isFinite }
        #expect(finite, "\(factory.name) produced non-finite scores")
        let lonely = Int32(model.userCount - 1)
        let top = model.recommend(users: [lonely], k: 5, exclude: nil, threads: 1)
        #expect(top.counts[0] == 5)
    }

    @Test("rejects empty input with a clear error", arguments: ModelFactory.all)
    func rejectsEmpty(factory: ModelFactory) {
        let empty = TrainingData(matrix: InteractionMatrix(userItems: CSRMatrix(rows: 4, columns: 3)))
        #expect {
            try factory.fit(empty, 1, 1)
        } throws: { error in
            let text = "\(error)"
            return error is ModelError && (text.contains("no interactions") || text.contains("no ratings"))
        }
    }
}

@Suite("Models on MovieLens 100K")
struct MovieLensQualityTests {
    static let path: String? = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let p = url.deletingLastPathComponent().appendingPathComponent("shared/data/ml-100k/u.data").path
        return ProcessInfo.processInfo.environment["TAILOR_SHARED_DATA"].map { $0 + "/ml-100k/u.data" } ?? (FileManager.default.fileExists(atPath: p) ? p : nil)
    }()

    @Test("every model clears a minimum NDCG-free recall@10 on a random split",
          .enabled(if: path != nil, "../shared/data is absent (set TAILOR_SHARED_DATA to run this test)"))
    func minimumQuality() throws {
        let (log, _) = try InteractionReader.read(path: Self.path!)
        let split = try Split.make(log, method: .random(testFraction: 0.2), seed: 42)
        let train = InteractionMatrix(split.train)
        let test = InteractionMatrix(userItems: CSRMatrix(rows: train.userCount, columns: train.itemCount,
                                                          rowIndices: split.test.users, columnIndices: split.test.items, values: split.test.values))
        let data = TrainingData(split.train, matrix: train)
        let evaluation = PlantedSplit(train: split.train, test: split.test, trainMatrix: train, testMatrix: test)
        // Floors measured once (recall@10 at these settings: als .21, ease .24, itemknn .19, bpr .19,
        // popularity .11), set with margin so noise never trips them but a broken model does.
        let floors: [(String, Double, any Recommender)] = [
            ("als", 0.17, try ALS.fit(data, configuration: .init(factors: 64, iterations: 15), progress: nil)),
            ("ease", 0.20, try EASE.fit(data, configuration: .init(l2: 500))),
            ("itemknn", 0.15, try ItemKNN.fit(data)),
            ("popularity", 0.09, try Popularity.fit(data)),
        ]
        for (name, floor, model) in floors {
            let recall = evaluation.recallAt10(model)
            #expect(recall >= floor, "\(name) recall@10 \(recall) < \(floor)")
        }
    }
}
