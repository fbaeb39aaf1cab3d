import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TailorData
import TailorExperiments
@testable import TailorServer

@Suite("Drift alerts in the server")
struct DriftAlertTests {
    /// A server over a fixture store holding 200 events a day and a half ago and 200 in the last
    /// hour, the later ones purchases in the share `latePurchases`, the earlier ones 10 %.
    func makeServer(latePurchases: Double, thresholds: DriftThresholds = DriftThresholds(eventMixPSI: 0.25)) throws -> (TailorServer, String) {
        let f = try Fixture(versionsToWrite: ["v1"])
        let now = Int64(Date().timeIntervalSince1970 * 1000), hour: Int64 = 3_600_000
        var events: [Event] = []
        for n in 0..<200 {
            events.append(Event(id: "b\(n)", user: f.users[n % 50], item: "i\(n % 30)", type: n % 10 == 0 ? .purchase : .click, timestampMilliseconds: now - 36 * hour + Int64(n)))
            let late = Double(n) / 200 < latePurchases
            events.append(Event(id: "a\(n)", user: f.users[n % 50], item: "i\(n % 30)", type: late ? .purchase : .click, timestampMilliseconds: now - hour + Int64(n)))
        }
        _ = try f.store.append(events)
        var c = ServerConfiguration()
        c.retrain.drift = thresholds
        let server = try TailorServer(store: f.store, versions: f.versions, configuration: c)
        return (server, try server.keys.create(name: "admin", scopes: [.admin]).key)
    }

    @Test("a shift in the event mix past the threshold raises the alert in /metrics and triggers a retrain once per window; a stable mix does not")
    func alert() async throws {
        let (server, key) = try makeServer(latePurchases: 0.6)
        server.retrainer.checkDrift(server, force: true)
        let check = server.retrainer.latestDrift
        let drift = try #require(check.drift)
        // 10 % → 60 % purchases (the PSI formula itself is tested with the drift measures).
        let expected = try DriftMeasures.psi([180, 20], [80, 120])
        #expect(abs(drift.eventMixPSI - expected) < 1e-9 && check.alert && drift.eventsBefore == 200 && drift.eventsAfter == 200)
        let quality = try #require(check.quality)
        #expect(quality.rollingUsers > 0 && quality.rollingNDCG != nil && quality.silhouette != nil, "\(quality)")
        #expect(server.retrainer.due() == nil, "the server just started: no retrain before a window has passed")
        server.retrainer.lastRun.withLock { $0 = .now - .seconds(2 * 86_400) }
        #expect(server.retrainer.due() == "drift")
        try await server.makeApplication().test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(key)"]) { r in
                let text = String(buffer: r.body)
                #expect(text.contains("tailor_drift_alert 1"))
                #expect(text.contains("tailor_drift_event_mix_psi"))
                #expect(text.contains("tailor_rolling_ndcg_at_10") && text.contains("tailor_embedding_silhouette"))
            }
            try await client.execute(uri: "/v1/admin/drift", method: .get, headers: [.authorization: "Bearer \(key)"]) { r in
                let body = (try? JSONSerialization.jsonObject(with: Data(buffer: r.body))) as? [String: Any] ?? [:]
                let thresholds = body["thresholds"] as? [String: Any]
                #expect(body["alert"] as? Bool == true && thresholds?["eventMixPSI"] as? Double == 0.25)
                #expect((body["reasons"] as? [String])?.first?.hasPrefix("event-mix PSI") == true, "\(body["reasons"] ?? "none")")
            }
        }
        let (stable, _) = try makeServer(latePurchases: 0.1)
        stable.retrainer.checkDrift(stable, force: true)
        #expect(stable.retrainer.latestDrift.alert == false && (stable.retrainer.latestDrift.drift?.eventMixPSI ?? 1) < 0.01)
        stable.retrainer.lastRun.withLock { $0 = .now - .seconds(2 * 86_400) }
        #expect(stable.retrainer.due() == nil)
    }

    @Test("an NDCG-drop threshold: the first measurement sets the active model's baseline and does not alert; a fall past the share below it does")
    func ndcgDrop() throws {
        let (server, _) = try makeServer(latePurchases: 0.1, thresholds: DriftThresholds(ndcgDrop: 0.2))
        server.retrainer.checkDrift(server, force: true)
        let first = server.retrainer.latestDrift
        let ndcg = try #require(first.quality?.rollingNDCG)
        #expect(first.baselineNDCG == ndcg && !first.alert && first.reasons.isEmpty)
        // The same model measured again against a baseline 30 % above today's value: a 23 % fall.
        let version = try #require(server.service.model?.version)
        server.retrainer.ndcgBaseline.withLock { $0 = (version, ndcg / 0.7) }
        server.retrainer.checkDrift(server, force: true)
        let second = server.retrainer.latestDrift
        #expect(second.alert && second.reasons.count == 1 && second.reasons[0].hasPrefix("rolling NDCG@10"), "\(second.reasons)")
        // 10 % above: within the 20 % allowed.
        server.retrainer.ndcgBaseline.withLock { $0 = (version, ndcg / 0.9) }
        server.retrainer.checkDrift(server, force: true)
        #expect(!server.retrainer.latestDrift.alert)
    }
}
