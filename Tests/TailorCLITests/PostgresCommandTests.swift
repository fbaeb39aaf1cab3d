import Foundation
import Testing
import TailorData
import TailorStore
import TailorPostgres
import TailorModels
@testable import TailorCLI

/// The CLI on a PostgreSQL store (`TAILOR_TEST_POSTGRES`, set by `.ci/run`).
@Suite("PostgreSQL from the command line", .enabled(if: ProcessInfo.processInfo.environment["TAILOR_TEST_POSTGRES"] != nil,
                                                     "set TAILOR_TEST_POSTGRES (eval \"$(scripts/postgres-cluster start)\") to run these"))
struct PostgresCommandTests {
    static let url = ProcessInfo.processInfo.environment["TAILOR_TEST_POSTGRES"] ?? ""

    func schemaURL(_ name: String) -> String {
        Self.url + "?schema=\(name)_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(10)
    }

    @Test("an import into PostgreSQL killed with SIGKILL loses no committed batch, and re-running it gives a clean import's counts",
          .enabled(if: BinaryTests.binary != nil, "the tailor binary is not built"))
    func killed() throws {
        let dir = scratchDirectory("pg-crash")
        try tailor(["generate", "--events", "--users", "1500", "--items", "400", "--interactions", "30000", "--output", "\(dir)/events.csv"])
        let cleanURL = schemaURL("clean"), killedURL = schemaURL("killed")
        try tailor(["ingest", "\(dir)/events.csv", "--store", cleanURL])
        let clean = try PostgresEventStore(url: cleanURL, create: false).counts()
        let (partial, reason) = try killMidImport("\(dir)/events.csv", store: killedURL) {
            try? PostgresEventStore(url: killedURL, create: false).counts().events
        }
        #expect(reason == .uncaughtSignal, "the import must still be running when killed")
        let store = try PostgresEventStore(url: killedURL, create: false)
        let stored = try store.counts().events
        #expect(stored >= partial && partial > 0 && stored < clean.events, "killed mid-way: \(stored) of \(clean.events)")
        // Whole batches only: the count is a batch boundary of a clean import.
        let boundaries = try batchBoundaries("\(dir)/events.csv", batchSize: 2000)
        #expect(boundaries.dropFirst().dropLast().contains(stored), "\(stored) events is not a batch boundary")
        #expect(try store.imports().last?.status == "running")
        // The killed process's lock died with its connection: the re-run starts and completes it.
        try tailor(["ingest", "\(dir)/events.csv", "--store", killedURL])
        #expect(try store.counts() == clean)
        #expect(try store.imports().map(\.status) == ["interrupted", "finished"])
        let a = try store.loadEvents(), b = try PostgresEventStore(url: cleanURL, create: false).loadEvents()
        #expect(Set(a.keys) == Set(b.keys) && a.userIDs.ids == b.userIDs.ids)
    }

    @Test("train and evaluate read a PostgreSQL store through the recipe, as they read SQLite")
    func trainFromPostgres() throws {
        let dir = scratchDirectory("pg-train")
        try tailor(["generate", "--events", "--users", "300", "--items", "120", "--interactions", "6000", "--output", "\(dir)/events.csv"])
        let url = schemaURL("train")
        try tailor(["ingest", "\(dir)/events.csv", "--store", url])
        try tailor(["ingest", "\(dir)/events.csv", "--store", "\(dir)/same.db"])
        try tailor(["train", "--store", url, "--model", "als", "--holdout", "random", "--output", "\(dir)/pg-model"])
        try tailor(["train", "--store", "\(dir)/same.db", "--model", "als", "--holdout", "random", "--output", "\(dir)/sqlite-model"])
        // The same events in the same order: the same split and the same factors.
        let pg = try ModelBundle.load(from: URL(fileURLWithPath: "\(dir)/pg-model")), lite = try ModelBundle.load(from: URL(fileURLWithPath: "\(dir)/sqlite-model"))
        let a = try #require(pg.model as? ALS), b = try #require(lite.model as? ALS)
        #expect(a.userFactors.storage == b.userFactors.storage && a.itemFactors.storage == b.itemFactors.storage)
        #expect(pg.manifest.data.source?.hasPrefix("store:postgres://") == true && !(pg.manifest.data.source ?? "").contains("PGPASSWORD"))
        // evaluate replays the recipe from the PostgreSQL store.
        try tailor(["evaluate", "--model", "\(dir)/pg-model"])
    }
}
