import Foundation
import Testing
import TailorAutodiff
import TailorData
import TailorLinalg
@testable import TailorModels
@testable import TailorNeural

@Suite("Two-tower fine-tuning")
struct FineTuneTests {
    static let data = groupedData(users: 90, items: 60, perUser: 10)
    static let base: ModelBundle = {
        var c = smallConfiguration()
        c.epochs = 15
        let model = try! TwoTower.fit(data, configuration: c, progress: nil)
        return try! ModelBundle(model: model, training: data.interactions!)
    }()

    /// Fresh events: 30 new users (n0…n29, group n mod 3) on old items of their group, 6 new
    /// items (j0…j5, category j mod 3) taken by old and new users of that group, all after
    /// every base event.
    static func fresh() -> (Interactions, SideInformation) {
        var rng = TailorRandom(seed: 9)
        var text = "user,item,timestamp\n"
        for n in 0..<30 {
            let g = n % 3
            for t in 0..<6 { text += "n\(n),i\(3 * rng.nextInt(below: 20) + g),\(100_000 + 10 * t + n)\n" }
            text += "n\(n),j\(g + 3 * (n % 2)),\(100_100 + n)\n"
        }
        for u in 0..<45 { text += "u\(u),j\(u % 3 + 3 * (u % 2)),\(100_200 + u)\n" }
        let (log, _) = try! InteractionReader.read(text: text)
        let users = (0..<30).map { UserProfile(id: "n\($0)", attributes: ["group": "g\($0 % 3)", "age": "30"]) }
        let items = (0..<6).map { CatalogItem(id: "j\($0)", categories: ["c\($0 % 3)"], numeric: ["length": 1]) }
        return (log, SideInformation(items: items, users: users))
    }

    func tune(_ configure: (inout TwoTower.Configuration) -> Void = { _ in }) throws -> (TwoTower, Interactions) {
        let (events, side) = Self.fresh()
        let (merged, rows) = FineTuning.merge(base: Self.base, fresh: events)
        var c = (Self.base.model as! TwoTower).configuration
        c.epochs = 10
        c.learningRate = 0.005
        configure(&c)
        let model = try TwoTower.fineTune(from: Self.base.model as! TwoTower, data: TrainingData(merged, side: side), freshRows: rows,
                                          configuration: c, progress: nil)
        return (model, merged)
    }

    func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map(*).reduce(0, +) }

    /// How many of the top 10 items by `scores` are in `group` (item rows ≥ 60 are the new items).
    func inGroup(_ scores: [Float], _ group: Int) -> Int {
        let top = scores.indices.sorted { scores[$0] > scores[$1] }.prefix(10)
        return top.filter { i -> Bool in (i < 60 ? i : i - 60) % 3 == group }.count
    }

    func state(_ model: TwoTower) -> [String: Tensor] { model.network.run { $0.stateDict() } }

    @Test("the merged data keep the base's ids first, old rows before fresh ones, and the fresh rows exactly")
    func merge() {
        let (events, _) = Self.fresh()
        let (merged, rows) = FineTuning.merge(base: Self.base, fresh: events)
        #expect(Array(merged.userIDs.ids.prefix(90)) == Self.base.userIDs.ids && merged.userIDs.count == 120)
        #expect(Array(merged.itemIDs.ids.prefix(60)) == Self.base.itemIDs.ids && merged.itemIDs.count == 66)
        #expect(rows == Self.base.seen.nonZeroCount..<(Self.base.seen.nonZeroCount + events.count))
        let t = merged.timestamps!
        #expect(t[..<rows.lowerBound].allSatisfy { $0 < events.timestamps!.min()! })
        for r in [0, 7, events.count - 1] {
            #expect(merged.userIDs[merged.users[rows.lowerBound + r]] == events.userIDs[events.users[r]])
            #expect(merged.itemIDs[merged.items[rows.lowerBound + r]] == events.itemIDs[events.items[r]])
        }
    }

    @Test("fine-tuning learns new users and items and keeps what the base knew")
    func learnsNewRows() throws {
        let (model, _) = try tune()
        #expect(model.userCount == 120 && model.itemCount == 66)
        // New users (rows 90…119) rank their group's items first.
        var share = 0
        for n in 0..<30 {
            let q = model.userFactors.row(90 + n)
            let s = (0..<model.itemCount).map { i in dot(q, model.itemFactors.row(i)) }
            share += inGroup(s, n % 3)
        }
        #expect(share >= 240, "\(share) of 300 top-10 items in the user's group")
        // Old users keep ranking their group first.
        var kept = 0
        for u in 45..<90 {
            let q = model.userFactors.row(u)
            let s = (0..<60).map { i in dot(q, model.itemFactors.row(i)) }
            kept += inGroup(s, u % 3)
        }
        #expect(kept >= 360, "\(kept) of 450")
        // Each new item scores higher, on average, with the old users of its category's group.
        for j in 0..<6 {
            let v = model.itemFactors.row(60 + j)
            var mine: Float = 0, others: Float = 0
            for u in 0..<90 { if u % 3 == j % 3 { mine += dot(model.userFactors.row(u), v) / 30 } else { others += dot(model.userFactors.row(u), v) / 60 } }
            #expect(mine > others + 0.1, "new item j\(j): \(mine) vs \(others)")
        }
    }

    @Test("frozen parameters do not move, the others do; the base's id rows carry over")
    func frozen() throws {
        let before = state(Self.base.model as! TwoTower)
        let (model, _) = try tune { $0.freeze = ["item_id", "item_mlp"] }
        let after = state(model)
        let oldRows = before["item_id.weight"]!.storage.count
        #expect(Array(after["item_id.weight"]!.storage.prefix(oldRows)) == before["item_id.weight"]!.storage)
        #expect(after["item_mlp.0.weight"]!.storage == before["item_mlp.0.weight"]!.storage)
        #expect(after["user_mlp.0.weight"]!.storage != before["user_mlp.0.weight"]!.storage)
    }

    @Test("gradual unfreezing releases the last listed prefix first, one per interval")
    func gradual() throws {
        let before = state(Self.base.model as! TwoTower)
        let (model, _) = try tune {
            $0.freeze = ["item_id", "item_mlp"]
            $0.unfreezeEvery = 1
            $0.epochs = 2
            $0.patience = nil
        }
        let after = state(model)
        let oldRows = before["item_id.weight"]!.storage.count
        #expect(after["item_mlp.0.weight"]!.storage != before["item_mlp.0.weight"]!.storage, "released at epoch 2")
        #expect(Array(after["item_id.weight"]!.storage.prefix(oldRows)) == before["item_id.weight"]!.storage, "due at epoch 3, never reached")
    }

    @Test("an architecture change, an unknown freeze prefix and no fresh rows are errors naming the problem")
    func errors() throws {
        #expect { try tune { $0.dimension = 32 } } throws: { "\($0)".contains("dimension cannot change") }
        #expect { try tune { $0.freeze = ["decoder"] } } throws: { "\($0)".contains("'decoder'") && "\($0)".contains("user_mlp") }
        #expect { try tune { $0.unfreezeEvery = 0; $0.freeze = ["item_id"] } } throws: { "\($0)".contains("unfreezeEvery") }
        let (merged, _) = FineTuning.merge(base: Self.base, fresh: Self.fresh().0)
        #expect {
            try TwoTower.fineTune(from: Self.base.model as! TwoTower, data: TrainingData(merged), freshRows: 0..<0,
                                  configuration: (Self.base.model as! TwoTower).configuration, progress: nil)
        } throws: { "\($0)".contains("no fresh interactions") }
    }
}
