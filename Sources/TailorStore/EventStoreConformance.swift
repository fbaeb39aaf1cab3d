import Foundation
import TailorData

/// The behaviour every ``EventStore`` must have, as checks any implementation's tests run
/// against a fresh, empty store: the SQLite store's tests run them now, a PostgreSQL store's
/// will run the same.
///
/// ```swift
/// @Test(arguments: EventStoreConformance.checks)
/// func conformance(_ check: EventStoreConformance.Check) throws {
///     try check.run(try SQLiteEventStore(path: freshPath()), scratchDirectory)
/// }
/// ```
public enum EventStoreConformance {
    /// One check: a name, and a body that throws ``Failure`` when the store misbehaves.
    public struct Check: Sendable, CustomStringConvertible {
        /// What the check checks.
        public let name: String
        /// Runs the check against an empty store; `scratch` is a directory for files.
        public let run: @Sendable (any EventStore, _ scratch: String) throws -> Void
        public var description: String { name }
    }

    /// A failed expectation, naming what was expected.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw Failure(description: message()) }
    }

    static let t0: Int64 = 1_704_067_200_000

    static func sample() -> [Event] {
        [Event(id: "e1", user: "ann", item: "news-1", type: .view, timestampMilliseconds: t0, context: EventContext(device: "mobile", session: "s1")),
         Event(id: "e2", user: "ann", item: "news-2", type: .dwell, value: 42.5, timestampMilliseconds: t0 + 1_000),
         Event(user: "bob", item: "news-1", type: .rating, value: 4, timestampMilliseconds: t0 + 2_000, context: EventContext(platform: "web", country: "DE", extra: ["campaign": "x"])),
         Event(id: "h1", user: "bob", item: "news-3", type: .click, timestampMilliseconds: t0, context: EventContext(extra: [EventContext.untimedKey: "1"]))]
    }

    /// Every check.
    public static let checks: [Check] = [
        Check(name: "appending the same events twice stores them once, and counts why") { store, _ in
            let events = sample()
            let first = try store.append(events)
            try expect(first == AppendCounts(inserted: 4), "first append: \(first)")
            let again = try store.append(events + [events[0]])
            try expect(again == AppendCounts(inserted: 0, alreadyPresent: 4, duplicates: 1), "second append: \(again)")
            let counts = try store.counts()
            try expect(counts == StoreCounts(events: 4, users: 2, items: 3), "counts: \(counts)")
        },
        Check(name: "events load back with their users, items, types, values, times, sessions, devices, platforms, countries and untimed flags") { store, _ in
            try store.append(sample())
            let log = try store.loadEvents()
            try expect(log.count == 4, "\(log.count) events")
            try expect(log.userIDs.ids == ["ann", "bob"] && log.itemIDs.ids == ["news-1", "news-2", "news-3"],
                       "ids in store order: \(log.userIDs.ids), \(log.itemIDs.ids)")
            let byKey = Dictionary(uniqueKeysWithValues: (0..<log.count).map { (log.keys[$0], $0) })
            for e in sample() {
                guard let i = byKey[e.key] else { throw Failure(description: "event \(e) missing") }
                try expect(log.userIDs[log.users[i]] == e.user && log.itemIDs[log.items[i]] == e.item && log.type(i) == e.type,
                           "event \(i) differs from \(e)")
                try expect(log.timestamps[i] == e.timestampMilliseconds, "time of \(e)")
                try expect((e.value == nil && log.values[i].isNaN) || Double(e.value ?? .nan) == log.values[i], "value of \(e): \(log.values[i])")
                try expect((log.sessions[i] >= 0 ? log.sessionNames[Int(log.sessions[i])] : nil) == e.context.session, "session of \(e)")
                try expect(log.isUntimed(i) == e.context.isUntimed, "untimed flag of \(e)")
                try expect(log.context.value(field: 0, row: i) == e.context.device && log.context.value(field: 1, row: i) == e.context.platform
                               && log.context.value(field: 2, row: i) == e.context.country, "device, platform or country of \(e)")
            }
        },
        Check(name: "items and users upsert by id: a second write replaces the first") { store, _ in
            try store.upsert(items: [CatalogItem(id: "i1", title: "Old", categories: ["a"], features: [1, 2]),
                                     CatalogItem(id: "i2", title: "Two", tags: ["t"], numeric: ["year": 1999])])
            try store.upsert(items: [CatalogItem(id: "i1", title: "New", categories: ["b", "c"], features: [3, 4, 5])])
            try store.upsert(users: [UserProfile(id: "u1", attributes: ["age": "30"]), UserProfile(id: "u2")])
            try store.upsert(users: [UserProfile(id: "u1", attributes: ["age": "31"], signupMilliseconds: 5)])
            let items = try store.loadItems(), users = try store.loadUsers()
            try expect(items.map(\.id) == ["i1", "i2"], "items: \(items.map(\.id))")
            try expect(items[0] == CatalogItem(id: "i1", title: "New", categories: ["b", "c"], features: [3, 4, 5]), "updated item: \(items[0])")
            try expect(items[1].numeric == ["year": 1999] && items[1].tags == ["t"], "second item: \(items[1])")
            try expect(users == [UserProfile(id: "u1", attributes: ["age": "31"], signupMilliseconds: 5), UserProfile(id: "u2")], "users: \(users)")
        },
        Check(name: "events for catalogued items and profiled users join them, not duplicate them") { store, _ in
            try store.upsert(items: [CatalogItem(id: "news-1", title: "One")])
            try store.upsert(users: [UserProfile(id: "ann", attributes: ["country": "NZ"])])
            try store.append(sample())
            let counts = try store.counts()
            try expect(counts == StoreCounts(events: 4, users: 2, items: 3), "counts: \(counts)")
            try expect(try store.loadItems().first { $0.id == "news-1" }?.title == "One", "the catalogued item keeps its title")
        },
        Check(name: "importing a file stores its events once, reports malformed rows, and re-importing adds nothing") { store, scratch in
            let path = scratch + "/conformance-events.csv"
            var rows = ["event_id,user,item,type,timestamp"]
            for k in 0..<500 { rows.append("e\(k),u\(k % 37),i\(k % 53),\(k % 3 == 0 ? "click" : "view"),\(1_704_067_200 + k)") }
            rows.insert("bad,row", at: 100)
            rows.append("e7,u7,i7,view,1704067207")  // a repeat of row 8 (same id)
            try rows.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            var c = ImportConfiguration()
            c.batchSize = 64
            let first = try store.importFile(path, kind: .events, configuration: c)
            try expect(first.inserted == 500 && first.duplicates == 1 && first.skipped == 1, "first import: \(first)")
            let second = try store.importFile(path, kind: .events, configuration: c)
            try expect(second.inserted == 0 && second.alreadyPresent == 500, "second import: \(second)")
            try expect(try store.counts().events == 500, "events after two imports")
            try expect(try store.imports().filter { $0.kind == "events" }.allSatisfy { $0.status == "finished" }, "imports recorded as finished")
        },
        Check(name: "documents are stored and replaced by name") { store, _ in
            try store.saveDocument(Data(#"{"a":1}"#.utf8), name: "enc")
            try store.saveDocument(Data(#"{"a":2}"#.utf8), name: "enc")
            try expect(try store.loadDocument(name: "enc") == Data(#"{"a":2}"#.utf8), "replaced document")
            try expect(try store.loadDocument(name: "none") == nil, "absent document")
        },
        Check(name: "item vectors are stored per space and replaced per item") { store, _ in
            try store.upsert(items: [CatalogItem(id: "i1"), CatalogItem(id: "i2")])
            try store.saveItemVectors([ItemVector(item: "i1", fingerprint: 1, values: [1, 2]), ItemVector(item: "i2", fingerprint: 2, values: [3, 4])], space: "text")
            try store.saveItemVectors([ItemVector(item: "i2", fingerprint: 9, values: [5, 6])], space: "text")
            try store.saveItemVectors([ItemVector(item: "i1", fingerprint: 3, values: [7])], space: "other")
            let text = try store.loadItemVectors(space: "text")
            try expect(text == [ItemVector(item: "i1", fingerprint: 1, values: [1, 2]), ItemVector(item: "i2", fingerprint: 9, values: [5, 6])], "text space: \(text)")
            try expect(try store.loadItemVectors(space: "other") == [ItemVector(item: "i1", fingerprint: 3, values: [7])], "other space")
            try expect(try store.loadItemVectors(space: "none").isEmpty, "unknown space")
            try expect(try store.itemVectorSpaces() == ["text": 2, "other": 1], "spaces")
        },
        Check(name: "single items and users read back by id; unknown ids read as nil") { store, _ in
            try store.upsert(items: [CatalogItem(id: "i1", title: "One", categories: ["a"])])
            try store.upsert(users: [UserProfile(id: "u1", attributes: ["age": "30"])])
            try store.append([Event(user: "u2", item: "i2", type: .click, timestampMilliseconds: t0)])
            let i1 = try store.item("i1")
            try expect(i1 == CatalogItem(id: "i1", title: "One", categories: ["a"]), "item i1: \(String(describing: i1))")
            try expect(try store.item("i2") == CatalogItem(id: "i2"), "an item known from events only")
            try expect(try store.item("nope") == nil && (try store.user("nope")) == nil, "unknown ids")
            try expect(try store.user("u1") == UserProfile(id: "u1", attributes: ["age": "30"]), "user u1")
            try expect(try store.user("u2") == UserProfile(id: "u2"), "a user known from events only")
        },
        Check(name: "an unavailable item keeps its events, is listed, and an upsert makes it available again") { store, _ in
            try store.append(sample())
            try expect(try store.markUnavailable(item: "news-2"), "news-2 is stored")
            try expect(!(try store.markUnavailable(item: "nope")), "an unknown item is not marked")
            let unavailable = try store.unavailableItems()
            try expect(unavailable == ["news-2"], "unavailable: \(unavailable)")
            try expect(try store.counts().events == 4, "events kept")
            try store.upsert(items: [CatalogItem(id: "news-2", title: "Back")])
            try expect(try store.unavailableItems().isEmpty, "available again after an upsert")
        },
        Check(name: "deleting a user erases their profile and events, and their events can be appended again") { store, _ in
            try store.upsert(users: [UserProfile(id: "ann", attributes: ["age": "30"])])
            try store.append(sample())
            try expect(try store.deleteUser("ann") == 2, "ann had 2 events")
            try expect(try store.deleteUser("ann") == nil, "a second delete finds nobody")
            try expect(try store.user("ann") == nil, "profile erased")
            let log = try store.loadEvents()
            try expect(log.count == 2 && !log.userIDs.ids.contains("ann"), "events left: \(log.count), users \(log.userIDs.ids)")
            let again = try store.append(sample())
            try expect(again == AppendCounts(inserted: 2, alreadyPresent: 2), "re-append after erasure: \(again)")
        },
        Check(name: "events after a cursor come back in append order, paged, and a cursor read before an append covers none of it") { store, _ in
            let before = try store.eventCursor() ?? -1
            try store.append(Array(sample().prefix(2)))
            let middle = try store.eventCursor() ?? -1
            try expect(middle > before, "the cursor moves with an append: \(before) → \(middle)")
            try store.append(Array(sample().suffix(2)))
            let all = try store.events(after: before, limit: 10)
            try expect(all.map(\.event.item) == ["news-1", "news-2", "news-1", "news-3"], "all after the first cursor: \(all.map(\.event.item))")
            try expect(all.map(\.event) == sample(), "events come back whole: \(all.map(\.event))")
            let later = try store.events(after: middle, limit: 10)
            try expect(later.map(\.event.user) == ["bob", "bob"], "after the middle cursor: \(later.map(\.event.user))")
            let page = try store.events(after: before, limit: 3)
            let rest = try store.events(after: page.last!.cursor, limit: 3)
            try expect(page.count == 3 && rest.count == 1 && rest[0].event.item == "news-3", "paging: \(page.count) + \(rest.count)")
        },
        Check(name: "API keys are stored by hash, listed, and revoked once") { store, _ in
            let a = APIKeyRecord(id: "k1", name: "web", hash: String(repeating: "a", count: 64), scopes: ["read"], created: "2026-01-01T00:00:00Z")
            let b = APIKeyRecord(id: "k2", name: "ops", hash: String(repeating: "b", count: 64), scopes: ["read", "write", "admin"], created: "2026-01-02T00:00:00Z")
            try store.saveAPIKey(a)
            try store.saveAPIKey(b)
            let stored = try store.apiKeys()
            try expect(stored == [a, b], "keys: \(stored)")
            try expect(try store.revokeAPIKey(id: "k1"), "k1 revoked")
            try expect(!(try store.revokeAPIKey(id: "k1")), "k1 revoked only once")
            try expect(!(try store.revokeAPIKey(id: "nope")), "unknown key")
            let keys = try store.apiKeys()
            try expect(keys[0].revoked != nil && keys[1].revoked == nil, "revocation recorded: \(keys)")
        },
        Check(name: "an empty store loads as empty") { store, _ in
            try expect(try store.loadEvents().count == 0 && (try store.loadItems()).isEmpty && (try store.loadUsers()).isEmpty, "not empty")
            try expect(try store.counts() == StoreCounts(events: 0, users: 0, items: 0), "counts not zero")
        },
    ]
}
