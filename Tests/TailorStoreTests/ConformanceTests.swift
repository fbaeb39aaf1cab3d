import Foundation
import Testing
import TailorData
import TailorStore
import TailorSQLite

@Suite("EventStore conformance: SQLite")
struct SQLiteConformanceTests {
    @Test("the SQLite store passes every conformance check", arguments: EventStoreConformance.checks)
    func conformance(_ check: EventStoreConformance.Check) throws {
        let path = temporaryPath("conformance")
        try check.run(try SQLiteEventStore(path: path), URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    @Test("append catches up with events another writer stored, so it never stores them twice")
    func appendAfterImport() throws {
        let path = temporaryPath("catchup")
        let writer = try SQLiteEventStore(path: path)
        let appender = try SQLiteEventStore(path: path)
        let a = Event(id: "a", user: "u", item: "i", type: .view, timestampMilliseconds: 1_704_067_200_000)
        let b = Event(id: "b", user: "u", item: "j", type: .view, timestampMilliseconds: 1_704_067_201_000)
        #expect(try appender.append([a]) == AppendCounts(inserted: 1))
        #expect(try writer.append([b]) == AppendCounts(inserted: 1))  // another connection
        #expect(try appender.append([a, b]) == AppendCounts(inserted: 0, alreadyPresent: 2))
        #expect(try appender.counts() == StoreCounts(events: 2, users: 1, items: 2))
    }
}

@Suite("SQLite store: concurrent opening")
struct SQLiteConcurrentOpenTests {
    @Test("several store objects opening (and migrating) one new file at once all succeed: a locked file is waited for")
    func concurrentOpen() throws {
        for round in 0..<5 {
            let path = temporaryPath("concurrent-\(round)")
            let failures = Failures()
            DispatchQueue.concurrentPerform(iterations: 6) { n in
                do {
                    let store = try SQLiteEventStore(path: path)
                    try store.append([Event(id: "e\(n)", user: "u\(n)", item: "i", type: .click, timestampMilliseconds: 1_704_067_200_000)])
                } catch {
                    failures.add("\(error)")
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.first ?? "")")
            #expect(try SQLiteEventStore(path: path).counts().events == 6)
        }
    }
}

final class Failures: @unchecked Sendable {
    let lock = NSLock()
    var all: [String] = []
    func add(_ s: String) { lock.lock(); all.append(s); lock.unlock() }
}
