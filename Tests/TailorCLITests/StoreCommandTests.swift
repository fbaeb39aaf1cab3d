import Foundation
import Testing
import TailorData
import TailorStore
import TailorSQLite
@testable import TailorCLI

@Suite("Store commands")
struct StoreCommandTests {
    static let dir: String = {
        let dir = scratchDirectory("store")
        try! tailor(["generate", "--events", "--users", "300", "--items", "120", "--interactions", "6000", "--bots", "2",
                     "--output", "\(dir)/events.csv", "--catalog", "\(dir)/items.csv"])
        try! "user_id,age,gender,signup\nu1,34,F,2023-05-01\nu2,27,M,2022-01-09\n".write(toFile: "\(dir)/users.csv", atomically: true, encoding: .utf8)
        return dir
    }()

    @Test("ingest events, items and users; ingesting again adds nothing; the report counts everything")
    func ingest() throws {
        let dir = Self.dir, store = "\(dir)/ingest.db"
        try tailor(["ingest", "\(dir)/events.csv", "--store", store, "--batch-size", "1000", "--report", "\(dir)/ingest.json"])
        try tailor(["ingest", "\(dir)/items.csv", "--kind", "items", "--store", store])
        try tailor(["ingest", "\(dir)/users.csv", "--kind", "users", "--store", store])
        let counts = try SQLiteEventStore(path: store).counts()
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/ingest.json"))) as! [String: Any]
        let source = (report["sources"] as! [String: [String: Any]])["\(dir)/events.csv"]!
        #expect(source["inserted"] as? Int == counts.events && (source["duplicates"] as? Int ?? 0) > 0)
        #expect(counts.items == 120 && counts.users == 302)
        try tailor(["ingest", "\(dir)/events.csv", "--store", store])
        #expect(try SQLiteEventStore(path: store).counts() == counts)
        #expect { try tailor(["ingest", "\(dir)/nope.csv", "--store", store]) } throws: { "\($0)".contains("nope.csv: no such file") }
        #expect { try tailor(["ingest", "\(dir)/events.csv", "--store", "\(dir)/events.csv"]) } throws: { "\($0)".contains("is not an SQLite database") }
    }

    @Test("stats reports types, long tail, sessions and every cleaning step, as a table and JSON")
    func stats() throws {
        let dir = Self.dir, store = "\(dir)/stats.db"
        try tailor(["ingest", "\(dir)/events.csv", "--store", store])
        try #"{"referenceTime": 1800000000, "userCore": 2}"#.write(toFile: "\(dir)/cleaning.json", atomically: true, encoding: .utf8)
        try tailor(["stats", "--store", store, "--cleaning", "\(dir)/cleaning.json", "--json", "\(dir)/stats.json"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/stats.json"))) as! [String: Any]
        let raw = json["raw"] as! [String: Any]
        #expect((raw["eventsByType"] as! [String: Int]).keys.contains("dwell"))
        #expect((raw["topTenPercentShare"] as! Double) > 0.1)
        let cleaning = json["cleaning"] as! [String: Any]
        let steps = (cleaning["steps"] as! [[String: Any]]).map { $0["name"] as! String }
        #expect(steps == ["anomalies", "exact duplicates", "quick repeats", "bots", "k-core"])
        #expect((cleaning["flaggedUsers"] as! [[String: Any]]).count == 2)
        #expect((json["interactions"] as! Int) > 0)
        #expect { try tailor(["stats", "--store", "\(dir)/absent.db"]) } throws: { "\($0)".contains("no such store") }
    }

    @Test("sessions export as lines and JSON Lines")
    func sessions() throws {
        let dir = Self.dir, store = "\(dir)/sessions.db"
        try tailor(["ingest", "\(dir)/events.csv", "--store", store])
        try tailor(["sessions", "--store", store, "--per", "user", "--output", "\(dir)/seq.txt"])
        let lines = try String(contentsOfFile: "\(dir)/seq.txt", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 300 && lines.allSatisfy { $0.hasPrefix("u") && $0.split(separator: " ").count >= 2 })
        try tailor(["sessions", "--store", store, "--format", "jsonl", "--session-gap", "10", "--output", "\(dir)/s.jsonl"])
        let first = try JSONSerialization.jsonObject(with: Data(String(contentsOfFile: "\(dir)/s.jsonl", encoding: .utf8).split(separator: "\n")[0].utf8)) as! [String: Any]
        #expect(first["items"] is [String] && first["start"] != nil)
    }

    @Test("encode fits and stores encoders and writes item features")
    func encode() throws {
        let dir = Self.dir, store = "\(dir)/encode.db"
        try tailor(["ingest", "\(dir)/items.csv", "--kind", "items", "--store", store])
        try tailor(["encode", "--store", store, "--min-count", "1", "--output", "\(dir)/features.safetensors"])
        let encoders = try SQLiteEventStore(path: store).loadEncoder(FeatureEncoders.self, name: "features")
        #expect(encoders?.itemCategories.size ?? 0 > 10 && encoders?.itemNumeric["year"] != nil)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/features.safetensors"))
    }

    @Test("train, split and evaluate read the store")
    func trainFromStore() throws {
        let dir = Self.dir, store = "\(dir)/train.db"
        try tailor(["ingest", "\(dir)/events.csv", "--store", store])
        try tailor(["split", "--store", store, "--method", "temporal", "--train", "\(dir)/st-train.csv", "--test", "\(dir)/st-test.csv"])
        try tailor(["train", "--store", store, "--factors", "8", "--iterations", "3", "--output", "\(dir)/st-model", "--progress", "none"])
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/st-model/manifest.json"))) as! [String: Any]
        #expect(((manifest["data"] as! [String: Any])["source"] as! String).hasPrefix("store:"))
        #expect(!(manifest["users"] as! [String]).contains { $0.hasPrefix("bot") }, "bots are cleaned out")
        #expect { try tailor(["train", "\(dir)/events.csv", "--store", store, "--output", "\(dir)/x"]) } throws: { "\($0)".contains("one of them") }
        // Train on a held-out split of the store, then evaluate on the same split, rebuilt.
        try tailor(["train", "--store", store, "--holdout", "temporal", "--test-fraction", "0.25", "--factors", "8", "--iterations", "3",
                    "--output", "\(dir)/held", "--progress", "none"])
        try tailor(["evaluate", "--model", "\(dir)/held", "--store", store, "--k", "10", "--json", "\(dir)/held.json"])
        let eval = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/held.json"))) as! [String: Any]
        #expect((eval["trainMatchesModel"] as? [String: Bool]) == ["als": true], "the rebuilt training part is the one the model saw")
        let users = ((eval["results"] as! [String: Any])["als"] as! [String: Any])["users"] as! Int
        #expect(users > 100)
        #expect { try tailor(["evaluate", "--model", "\(dir)/st-model", "--store", store]) } throws: { "\($0)".contains("holds nothing out") && "\($0)".contains("train with --holdout") }
    }
}

@Suite("Crash safety")
struct CrashTests {
    @Test("an import killed with SIGKILL leaves a consistent store, and re-running it gives a clean import's counts",
          .enabled(if: BinaryTests.binary != nil, "the tailor binary is not built"))
    func killed() throws {
        let dir = scratchDirectory("crash")
        try tailor(["generate", "--events", "--users", "1500", "--items", "400", "--interactions", "30000", "--output", "\(dir)/events.csv"])
        // A clean import for reference.
        try tailor(["ingest", "\(dir)/events.csv", "--store", "\(dir)/clean.db"])
        let clean = try SQLiteEventStore(path: "\(dir)/clean.db").counts()
        let (partial, reason) = try killMidImport("\(dir)/events.csv", store: "\(dir)/killed.db") {
            guard FileManager.default.fileExists(atPath: "\(dir)/killed.db") else { return nil }
            return try? SQLiteEventStore(path: "\(dir)/killed.db", create: false).counts().events
        }
        #expect(reason == .uncaughtSignal, "the import must still be running when killed")
        #expect(partial > 0 && partial < clean.events, "killed mid-way: \(partial) of \(clean.events)")
        // The store is consistent: it opens, passes the integrity check, and holds whole batches.
        let store = try SQLiteEventStore(path: "\(dir)/killed.db")
        #expect(try store.integrityCheck() == "ok")
        // Whole batches: the stored count is what a clean import holds after some whole number of
        // 2,000-event batches (each batch stores its events not seen before), never in between.
        let boundaries = try batchBoundaries("\(dir)/events.csv", batchSize: 2000)
        #expect(boundaries.last == clean.events)
        let stored = try store.counts().events
        #expect(boundaries.dropFirst().dropLast().contains(stored), "\(stored) events is not a batch boundary")
        #expect(try store.imports().last?.status == "running")
        // Re-running completes it.
        try tailor(["ingest", "\(dir)/events.csv", "--store", "\(dir)/killed.db"])
        #expect(try SQLiteEventStore(path: "\(dir)/killed.db").counts() == clean)
        #expect(try store.imports().map(\.status) == ["interrupted", "finished"])
        // And the loaded logs are the same events.
        let a = try SQLiteEventStore(path: "\(dir)/killed.db").loadEvents(), b = try SQLiteEventStore(path: "\(dir)/clean.db").loadEvents()
        #expect(Set(a.keys) == Set(b.keys))
    }
}

/// The distinct events a clean import holds after each whole batch of `batchSize` (0 first).
func batchBoundaries(_ path: String, batchSize: Int) throws -> [Int] {
    var boundaries: [Int] = [0]
    var seenKeys = Set<Int64>()
    var config = EventReader.Configuration()
    config.batchSize = batchSize
    _ = try EventReader.read(path: path, configuration: config) { batch in
        for e in batch { seenKeys.insert(e.key) }
        boundaries.append(seenKeys.count)
    }
    return boundaries
}

/// Runs `tailor ingest FILE --store STORE` slowly (batches of 2,000 with pauses) in a child
/// process and kills it with SIGKILL once `stored()` reports 10,000 events or more; the count
/// seen then and how the process ended.
func killMidImport(_ file: String, store: String, stored: () -> Int?) throws -> (Int, Process.TerminationReason) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: BinaryTests.binary!)
    p.arguments = ["ingest", file, "--store", store, "--batch-size", "2000", "--pause-between-batches", "0.05"]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    var partial = 0
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline {
        Thread.sleep(forTimeInterval: 0.05)
        if let n = stored(), n >= 10_000 {
            partial = n
            break
        }
    }
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    return (partial, p.terminationReason)
}
