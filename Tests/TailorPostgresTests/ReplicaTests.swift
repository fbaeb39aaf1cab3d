import Foundation
import Testing
import TailorData
import TailorModels
import TailorStore
@testable import TailorServer
@testable import TailorPostgres

/// Two servers on one PostgreSQL store, as two `tailor serve` replicas would be.
@Suite("Replicas on one PostgreSQL store", .enabled(if: TestServer.available, "set TAILOR_TEST_POSTGRES to run the PostgreSQL tests"))
struct ReplicaTests {
    /// Waits up to `limit` seconds for `condition`; the seconds it took, or nil. Sleeps with
    /// `Task.sleep`, so a waiting test does not hold one of the (two) cooperative threads that
    /// other suites' servers need for their timers.
    func within(_ limit: Double, _ condition: () throws -> Bool) async throws -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < limit {
            if try condition() { return Date().timeIntervalSince(start) }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try condition() ? Date().timeIntervalSince(start) : nil
    }

    @Test("an event posted to one replica changes the other's recommendations within 1 s; activation, erasure and item removal reach it too")
    func replicas() async throws {
        let directory = NSTemporaryDirectory() + "tailor-replicas-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var c = SyntheticLog.Configuration()
        c.users = 300; c.items = 120; c.interactions = 6_000; c.genres = 8; c.seed = 7
        let log = SyntheticLog.generate(c)
        let storeA = try TestServer.freshStore()
        let storeB = try PostgresEventStore(url: TestServer.url! + "?schema=\(storeA.schema)")
        try storeA.upsert(items: (0..<log.interactions.itemIDs.count).map { CatalogItem(id: log.interactions.itemIDs[Int32($0)]) })
        let versions = try ModelVersions(root: directory + "/models")
        for (n, name) in ["v1", "v2"].enumerated() {
            let als = try ALS.fit(InteractionMatrix(log.interactions), configuration: .init(factors: 8, iterations: 6, seed: UInt64(n + 1), threads: 1))
            try ModelBundle(model: als, training: log.interactions).save(to: URL(fileURLWithPath: versions.path(of: name)))
        }
        try versions.setActive("v1")
        var configuration = ServerConfiguration()
        configuration.followInterval = .seconds(30)  // only notifications can make the 1 s bound
        let a = try TailorServer(store: storeA, versions: versions, configuration: configuration)
        let b = try TailorServer(store: storeB, versions: versions, configuration: configuration)
        b.follower.start(b)
        defer { b.follower.stop() }
        #expect(try await within(5) { b.follower.passes.load(ordering: .relaxed) >= 1 } != nil, "the follower started")

        // An event on A: B serves the user's list without the items just taken, within 1 s.
        let user = log.interactions.userIDs[0]
        var request = RecommendationRequest(user: user)
        request.k = 5
        let before = try b.service.recommend(request).items.map(\.item)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try a.service.record(before.prefix(3).enumerated().map { Event(user: user, item: $1, type: .purchase, timestampMilliseconds: now + Int64($0)) })
        let seen = try await within(1) {
            let after = try b.service.recommend(request).items.map(\.item)
            return Set(after).isDisjoint(with: before.prefix(3))
        }
        #expect(seen != nil, "B still serves the items A's events took")

        // A activates v2: B serves v2 within 1 s.
        _ = try a.activate(version: "v2")
        #expect(try await within(1) { b.service.model?.version == "v2" } != nil, "B did not switch to v2")

        // A marks an item unavailable: B stops serving it within 1 s.
        let item = try b.service.recommend(request).items[0].item
        #expect(try a.service.removeItem(item))
        #expect(try await within(1) { !(try b.service.recommend(request).items.map(\.item).contains(item)) } != nil, "B still serves a removed item")

        // A erases a user: B serves them as a stranger within 1 s (no personal list).
        let other = log.interactions.userIDs[1]
        request.user = other
        let personal = try b.service.recommend(request).items.map(\.item)
        #expect(try a.service.deleteUser(other))
        #expect(try await within(1) { try b.service.recommend(request).items.map(\.item) != personal } != nil, "B still serves the erased user's list")
    }

    @Test("a replica that starts later or missed the activation serves the store's version; a version one replica lacks is refused for all; one lost later is logged, not fatal")
    func missedActivation() async throws {
        let directory = NSTemporaryDirectory() + "tailor-replicas-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var c = SyntheticLog.Configuration()
        c.users = 200; c.items = 80; c.interactions = 3_000; c.genres = 6; c.seed = 3
        let log = SyntheticLog.generate(c)
        let storeA = try TestServer.freshStore()
        try storeA.upsert(items: (0..<log.interactions.itemIDs.count).map { CatalogItem(id: log.interactions.itemIDs[Int32($0)]) })
        // Two registries with the same versions (copied to each machine), both saying v1.
        let registries = try ["a", "b"].map { try ModelVersions(root: directory + "/\($0)") }
        for (n, name) in ["v1", "v2", "v3"].enumerated() {
            let als = try ALS.fit(InteractionMatrix(log.interactions), configuration: .init(factors: 4, iterations: 3, seed: UInt64(n + 1), threads: 1))
            // (B's registry gets v3 later, during the test.)
            for (i, r) in registries.enumerated() where !(i == 1 && name == "v3") {  // B never received v3
                try ModelBundle(model: als, training: log.interactions).save(to: URL(fileURLWithPath: r.path(of: name)))
            }
        }
        for r in registries { try r.setActive("v1") }
        var configuration = ServerConfiguration()
        configuration.followInterval = .milliseconds(200)
        let a = try TailorServer(store: storeA, versions: registries[0], configuration: configuration)
        _ = try a.activate(version: "v2")
        #expect(try storeA.activeModel() == "v2")

        // B starts after the notification went out; its registry still says v1: it starts
        // with the store's v2.
        let b = try TailorServer(store: try PostgresEventStore(url: TestServer.url! + "?schema=\(storeA.schema)"), versions: registries[1], configuration: configuration)
        #expect(b.service.model?.version == "v2")
        #expect(registries[1].active == "v2")

        // A activates v1 while B does not listen (its follower not started): B's first pass
        // finds the store's version.
        _ = try a.activate(version: "v1")
        #expect(b.service.model?.version == "v2")
        b.follower.start(b)
        defer { b.follower.stop() }
        #expect(try await within(3) { b.service.model?.version == "v1" } != nil, "B kept serving v2 after missing the activation of v1")

        // A asks for v3, which B lacks: refused, naming B, and nobody switches.
        #expect(try await within(3) { try storeA.replicas(seenWithin: 5).contains { $0.id == b.replicaID && $0.serving == "v1" } } != nil,
                "B's heartbeat")
        #expect { try a.activate(version: "v3") } throws: { error in
            let p = error as? Problem
            return p?.code == "replicas-lack-version" && p!.detail.contains(b.replicaID)
        }
        let recorded = try storeA.activeModel()
        #expect(a.service.model?.version == "v1" && b.service.model?.version == "v1" && recorded == "v1")
        // Once B holds v3 (its heartbeat says so), the activation reaches both.
        try FileManager.default.copyItem(atPath: registries[0].path(of: "v3"), toPath: registries[1].path(of: "v3"))
        #expect(try await within(3) { try storeA.replicas(seenWithin: 5).contains { $0.id == b.replicaID && $0.versions.contains("v3") } } != nil)
        _ = try a.activate(version: "v3")
        #expect(try await within(1) { b.service.model?.version == "v3" } != nil, "B did not switch to v3")

        // A version B's registry loses is logged there, not fatal: B keeps serving and following.
        try FileManager.default.removeItem(atPath: registries[1].path(of: "v2"))
        try storeA.recordActiveModel("v2")  // as an activation racing B's heartbeat would
        let passes = b.follower.passes.load(ordering: .relaxed)
        #expect(try await within(3) { b.follower.passes.load(ordering: .relaxed) >= passes + 3 } != nil)
        #expect(b.service.model?.version == "v3")
        var request = RecommendationRequest(user: log.interactions.userIDs[0])
        request.k = 3
        #expect(try b.service.recommend(request).items.count == 3)
    }

    @Test("one server retrains at a time on a shared store: the lease is exclusive until released, and a retrain while another holds it is skipped")
    func oneRetrainer() async throws {
        let directory = NSTemporaryDirectory() + "tailor-replicas-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storeA = try TestServer.freshStore()
        let storeB = try PostgresEventStore(url: TestServer.url! + "?schema=\(storeA.schema)")
        let lease = try #require(try storeA.tryLease("retrain"))
        #expect(try storeB.tryLease("retrain") == nil, "two holders of one lease")
        let other = try storeB.tryLease("something-else")
        #expect(other != nil, "leases of other names are independent")
        other?.release()

        var c = SyntheticLog.Configuration()
        c.users = 100; c.items = 50; c.interactions = 1_500; c.seed = 5
        let log = SyntheticLog.generate(c)
        let versions = try ModelVersions(root: directory + "/models")
        let als = try ALS.fit(InteractionMatrix(log.interactions), configuration: .init(factors: 4, iterations: 2, threads: 1))
        try ModelBundle(model: als, training: log.interactions).save(to: URL(fileURLWithPath: versions.path(of: "v1")))
        let b = try TailorServer(store: storeB, versions: versions, configuration: ServerConfiguration())
        #expect(b.retrainer.start(trigger: "request", server: b))
        #expect(try await within(10) { b.retrainer.current.state != "running" } != nil)
        #expect(b.retrainer.current.state == "skipped", "\(b.retrainer.current)")

        lease.release()
        let again = try storeB.tryLease("retrain")
        #expect(again != nil, "the lease was not freed by its release")
        again?.release()
    }
}
