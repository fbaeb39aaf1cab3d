import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TailorData
import TailorModels
@testable import TailorServer

@Suite("The HTTP API")
struct APITests {
    let f: Fixture
    let server: TailorServer
    let key: String, readKey: String

    init() throws {
        f = try Fixture(versionsToWrite: ["v1", "v2"])
        try f.versions.setActive("v1")
        server = try TailorServer(store: f.store, versions: f.versions)
        key = try server.keys.create(name: "all", scopes: [.read, .write, .admin]).key
        readKey = try server.keys.create(name: "reader", scopes: [.read]).key
    }

    func headers(_ key: String?) -> HTTPFields {
        var h: HTTPFields = [.contentType: "application/json"]
        if let key { h[.authorization] = "Bearer \(key)" }
        return h
    }

    /// The JSON object of a response (empty if it is not one, which then fails the checks).
    func object(_ response: TestResponse) -> [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any]) ?? [:]
    }

    @Test("keys: none is 401, a missing scope 403, a revoked key 401, a valid one 200; health needs none")
    func keys() async throws {
        let app = server.makeApplication()
        let user = f.users[0]
        let revoked = try server.keys.create(name: "old", scopes: [.read])
        _ = try f.store.revokeAPIKey(id: revoked.record.id)
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/users/\(user)/recommendations", method: .get) { r in
                #expect(r.status == .unauthorized)
                #expect(r.headers[.contentType] == "application/problem+json")
                #expect(r.headers[.wwwAuthenticate] == "Bearer")
            }
            try await client.execute(uri: "/v1/users/\(user)/recommendations", method: .get, headers: headers("tlr_000000000000_guess")) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/users/\(user)/recommendations", method: .get, headers: headers(readKey)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/events", method: .post, headers: headers(readKey),
                                     body: ByteBuffer(string: #"{"events":[{"user":"a","item":"b"}]}"#)) { r in
                #expect(r.status == .forbidden)
                #expect(object(r)["code"] as? String == "missing-scope")
            }
            try await client.execute(uri: "/metrics", method: .get, headers: headers(readKey)) { #expect($0.status == .forbidden) }
            // A revoked key is refused (after the ring's refresh interval at the latest).
            try await Task.sleep(for: .milliseconds(2_100))
            try await client.execute(uri: "/v1/users/\(user)/recommendations", method: .get, headers: headers(revoked.key)) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/users/\(user)/recommendations", method: .get, headers: [.init("X-API-Key")!: readKey]) { #expect($0.status == .ok) }
        }
    }

    @Test("bad parameters and bodies get problem+json naming the field")
    func problems() async throws {
        let app = server.makeApplication()
        let user = f.users[0]
        try await app.test(.router) { client in
            for (query, field) in [("k=abc", "k"), ("k=0", "k"), ("offset=-2", "offset"), ("exclude_seen=maybe", "exclude_seen"),
                                   ("diversity=1.5", "diversity"), ("context=device", "context"), ("rerank=perhaps", "rerank")] {
                try await client.execute(uri: "/v1/users/\(user)/recommendations?\(query)", method: .get, headers: headers(key)) { r in
                    #expect(r.status == .badRequest, "\(query)")
                    #expect(object(r)["field"] as? String == field, "\(query)")
                }
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: headers(key),
                                     body: ByteBuffer(string: #"{"events":[{"user":"a","item":"b"},{"user":"a","item":""}]}"#)) { r in
                #expect(r.status == .badRequest)
                #expect(object(r)["field"] as? String == "events[1].item")
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: headers(key),
                                     body: ByteBuffer(string: #"{"events":[{"user":"a","item":"b","timestamp":"yesterday"}]}"#)) { r in
                #expect(object(r)["field"] as? String == "events[0].timestamp")
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: headers(key),
                                     body: ByteBuffer(string: #"{"events":[{"user":"a"}]}"#)) { r in
                #expect(r.status == .badRequest)
                #expect((object(r)["field"] as? String)?.contains("item") == true)
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: headers(key), body: ByteBuffer(string: "not json")) { r in
                #expect(r.status == .badRequest)
            }
            try await client.execute(uri: "/v1/items/no-such-item/similar", method: .get, headers: headers(key)) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/users/\(user)/nothing-here", method: .get, headers: headers(key)) { #expect($0.status == .notFound) }
        }
    }

    @Test("events: stored before the reply, a retried batch counted once, and the user's next ranking changes")
    func events() async throws {
        let app = server.makeApplication()
        let user = f.users[5]
        try await app.test(.router) { client in
            let before = try await client.execute(uri: "/v1/users/\(user)/recommendations?k=5", method: .get, headers: headers(key)) { object($0) }
            let top = ((before["items"] as? [[String: Any]])?.first?["item"] as? String)!
            let batch = #"{"events":[{"id":"ev-1","user":"\#(user)","item":"\#(top)","type":"purchase","timestamp":1750000000},{"id":"ev-2","user":"\#(user)","item":"\#(top)","type":"view","timestamp":"2026-12-05T10:00:00Z"}]}"#
            try await client.execute(uri: "/v1/events", method: .post, headers: headers(key), body: ByteBuffer(string: batch)) { r in
                #expect(r.status == .accepted)
                #expect(object(r)["inserted"] as? Int == 2)
            }
            #expect(try f.store.counts().events == 2, "stored before the reply")
            try await client.execute(uri: "/v1/events", method: .post, headers: headers(key), body: ByteBuffer(string: batch)) { r in
                let o = object(r)
                #expect(o["inserted"] as? Int == 0 && o["alreadyPresent"] as? Int == 2)
            }
            #expect(try f.store.counts().events == 2)
            try await client.execute(uri: "/v1/users/\(user)/recommendations?k=5", method: .get, headers: headers(key)) { r in
                let items = (object(r)["items"] as? [[String: Any]] ?? []).compactMap { $0["item"] as? String }
                #expect(items.count == 5 && !items.contains(top))
            }
            try await client.execute(uri: "/v1/users/\(user)/embedding", method: .get, headers: headers(key)) { r in
                #expect(object(r)["folded_in"] as? Bool == true)
            }
        }
    }

    @Test("catalogue and profiles: put, get, delete; a deleted item is not recommended")
    func catalogue() async throws {
        let app = server.makeApplication()
        let user = f.users[8]
        try await app.test(.router) { client in
            let top = try await client.execute(uri: "/v1/users/\(user)/recommendations?k=1", method: .get, headers: headers(key)) { r in
                ((object(r)["items"] as? [[String: Any]])?.first?["item"] as? String)!
            }
            try await client.execute(uri: "/v1/items/\(top)", method: .delete, headers: headers(key)) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/v1/items/\(top)", method: .get, headers: headers(key)) { r in
                #expect(object(r)["available"] as? Bool == false)
            }
            try await client.execute(uri: "/v1/users/\(user)/recommendations?k=20", method: .get, headers: headers(key)) { r in
                let items = (object(r)["items"] as? [[String: Any]] ?? []).compactMap { $0["item"] as? String }
                #expect(!items.contains(top))
            }
            try await client.execute(uri: "/v1/items/new-item", method: .put, headers: headers(key),
                                     body: ByteBuffer(string: #"{"title":"New","categories":["x"],"features":[1,2]}"#)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/items/new-item", method: .get, headers: headers(key)) { r in
                let o = object(r)
                #expect(o["title"] as? String == "New" && o["available"] as? Bool == true)
            }
            try await client.execute(uri: "/v1/users/someone", method: .put, headers: headers(key),
                                     body: ByteBuffer(string: #"{"attributes":{"age":"30"}}"#)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/users/someone", method: .get, headers: headers(key)) { r in
                #expect((object(r)["attributes"] as? [String: String]) == ["age": "30"])
            }
            try await client.execute(uri: "/v1/users/someone", method: .delete, headers: headers(key)) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/v1/users/someone", method: .get, headers: headers(key)) { #expect($0.status == .notFound) }
        }
    }

    @Test("model versions: activate, roll back, and a corrupt version is refused while the old one keeps serving")
    func versions() async throws {
        let app = server.makeApplication()
        // A corrupt version: its tensor file truncated.
        let broken = f.versions.path(of: "v3-broken")
        try FileManager.default.copyItem(atPath: f.versions.path(of: "v2"), toPath: broken)
        for file in try FileManager.default.contentsOfDirectory(atPath: broken) where file.hasSuffix(".safetensors") {
            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: broken + "/" + file))
        }
        try await app.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { r in #expect(object(r)["model"] as? String == "v1") }
            try await client.execute(uri: "/v1/admin/models/v2/activate", method: .post, headers: headers(readKey)) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/v1/admin/models/v2/activate", method: .post, headers: headers(key)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { r in #expect(object(r)["model"] as? String == "v2") }
            #expect(f.versions.active == "v2" && f.versions.previous == "v1", "ACTIVE records the swap for a restart")
            try await client.execute(uri: "/v1/admin/models/v3-broken/activate", method: .post, headers: headers(key)) { r in
                #expect(r.status == .unprocessableContent)
                #expect(object(r)["code"] as? String == "model-refused")
            }
            try await client.execute(uri: "/v1/users/\(f.users[0])/recommendations", method: .get, headers: headers(key)) { r in
                #expect(r.status == .ok && (object(r)["model"] as? String) == "v2")
            }
            try await client.execute(uri: "/v1/admin/models/nope/activate", method: .post, headers: headers(key)) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/admin/models/rollback", method: .post, headers: headers(key)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { r in #expect(object(r)["model"] as? String == "v1") }
            try await client.execute(uri: "/v1/admin/models", method: .get, headers: headers(key)) { r in
                let versions = (object(r)["versions"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                #expect(Set(versions) == ["v1", "v2", "v3-broken"])
            }
        }
    }

    @Test("/dashboard: HTML for a browser, which may send the key as the Basic password; without one, a Basic challenge")
    func dashboard() async throws {
        let app = server.makeApplication()
        try await app.test(.router) { client in
            _ = try await client.execute(uri: "/v1/users/\(f.users[0])/recommendations?k=3", method: .get, headers: headers(key)) { $0.status }
            try await client.execute(uri: "/dashboard", method: .get) { r in
                #expect(r.status == .unauthorized)
                #expect(r.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
            }
            let basic = "Basic " + Data("me:\(key)".utf8).base64EncodedString()
            try await client.execute(uri: "/dashboard", method: .get, headers: [.authorization: basic]) { r in
                #expect(r.status == .ok && r.headers[.contentType]?.hasPrefix("text/html") == true)
                let html = String(buffer: r.body)
                for id in ["data", "models", "segments", "drift", "serving"] { #expect(html.contains("<section id=\"\(id)\">"), "\(id)") }
                #expect(html.contains("/v1/users/{id}/recommendations"), "the latency table names the routes served")
                #expect(html.contains("v1 (active)"))
            }
            let wrong = "Basic " + Data("me:tlr_000000000000_nope".utf8).base64EncodedString()
            try await client.execute(uri: "/dashboard", method: .get, headers: [.authorization: wrong]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/dashboard", method: .get, headers: headers(readKey)) { #expect($0.status == .forbidden, "admin only") }
        }
    }

    @Test("/dashboard is rendered once per max age for the same model versions; ?refresh=true renders it anew")
    func dashboardCache() async throws {
        // A max age no slow machine reaches between two requests (ageing is simulated below).
        var configuration = ServerConfiguration()
        configuration.dashboardMaxAgeSeconds = 3_600
        let server = try TailorServer(store: f.store, versions: f.versions, configuration: configuration)
        @Sendable func rendered() -> ContinuousClock.Instant? { server.dashboardPage.withLock { $0?.rendered } }
        let first = try server.dashboard()
        let at = try #require(rendered())
        #expect(try server.dashboard() == first && rendered() == at, "served again within the max age")
        let app = server.makeApplication()
        try await app.test(.router) { client in
            try await client.execute(uri: "/dashboard", method: .get, headers: headers(key)) { r in
                #expect(r.status == .ok && String(buffer: r.body) == first && rendered() == at)
            }
            try await client.execute(uri: "/dashboard?refresh=true", method: .get, headers: headers(key)) { r in
                #expect(r.status == .ok && rendered()! > at, "rendered anew on request")
            }
        }
        // A page older than the max age is rendered again.
        server.dashboardPage.withLock { $0?.rendered = .now - .seconds(3_601) }
        let stale = try #require(rendered())
        _ = try server.dashboard()
        #expect(rendered()! > stale)
    }

    @Test("/metrics counts requests by route pattern, never by a user id")
    func metrics() async throws {
        let app = server.makeApplication()
        let user = f.users[0]
        try await app.test(.router) { client in
            for _ in 0..<3 { try await client.execute(uri: "/v1/users/\(user)/recommendations", method: .get, headers: headers(key)) { _ in } }
            let text = try await client.execute(uri: "/metrics", method: .get, headers: headers(key)) { String(buffer: $0.body) }
            #expect(text.contains(#"tailor_http_requests_total{route="/v1/users/{id}/recommendations",method="GET",status="200"} 3"#))
            #expect(!text.contains(user))
            #expect(text.contains("tailor_cache_hits 2"))
        }
    }

    /// A configuration for tests over a real socket. The suite keeps the cooperative pool's two
    /// threads busy with synchronous tests, so a live server can go unscheduled for minutes (the CI
    /// machine once let 60 s pass, and the idle timeout closed the test's connections). The idle
    /// limit is raised well past that; requests go through ``RawSocket`` (its own thread, no client
    /// read timeout) rather than the testing client, whose 20 s limit is fixed.
    static func liveConfiguration() -> ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.idleTimeoutSeconds = 1_200
        return configuration
    }

    @Test("over a real socket: recommendations, an event, and the changed ranking")
    func live() async throws {
        let live = try TailorServer(store: f.store, versions: f.versions, configuration: Self.liveConfiguration())
        let user = f.users[11]
        try await live.makeApplication().test(.live) { client in
            let port = try #require(client.port)
            func items(_ body: String) -> [String] {
                let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
                return (object?["items"] as? [[String: Any]] ?? []).compactMap { $0["item"] as? String }
            }
            let first = try await RawSocket.request(port: port, "GET", "/v1/users/\(user)/recommendations?k=3", key: key)
            #expect(first.status == 200, "got: \(first)")
            let top = try #require(items(first.body).first)
            let posted = try await RawSocket.request(port: port, "POST", "/v1/events", key: key,
                                                     body: #"{"events":[{"user":"\#(user)","item":"\#(top)","type":"purchase"}]}"#)
            #expect(posted.status == 202, "got: \(posted)")
            let after = try await RawSocket.request(port: port, "GET", "/v1/users/\(user)/recommendations?k=3", key: key)
            #expect(after.status == 200)
            #expect(items(after.body).count == 3 && !items(after.body).contains(top), "got: \(after.body)")
        }
    }

    @Test("the OpenAPI document lists exactly the server's endpoints, with their scopes")
    func openAPI() throws {
        let doc = try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as! [String: Any]
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = doc["paths"] as! [String: [String: Any]]
        var documented: Set<String> = []
        for (path, operations) in paths {
            for (method, operation) in operations {
                documented.insert("\(method.uppercased()) \(path)")
                let security = ((operation as? [String: Any])?["security"] as? [[String: [String]]])?.first?["apiKey"]?.first
                let endpoint = TailorServer.endpoints.first { $0.path == path && $0.method.rawValue == method.uppercased() }
                #expect(endpoint?.scope?.rawValue == security, "\(method) \(path): scope \(String(describing: endpoint?.scope)) vs documented \(String(describing: security))")
            }
        }
        let served = Set(TailorServer.endpoints.map { "\($0.method.rawValue) \($0.path)" })
        #expect(documented == served, "documented only: \(documented.subtracting(served)); served only: \(served.subtracting(documented))")
        // Every reference resolves.
        func refs(_ value: Any) -> [String] {
            if let o = value as? [String: Any] { return (o["$ref"] as? String).map { [$0] } ?? o.values.flatMap(refs) }
            if let a = value as? [Any] { return a.flatMap(refs) }
            return []
        }
        let all = refs(doc)
        #expect(all.count > 10)
        for ref in all {
            var node: Any? = doc
            for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
            #expect(node is [String: Any], "\(ref) does not resolve")
        }
        // The recommendations endpoint documents exactly the query parameters its handler reads.
        let operation = (paths["/v1/users/{id}/recommendations"]?["get"] as? [String: Any])?["parameters"] as? [[String: Any]] ?? []
        let names = Set(operation.compactMap { p -> String? in
            let resolved = (p["$ref"] as? String).map { r in ((doc["components"] as? [String: Any])?["parameters"] as? [String: Any])?[String(r.split(separator: "/").last!)] as? [String: Any] } ?? p
            return resolved?["in"] as? String == "query" ? resolved?["name"] as? String : nil
        })
        #expect(names == ["k", "offset", "exclude_seen", "category", "candidates", "exclude", "diversity", "context", "write_exposures", "rerank"])
    }

    @Test("a request past the time limit is stopped and answered 503 timeout: a body that never finishes arriving")
    func timeout() async throws {
        var configuration = Self.liveConfiguration()
        configuration.requestTimeoutSeconds = 0.3
        let timed = try TailorServer(store: f.store, versions: f.versions, configuration: configuration)
        let idle = Duration.seconds(configuration.idleTimeoutSeconds)
        try await timed.makeApplication().test(.live) { client in
            let port = try #require(client.port)
            let started = ContinuousClock.now
            // Promise 1,000 bytes of events, send 20, and wait.
            let head = "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(key)\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"events\": [{\"user\""
            let reply = try await RawSocket.exchange(port: port, send: head, readFor: Int(timed.configuration.idleTimeoutSeconds) + 60)
            let elapsed = ContinuousClock.now - started
            #expect(reply.hasPrefix("HTTP/1.1 503"), "got: \(reply.prefix(200))")
            #expect(reply.contains("\"code\":\"timeout\""), "got: \(reply)")
            // The answer is the deadline's, not the idle timeout's (which closes the connection
            // without this body). Alone it comes in under a second; in a full run the deadline's
            // timer waits for a free thread of the cooperative pool (37 and 48 s were seen).
            #expect(elapsed < idle, "answered after \(elapsed); the limit is 0.3 s")
        }
        try await timed.makeApplication().test(.router) { client in
            // A body over the size limit is 413, not a timeout.
            try await client.execute(uri: "/v1/events", method: .post, headers: headers(key),
                                     body: ByteBuffer(string: String(repeating: " ", count: timed.configuration.maxBodyBytes + 1))) { r in
                #expect(r.status == .contentTooLarge)
                #expect(object(r)["code"] as? String == "too-large")
            }
            // A normal request is unaffected.
            try await client.execute(uri: "/v1/users/\(f.users[1])/recommendations?k=3", method: .get, headers: headers(key)) { #expect($0.status == .ok) }
        }
        // A ranking carries its deadline and checks it between stages: with a limit of a
        // nanosecond it is always past by the first check.
        configuration.requestTimeoutSeconds = 1e-9
        let instant = try TailorServer(store: f.store, versions: f.versions, configuration: configuration)
        try await instant.makeApplication().test(.router) { client in
            try await client.execute(uri: "/v1/users/\(f.users[1])/recommendations?k=3", method: .get, headers: headers(key)) { r in
                #expect(r.status == .serviceUnavailable)
                #expect(object(r)["code"] as? String == "timeout")
            }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok, "health has no stages to check") }
        }
    }
}

@Suite("API keys")
struct KeyTests {
    @Test("SHA-256 matches the FIPS 180-2 test vectors; keys are stored only as hashes")
    func hashing() throws {
        #expect(KeyRing.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(KeyRing.hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let (key, record) = KeyRing.generate(name: "x", scopes: [.read])
        #expect(key.hasPrefix("tlr_\(record.id)_") && key.count == 4 + 12 + 1 + 43)
        #expect(record.hash == KeyRing.hash(key) && !record.hash.contains(key))
        #expect(KeyRing.generate(name: "x", scopes: [.read]).key != key)
    }

    @Test("constant-time comparison is still a comparison")
    func equality() {
        #expect(KeyRing.constantTimeEqual("abc", "abc"))
        #expect(!KeyRing.constantTimeEqual("abc", "abd"))
        #expect(!KeyRing.constantTimeEqual("abc", "abcd"))
    }

    @Test("the rate limiter allows the burst, then about rate per second, per key")
    func rateLimit() {
        let limiter = RateLimiter(rate: 10, burst: 5)
        #expect((0..<5).allSatisfy { _ in limiter.take("a") == nil })
        let wait = limiter.take("a")
        #expect(wait != nil && wait! > 0 && wait! <= 0.1 + 1e-9)
        #expect(limiter.take("b") == nil, "keys have separate buckets")
        #expect(RateLimiter(rate: 0, burst: 1).take("a") == nil, "rate 0 is unlimited")
    }
}

@Suite("Retraining")
struct RetrainTests {
    /// A server over a store holding the fixture's interactions as events, with `tolerance`.
    func server(tolerance: Double) throws -> (Fixture, TailorServer, String) {
        let f = try Fixture()
        let log = f.log.interactions
        try f.store.append((0..<log.count).map { r in
            Event(id: "e\(r)", user: log.userIDs[log.users[r]], item: log.itemIDs[log.items[r]], type: .click,
                  timestampMilliseconds: 1_750_000_000_000 + Int64(r) * 1_000)
        })
        var configuration = ServerConfiguration()
        configuration.retrain.tolerance = tolerance
        let server = try TailorServer(store: f.store, versions: f.versions, configuration: configuration)
        return (f, server, try server.keys.create(name: "admin", scopes: [.admin]).key)
    }

    func waitForRun(_ server: TailorServer) async throws -> Retrainer.Status {
        let deadline = ContinuousClock.now + .seconds(120)
        while server.retrainer.current.state == "running" && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        return server.retrainer.current
    }

    @Test("a retrain that passes the gate is written as a new version, activated, and recorded with the store cursor")
    func activated() async throws {
        let (f, server, key) = try server(tolerance: 1)  // any candidate passes
        let app = server.makeApplication()
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/admin/retrain", method: .post, headers: [.authorization: "Bearer \(key)"]) { r in
                #expect(r.status == .accepted)
            }
            let status = try await waitForRun(server)
            #expect(status.state == "activated", "\(status)")
            let version = try #require(status.version)
            #expect(server.service.model?.version == version && f.versions.active == version)
            #expect((status.candidateNDCG ?? 0) > 0 && (status.activeNDCG ?? 0) > 0)
            // The new version was trained from the store: it records the cursor, so nothing is lost.
            #expect(server.service.model?.bundle.manifest.data.storeCursor == (try f.store.eventCursor()))
            try await client.execute(uri: "/v1/admin/retrain", method: .get, headers: [.authorization: "Bearer \(key)"]) { r in
                #expect(String(buffer: r.body).contains("\"state\":\"activated\""))
            }
        }
    }

    @Test("a retrain that fails the gate is not activated, and says why")
    func rejected() async throws {
        let (f, server, _) = try server(tolerance: -1)  // the candidate would have to be twice as good
        #expect(server.retrainer.start(trigger: "request", server: server))
        let status = try await waitForRun(server)
        #expect(status.state == "rejected", "\(status)")
        #expect(status.message?.contains("keeps serving") == true)
        #expect(server.service.model?.version == "v1" && f.versions.active == "v1")
    }

    @Test("the events trigger fires after the configured number of events")
    func trigger() throws {
        var policy = Retrainer.Policy()
        policy.afterEvents = 10
        let retrainer = Retrainer(policy: policy)
        #expect(retrainer.due() == nil)
        retrainer.eventsRecorded(9)
        #expect(retrainer.due() == nil)
        retrainer.eventsRecorded(1)
        #expect(retrainer.due() == "events")
        var timed = Retrainer.Policy()
        timed.every = .zero
        #expect(Retrainer(policy: timed).due() == "schedule")
    }
}
