import Foundation
import Testing
import TailorData
@testable import TailorModels

/// Model directories written by format version 1 (before recipes), committed in Fixtures/: they
/// must load and recommend exactly what that version recommended.
@Suite("Model files from earlier versions")
struct GoldenModelTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    @Test("format-1 model directories load and give the recommendations they gave then", arguments: ["als-v1", "item2vec-v1"])
    func loads(name: String) throws {
        let bundle = try ModelBundle.load(from: Self.fixtures.appendingPathComponent(name))
        #expect(bundle.manifest.formatVersion == 1)
        let expected = try String(contentsOf: Self.fixtures.appendingPathComponent("\(name).expected.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
        let users = Array(Set(expected.map { $0[0] })).sorted()
        let recs = try bundle.recommend(userIDs: users, k: 3)
        for r in recs {
            let want = expected.filter { $0[0] == r.user }
            #expect(r.items.map(\.item) == want.map { $0[1] }, "user \(r.user)")
            for (got, row) in zip(r.items, want) { #expect(abs(got.score - Float(row[2])!) < 1e-5) }
        }
    }

    @Test("a format-1 model trained on a store with --holdout still yields its recipe")
    func storeHoldout() throws {
        let bundle = try ModelBundle.load(from: Self.fixtures.appendingPathComponent("als-store-v1"))
        let recipe = try #require(bundle.manifest.data.effectiveRecipe)
        #expect(recipe.holdout == .init(method: .temporalFraction(testFraction: 0.2), seed: 42))
        #expect(recipe.confidence == .linear)  // format 1 had no transform
        if case .store = recipe.source {} else { Issue.record("expected a store source") }
    }
}
