import ArgumentParser
import Foundation
import TailorData
import TailorEval
import TailorLinalg
import TailorModels

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Tailor end to end on a synthetic log: generate, split by time, train ALS, evaluate against popularity, show recommendations.",
        discussion: """
        Needs nothing downloaded. The log has users with hidden genre tastes and items with a
        long tail of popularity; each user's latest 20% of interactions are held out, ALS learns
        from the rest, and the held-out items measure how well it predicts what users did next.

        Examples:
          tailor demo
          tailor demo --users 20000 --items 5000 --interactions 1000000 --factors 64
          tailor demo --output demo-files     # keep the log, the split and the model
        """
    )

    @Option var users = 6_000
    @Option var items = 3_000
    @Option(help: "Target number of interactions.")
    var interactions = 300_000
    @Option var factors = 64
    @Option var iterations = 15
    @Option var regularization: Float = 0.05
    @Option var alpha: Float = 1
    @Option var seed: UInt64 = 7
    @Option(help: "Worker threads (0: all cores).")
    var threads = 0
    @Option(help: "How many users to show.")
    var show = 3
    @Option(help: "Keep the generated log, split, catalogue and model in this directory.")
    var output: String?
    @OptionGroup var progressOptions: ProgressOptions

    func run() throws {
        print("Tailor demo — synthetic data, nothing downloaded")
        print(kernelsUseFMA ? "(SIMD kernels: AVX2 + FMA release build)\n"
                            : "(portable SIMD kernels: build with `swift run -c release` on x86-64 for the fast AVX2/FMA path)\n")
        var c = SyntheticLog.Configuration()
        c.users = users; c.items = items; c.interactions = interactions; c.seed = seed
        var t = now()
        let synthetic = SyntheticLog.generate(c)
        let log = synthetic.interactions
        print(String(format: "1. Generated %d interactions: %d users × %d items in %d genres (%.2fs)",
                     log.count, users, items, c.genres, now() - t))
        var counts = [Int](repeating: 0, count: items)
        for i in log.items { counts[Int(i)] += 1 }
        let sorted = counts.sorted(by: >)
        let top1 = sorted.prefix(max(1, items / 100)).reduce(0, +)
        print(String(format: "   long tail: the top 1%% of items get %.0f%% of interactions; sparsity %.2f%%",
                     100 * Double(top1) / Double(log.count), 100 * InteractionMatrix(log).sparsity))

        t = now()
        let split = try Split.make(log, method: .temporalFraction(testFraction: 0.2), seed: seed)
        print(String(format: "2. Held out each user's latest 20%%: %d train, %d test interactions (%.2fs)",
                     split.train.count, split.test.count, now() - t))

        t = now()
        let matrix = InteractionMatrix(split.train)
        let configuration = ALS.Configuration(factors: factors, iterations: iterations, regularization: regularization,
                                              alpha: alpha, seed: seed, threads: threads)
        let als = try ALS.fit(matrix, configuration: configuration, progress: progressOptions.handler())
        let fitSeconds = now() - t
        print(String(format: "3. Trained ALS (%d factors, %d iterations) in %.2fs; loss %.5g → %.5g", factors, iterations, fitSeconds,
                     als.history.first?.loss ?? .nan, als.history.last?.loss ?? .nan))
        let popularity = try Popularity.fit(matrix)

        t = now()
        let test = CSRMatrix(rows: log.userIDs.count, columns: log.itemIDs.count, rowIndices: split.test.users,
                             columnIndices: split.test.items, values: split.test.values)
        let evalConfig = Evaluator.Configuration(ks: [10, 20], threads: threads)
        let alsReport = Evaluator.evaluate(als, train: matrix.userItems, test: test, configuration: evalConfig)
        let popReport = Evaluator.evaluate(popularity, train: matrix.userItems, test: test, configuration: evalConfig)
        print(String(format: "4. Evaluated on %d users' future interactions, full ranking (%.2fs):\n", alsReport.users, now() - t))
        print(EvaluationReport.table([("ALS", alsReport), ("popularity", popReport)]).split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
        let lift = (alsReport.value("ndcg", at: 10) ?? 0) / max(1e-12, popReport.value("ndcg", at: 10) ?? 0)
        print(String(format: "\n   ALS ranks what users did next %.1f× better than popularity by NDCG@10.\n", lift))

        print("5. A few users: their recent history, and what ALS recommends (✓ = they really did interact with it later)\n")
        let (order, offsets) = split.train.rowsByUser()
        var testByUser = [Set<Int32>](repeating: [], count: log.userIDs.count)
        for i in 0..<split.test.count { testByUser[Int(split.test.users[i])].insert(split.test.items[i]) }
        // Show users with a decent history, spread over the population.
        let candidates = (0..<log.userIDs.count).filter { offsets[$0 + 1] - offsets[$0] >= 8 && !testByUser[$0].isEmpty }
        let chosen = stride(from: 0, to: candidates.count, by: max(1, candidates.count / max(1, show))).prefix(show).map { candidates[$0] }
        let top = als.recommend(users: chosen.map(Int32.init), k: 5, exclude: matrix.userItems, threads: threads)
        for (q, u) in chosen.enumerated() {
            let tastes = synthetic.userTastes[u].enumerated().filter { $0.element > 0.05 }.sorted { $0.element > $1.element }
                .map { "\(synthetic.genreNames[$0.offset]) \(Int(($0.element * 100).rounded()))%" }.joined(separator: ", ")
            print("   user \(log.userIDs[Int32(u)]) — hidden tastes: \(tastes)")
            print("     recently watched:")
            for row in order[offsets[u]..<offsets[u + 1]].suffix(4) {
                print("       · \(synthetic.titles[Int(log.items[row])])")
            }
            print("     recommended:")
            for entry in top.row(q) {
                let mark = testByUser[u].contains(entry.index) ? "✓" : " "
                print("     \(mark) \(String(format: "%6.3f", entry.score))  \(synthetic.titles[Int(entry.index)])")
            }
            print("")
        }

        if let output {
            let dir = URL(fileURLWithPath: output)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try InteractionWriter.write(log, to: dir.appendingPathComponent("log.csv").path)
            try InteractionWriter.write(split.train, to: dir.appendingPathComponent("train.csv").path)
            try InteractionWriter.write(split.test, to: dir.appendingPathComponent("test.csv").path)
            try ModelBundle(model: als, training: split.train, matrix: matrix, source: "train.csv").save(to: dir.appendingPathComponent("model"))
            print("Saved log.csv, train.csv, test.csv and model/ in \(output). Try:")
            print("  tailor recommend --model \(output)/model --user \(log.userIDs[Int32(chosen.first ?? 0)]) --k 10")
            print("  tailor evaluate --model \(output)/model --train \(output)/train.csv --test \(output)/test.csv")
        } else {
            print("Next: run it on your own log —")
            print("  tailor split ratings.csv --train train.csv --test test.csv")
            print("  tailor train train.csv --output model && tailor evaluate --model model --train train.csv --test test.csv")
            print("(add --output DIR to this demo to keep its files)")
        }
    }
}
