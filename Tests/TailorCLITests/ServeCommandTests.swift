import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TailorData
import TailorServer
import TailorSQLite
import TailorPostgres
import TailorStore
@testable import TailorCLI

/// A value shared between the test and URLSession's callbacks.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func with<R>(_ body: (inout Value) -> R) -> R { lock.lock(); defer { lock.unlock() }; return body(&value) }
}

/// POSTs `body` and waits: the status, or nil when the connection failed.
func post(_ url: URL, key: String, body: Data) -> Int? {
    var request = URLRequest(url: url)
    request.httpMethod = "POST"
    request.httpBody = body
    request.timeoutInterval = 10
    request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    let status = Locked<Int?>(nil)
    let done = DispatchSemaphore(value: 0)
    URLSession.shared.dataTask(with: request) { _, response, _ in
        status.with { $0 = (response as? HTTPURLResponse)?.statusCode }
        done.signal()
    }.resume()
    done.wait()
    return status.with { $0 }
}

@Suite("tailor serve as a process")
struct ServeProcessTests {
    @Test("every event acknowledged before a kill -9 of the server is in the store",
          .enabled(if: BinaryTests.binary != nil, "the tailor binary is not built"))
    func killed() throws {
        let dir = scratchDirectory("serve-kill")
        try killServerMidLoad(dir: dir, store: "\(dir)/t.db") { try SQLiteEventStore(path: "\(dir)/t.db") }
    }

    @Test("on PostgreSQL too: every event acknowledged before a kill -9 of the server is in the store",
          .enabled(if: BinaryTests.binary != nil && ProcessInfo.processInfo.environment["TAILOR_TEST_POSTGRES"] != nil,
                   "needs the tailor binary and TAILOR_TEST_POSTGRES"))
    func killedOnPostgres() throws {
        let dir = scratchDirectory("serve-kill-pg")
        let url = ProcessInfo.processInfo.environment["TAILOR_TEST_POSTGRES"]! + "?schema=kill_" + UUID().uuidString.lowercased().filter(\.isHexDigit).prefix(10)
        try killServerMidLoad(dir: dir, store: url) { try PostgresEventStore(url: url) }
    }

    /// Starts `tailor serve` on `store`, posts batches of 100 events until 2,000 are
    /// acknowledged, kills the server with SIGKILL, and checks every acknowledged event is stored.
    func killServerMidLoad(dir: String, store location: String, open: () throws -> any EventStore) throws {
        try tailor(["generate", "--users", "300", "--items", "100", "--interactions", "5000", "--output", "\(dir)/log.csv"])
        try tailor(["train", "\(dir)/log.csv", "--model", "als", "--factors", "8", "--iterations", "3", "--output", "\(dir)/model", "--progress", "none"])
        let store = try open()
        let key = try KeyRing(store: store).create(name: "test", scopes: [.write]).key
        let p = Process()
        p.executableURL = URL(fileURLWithPath: BinaryTests.binary!)
        p.arguments = ["serve", "--store", location, "--model", "\(dir)/model", "--port", "0", "--log-level", "warning"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        // The port the server bound, from its "serving on http://127.0.0.1:PORT" line.
        var text = "", port: Int?
        let deadline = Date().addingTimeInterval(60)
        while port == nil && Date() < deadline {
            let data = err.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
            if let range = text.range(of: "serving on http://127.0.0.1:") {
                port = Int(text[range.upperBound...].prefix { $0.isNumber })
            }
        }
        let bound = try #require(port, "the server did not start: \(text)")
        let url = URL(string: "http://127.0.0.1:\(bound)/v1/events")!
        // A client posting batches of 100 events with unique ids until the server is gone.
        let acknowledged = Locked<[String]>([])
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var batch = 0
            while batch < 10_000 {
                let ids = (0..<100).map { "b\(batch)-e\($0)" }
                let events = ids.map { #"{"id":"\#($0)","user":"u\#(batch % 50)","item":"i\#(batch % 90)","type":"click"}"# }
                let body = Data(#"{"events":[\#(events.joined(separator: ","))]}"#.utf8)
                guard post(url, key: key, body: body) == 202 else { break }
                acknowledged.with { $0.append(contentsOf: ids) }
                batch += 1
            }
            finished.signal()
        }
        // Kill mid-load, once some batches are in.
        while acknowledged.with({ $0.count }) < 2_000 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        finished.wait()
        #expect(p.terminationReason == .uncaughtSignal, "the server must still be running when killed")
        let ids = acknowledged.with { $0 }
        #expect(ids.count >= 2_000)
        let stored = Set(try open().loadEvents().keys)
        let missing = ids.filter { !stored.contains(Event(id: $0, user: "", item: "", type: .click, timestampMilliseconds: 0).key) }
        #expect(missing.isEmpty, "\(missing.count) of \(ids.count) acknowledged events are not in the store (first: \(missing.first ?? ""))")
    }
}

@Suite("tailor serve --demo")
struct ServeDemoTests {
    @Test("--demo fills a directory with a store, a model trained from it and a working key; a second run reuses them")
    func demo() throws {
        let dir = scratchDirectory("serve-demo")
        let (storePath, modelsPath, key) = try Serve.prepareDemo(in: dir, users: 600, items: 300, interactions: 20_000)
        let store = try SQLiteEventStore(path: storePath, create: false)
        #expect(try store.counts().events > 10_000)
        let versions = try ModelVersions(root: modelsPath)
        #expect(try versions.list().map(\.name) == ["v1"] && versions.active == "v1")
        #expect(try KeyRing(store: store).authenticate(key)?.scopes == ["read", "write", "admin"])
        let server = try TailorServer(store: store, versions: versions)
        #expect(server.service.model?.bundle.manifest.data.storeCursor != nil, "trained from the store, so restarts replay")
        let first = try #require(server.service.model?.bundle.userIDs.ids.first)
        #expect(try server.service.recommend(RecommendationRequest(user: first, k: 5)).items.count == 5)
        let events = try store.counts().events
        let (_, _, second) = try Serve.prepareDemo(in: dir, users: 600, items: 300, interactions: 20_000)
        #expect(try store.counts().events == events && (try versions.list().count) == 1 && second != key)
    }
}
