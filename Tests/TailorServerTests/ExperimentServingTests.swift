import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TailorData
import TailorExperiments
import TailorModels
@testable import TailorServer

@Suite("Experiments in the server")
struct ExperimentServingTests {
    let f: Fixture
    let server: TailorServer
    let key: String
    let experiment: Experiment

    init() throws {
        f = try Fixture(versionsToWrite: ["v1", "v2"])
        try f.versions.setActive("v1")
        server = try TailorServer(store: f.store, versions: f.versions)
        key = try server.keys.create(name: "all", scopes: [.read, .write, .admin]).key
        experiment = try Experiment(name: "v2-test", variants: [.init(name: "control", share: 0.5),
                                                               .init(name: "treatment", share: 0.5, model: "v2", options: ["diversity": "0.5"])],
                                    started: 0, attributionWindowSeconds: 3_600)
        try Experiment.save([experiment], in: f.store)
    }

    func headers() -> HTTPFields { [.contentType: "application/json", .authorization: "Bearer \(key)"] }
    func object(_ r: TestResponse) -> [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(buffer: r.body))) as? [String: Any]) ?? [:] }

    @Test("each user gets their variant's model and options, the response names them, and what was shown is logged for the report")
    func servesVariants() async throws {
        let app = server.makeApplication()
        let users = Array(f.users.prefix(30))
        try await app.test(.router) { client in
            var shown: [String: [String]] = [:]
            for user in users {
                shown[user] = try await client.execute(uri: "/v1/users/\(user)/recommendations?k=5", method: .get, headers: headers()) { r in
                    #expect(r.status == .ok)
                    let body = object(r)
                    let variant = experiment.variant(for: user)
                    #expect(body["experiment"] as? String == "v2-test" && body["variant"] as? String == variant.name)
                    #expect(body["model"] as? String == (variant.model ?? "v1"), "\(user) in \(variant.name)")
                    return (body["items"] as? [[String: Any]] ?? []).compactMap { $0["item"] as? String }
                }
            }
            // The treatment's list is its model's, diversified as its options say.
            let treated = try #require(users.first { experiment.variant(for: $0).name == "treatment" })
            var r = RecommendationRequest(user: treated, k: 5)
            r.diversity = 0.5
            let v2 = try server.experiments.model("v2", versions: f.versions, ann: nil)
            let expectedList = try server.service.recommend(r, model: v2).items.map(\.item)
            #expect(expectedList == shown[treated])
            // Every shown item is an exposure tagged with the experiment and the variant.
            let logged = try ExperimentReport.events(in: f.store).filter { $0.context.extra[Experiment.experimentKey] == "v2-test" }
            #expect(logged.count == users.count * 5)
            #expect(logged.allSatisfy { $0.type.name == "exposure" && $0.context.extra[Experiment.variantKey] == experiment.variant(for: $0.user).name })
            // Clicks on shown items reach the report through the admin endpoint.
            let clickers = users.prefix(6)
            let first = clickers.map { shown[$0]![0] }
            let events = zip(clickers, first).map { #"{"user":"\#($0.0)","item":"\#($0.1)","type":"click"}"# }.joined(separator: ",")
            try await client.execute(uri: "/v1/events", method: .post, headers: headers(), body: ByteBuffer(string: #"{"events":[\#(events)]}"#)) {
                #expect($0.status == .accepted)
            }
            try await client.execute(uri: "/v1/admin/experiments/v2-test/report", method: .get, headers: headers()) { r in
                #expect(r.status == .ok)
                let arms = object(r)["arms"] as? [[String: Any]] ?? []
                let clicks = arms.map { (($0["exposures"] as? [String: Any])?["successes"] as? Int) ?? -1 }
                let expected = ["control", "treatment"].map { name in clickers.filter { experiment.variant(for: $0).name == name }.count }
                #expect(clicks == expected)
                #expect(arms.map { $0["users"] as? Int ?? -1 } == ["control", "treatment"].map { name in users.filter { experiment.variant(for: $0).name == name }.count })
            }
            try await client.execute(uri: "/v1/admin/experiments/nope/report", method: .get, headers: headers()) { #expect($0.status == .notFound) }
        }
    }

    @Test("a stopped experiment no longer applies")
    func stopped() throws {
        var stopped = experiment
        stopped.status = .stopped
        try Experiment.save([stopped], in: f.store)
        server.experiments.invalidate()
        for user in f.users.prefix(10) {
            let result = try server.recommendInExperiment(RecommendationRequest(user: user, k: 5))
            #expect(result.experiment == nil && result.model == "v1")
        }
    }
}
