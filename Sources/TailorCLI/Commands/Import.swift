import ArgumentParser
import Foundation
import TailorData
import TailorLinalg
import TailorModels
import TailorStore

/// `tailor import`: models trained elsewhere, as Tailor model directories.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a model trained on another engine into a Tailor model directory (recommend, evaluate and serve it unchanged).",
        discussion: """
        spark-als DIR: DIR is a `tailor export` directory in which `scripts/spark-als.py` wrote spark-als/user_factors.csv,
        spark-als/item_factors.csv (index, then the factors, space-separated) and spark-als/params.json. The recipe in DIR/run.json
        is read again to rebuild the training interactions (for excluding seen items) and must give the same users and items as
        the export did.

          tailor import spark-als export/ --output spark-model
        """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable { case sparkALS = "spark-als" }

    @Argument(help: "What was trained: spark-als.")
    var kind: Kind

    @Argument(help: "The export directory holding the trained factors.")
    var directory: String

    @Option(name: .shortAndLong, help: "Directory to write the model to.")
    var output: String

    func run() throws {
        let run = try TrainingRun.read(from: directory + "/run.json")
        let users = try Import.readMap(directory + "/users.csv"), items = try Import.readMap(directory + "/items.csv")
        let spark = directory + "/spark-als"
        guard FileManager.default.fileExists(atPath: spark + "/user_factors.csv") else {
            throw ValidationError("\(spark)/user_factors.csv is missing: run `python3 scripts/spark-als.py \(directory)` (or spark-submit) first")
        }
        let params = try JSONDecoder().decode(SparkParameters.self, from: Data(contentsOf: URL(fileURLWithPath: spark + "/params.json")))
        let userFactors = try Import.readFactors(spark + "/user_factors.csv", rows: users.count, rank: params.rank)
        let itemFactors = try Import.readFactors(spark + "/item_factors.csv", rows: items.count, rank: params.rank)
        let prepared = try run.data.prepare(openStore: StoreOptions.open)
        guard prepared.train.userIDs.ids == users, prepared.train.itemIDs.ids == items else {
            throw ValidationError("the recipe's data no longer gives the exported users and items (\(prepared.train.userIDs.count) users and \(prepared.train.itemIDs.count) items now, \(users.count) and \(items.count) exported): the store changed since `tailor export`; export and train again")
        }
        var c = ALS.Configuration()
        c.factors = params.rank
        c.iterations = params.maxIter
        c.regularization = Float(params.regParam)
        c.alpha = Float(params.alpha)
        let model = ALS(configuration: c, userFactors: userFactors.matrix, itemFactors: itemFactors.matrix)
        let source: String
        switch run.data.source { case .log(let p): source = p; case .store(let p): source = "store:" + p }
        let bundle = try ModelBundle(model: model, training: prepared.train, source: source, recipe: run.data,
                                     fingerprint: prepared.trainRaw.fingerprint(), storeCursor: prepared.storeCursor)
        try bundle.save(to: URL(fileURLWithPath: output))
        var note = "imported Spark ALS (rank \(params.rank), regParam \(params.regParam), alpha \(params.alpha), \(params.maxIter) iterations) for \(users.count) users and \(items.count) items; saved to \(output)"
        if userFactors.missing + itemFactors.missing > 0 {
            note += " (\(userFactors.missing) users and \(itemFactors.missing) items had no factors from Spark: zero vectors, served by fallbacks)"
        }
        Terminal.note(note)
    }

    struct SparkParameters: Codable {
        var rank: Int
        var regParam: Double
        var alpha: Double
        var maxIter: Int
    }

    /// `index,id` lines in index order.
    static func readMap(_ path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var ids: [String] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).dropFirst().enumerated() {
            guard let comma = line.firstIndex(of: ","), Int(line[..<comma]) == n else {
                throw ValidationError("\(path):\(n + 2): expected 'index,id' with index \(n)")
            }
            var id = String(line[line.index(after: comma)...])
            if id.hasPrefix("\""), id.hasSuffix("\""), id.count >= 2 { id = String(id.dropFirst().dropLast()).replacingOccurrences(of: "\"\"", with: "\"") }
            ids.append(id)
        }
        return ids
    }

    /// `index f1 f2 … fk` lines; rows Spark did not write stay zero.
    static func readFactors(_ path: String, rows: Int, rank: Int) throws -> (matrix: Matrix, missing: Int) {
        var m = Matrix(rows: rows, columns: rank)
        var seen = [Bool](repeating: false, count: rows)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let fields = line.split(separator: " ")
            guard fields.count == rank + 1, let row = Int(fields[0]), row >= 0, row < rows else {
                throw ValidationError("\(path):\(n + 1): expected an index below \(rows) and \(rank) factors")
            }
            for j in 0..<rank {
                guard let v = Float(fields[j + 1]), v.isFinite else { throw ValidationError("\(path):\(n + 1): factor \(j + 1) is not a finite number") }
                m[row, j] = v
            }
            seen[row] = true
        }
        return (m, seen.filter { !$0 }.count)
    }
}
