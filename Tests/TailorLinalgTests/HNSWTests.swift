import Foundation
import Testing
@testable import TailorLinalg

@Suite("HNSW approximate inner-product search")
struct HNSWTests {
    /// Clustered vectors (as learned item factors are): 40 centres, points around them.
    static func data(n: Int, d: Int, seed: UInt64) -> Matrix {
        var rng = TailorRandom(seed: seed)
        let centres = (0..<40).map { _ in (0..<d).map { _ in Float(rng.nextGaussian()) } }
        var m = Matrix(rows: n, columns: d)
        for r in 0..<n {
            let c = centres[rng.nextInt(below: centres.count)]
            m.setRow(r, (0..<d).map { c[$0] + 0.5 * Float(rng.nextGaussian()) })
        }
        return m
    }

    static func recall(_ index: HNSWIndex, items: Matrix, queries: Matrix, k: Int, ef: Int) -> Double {
        let exact = Kernels.topKInnerProducts(queries: queries, items: items, k: k, threads: 1)
        var hits = 0
        for q in 0..<queries.rows {
            let truth = Set(exact.row(q).map(\.index))
            hits += index.search(queries.row(q), k: k, ef: ef).filter { truth.contains($0.index) }.count
        }
        return Double(hits) / Double(queries.rows * k)
    }

    @Test("recall@10 against exact search is at least 0.95 at ef 100, float and int8 codes")
    func recall() {
        let items = Self.data(n: 3_000, d: 32, seed: 1), queries = Self.data(n: 200, d: 32, seed: 2)
        let float = HNSWIndex(vectors: items)
        let quantized = HNSWIndex(vectors: items, configuration: .init(quantized: true))
        let r1 = Self.recall(float, items: items, queries: queries, k: 10, ef: 100)
        let r2 = Self.recall(quantized, items: items, queries: queries, k: 10, ef: 100)
        #expect(r1 >= 0.95, "float recall \(r1)")
        #expect(r2 >= 0.95, "int8 recall \(r2)")
        // A tiny ef must do worse than a large one: the parameter is wired through.
        #expect(Self.recall(float, items: items, queries: queries, k: 10, ef: 10) < Self.recall(float, items: items, queries: queries, k: 10, ef: 400))
    }

    @Test("every node can be reached when norms vary widely (the inner-product heuristic drops short vectors from full lists)")
    func reachable() {
        // Clustered directions with norms spread over two decades, as strongly regularized
        // factors are: rarely seen items are short.
        var rng = TailorRandom(seed: 11)
        var items = Self.data(n: 400, d: 16, seed: 12)
        for r in 0..<items.rows {
            let row = items.row(r), norm = (row.reduce(Float(0)) { $0 + $1 * $1 }).squareRoot()
            let target = Float(0.05 * pow(100, rng.nextDouble()))
            items.setRow(r, row.map { $0 / norm * target })
        }
        let queries = Self.data(n: 100, d: 16, seed: 13)
        for m in [4, 8] {
            let index = HNSWIndex(vectors: items, configuration: .init(m: m, efConstruction: 50))
            // Every node on level 0 is reachable from the entry point (the search starts there).
            var seen = Set([index.entry]), frontier = [index.entry]
            while let node = frontier.popLast() {
                for nb in index.neighbours(node, level: 0) where seen.insert(nb).inserted { frontier.append(nb) }
            }
            #expect(seen.count == items.rows, "m \(m): \(items.rows - seen.count) of \(items.rows) nodes out of reach")
            // A beam as wide as the index must find the exact top 10.
            let r = Self.recall(index, items: items, queries: queries, k: 10, ef: items.rows)
            #expect(r >= 0.999, "m \(m): recall \(r) with ef = n")
        }
    }

    @Test("scores are exact inner products (re-scored after an int8 walk), best first")
    func scores() {
        let items = Self.data(n: 500, d: 24, seed: 3), q = Self.data(n: 1, d: 24, seed: 4).row(0)
        for index in [HNSWIndex(vectors: items), HNSWIndex(vectors: items, configuration: .init(quantized: true))] {
            let found = index.search(q, k: 10, ef: 50)
            #expect(found.count == 10)
            for f in found {
                let exact = zip(q, items.row(Int(f.index))).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                #expect(abs(f.score - exact) <= 1e-4 * max(1, abs(exact)))
            }
            #expect(zip(found, found.dropFirst()).allSatisfy { $0.score >= $1.score })
        }
    }

    @Test("excluded items are never returned; k beyond the index returns all; an empty index returns nothing")
    func edges() {
        let items = Self.data(n: 300, d: 16, seed: 5), q = Self.data(n: 1, d: 16, seed: 6).row(0)
        let index = HNSWIndex(vectors: items, configuration: .init(m: 8, efConstruction: 50))
        let top = index.search(q, k: 20, ef: 100).map(\.index)
        let banned = Array(top.prefix(5)).sorted()
        let again = index.search(q, k: 20, ef: 100, exclude: banned[...]).map(\.index)
        #expect(Set(again).isDisjoint(with: banned) && again.count == 20)
        #expect(index.search(q, k: 1_000, ef: 1_000).count == 300)
        #expect(HNSWIndex(vectors: Matrix(rows: 0, columns: 16)).search(q, k: 5).isEmpty)
        #expect(HNSWIndex(vectors: Matrix(rows: 1, columns: 16, storage: q)).search(q, k: 5).map(\.index) == [0])
    }

    @Test("the build is deterministic for a seed")
    func deterministic() {
        let items = Self.data(n: 400, d: 16, seed: 7)
        let a = HNSWIndex(vectors: items), b = HNSWIndex(vectors: items)
        let same = a.links0 == b.links0 && a.upper == b.upper && a.entry == b.entry && a.topLevel == b.topLevel
        #expect(same)
        let c = HNSWIndex(vectors: items, configuration: .init(seed: 99))
        let other = Set(c.upper.keys) != Set(a.upper.keys)
        #expect(other, "another seed draws other levels")
    }

    @Test("the float-by-int8 dot product matches a scalar loop")
    func dotInt8() {
        var rng = TailorRandom(seed: 8)
        for n in [0, 1, 15, 16, 17, 64, 100] {
            let x = (0..<n).map { _ in Float(rng.nextGaussian()) }
            let c = (0..<n).map { _ in Int8(rng.nextInt(below: 255) - 127) }
            let expected = zip(x, c).reduce(Float(0)) { $0 + $1.0 * Float($1.1) }
            let got = x.withUnsafeBufferPointer { xp in c.withUnsafeBufferPointer { cp in Kernels.dotInt8(xp.baseAddress ?? UnsafePointer(bitPattern: 8)!, cp.baseAddress ?? UnsafePointer(bitPattern: 8)!, count: n) } }
            #expect(abs(got - expected) <= 1e-3 * max(1, abs(expected)), "n \(n)")
        }
    }
}
