import Foundation
import Testing
import TailorData
import TailorLinalg
import TailorModels
@testable import TailorNeural

@Suite("Mult-VAE")
struct MultVAETests {
    static func configuration() -> MultVAE.Configuration {
        var c = MultVAE.Configuration()
        c.hidden = 32
        c.latent = 8
        c.epochs = 60
        c.batchSize = 40
        c.learningRate = 0.005
        c.annealSteps = 100
        c.validationUsers = 0
        return c
    }

    static let data = groupedData()
    static let model = try! MultVAE.fit(data, configuration: configuration(), progress: nil)

    func groupShare(_ scores: [Float], group: Int, banned: Set<Int32> = []) -> Int {
        scores.indices.filter { !banned.contains(Int32($0)) }.sorted { scores[$0] > scores[$1] }.prefix(10).filter { $0 % 3 == group }.count
    }

    @Test("known users rank their group's unseen items first; the loss falls")
    func knownUsers() {
        let model = Self.model, seen = Self.data.matrix.userItems
        var matching = 0
        for u in 0..<model.userCount {
            let row = model.userFactors.row(u)
            let scores = (0..<model.itemCount).map { i in zip(row, model.itemFactors.row(i)).map(*).reduce(0, +) }
            matching += groupShare(scores, group: u % 3, banned: Set(seen.columns(inRow: u)))
        }
        // Chance is a third of 10 per user.
        #expect(Double(matching) / Double(10 * model.userCount) >= 0.8, "\(matching) of \(10 * model.userCount)")
        #expect(model.summary.losses.last! < model.summary.losses.first!)
    }

    @Test("a new user's history folds in with one pass; unknown items are ignored; the file round-trips")
    func foldInAndArchive() throws {
        let model = Self.model
        var scores = [Float](repeating: 0, count: model.itemCount)
        scores.withUnsafeMutableBufferPointer { model.scores(for: UserHistory(items: [4, 7, 13, 999, -2]), into: $0) }
        #expect(scores.allSatisfy { $0.isFinite })
        #expect(groupShare(scores, group: 1, banned: [4, 7, 13]) >= 8)
        let back = try MultVAE(archiveTensors: model.archiveTensors(), configuration: model.archiveConfiguration())
        var again = [Float](repeating: 0, count: model.itemCount)
        again.withUnsafeMutableBufferPointer { back.scores(for: UserHistory(items: [4, 7, 13]), into: $0) }
        var plain = [Float](repeating: 0, count: model.itemCount)
        plain.withUnsafeMutableBufferPointer { model.scores(for: UserHistory(items: [4, 7, 13]), into: $0) }
        #expect(again == plain && back.userFactors == model.userFactors)
    }

    @Test("early stopping keeps the best validation epoch; bad settings name the key")
    func validationAndSettings() throws {
        var c = Self.configuration()
        c.epochs = 8
        c.validationUsers = 40
        c.patience = 2
        let model = try MultVAE.fit(Self.data, configuration: c, progress: nil)
        let best = try #require(model.summary.bestEpoch)
        #expect(model.summary.validation[best - 1] == model.summary.validation.max())
        c.dropout = 1
        #expect { try MultVAE.fit(Self.data, configuration: c, progress: nil) } throws: { "\($0)".contains("configuration.dropout") }
    }
}
