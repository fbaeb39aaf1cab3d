import TailorData
import Foundation
import Testing
import TailorLinalg
import TailorModels
@testable import TailorEval

@Suite("Metrics match hand-computed values")
struct MetricsTests {
    // ranked 1,2,3,4,5; relevant {2,5,9}: hits at ranks 2 and 5.
    let ranked: [Int32] = [1, 2, 3, 4, 5]
    let relevant: Set<Int32> = [2, 5, 9]

    func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) < 1e-9 }

    @Test("at K = 5")
    func atFive() {
        #expect(Metrics.hits(ranked, relevant, k: 5) == 2)
        #expect(close(Metrics.precision(ranked, relevant, k: 5), 2.0 / 5))
        #expect(close(Metrics.recall(ranked, relevant, k: 5), 2.0 / 3))
        #expect(Metrics.hitRate(ranked, relevant, k: 5) == 1)
        // DCG = 1/log2(3) + 1/log2(6); IDCG = 1 + 1/log2(3) + 1/log2(4)
        #expect(close(Metrics.ndcg(ranked, relevant, k: 5), (1 / log2(3.0) + 1 / log2(6.0)) / (1 + 1 / log2(3.0) + 0.5)))
        #expect(abs(Metrics.ndcg(ranked, relevant, k: 5) - 0.4776240) < 1e-6)
        #expect(close(Metrics.reciprocalRank(ranked, relevant, k: 5), 0.5))
        // AP = (1/2 + 2/5) / min(5, 3)
        #expect(close(Metrics.averagePrecision(ranked, relevant, k: 5), 0.3))
    }

    @Test("at K = 3 and K = 1")
    func smallerK() {
        #expect(close(Metrics.precision(ranked, relevant, k: 3), 1.0 / 3))
        #expect(close(Metrics.recall(ranked, relevant, k: 3), 1.0 / 3))
        #expect(close(Metrics.ndcg(ranked, relevant, k: 3), (1 / log2(3.0)) / (1 + 1 / log2(3.0) + 0.5)))
        #expect(close(Metrics.averagePrecision(ranked, relevant, k: 3), 0.5 / 3))
        for f in [Metrics.precision, Metrics.recall, Metrics.ndcg, Metrics.reciprocalRank, Metrics.hitRate, Metrics.averagePrecision] {
            #expect(f(ranked, relevant, 1) == 0)
        }
    }

    @Test("a perfect list scores 1 on NDCG, MAP, MRR and recall")
    func perfect() {
        let r: [Int32] = [7, 8, 1, 2]
        let rel: Set<Int32> = [7, 8]
        #expect(close(Metrics.ndcg(r, rel, k: 4), 1))
        #expect(close(Metrics.averagePrecision(r, rel, k: 4), 1))
        #expect(close(Metrics.reciprocalRank(r, rel, k: 4), 1))
        #expect(close(Metrics.recall(r, rel, k: 4), 1))
        #expect(close(Metrics.precision(r, rel, k: 4), 0.5))
    }

    @Test("a list shorter than K counts missing slots as misses; no relevant items gives 0")
    func edges() {
        #expect(close(Metrics.precision([2], [2], k: 10), 0.1))
        #expect(close(Metrics.ndcg([2], [2], k: 10), 1))
        #expect(Metrics.ndcg([1, 2], [], k: 2) == 0)
    }

    @Test("AUC counts correctly ordered pairs, ties as half, skipping excluded items")
    func auc() throws {
        let scores: [Float] = [0.9, 0.1, 0.5, -.infinity, 0.5, 0.3]
        let value = try #require(scores.withUnsafeBufferPointer { Metrics.auc(scores: $0, relevant: [2, 5]) })
        // item 2 (0.5): beats 0.1, ties 0.5 → 1.5; item 5 (0.3): beats 0.1 → 1; of 2 × 3 pairs.
        #expect(close(value, 2.5 / 6))
        #expect([Float](arrayLiteral: 1, 0).withUnsafeBufferPointer { Metrics.auc(scores: $0, relevant: [0]) } == 1)
        #expect([Float](arrayLiteral: 1).withUnsafeBufferPointer { Metrics.auc(scores: $0, relevant: [0]) } == nil)
    }
}

/// A recommender with fixed scores per user, for checking the evaluator's bookkeeping.
struct FixedScores: Recommender {
    static let kind = "fixed"
    let table: [[Float]]
    var userCount: Int { table.count }
    var itemCount: Int { table.first?.count ?? 0 }
    func scores(users: [Int32], into scores: UnsafeMutableBufferPointer<Float>, threads: Int) {
        for (r, u) in users.enumerated() { for i in 0..<itemCount { scores[r * itemCount + i] = table[Int(u)][i] } }
    }
    func archiveTensors() -> [String: SafeTensors.Tensor] { [:] }
    func archiveConfiguration() throws -> JSONValue { .null }
    init(table: [[Float]]) { self.table = table }
    init(archiveTensors: [String: SafeTensors.Tensor], configuration: JSONValue) throws { table = [] }
}

@Suite("Evaluator")
struct EvaluatorTests {
    func csr(_ rows: [[Int32]], columns: Int) -> CSRMatrix {
        var r: [Int32] = [], c: [Int32] = []
        for (u, items) in rows.enumerated() { for i in items { r.append(Int32(u)); c.append(i) } }
        return CSRMatrix(rows: rows.count, columns: columns, rowIndices: r, columnIndices: c, values: [Float](repeating: 1, count: r.count))
    }

    @Test("excludes training items, skips users without test items, averages over the rest")
    func bookkeeping() throws {
        // 3 users × 6 items. Scores rank items 0,1,2,3,4,5 for users 0 and 1.
        let descending: [Float] = [6, 5, 4, 3, 2, 1]
        let model = FixedScores(table: [descending, descending, descending])
        let train = csr([[0], [], [1]], columns: 6)
        // user 0: item 0 is in train (dropped from test), relevant {2}; ranking after exclusion 1,2,3,…
        // user 1: relevant {0, 5}; user 2: no test items → skipped.
        let test = csr([[0, 2], [0, 5], []], columns: 6)
        let report = Evaluator.evaluate(model, train: train, test: test, configuration: .init(ks: [1, 2], threads: 2))
        #expect(report.users == 2)
        #expect(report.testInteractions == 3 && report.testInteractionsAlreadyInTrain == 1)
        // K = 2: user 0 list [1,2] hits rank 2; user 1 list [0,1] hits rank 1.
        #expect(report.value("precision", at: 2) == (0.5 + 0.5) / 2)
        #expect(report.value("recall", at: 2) == (1 + 0.5) / 2)
        #expect(report.value("mrr", at: 2) == (0.5 + 1) / 2)
        #expect(report.value("hit_rate", at: 1) == 0.5)
        #expect(abs(report.value("ndcg", at: 2)! - ((1 / log2(3.0)) + 1 / (1 + 1 / log2(3.0))) / 2) < 1e-9)
        // Coverage at K=1: items {1, 0} of 6.
        #expect(report.value("coverage", at: 1) == 2.0 / 6)
        // AUC: user 0 candidates 1..5, positive 2 beats 3,4,5, loses to 1 → 3/4. User 1: 0 beats all 4
        // negatives, 5 beats none → 4/8.
        #expect(abs(report.auc! - (0.75 + 0.5) / 2) < 1e-9)
    }

    @Test("the report table lists every model and K")
    func table() {
        let report = EvaluationReport(model: "x", users: 1, testInteractions: 1, testInteractionsAlreadyInTrain: 0, auc: 0.5,
                                      atK: [.init(k: 10, metrics: ["ndcg": 0.25])])
        let text = EvaluationReport.table([("als", report), ("popularity", report)])
        #expect(text.contains("als") && text.contains("popularity") && text.contains("0.2500"))
        #expect(text.split(separator: "\n").count == 4)
    }
}

@Suite("Rating errors")
struct RatingErrorTests {
    struct Constant: RatingPredictor {
        static let kind = "constant"
        var userCount: Int { 2 }
        var itemCount: Int { 2 }
        func predictRating(user: Int32, item: Int32) -> Float { 3 }
        func scores(users: [Int32], into scores: UnsafeMutableBufferPointer<Float>, threads: Int) {}
        func archiveTensors() -> [String: SafeTensors.Tensor] { [:] }
        func archiveConfiguration() throws -> JSONValue { .null }
        init() {}
        init(archiveTensors: [String: SafeTensors.Tensor], configuration: JSONValue) throws {}
    }

    @Test("RMSE and MAE of predictions on held-out ratings")
    func errors() {
        // Ratings 5 and 2 against a constant 3: errors 2 and −1.
        let test = CSRMatrix(rows: 2, columns: 2, rowPointers: [0, 1, 2], columnIndices: [1, 0], values: [5, 2])
        let e = Evaluator.ratingErrors(Constant(), test: test)
        #expect(e.count == 2)
        #expect(abs(e.rmse - (5.0 / 2).squareRoot()) < 1e-12)
        #expect(abs(e.mae - 1.5) < 1e-12)
    }
}
