import Foundation
import Testing
@testable import TailorLinalg

@Suite("CSR matrices, sorting and parallelFor")
struct StructureTests {
    @Test("CSR from coordinates sums duplicates and sorts rows, like the reference")
    func csrFromCoordinates() {
        var rng = TailorRandom(seed: 50)
        let entries = (0..<2000).map { _ in (row: Int32(rng.nextInt(below: 40)), column: Int32(rng.nextInt(below: 30)), value: Float(rng.nextInt(below: 9) + 1)) }
        let csr = CSRMatrix(rows: 41, columns: 30, rowIndices: entries.map(\.row), columnIndices: entries.map(\.column), values: entries.map(\.value))
        let expected = Reference.csr(rows: 41, entries: entries)
        #expect(csr.rowPointers == expected.rowPointers)
        #expect(csr.columnIndices == expected.columnIndices)
        #expect(csr.values == expected.values)
        #expect(csr.count(ofRow: 40) == 0)
    }

    @Test("transpose twice is the identity, and entries agree")
    func transpose() {
        var rng = TailorRandom(seed: 51)
        let n = 500
        let rows = (0..<n).map { _ in Int32(rng.nextInt(below: 60)) }
        let cols = (0..<n).map { _ in Int32(rng.nextInt(below: 25)) }
        let csr = CSRMatrix(rows: 60, columns: 25, rowIndices: rows, columnIndices: cols, values: (0..<n).map { Float($0) })
        let t = csr.transposed()
        #expect(t.rows == 25 && t.columns == 60)
        #expect(t.transposed() == csr)
        for r in 0..<60 {
            for (c, v) in zip(csr.columns(inRow: r), csr.values(inRow: r)) {
                #expect(t.value(row: Int(c), column: Int32(r)) == v)
            }
        }
    }

    @Test("stable counting sort chains into a compound sort")
    func countingSort() {
        let a: [Int32] = [2, 0, 1, 0, 2, 1, 0]
        let b: [Int32] = [1, 1, 0, 0, 0, 1, 1]
        let byB = CountingSort.permutation(keys: b, keyCount: 2)
        let byAB = CountingSort.permutation(keys: a, keyCount: 3, order: byB)
        let expected = (0..<7).sorted { (a[$0], b[$0], $0) < (a[$1], b[$1], $1) }
        #expect(byAB == expected)
    }

    @Test("parallelFor visits every index exactly once, with deterministic chunk indices")
    func parallelForCoverage() {
        let n = 10_007
        let visits = UnsafeMutablePointer<Int>.allocate(capacity: n)
        visits.initialize(repeating: 0, count: n)
        defer { visits.deallocate() }
        let chunkOf = UnsafeMutablePointer<Int>.allocate(capacity: n)
        defer { chunkOf.deallocate() }
        let shared = UnsafeSendable((visits, chunkOf))
        parallelFor(n, chunkSize: 97, threads: 2) { chunk in
            for i in chunk.range { shared.value.0[i] += 1; shared.value.1[i] = chunk.index }
        }
        #expect((0..<n).allSatisfy { visits[$0] == 1 })
        #expect((0..<n).allSatisfy { chunkOf[$0] == $0 / 97 })
    }

    @Test("nested and concurrent parallelFor loops finish and cover every index (worker pool busy → GCD)")
    func nestedAndConcurrentLoops() async {
        let outer = 8, inner = 1_000
        let visits = UnsafeMutablePointer<Int>.allocate(capacity: outer * inner)
        visits.initialize(repeating: 0, count: outer * inner)
        defer { visits.deallocate() }
        let shared = UnsafeSendable(visits)
        parallelFor(outer, chunkSize: 1, threads: 2) { o in
            parallelFor(inner, chunkSize: 10, threads: 2) { chunk in
                for i in chunk.range { shared.value[o.index * inner + i] += 1 }
            }
        }
        #expect((0..<(outer * inner)).allSatisfy { visits[$0] == 1 })
        // Several threads starting loops at once: one gets the pool, the others fall back.
        let totals = await withTaskGroup(of: Int.self) { group in
            for t in 0..<4 {
                group.addTask {
                    let sums = UnsafeMutablePointer<Int>.allocate(capacity: 500)
                    sums.initialize(repeating: 0, count: 500)
                    defer { sums.deallocate() }
                    let box = UnsafeSendable(sums)
                    for _ in 0..<50 {
                        parallelFor(500, chunkSize: 7, threads: 2) { chunk in
                            for i in chunk.range { box.value[i] += t + 1 }
                        }
                    }
                    return (0..<500).reduce(0) { $0 + sums[$1] }
                }
            }
            var all: [Int] = []
            for await total in group { all.append(total) }
            return all.sorted()
        }
        #expect(totals == (1...4).map { 50 * 500 * $0 })
    }

    @Test("the seeded generator is reproducible and streams differ")
    func random() {
        var a = TailorRandom(seed: 7), b = TailorRandom(seed: 7), c = TailorRandom(seed: 7, stream: 1)
        let xs = (0..<5).map { _ in a.next() }
        #expect(xs == (0..<5).map { _ in b.next() })
        #expect(xs != (0..<5).map { _ in c.next() })
        var g = TailorRandom(seed: 8)
        let samples = (0..<20_000).map { _ in g.nextGaussian() }
        let mean = samples.reduce(0, +) / 20_000
        let variance = samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 20_000
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.05)
    }
}

@Suite("safetensors")
struct SafeTensorsTests {
    @Test("round trip keeps names, types, shapes, values and metadata")
    func roundTrip() throws {
        let m = randomMatrix(3, 4, seed: 60)
        let tensors: [String: SafeTensors.Tensor] = [
            "weights": .init(m), "ids": .init([Int32(1), 2, 3], shape: [3]), "offsets": .init([Int64(0), 5], shape: [2]),
        ]
        let data = try SafeTensors.encode(tensors, metadata: ["kind": "test"])
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + headerLength) % 8 == 0, "tensor data starts 8-byte aligned")
        let (back, meta) = try SafeTensors.decode(data, path: "memory")
        #expect(back == tensors)
        #expect(meta == ["kind": "test"])
        #expect(back["weights"]?.matrix() == m)
    }

    @Test("truncated, empty and foreign files give a clear error naming the file")
    func corrupt() throws {
        let good = try SafeTensors.encode(["w": .init([Float](repeating: 1, count: 16), shape: [4, 4])])
        for bad in [Data(), good.prefix(5), good.prefix(good.count - 3), Data("PK\u{3}\u{4} this is a zip".utf8)] {
            #expect {
                try SafeTensors.decode(bad, path: "model/embeddings.safetensors")
            } throws: { error in
                "\(error)".contains("model/embeddings.safetensors") && "\(error)".contains("not a valid safetensors file")
            }
        }
    }

    @Test("float16 decoding")
    func half() {
        let bits: [UInt16] = [0x3C00, 0xC000, 0x0000, 0x3555, 0x0001, 0x7C00]
        let t = SafeTensors.Tensor(dtype: .f16, shape: [6], bytes: bits.withUnsafeBytes { Array($0) })
        let f = t.floats()
        #expect(f[0] == 1 && f[1] == -2 && f[2] == 0 && abs(f[3] - 0.33325) < 1e-4)
        #expect(f[4] > 0 && f[4] < 1e-7 && f[5] == .infinity)
    }
}
