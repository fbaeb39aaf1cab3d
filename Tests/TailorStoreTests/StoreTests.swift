import Foundation
import Testing
import TailorData
@testable import TailorStore
@testable import TailorSQLite

func temporaryPath(_ name: String, _ ext: String = "db") -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-store-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent("\(name).\(ext)").path
}

/// A small synthetic event file and its events.
func eventFile(users: Int = 200, items: Int = 100, interactions: Int = 3_000) -> (path: String, events: [Event]) {
    var c = SyntheticEvents.Configuration()
    c.log.users = users; c.log.items = items; c.log.interactions = interactions
    let generated = SyntheticEvents.generate(c)
    let path = temporaryPath("events", "csv")
    try! generated.csv().write(toFile: path, atomically: true, encoding: .utf8)
    return (path, generated.events)
}

@Suite("The event store")
struct StoreTests {
    @Test("ingest stores every event once; a second import adds nothing; repeats within a file are counted")
    func idempotent() throws {
        let (file, generated) = eventFile()
        let store = try SQLiteEventStore(path: temporaryPath("s"))
        var c = Ingest.Configuration()
        c.batchSize = 700
        let first = try Ingest.file(file, kind: .events, into: store, configuration: c)
        let distinct = Set(generated.map(\.key)).count
        #expect(first.rowsRead == generated.count)
        #expect(first.inserted == distinct && first.duplicates == generated.count - distinct)
        #expect(try store.counts().events == distinct)
        let second = try Ingest.file(file, kind: .events, into: store, configuration: c)
        #expect(second.inserted == 0 && second.alreadyPresent == distinct)
        #expect(try store.counts().events == distinct)
        let imports = try store.imports()
        #expect(imports.count == 2 && imports.allSatisfy { $0.status == "finished" })
        #expect(imports[0].inserted == distinct && imports[1].alreadyPresent == distinct)
        #expect(try store.integrityCheck() == "ok")
    }

    @Test("loaded events equal what was ingested")
    func roundTrip() throws {
        let (file, generated) = eventFile(users: 50, items: 40, interactions: 600)
        let store = try SQLiteEventStore(path: temporaryPath("r"))
        try Ingest.file(file, kind: .events, into: store)
        let log = try store.loadEvents()
        var unique: [Int64: Event] = [:]
        for e in generated where unique[e.key] == nil { unique[e.key] = e }
        #expect(log.count == unique.count)
        for i in 0..<log.count {
            let original = unique[log.keys[i]]!
            #expect(log.userIDs[log.users[i]] == original.user && log.itemIDs[log.items[i]] == original.item)
            #expect(log.type(i) == original.type && log.timestamps[i] == original.timestampMilliseconds)
            #expect(original.value.map { $0 == log.values[i] } ?? log.values[i].isNaN)
        }
    }

    @Test("items and users are upserted by id and read back")
    func catalog() throws {
        let store = try SQLiteEventStore(path: temporaryPath("c"))
        let (session, _) = try store.beginImport(source: "test", kind: "items")
        try store.upsert(items: [CatalogItem(id: "a", title: "A", categories: ["x"], tags: ["t"], numeric: ["p": 2], features: [1, 2]),
                                 CatalogItem(id: "b", title: "B")], session: session)
        try store.upsert(items: [CatalogItem(id: "a", title: "A2", categories: ["y"], features: [3, 4])], session: session)
        try store.upsert(users: [UserProfile(id: "u", attributes: ["age": "30"], signupMilliseconds: 5)], session: session)
        try store.finishImport(session)
        let items = try store.loadItems()
        #expect(items.count == 2 && items[0].title == "A2" && items[0].categories == ["y"] && items[0].features == [3, 4])
        #expect(try store.loadUsers() == [UserProfile(id: "u", attributes: ["age": "30"], signupMilliseconds: 5)])
        // Events for an existing item reuse its id.
        let (events, _) = try store.beginImport(source: "e", kind: "events")
        try store.insert(events: [Event(user: "u", item: "a", type: .click, timestampMilliseconds: 1)], session: events)
        #expect(try store.counts().items == 2 && store.counts().users == 1)
    }

    @Test("an interrupted import is completed by running it again, with the same counts as a clean one")
    func interrupted() throws {
        let (file, _) = eventFile()
        let clean = try SQLiteEventStore(path: temporaryPath("clean"))
        try Ingest.file(file, kind: .events, into: clean)
        // Simulate a crash: store two batches, never finish (the session, and with it the import
        // lock, goes away at the end of the block, as it would with the process).
        let store = try SQLiteEventStore(path: temporaryPath("crashed"))
        do {
            let (session, _) = try store.beginImport(source: URL(fileURLWithPath: file).standardizedFileURL.path, kind: "events")
            var batches = 0
            _ = try? EventReader.read(path: file, configuration: { var c = EventReader.Configuration(); c.batchSize = 500; return c }()) { batch in
                guard batches < 2 else { throw CancellationError() }
                try store.insert(events: batch, session: session)
                batches += 1
            }
        }
        #expect(try store.counts().events > 0 && store.counts().events < clean.counts().events)
        let rerun = try Ingest.file(file, kind: .events, into: store)
        #expect(rerun.alreadyPresent > 0)
        #expect(try store.counts() == clean.counts())
        #expect(try store.imports().map(\.status) == ["interrupted", "finished"])
    }

    @Test("files that are not Tailor stores give clear errors naming the file")
    func foreign() throws {
        let text = temporaryPath("text")
        try "hello, I am a text file with enough bytes".write(toFile: text, atomically: true, encoding: .utf8)
        #expect { try SQLiteEventStore(path: text) } throws: { "\($0)".contains(text) && "\($0)".contains("is not an SQLite database") }

        let other = temporaryPath("other")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [other, "CREATE TABLE customers(id INTEGER, name TEXT);"]
        try p.run(); p.waitUntilExit()
        #expect { try SQLiteEventStore(path: other) } throws: { "\($0)".contains("is an SQLite database but not a Tailor store (its tables: customers)") }

        let newer = temporaryPath("newer")
        _ = try SQLiteEventStore(path: newer)
        let q = Process()
        q.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        q.arguments = [newer, "UPDATE tailor_meta SET value = '99' WHERE key = 'version';"]
        try q.run(); q.waitUntilExit()
        #expect { try SQLiteEventStore(path: newer) } throws: { "\($0)".contains("newer than this Tailor reads") }

        #expect { try SQLiteEventStore(path: temporaryPath("absent"), create: false) } throws: { "\($0)".contains("no such store") }

        // A truncated store: the header survives but the pages do not.
        let truncated = temporaryPath("truncated")
        let (file, _) = eventFile(users: 30, items: 20, interactions: 300)
        try Ingest.file(file, kind: .events, into: try SQLiteEventStore(path: truncated))
        let data = try Data(contentsOf: URL(fileURLWithPath: truncated))
        try data.prefix(4096 + 100).write(to: URL(fileURLWithPath: truncated))
        try? FileManager.default.removeItem(atPath: truncated + "-wal")
        try? FileManager.default.removeItem(atPath: truncated + "-shm")
        #expect {
            let s = try SQLiteEventStore(path: truncated)
            _ = try s.loadEvents()
        } throws: { error in
            error is StoreError && "\(error)".contains(truncated) && "\(error)".contains("corrupt")
        }
    }

    @Test("only one import runs at a time; the lock is released when it finishes")
    func exclusive() throws {
        let store = try SQLiteEventStore(path: temporaryPath("lock"))
        let (first, _) = try store.beginImport(source: "a", kind: "events")
        #expect { try store.beginImport(source: "b", kind: "events") } throws: { "\($0)".contains("another import into this store is running") }
        try store.finishImport(first)
        let (second, _) = try store.beginImport(source: "b", kind: "events")
        try store.finishImport(second)
    }

    @Test("encoders are saved in the store and read back")
    func encoders() throws {
        let store = try SQLiteEventStore(path: temporaryPath("enc"))
        let encoders = FeatureEncoders(items: [CatalogItem(id: "1", categories: ["A"])], users: [], minimumCount: 1)
        try store.saveEncoder(encoders, name: "features")
        #expect(try store.loadEncoder(FeatureEncoders.self, name: "features") == encoders)
        #expect(try store.loadEncoder(FeatureEncoders.self, name: "missing") == nil)
    }

    @Test("training data from the store through a recipe: cleaned and weighted")
    func training() throws {
        let (file, _) = eventFile()
        let path = temporaryPath("t")
        let store = try SQLiteEventStore(path: path)
        try Ingest.file(file, kind: .events, into: store)
        var recipe = DatasetRecipe(source: .store(path))
        recipe.cleaning.referenceTime = 1_800_000_000
        let prepared = try recipe.prepare(openStore: { _ in store })
        let (interactions, report) = (prepared.all, prepared.cleaningReport!)
        #expect(report.flaggedUsers.count == 5)
        #expect(interactions.count > 0 && interactions.values.allSatisfy { $0 > 0 })
        #expect(!interactions.userIDs.ids.contains { $0.hasPrefix("bot") && interactions.users.contains(interactions.userIDs.position(of: $0)!) })
    }
}
