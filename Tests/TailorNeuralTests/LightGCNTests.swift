import Foundation
import Testing
import TailorData
import TailorLinalg
import TailorModels
@testable import TailorNeural

@Suite("LightGCN")
struct LightGCNTests {
    static func configuration() -> LightGCN.Configuration {
        var c = LightGCN.Configuration()
        c.dimension = 16
        c.layers = 2
        c.epochs = 60
        c.batchSize = 256
        c.learningRate = 0.01
        c.validationUsers = 0
        return c
    }

    static let data = groupedData()
    static let model = try! LightGCN.fit(data, configuration: configuration(), progress: nil)

    @Test("known users rank their group's unseen items first; the loss falls; the file round-trips")
    func learnsGroups() throws {
        let model = Self.model
        let top = model.recommend(users: (0..<60).map(Int32.init), k: 5, exclude: Self.data.matrix.userItems, threads: 1)
        var hits = 0
        for q in 0..<60 { for r in 0..<top.counts[q] where Int(top.indices[q * top.k + r]) % 3 == q % 3 { hits += 1 } }
        #expect(hits >= 240, "\(hits) of 300 in the user's group (chance: 100)")
        #expect(model.summary.losses.last! < model.summary.losses.first!)
        let back = try LightGCN(archiveTensors: model.archiveTensors(), configuration: model.archiveConfiguration())
        #expect(back.userFactors == model.userFactors && back.itemFactors == model.itemFactors)
    }

    @Test("the normalized graph is symmetric with entries 1/√(deg u · deg i)")
    func graph() {
        let g = LightGCN.normalizedGraph([[0, 1], [1]], users: 2, items: 2)
        #expect(g.rows == 4 && g.nonZeroCount == 6)
        #expect(abs(g.value(row: 0, column: 2)! - 1 / Float(2).squareRoot()) < 1e-6)     // user 0 (2 items), item 0 (1 user)
        #expect(abs(g.value(row: 0, column: 3)! - 1 / Float(4).squareRoot()) < 1e-6)     // item 1 has 2 users
        #expect(abs(g.value(row: 1, column: 3)! - 1 / Float(2).squareRoot()) < 1e-6)
        #expect(g.transposed() == g)
    }

    @Test("validation stops early at the best epoch; bad settings name the key")
    func validation() throws {
        var c = Self.configuration()
        c.epochs = 6
        c.validationUsers = 40
        c.patience = 2
        let model = try LightGCN.fit(Self.data, configuration: c, progress: nil)
        let best = try #require(model.summary.bestEpoch)
        #expect(model.summary.validation[best - 1] == model.summary.validation.max())
        c.layers = -1
        #expect { try LightGCN.fit(Self.data, configuration: c, progress: nil) } throws: { "\($0)".contains("configuration.layers") }
    }
}
