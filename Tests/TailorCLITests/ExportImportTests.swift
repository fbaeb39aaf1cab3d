import Foundation
import Testing
import TailorData
import TailorLinalg
import TailorModels
import TailorSQLite
@testable import TailorCLI

@Suite("Export and import (training on another engine)")
struct ExportImportTests {
    static let dir: String = {
        let dir = scratchDirectory("export")
        try! tailor(["generate", "--events", "--users", "300", "--items", "120", "--interactions", "6000", "--output", "\(dir)/events.csv"])
        try! tailor(["ingest", "\(dir)/events.csv", "--store", "\(dir)/t.db"])
        return dir
    }()

    @Test("export writes the recipe's training part (after the split and the confidence transform) with id maps a run file rebuilds")
    func export() throws {
        let out = Self.dir + "/export-\(UUID().uuidString.prefix(6))"
        try tailor(["export", "--store", "\(Self.dir)/t.db", "--holdout", "random", "--output", out])
        let run = try TrainingRun.read(from: out + "/run.json")
        let prepared = try run.data.prepare(openStore: StoreOptions.open)
        let rows = try String(contentsOfFile: out + "/interactions.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(rows.count == prepared.train.count && prepared.test != nil && prepared.test!.count > 0)
        for (r, line) in rows.enumerated().prefix(500) {
            let f = line.split(separator: ",")
            #expect(Int32(f[0]) == prepared.train.users[r] && Int32(f[1]) == prepared.train.items[r] && Float(f[2]) == prepared.train.values[r])
        }
        #expect(try Import.readMap(out + "/users.csv") == prepared.train.userIDs.ids && (try Import.readMap(out + "/items.csv")) == prepared.train.itemIDs.ids)
    }

    @Test("import spark-als builds a model from factor files: the same factors, the recipe for evaluate, clear errors for damaged files")
    func importFactors() throws {
        let out = Self.dir + "/export-\(UUID().uuidString.prefix(6))"
        try tailor(["export", "--store", "\(Self.dir)/t.db", "--holdout", "random", "--output", out])
        // Stand in for Spark: factors from Tailor's ALS on the exported matrix, written as Spark's script writes them.
        let run = try TrainingRun.read(from: out + "/run.json")
        let prepared = try run.data.prepare(openStore: StoreOptions.open)
        let als = try ALS.fit(InteractionMatrix(prepared.train), configuration: .init(factors: 6, iterations: 5, seed: 3, threads: 1))
        try FileManager.default.createDirectory(atPath: out + "/spark-als", withIntermediateDirectories: true)
        func write(_ m: Matrix, _ name: String, skip: Int? = nil) throws {
            var text = ""
            for r in 0..<m.rows where r != skip { text += "\(r) " + m.row(r).map { "\($0)" }.joined(separator: " ") + "\n" }
            try text.write(toFile: out + "/spark-als/" + name, atomically: true, encoding: .utf8)
        }
        try write(als.userFactors, "user_factors.csv")
        try write(als.itemFactors, "item_factors.csv", skip: 5)
        try #"{"rank": 6, "regParam": 0.05, "alpha": 0.5, "maxIter": 5}"#.write(toFile: out + "/spark-als/params.json", atomically: true, encoding: .utf8)
        try tailor(["import", "spark-als", out, "--output", out + "/model"])
        let bundle = try ModelBundle.load(from: URL(fileURLWithPath: out + "/model"))
        let imported = try #require(bundle.model as? ALS)
        #expect(imported.userFactors.storage == als.userFactors.storage)
        #expect(imported.itemFactors.row(5).allSatisfy { $0 == 0 } && imported.itemFactors.row(6) == als.itemFactors.row(6), "a row Spark left out is zero")
        #expect(bundle.manifest.data.recipe == run.data)
        try tailor(["evaluate", "--model", out + "/model"])  // replays the recipe's hold-out
        // A damaged factor file names its line.
        try "0 1 2\n".write(toFile: out + "/spark-als/user_factors.csv", atomically: true, encoding: .utf8)
        #expect { try tailor(["import", "spark-als", out, "--output", out + "/model2"]) } throws: { "\($0)".contains("user_factors.csv:1") }
    }

    static let pyspark: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import pyspark"]
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/java")
    }()

    @Test("scripts/spark-als.py trains Spark MLlib's ALS on an export, and the imported model beats popularity",
          .enabled(if: pyspark, "pyspark or Java is not installed (pip install pyspark)"))
    func realSpark() throws {
        let out = Self.dir + "/export-\(UUID().uuidString.prefix(6))"
        try tailor(["export", "--store", "\(Self.dir)/t.db", "--holdout", "random", "--output", out])
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/spark-als.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, out, "--master", "local[2]", "--rank", "8", "--iterations", "5", "--memory", "1g"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        try tailor(["import", "spark-als", out, "--output", out + "/model"])
        try tailor(["evaluate", "--model", out + "/model", "--json", out + "/eval.json"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/eval.json"))) as! [String: Any]
        func ndcg(_ name: String) -> Double? {
            ((json["results"] as? [String: Any])?[name] as? [String: Any]).flatMap { ($0["atK"] as? [[String: Any]])?.first { $0["k"] as? Int == 10 } }
                .flatMap { ($0["metrics"] as? [String: Any])?["ndcg"] as? Double }
        }
        #expect((ndcg("als") ?? 0) > (ndcg("popularity") ?? 1), "Spark ALS \(ndcg("als") ?? -1) vs popularity \(ndcg("popularity") ?? -1)")
    }
}
