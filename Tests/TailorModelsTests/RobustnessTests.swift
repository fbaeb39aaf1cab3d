import Foundation
import Testing
import TailorData
import TailorLinalg
@testable import TailorModels

/// Model files are input: a damaged or crafted one must give an error, never a trap. Each case
/// here crashed the process before the checks in `ArchiveChecks` and `SafeTensors.decode`.
@Suite("Damaged and crafted model files, odd requests")
struct RobustnessTests {
    func saved<M: Recommender>(_ model: M, _ log: Interactions) throws -> URL {
        let dir = temporaryDirectory()
        try ModelBundle(model: model, training: log).save(to: dir)
        return dir
    }

    /// Rewrites the bundle's tensor file with `edit` applied.
    func edit(_ dir: URL, _ edit: (inout [String: SafeTensors.Tensor]) -> Void) throws {
        let url = dir.appendingPathComponent("embeddings.safetensors")
        var (tensors, metadata) = try SafeTensors.read(from: url)
        edit(&tensors)
        try SafeTensors.write(tensors, metadata: metadata, to: url)
    }

    func header(_ json: String, body: Int = 16) -> Data {
        var data = Data()
        var length = UInt64(json.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(Data(json.utf8))
        data.append(Data(count: body))
        return data
    }

    @Test("safetensors headers with negative, overflowing or inconsistent shapes and offsets are errors")
    func craftedHeaders() {
        let cases = [
            #"{"t": {"dtype": "F32", "shape": [-1, -4], "data_offsets": [0, 16]}}"#,
            #"{"t": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 16]}}"#,
            #"{"t": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}"#,
            #"{"t": {"dtype": "F32", "shape": [2], "data_offsets": [9223372036854775800, 9223372036854775807]}}"#,
            #"{"t": {"dtype": "F32", "shape": [5], "data_offsets": [0, 20]}}"#,
        ]
        for json in cases {
            #expect(throws: SafeTensors.FormatError.self, "\(json)") { try SafeTensors.decode(header(json), path: "x.safetensors") }
        }
        // A valid one still decodes.
        let ok = try? SafeTensors.decode(header(#"{"t": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}"#), path: "x")
        #expect(ok?.tensors["t"]?.shape == [2, 2])
    }

    @Test("an ItemKNN file with non-monotone similarity pointers is an error")
    func itemKNNPointers() throws {
        let (log, _) = plantedLog(users: 30, items: 20, perUser: 5)
        let dir = try saved(try ItemKNN.fit(TrainingData(log), configuration: .init(neighbors: 5, threads: 1)), log)
        try edit(dir) { t in
            var p = t["similarity_indptr"]!.int64s()
            p.swapAt(2, 5)  // same first and last, but decreasing in the middle
            t["similarity_indptr"] = .init(p, shape: [p.count])
        }
        #expect { try ModelBundle.load(from: dir) } throws: { "\($0)".contains("similarity_indptr") && "\($0)".contains("never decrease") }
    }

    @Test("an Item2Vec file with broken history pointers or items is an error")
    func item2VecHistories() throws {
        let (log, _) = plantedLog(users: 30, items: 20, perUser: 5)
        let model = try Item2Vec.fit(TrainingData(log), configuration: .init(factors: 8, epochs: 1))
        let dir = try saved(model, log)
        try edit(dir) { t in
            var p = t["history_indptr"]!.int64s()
            p.swapAt(1, 3)
            t["history_indptr"] = .init(p, shape: [p.count])
        }
        #expect { try ModelBundle.load(from: dir) } throws: { "\($0)".contains("history_indptr") }
        let dir2 = try saved(model, log)
        try edit(dir2) { t in
            var items = t["history_items"]!.int32s()
            items[0] = 10_000
            t["history_items"] = .init(items, shape: [items.count])
        }
        #expect { try ModelBundle.load(from: dir2) } throws: { "\($0)".contains("history_items") }
    }

    @Test("factors of another width than the configuration's are an error, not a fold-in crash", arguments: ["bpr", "als"])
    func factorWidth(kind: String) throws {
        let (log, _) = plantedLog(users: 30, items: 20, perUser: 5)
        let dir: URL
        if kind == "bpr" {
            dir = try saved(try BPR.fit(TrainingData(log), configuration: .init(factors: 8, epochs: 2, threads: 1)), log)
        } else {
            dir = try saved(try ALS.fit(InteractionMatrix(log), configuration: .init(factors: 8, iterations: 2, threads: 1)), log)
        }
        let stored = kind == "bpr" ? 9 : 8  // BPR keeps a bias column
        try edit(dir) { t in
            for name in ["user_factors", "item_factors"] {
                let m = t[name]!.matrix()!
                let narrow = Matrix(rows: m.rows, columns: 4, storage: (0..<(m.rows * 4)).map { m.storage[($0 / 4) * stored + $0 % 4] })
                t[name] = .init(narrow)
            }
        }
        #expect { try ModelBundle.load(from: dir) } throws: { "\($0)".contains("4-wide factor rows but its configuration implies \(stored)") }
    }

    @Test("NaN factors in a model file are an error")
    func nanFactors() throws {
        let (log, _) = plantedLog(users: 30, items: 20, perUser: 5)
        let dir = try saved(try ALS.fit(InteractionMatrix(log), configuration: .init(factors: 4, iterations: 1, threads: 1)), log)
        try edit(dir) { t in
            var m = t["item_factors"]!.matrix()!
            m.storage[3] = .nan
            t["item_factors"] = .init(m)
        }
        #expect { try ModelBundle.load(from: dir) } throws: { "\($0)".contains("NaN") }
    }

    @Test("k beyond the catalogue returns every unseen item once, without allocating for k")
    func hugeK() throws {
        let (log, _) = plantedLog(users: 30, items: 20, perUser: 5)
        let bundle = try ModelBundle(model: try ALS.fit(InteractionMatrix(log), configuration: .init(factors: 4, iterations: 2, threads: 1)), training: log)
        let recs = try bundle.recommend(userIDs: ["u1"], k: Int.max / 2)
        #expect(recs[0].items.count == 15)  // 20 items, 5 seen
        #expect(Set(recs[0].items.map(\.item)).count == 15)
        let all = bundle.recommend(positions: [0, 1], k: 1_000_000_000)
        #expect(all.k == 20)
        let similar = try bundle.similarItems(to: "i1", k: 1 << 40)
        #expect(similar.count == 19)
        let knn = try ModelBundle(model: try ItemKNN.fit(TrainingData(log), configuration: .init(neighbors: 5, threads: 1)), training: log)
        #expect(try knn.recommend(userIDs: ["u1"], k: 1 << 40)[0].items.count <= 15)
    }

    @Test("a thread count in the thousands is capped")
    func threadCap() throws {
        #expect(effectiveThreadCount(100_000) == maximumThreadCount)
        #expect(maximumThreadCount <= max(8, 4 * ProcessInfo.processInfo.activeProcessorCount))
        #expect(effectiveThreadCount(2) == 2 && effectiveThreadCount(0) >= 1)
        let (log, _) = plantedLog(users: 30, items: 20, perUser: 5)
        let model = try ALS.fit(InteractionMatrix(log), configuration: .init(factors: 4, iterations: 1, threads: 5_000))
        #expect(model.userFactors.rows == 30)
    }

    @Test("Item2Vec refuses a half-life ≤ 0 (it gave NaN scores), naming the key")
    func item2VecHalfLife() throws {
        let (log, _) = plantedLog(users: 30, items: 20, perUser: 5)
        for (key, value) in [("halfLifeDays", 0.0), ("halfLifeEvents", -1.0)] {
            var c = Item2Vec.Configuration(factors: 8, epochs: 1, aggregation: .recency)
            if key == "halfLifeDays" { c.halfLifeDays = value } else { c.halfLifeEvents = value }
            #expect { try Item2Vec.fit(TrainingData(log), configuration: c) } throws: { "\($0)".contains(key) }
        }
    }

    @Test("a failed Cholesky solve falls back to CG and is counted, not ignored")
    func choleskyFallback() throws {
        // λ = 0 with more factors than items: every user's system is singular.
        let (log, _) = plantedLog(users: 12, items: 6, perUser: 3)
        var c = ALS.Configuration(factors: 10, iterations: 2, threads: 1)
        c.solver = .cholesky
        c.regularization = 0
        let model = try ALS.fit(InteractionMatrix(log), configuration: c)
        #expect((model.history.last?.fallbackSolves ?? 0) > 0)
        #expect(model.userFactors.storage.allSatisfy(\.isFinite) && model.itemFactors.storage.allSatisfy(\.isFinite))
        // A well-posed problem reports zero fallbacks.
        c.regularization = 0.1
        c.factors = 3
        #expect(try ALS.fit(InteractionMatrix(log), configuration: c).history.last?.fallbackSolves == 0)
    }
}
