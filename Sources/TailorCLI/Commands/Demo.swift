import ArgumentParser
import Foundation
import TailorData
import TailorEval
import TailorLinalg
import TailorModels
import TailorStore
import TailorSQLite

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Tailor end to end on synthetic events: store, clean, weight, split by time, train ALS, evaluate against popularity, show recommendations.",
        discussion: """
        Needs nothing downloaded. The events (views, clicks, dwell times, likes, shares,
        purchases) come from users with hidden genre tastes and items with a long tail of
        popularity, with bots and dirt planted. They go into an embedded store (SQLite), cleaning
        removes the dirt and the bots, weights turn events into interaction strengths, each user's
        latest 20% of interactions are held out, ALS learns from the rest, and the held-out items
        measure how well it predicts what users did next.

        Examples:
          tailor demo
          tailor demo --users 20000 --items 5000 --interactions 1000000 --factors 64
          tailor demo --output demo-files     # keep the store, the split and the model
        """
    )

    @Option var users = 6_000
    @Option var items = 3_000
    @Option(help: "Target number of (user, item) interactions; events are about three times as many.")
    var interactions = 200_000
    @Option var factors = 64
    @Option var iterations = 15
    @Option var regularization: Float = ALS.Configuration().regularization
    @Option var alpha: Float = ALS.Configuration().alpha
    @Option var seed: UInt64 = 7
    @Option(help: "Worker threads (0: all cores).")
    var threads = 0
    @Option(help: "How many users to show.")
    var show = 3
    @Option(help: "Keep the store, the interactions, the split and the model in this directory.")
    var output: String?
    @OptionGroup var progressOptions: ProgressOptions

    func run() throws {
        print("Tailor demo — synthetic data, nothing downloaded")
        print(kernelsUseFMA ? "(SIMD kernels: AVX2 + FMA release build)\n"
                            : "(portable SIMD kernels: build with `swift run -c release` on x86-64 for the fast AVX2/FMA path)\n")
        var c = SyntheticEvents.Configuration()
        c.log.users = users; c.log.items = items; c.log.interactions = interactions; c.log.seed = seed
        var t = now()
        let generated = SyntheticEvents.generate(c)
        let synthetic = generated.base
        print(String(format: "1. Generated %d events (views, clicks, dwell, likes, shares, purchases) from %d users and %d bots on %d items (%.2fs)",
                     generated.events.count, users, c.bots, items, now() - t))

        // The store: in --output, or a temporary file.
        let directory = output.map { URL(fileURLWithPath: $0) } ?? FileManager.default.temporaryDirectory.appendingPathComponent("tailor-demo-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let storePath = directory.appendingPathComponent("tailor.db").path
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: storePath + suffix) }
        defer { if output == nil { try? FileManager.default.removeItem(at: directory) } }
        t = now()
        let store = try StoreOptions.store(at: storePath, create: true)
        var counts = IngestCounts()
        try store.append(generated.events, batchSize: 50_000, into: &counts)
        print(String(format: "2. Stored them in %@: %d events (%d repeated rows folded) in %.2fs",
                     output == nil ? "a temporary SQLite store" : storePath, counts.inserted, counts.duplicates, now() - t))

        t = now()
        var recipe = DatasetRecipe(source: .store(storePath))
        recipe.cleaning.referenceTime = 1_800_000_000  // the synthetic year is 2024; anything after 2027 is "the future"
        let (_, cleaned, cleaningReport) = try recipe.cleanedEvents(openStore: { _ in store })
        let log = recipe.weights.interactions(from: cleaned)
        print(String(format: "3. Cleaned and weighted (%.2fs):", now() - t))
        print(cleaningReport.summary.split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
        let found = Set(cleaningReport.flaggedUsers.map(\.user)) == Set(generated.botUsers)
        let botLine = found ? "all \(generated.botUsers.count) planted bots were caught"
                            : "\(cleaningReport.flaggedUsers.count) users flagged for \(generated.botUsers.count) planted bots"
        print("   \(botLine); weights (view 0.5, click 1, dwell by log-seconds, like 3, share 4, purchase 5)")
        print("   give \(log.count) (user, item) strengths")
        let stats = DataStats(cleaned)
        print(String(format: "   long tail: the top 1%% of items get %.0f%% of events; %d sessions, median length %.0f",
                     100 * stats.topOnePercentShare, stats.sessions, stats.medianSessionLength))

        t = now()
        let split = try Split.make(log, method: .temporalFraction(testFraction: 0.2), seed: seed)
        print(String(format: "4. Held out each user's latest 20%%: %d train, %d test interactions (%.2fs)",
                     split.train.count, split.test.count, now() - t))

        t = now()
        let matrix = InteractionMatrix(recipe.confidence.apply(to: split.train))
        let configuration = ALS.Configuration(factors: factors, iterations: iterations, regularization: regularization,
                                              alpha: alpha, seed: seed, threads: threads)
        let als = try ALS.fit(matrix, configuration: configuration, progress: progressOptions.handler())
        let fitSeconds = now() - t
        print(String(format: "5. Trained ALS (%d factors, %d iterations) in %.2fs; loss %.5g → %.5g", factors, iterations, fitSeconds,
                     als.history.first?.loss ?? .nan, als.history.last?.loss ?? .nan))
        let popularity = try Popularity.fit(matrix)

        t = now()
        let test = CSRMatrix(rows: log.userIDs.count, columns: log.itemIDs.count, rowIndices: split.test.users,
                             columnIndices: split.test.items, values: split.test.values)
        let evalConfig = Evaluator.Configuration(ks: [10, 20], threads: threads)
        let alsReport = Evaluator.evaluate(als, train: matrix.userItems, test: test, configuration: evalConfig)
        let popReport = Evaluator.evaluate(popularity, train: matrix.userItems, test: test, configuration: evalConfig)
        print(String(format: "6. Evaluated on %d users' future interactions, full ranking (%.2fs):\n", alsReport.users, now() - t))
        print(EvaluationReport.table([("ALS", alsReport), ("popularity", popReport)]).split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
        let lift = (alsReport.value("ndcg", at: 10) ?? 0) / max(1e-12, popReport.value("ndcg", at: 10) ?? 0)
        print(String(format: "\n   ALS ranks what users did next %.1f× better than popularity by NDCG@10.\n", lift))

        print("7. A few users: their recent history, and what ALS recommends (✓ = they really did interact with it later)\n")
        let (order, offsets) = split.train.rowsByUser()
        var testByUser = [Set<Int32>](repeating: [], count: log.userIDs.count)
        for i in 0..<split.test.count { testByUser[Int(split.test.users[i])].insert(split.test.items[i]) }
        // Show users with a decent history, spread over the population.
        let candidates = (0..<log.userIDs.count).filter { offsets[$0 + 1] - offsets[$0] >= 8 && !testByUser[$0].isEmpty }
        let chosen = stride(from: 0, to: candidates.count, by: max(1, candidates.count / max(1, show))).prefix(show).map { candidates[$0] }
        let top = als.recommend(users: chosen.map(Int32.init), k: 5, exclude: matrix.userItems, threads: threads)
        // Map the store's users and items back to the generator's planted tastes and titles.
        func plantedUser(_ u: Int) -> Int { Int(synthetic.interactions.userIDs.position(of: log.userIDs[Int32(u)])!) }
        func title(_ i: Int32) -> String { synthetic.titles[Int(synthetic.interactions.itemIDs.position(of: log.itemIDs[i])!)] }
        for (q, u) in chosen.enumerated() {
            let tastes = synthetic.userTastes[plantedUser(u)].enumerated().filter { $0.element > 0.05 }.sorted { $0.element > $1.element }
                .map { "\(synthetic.genreNames[$0.offset]) \(Int(($0.element * 100).rounded()))%" }.joined(separator: ", ")
            print("   user \(log.userIDs[Int32(u)]) — hidden tastes: \(tastes)")
            print("     recently watched:")
            for row in order[offsets[u]..<offsets[u + 1]].suffix(4) {
                print("       · \(title(log.items[row]))")
            }
            print("     recommended:")
            for entry in top.row(q) {
                let mark = testByUser[u].contains(entry.index) ? "✓" : " "
                print("     \(mark) \(String(format: "%6.3f", entry.score))  \(title(entry.index))")
            }
            print("")
        }

        if let output {
            let dir = URL(fileURLWithPath: output)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try InteractionWriter.write(log, to: dir.appendingPathComponent("interactions.csv").path)
            try InteractionWriter.write(split.train, to: dir.appendingPathComponent("train.csv").path)
            try InteractionWriter.write(split.test, to: dir.appendingPathComponent("test.csv").path)
            try ModelBundle(model: als, training: split.train, matrix: matrix, source: "train.csv").save(to: dir.appendingPathComponent("model"))
            print("Saved tailor.db (the store), interactions.csv, train.csv, test.csv and model/ in \(output). Try:")
            print("  tailor stats --store \(output)/tailor.db")
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
