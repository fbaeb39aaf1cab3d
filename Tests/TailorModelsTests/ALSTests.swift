import Foundation
import Testing
import TailorData
import TailorLinalg
@testable import TailorModels

@Suite("ALS")
struct ALSTests {
    func smallConfig(_ solver: ALS.Solver = .conjugateGradient, threads: Int = 2) -> ALS.Configuration {
        var c = ALS.Configuration(factors: 8, iterations: 12, regularization: 0.1, alpha: 2, solver: solver, seed: 5, threads: threads)
        c.computeLoss = true
        return c
    }

    /// Mean over users of the fraction of their held-out items that rank in the top 10.
    func recallAt10(_ model: any Recommender, train: InteractionMatrix, test: InteractionMatrix) -> Double {
        let users = (0..<Int32(test.userCount)).filter { test.userItems.count(ofRow: Int($0)) > 0 }
        let top = model.recommend(users: users, k: 10, exclude: train.userItems, threads: 2)
        var total = 0.0
        for (q, u) in users.enumerated() {
            let relevant = Set(test.userItems.columns(inRow: Int(u)))
            total += Double(top.row(q).filter { relevant.contains($0.index) }.count) / Double(min(10, relevant.count))
        }
        return total / Double(users.count)
    }

    @Test("recovers planted low-rank structure far better than popularity", arguments: [ALS.Solver.conjugateGradient, .cholesky])
    func plantedStructure(solver: ALS.Solver) throws {
        let (log, _) = plantedLog()
        let split = try Split.make(log, method: .random(testFraction: 0.2), seed: 1)
        let train = InteractionMatrix(split.train), test = InteractionMatrix(split.test)
        let als = try ALS.fit(train, configuration: smallConfig(solver))
        let pop = try Popularity.fit(train)
        let alsRecall = recallAt10(als, train: train, test: test)
        let popRecall = recallAt10(pop, train: train, test: test)
        #expect(alsRecall > 0.6, "ALS recall@10 \(alsRecall)")
        #expect(alsRecall > 2 * popRecall, "ALS \(alsRecall) vs popularity \(popRecall)")
    }

    @Test("with the exact solver the loss never increases; with CG it ends lower than it starts")
    func lossDecreases() throws {
        let (log, _) = plantedLog(users: 150, items: 100)
        let m = InteractionMatrix(log)
        let exact = try ALS.fit(m, configuration: smallConfig(.cholesky))
        let losses = exact.history.compactMap(\.loss)
        #expect(losses.count == 12)
        #expect(zip(losses, losses.dropFirst()).allSatisfy { $1 <= $0 * (1 + 1e-5) }, "\(losses)")
        #expect(abs(exact.loss(m) - losses.last!) < 1e-6 * max(1, losses.last!))
        let cg = try ALS.fit(m, configuration: smallConfig(.conjugateGradient)).history.compactMap(\.loss)
        #expect(cg.last! < cg.first!)
        #expect(cg.last! < losses.last! * 1.05, "CG converges close to the exact solution")
    }

    @Test("deterministic for a seed, and the same for any thread count")
    func determinism() throws {
        let (log, _) = plantedLog(users: 120, items: 90)
        let m = InteractionMatrix(log)
        let a = try ALS.fit(m, configuration: smallConfig(threads: 1))
        let b = try ALS.fit(m, configuration: smallConfig(threads: 2))
        let c = try ALS.fit(m, configuration: smallConfig(threads: 2))
        #expect(a.userFactors == b.userFactors && a.itemFactors == b.itemFactors)
        #expect(b.userFactors == c.userFactors)
        var other = smallConfig()
        other.seed = 99
        #expect(try ALS.fit(m, configuration: other).userFactors != a.userFactors)
    }

    @Test("progress is reported once per iteration with the loss")
    func progress() throws {
        let (log, _) = plantedLog(users: 50, items: 40)
        let events = Events()
        _ = try ALS.fit(InteractionMatrix(log), configuration: smallConfig(), progress: { events.append($0) })
        let seen = events.all
        #expect(seen.map(\.step) == Array(1...12))
        #expect(seen.allSatisfy { $0.totalSteps == 12 && $0.metrics["loss"] != nil })
    }

    @Test("recommendations exclude seen items when asked, and match scoring everything")
    func exclusion() throws {
        let (log, _) = plantedLog(users: 60, items: 50, perUser: 10)
        let m = InteractionMatrix(log)
        let model = try ALS.fit(m, configuration: smallConfig())
        let users = Array(0..<Int32(60))
        let excluded = model.recommend(users: users, k: 15, exclude: m.userItems, threads: 2)
        let included = model.recommend(users: users, k: 15, exclude: nil, threads: 2)
        var sawSeenWhenIncluded = false
        for u in users {
            let seen = Set(m.userItems.columns(inRow: Int(u)))
            #expect(excluded.row(Int(u)).allSatisfy { !seen.contains($0.index) })
            if included.row(Int(u)).contains(where: { seen.contains($0.index) }) { sawSeenWhenIncluded = true }
            // Same as the slow path: full scores, sort.
            var scores = [Float](repeating: 0, count: 50)
            scores.withUnsafeMutableBufferPointer { model.scores(users: [u], into: $0, threads: 1) }
            for i in seen { scores[Int(i)] = -.infinity }
            let reference = Reference.topK(scores, k: 15).map(\.index)
            #expect(excluded.row(Int(u)).map(\.index) == reference)
        }
        #expect(sawSeenWhenIncluded)
    }

    @Test("similar items by cosine put items liked by the same users together")
    func similar() throws {
        let (log, _) = plantedLog(users: 200, items: 80, rank: 2, perUser: 15)
        let m = InteractionMatrix(log)
        let model = try ALS.fit(m, configuration: smallConfig())
        // Query the two items with the largest audiences (in planted data some items have none).
        let queries = (0..<Int32(m.itemCount)).sorted { m.itemUsers.count(ofRow: Int($0)) > m.itemUsers.count(ofRow: Int($1)) }.prefix(2).map { $0 }
        let result = model.similarItems(to: queries, k: 5)
        #expect(result.counts == [5, 5])
        #expect(!result.row(0).contains { $0.index == queries[0] })
        #expect(result.row(0).allSatisfy { $0.score <= 1.0001 && $0.score >= -1.0001 })
        // "Liked by the same users": the neighbours' audiences overlap the query item's far more
        // than an average item's does (Jaccard of their user sets).
        let audiences = (0..<m.itemCount).map { Set(m.itemUsers.columns(inRow: $0)) }
        func jaccard(_ a: Int, _ b: Int) -> Double {
            let u = audiences[a].union(audiences[b]).count
            return u == 0 ? 0 : Double(audiences[a].intersection(audiences[b]).count) / Double(u)
        }
        for (q, item) in queries.map({ Int($0) }).enumerated() {
            let neighbours = result.row(q).map { jaccard(item, Int($0.index)) }.reduce(0, +) / 5
            let others = (0..<m.itemCount).filter { $0 != item }
            let average = others.map { jaccard(item, $0) }.reduce(0, +) / Double(others.count)
            #expect(neighbours > 2 * average, "item \(item): neighbours' overlap \(neighbours) vs average \(average)")
        }
    }

    @Test("empty input and bad hyperparameters are clear errors")
    func errors() throws {
        let empty = InteractionMatrix(userItems: CSRMatrix(rows: 3, columns: 3))
        #expect { try ALS.fit(empty) } throws: { "\($0)".contains("no interactions to train on") }
        let (log, _) = plantedLog(users: 10, items: 10, perUser: 3)
        var bad = ALS.Configuration()
        bad.factors = 0
        #expect { try ALS.fit(InteractionMatrix(log), configuration: bad) } throws: { "\($0)".contains("factors must be") }
        bad = ALS.Configuration()
        bad.regularization = -1
        #expect { try ALS.fit(InteractionMatrix(log), configuration: bad) } throws: { "\($0)".contains("regularization") }
    }

    @Test("users and items without interactions get zero-ish vectors, not NaN")
    func emptyRows() throws {
        let (log, _) = plantedLog(users: 30, items: 20, perUser: 5)
        // Grow the matrix by an empty user row and an empty item column.
        let base = InteractionMatrix(log).userItems
        let grown = CSRMatrix(rows: base.rows + 1, columns: base.columns + 1,
                              rowPointers: base.rowPointers + [base.nonZeroCount], columnIndices: base.columnIndices, values: base.values)
        let model = try ALS.fit(InteractionMatrix(userItems: grown), configuration: smallConfig())
        #expect(model.userFactors.storage.allSatisfy(\.isFinite) && model.itemFactors.storage.allSatisfy(\.isFinite))
        #expect(model.userFactors.row(30).allSatisfy { abs($0) < 1e-3 })
    }
}

/// Collects progress events from any thread.
final class Events: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [TrainingEvent] = []
    func append(_ e: TrainingEvent) { lock.lock(); events.append(e); lock.unlock() }
    var all: [TrainingEvent] { lock.lock(); defer { lock.unlock() }; return events }
}
