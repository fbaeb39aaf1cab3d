import ArgumentParser
import Foundation
import TailorData
import TailorModels
import TailorStore

/// `tailor export`: a recipe's training data as plain files, for training elsewhere (Spark).
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a recipe's training data as CSV with its id maps, for training on another engine (Spark MLlib ALS; see `tailor import`).",
        discussion: """
        Writes DIR/interactions.csv (user,item,value: integer indices and the training value, after cleaning, weighting, the hold-out
        split and the confidence transform, exactly what Tailor's own ALS would fit), DIR/users.csv and DIR/items.csv (index,id) and
        DIR/run.json (the recipe, so `tailor import` and `tailor evaluate` rebuild the same split).

          tailor export --store tailor.db --holdout random --output export/
          spark-submit scripts/spark-als.py export/          # or: python3 scripts/spark-als.py export/
          tailor import spark-als export/ --output spark-model
          tailor evaluate --model spark-model
        """
    )

    @Argument(help: "The interaction log; or use --store, or a run file's data.")
    var file: String?

    @Option(help: ArgumentHelp("A run file whose data recipe to export.", valueName: "FILE.json"))
    var config: String?

    @OptionGroup(title: "Store") var storeOptions: StoreOptions

    @Option(help: "Hold out test interactions and export the rest: random, temporal, leave-last-out or global-time.")
    var holdout: HoldoutOptions.Method?

    @OptionGroup(title: "Hold-out") var holdoutOptions: HoldoutOptions

    @Option(help: ArgumentHelp("How strengths become training values (as for `tailor train`): log (default), linear, binary or bm25.", valueName: "TRANSFORM"))
    var confidence: String?

    @Option(name: .shortAndLong, help: "Directory to write to.")
    var output: String

    @OptionGroup var read: ReadOptions

    func validate() throws {
        if config == nil { guard (file == nil) != (storeOptions.store == nil) else { throw ValidationError("give a log FILE or --store (one of them), or --config run.json") } }
    }

    func run() throws {
        var run = try config.map { try TrainingRun.read(from: $0) } ?? TrainingRun(data: DatasetRecipe(source: .log(file ?? "")))
        if let file { run.data.source = .log(file) }
        if let store = storeOptions.store { run.data.source = .store(store) }
        run.data.reader = try read.apply(to: run.data.reader)
        if storeOptions.cleaning != nil { run.data.cleaning = try storeOptions.cleaningConfiguration() }
        if storeOptions.weights != nil { run.data.weights = try storeOptions.eventWeights() }
        if let confidence { run.data.confidence = try ConfidenceTransform(parsing: confidence) }
        if let holdout { run.data.holdout = .init(method: try holdoutOptions.method(holdout), seed: holdoutOptions.splitSeed ?? 42) }
        run.model = "als"
        run.output = nil
        let t0 = Date()
        let prepared = try run.data.prepare(openStore: StoreOptions.open)
        let train = prepared.train
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        var lines = "user,item,value\n"
        lines.reserveCapacity(train.count * 16)
        for r in 0..<train.count { lines += "\(train.users[r]),\(train.items[r]),\(train.values[r])\n" }
        try lines.write(toFile: output + "/interactions.csv", atomically: true, encoding: .utf8)
        try Export.writeMap(train.userIDs, to: output + "/users.csv")
        try Export.writeMap(train.itemIDs, to: output + "/items.csv")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(run).write(to: URL(fileURLWithPath: output + "/run.json"))
        Terminal.note(String(format: "exported %d interactions of %d users and %d items to %@ in %.1fs", train.count, train.userIDs.count,
                             train.itemIDs.count, output, Date().timeIntervalSince(t0)))
    }

    /// `index,id` lines (ids quoted when they hold a comma or quote).
    static func writeMap(_ ids: IDMap, to path: String) throws {
        var text = "index,id\n"
        for (i, id) in ids.ids.enumerated() {
            let quoted = id.contains(",") || id.contains("\"") || id.contains("\n") ? "\"" + id.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : id
            text += "\(i),\(quoted)\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
