import Foundation
import TailorLinalg

/// `tailor-bench ann --model DIR [--queries N] [--k 10] [--ef 10,20,…] [--m 16] [--ef-construction 200] [--quantized]`:
/// builds an HNSW index over a factor model's item vectors and searches with its user vectors
/// on one thread; prints the build time and, for each ef, recall@k against exact search and
/// queries per second. `Benchmarks/ann_vs_hnswlib.py` runs hnswlib on the same vectors.
func benchANN() {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: "--model"), i + 1 < args.count else {
        FileHandle.standardError.write("tailor-bench ann --model DIR (a factor model, e.g. ALS)\n".data(using: .utf8)!)
        exit(2)
    }
    let dir = URL(fileURLWithPath: args[i + 1])
    let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".safetensors") }) ?? []
    guard let file = files.first, let data = try? Data(contentsOf: dir.appendingPathComponent(file)),
          let tensors = try? SafeTensors.decode(data, path: file).tensors,
          let items = tensors["item_factors"]?.matrix(), let users = tensors["user_factors"]?.matrix() else {
        FileHandle.standardError.write("no item_factors/user_factors in \(dir.path)\n".data(using: .utf8)!)
        exit(2)
    }
    let queryCount = min(users.rows, argument("--queries", default: 2_000))
    let k = argument("--k", default: 10)
    let efs: [Int] = {
        if let j = args.firstIndex(of: "--ef"), j + 1 < args.count { return args[j + 1].split(separator: ",").compactMap { Int($0) } }
        return [10, 16, 24, 32, 48, 64, 96, 128, 192, 256]
    }()
    var configuration = HNSWIndex.Configuration(m: argument("--m", default: 16), efConstruction: argument("--ef-construction", default: 200))
    configuration.quantized = args.contains("--quantized")
    // Queries: evenly spaced users (the same rows the Python side takes).
    let step = max(1, users.rows / queryCount)
    let rows = (0..<queryCount).map { $0 * step }
    let queries = Matrix(rows: rows.count, columns: users.columns, storage: rows.flatMap { users.row($0) })
    let t0 = now()
    let index = HNSWIndex(vectors: items, configuration: configuration)
    let build = now() - t0
    let exact = Kernels.topKInnerProducts(queries: queries, items: items, k: k, threads: 1)
    let truth = (0..<queries.rows).map { Set(exact.row($0).map(\.index)) }
    let queryRows = (0..<queries.rows).map { queries.row($0) }
    for ef in efs {
        var hits = 0
        var found: [[(index: Int32, score: Float)]] = []
        found.reserveCapacity(queryRows.count)
        // Warm-up pass, then the timed pass.
        for q in queryRows.prefix(200) { _ = index.search(q, k: k, ef: ef) }
        let t = now()
        for q in queryRows { found.append(index.search(q, k: k, ef: ef)) }
        let seconds = now() - t
        for (q, f) in found.enumerated() { hits += f.filter { truth[q].contains($0.index) }.count }
        emit(["bench": "ann", "items": items.rows, "dim": items.columns, "queries": queryRows.count, "k": k, "ef": ef,
              "m": configuration.m, "ef_construction": configuration.efConstruction, "quantized": configuration.quantized,
              "build_seconds": build, "recall": Double(hits) / Double(queryRows.count * k), "qps": Double(queryRows.count) / seconds,
              "graph_bytes": index.graphBytes])
    }
}
