import Foundation
import Testing
import TailorAutodiff
import TailorData
import TailorLinalg
@testable import TailorNeural

/// Three groups of users, three categories of items: a user of group g interacts with items of
/// category g (and one random item). Ids alone cannot tell a new user's or item's group; the
/// attributes and categories can.
func groupedData(users: Int = 120, items: Int = 90, perUser: Int = 12, seed: UInt64 = 5) -> TrainingData {
    var rng = TailorRandom(seed: seed)
    var us: [Int32] = [], its: [Int32] = [], times: [Int64] = []
    for u in 0..<users {
        let group = u % 3
        var chosen = Set<Int>()
        while chosen.count < perUser { chosen.insert(3 * rng.nextInt(below: items / 3) + group) }
        chosen.insert(rng.nextInt(below: items))
        for (n, i) in chosen.sorted().enumerated() {
            us.append(Int32(u)); its.append(Int32(i)); times.append(Int64(1_000 * n + u))
        }
    }
    let log = Interactions(users: us, items: its, values: [Float](repeating: 1, count: us.count), timestamps: times,
                           userIDs: IDMap((0..<users).map { "u\($0)" }), itemIDs: IDMap((0..<items).map { "i\($0)" }))
    let profiles = (0..<users).map { UserProfile(id: "u\($0)", attributes: ["group": "g\($0 % 3)", "age": "\(20 + $0 % 40)"]) }
    let catalogue = (0..<items).map { CatalogItem(id: "i\($0)", categories: ["c\($0 % 3)"], numeric: ["length": Double($0 % 7)]) }
    return TrainingData(log, side: SideInformation(items: catalogue, users: profiles))
}

/// Small-data settings: a short run, many id and history drops so the attribute paths learn.
func smallConfiguration() -> TwoTower.Configuration {
    var c = TwoTower.Configuration()
    c.dimension = 16
    c.idDimension = 16
    c.featureDimension = 8
    c.hidden = [32]
    c.epochs = 25
    c.batchSize = 64
    c.learningRate = 0.01
    c.warmupSteps = 10
    c.userIDDropout = 0.3
    c.itemIDDropout = 0.3
    c.historyDropout = 0.3
    c.attributeDropout = 0.3
    c.temperature = 0.1
    c.validationUsers = 0
    // Twelve events a user in id order: prefixes of them teach little here, and with them one
    // category's new-item test fell to chance; the prefix drop has its own test.
    c.newUserEvents = 0
    return c
}

@Suite("Two-tower hybrid")
struct TwoTowerTests {
    static let data = groupedData()
    static let model = try! TwoTower.fit(data, configuration: smallConfiguration(), progress: nil)

    func categoryShare(_ scores: [Float], category: Int, k: Int = 10) -> Int {
        let top = scores.indices.sorted { scores[$0] > scores[$1] }.prefix(k)
        return top.filter { $0 % 3 == category }.count
    }

    func scores(_ model: TwoTower, _ vector: [Float]) -> [Float] {
        (0..<model.itemCount).map { i in zip(vector, model.itemFactors.row(i)).map(*).reduce(0, +) }
    }

    @Test("a new user with only attributes gets their group's items")
    func coldUser() {
        let model = Self.model
        for group in 0..<3 {
            let v = model.userVector(profile: UserProfile(id: "new", attributes: ["group": "g\(group)", "age": "33"]), history: [])
            #expect(v.count == model.configuration.dimension)
            #expect(abs(v.map { $0 * $0 }.reduce(0, +) - 1) < 1e-4, "user vectors are unit length")
            // Chance is 3 or 4 of 10.
            #expect(categoryShare(scores(model, v), category: group) >= 8, "group g\(group)")
        }
    }

    @Test("a new user with a few events and no profile gets items like them (fold-in)")
    func foldIn() {
        let model = Self.model
        var buffer = [Float](repeating: 0, count: model.itemCount)
        buffer.withUnsafeMutableBufferPointer { model.scores(for: UserHistory(items: [4, 7, 13]), into: $0) }   // all category 1
        #expect(categoryShare(buffer, category: 1) >= 8)
    }

    // Mean pooling: the planted events come in item-id order, a sequence that attention over
    // fully gapped histories learns on this small data (a new user's three low ids then drew
    // half their top 10 from other groups for seed 42; 1 in 12 for seeds 1–3, as often as the
    // all-other-items objective). The default, 65 % gapped with attention, is the model above.
    @Test("every history gapped, or none (every other item): known users rank their group first, a new user with a few events gets items like them",
          arguments: [Float?(0.1), nil])
    func historyObjectives(gap: Float?) throws {
        var c = smallConfiguration()
        c.historyGap = gap
        c.historyGapShare = 1
        c.history = .mean
        let model = try TwoTower.fit(Self.data, configuration: c, progress: nil)
        var buffer = [Float](repeating: 0, count: model.itemCount)
        buffer.withUnsafeMutableBufferPointer { model.scores(for: UserHistory(items: [4, 7, 13]), into: $0) }   // all category 1
        #expect(categoryShare(buffer, category: 1) >= 8, "new user")
        for u in 0..<6 {
            #expect(categoryShare(scores(model, Array(model.userFactors.row(u))), category: u % 3) >= 8, "user \(u)")
        }
    }

    @Test("a model file from before the gapped histories (no historyGap key) reads as trained on every other item")
    func fileWithoutGap() throws {
        let model = Self.model
        #expect(model.configuration.historyGap == 0.1, "the default gaps")
        guard case .object(var fields) = try model.archiveConfiguration(), case .object(var c) = fields["configuration"] else {
            Issue.record("the configuration is not an object"); return
        }
        c["historyGap"] = nil
        fields["configuration"] = .object(c)
        let old = try TwoTower(archiveTensors: model.archiveTensors(), configuration: .object(fields))
        #expect(old.configuration.historyGap == nil)
        #expect(old.userFactors == model.userFactors)
    }

    @Test("a new item with only content reaches the users who like its category")
    func coldItem() {
        let model = Self.model
        for category in 0..<3 {
            let v = model.itemVector(content: CatalogItem(id: "new", categories: ["c\(category)"], numeric: ["length": 3]))
            var mine: Float = 0, others: Float = 0
            for u in 0..<model.userCount {
                let s = zip(v, model.userFactors.row(u)).map(*).reduce(0, +)
                if u % 3 == category { mine += s / 40 } else { others += s / 80 }
            }
            #expect(mine > others + 0.2, "category c\(category): mean cosine \(mine) with its group vs \(others) with the others")
        }
    }

    @Test("known users rank their group's unseen items first")
    func warmUsers() {
        let model = Self.model
        let top = model.recommend(users: (0..<30).map(Int32.init), k: 5, exclude: Self.data.matrix.userItems, threads: 1)
        var hits = 0
        for q in 0..<30 { for r in 0..<top.counts[q] where Int(top.indices[q * top.k + r]) % 3 == q % 3 { hits += 1 } }
        #expect(hits >= 130, "\(hits) of 150 recommendations in the user's group (chance: 50)")
    }

    @Test("the model file round-trips: same factors, same vectors for new users and items")
    func archive() throws {
        let model = Self.model
        let copy = try TwoTower(archiveTensors: model.archiveTensors(), configuration: model.archiveConfiguration())
        #expect(copy.userFactors == model.userFactors && copy.itemFactors == model.itemFactors)
        let profile = UserProfile(id: "x", attributes: ["group": "g2"])
        #expect(copy.userVector(profile: profile, history: [1, 2]) == model.userVector(profile: profile, history: [1, 2]))
        #expect(copy.itemVector(content: CatalogItem(id: "y", categories: ["c0"])) == model.itemVector(content: CatalogItem(id: "y", categories: ["c0"])))
        var tensors = model.archiveTensors()
        tensors["user_codes"] = .init([Int32](repeating: 99, count: model.userCount), shape: [model.userCount, 1])
        #expect(throws: ModelError.self) { try TwoTower(archiveTensors: tensors, configuration: model.archiveConfiguration()) }
    }

    @Test("the same seed trains the same model")
    func deterministic() throws {
        var c = smallConfiguration()
        c.epochs = 3
        let a = try TwoTower.fit(Self.data, configuration: c, progress: nil), b = try TwoTower.fit(Self.data, configuration: c, progress: nil)
        #expect(a.userFactors == b.userFactors && a.itemFactors == b.itemFactors)
        c.seed = 7
        let other = try TwoTower.fit(Self.data, configuration: c, progress: nil)
        #expect(other.itemFactors != a.itemFactors)
    }

    @Test("early stopping keeps the best validation epoch")
    func earlyStopping() throws {
        var c = smallConfiguration()
        c.validationUsers = 60
        c.patience = 2
        c.epochs = 40
        c.learningRate = 0.05   // overfits quickly, so validation stops improving
        let model = try TwoTower.fit(Self.data, configuration: c, progress: nil)
        let s = model.summary
        #expect(s.validation.count == s.losses.count && !s.validation.isEmpty)
        let best = try #require(s.bestEpoch)
        #expect(s.validation[best - 1] == s.validation.max(), "the kept epoch is the best one")
        #expect(s.stoppedEarly && s.losses.count == best + 2, "stopped after patience epochs without improvement: \(s.validation)")
    }

    @Test("validation holds out each user's latest share of items (at least one), training examples only, two kept to train on")
    func validationHoldOut() throws {
        var s = Array(Int32(0)..<10)
        #expect(TwoTower.holdOut(&s, share: 0, isExample: { _ in true }) == [9], "0: the latest item")
        #expect(s == Array(0..<9))
        s = Array(0..<10)
        #expect(TwoTower.holdOut(&s, share: 0.25, isExample: { _ in true }) == [9, 8], "⌊0.25 × 10⌋ = 2")
        s = Array(0..<10)
        #expect(TwoTower.holdOut(&s, share: 0.5, isExample: { $0 != 7 }) == [9, 8], "stops at an item that is not an example")
        s = [0, 1, 2]
        #expect(TwoTower.holdOut(&s, share: 0.5, isExample: { _ in true }) == [2])
        #expect(s == [0, 1], "two left to train on")
        var c = smallConfiguration()
        c.validationShare = 0.2
        c.validationUsers = 30
        c.epochs = 2
        let model = try TwoTower.fit(Self.data, configuration: c, progress: nil)
        #expect(model.summary.validation.count == 2 && model.summary.validation.allSatisfy { $0 > 0 && $0 <= 1 })
        for bad: Float in [-0.1, 0.6, .nan] {
            c.validationShare = bad
            #expect { try TwoTower.fit(Self.data, configuration: c, progress: nil) } throws: { "\($0)".contains("validationShare") }
        }
    }

    @Test("the validation NDCG without a cut-off is 1/log₂(rank+1) of each held-out item's full rank, excluded items not counted")
    func fullRankValidation() {
        var rng = TailorRandom(seed: 17)
        let queries = Matrix(rows: 300, columns: 8, storage: (0..<2_400).map { _ in rng.nextFloat() - 0.5 })
        // Rounded item scores make ties, which count half.
        let items = Matrix(rows: 90, columns: 8, storage: (0..<720).map { _ in (rng.nextFloat() * 4).rounded() / 4 })
        var exclude: [[Int32]] = [], heldOut: [Int32] = []
        for _ in 0..<300 {
            let held = Int32(rng.nextInt(below: 90))
            heldOut.append(held)
            exclude.append(Array(Set((0..<5).map { _ in Int32(rng.nextInt(below: 90)) })).filter { $0 != held })
        }
        var expected = 0.0
        for q in 0..<300 {
            let score = { (i: Int) in zip(queries.row(q), items.row(i)).map(*).reduce(0, +) }
            let target = score(Int(heldOut[q]))
            var above = 0.0
            for i in 0..<90 where i != Int(heldOut[q]) && !exclude[q].contains(Int32(i)) {
                let s = score(i)
                if s > target { above += 1 } else if s == target { above += 0.5 }
            }
            expected += 1 / log2(above + 2)
        }
        expected /= 300
        let fast = validationNDCG(queries: queries, items: items, exclude: exclude, heldOut: heldOut, k: nil)
        #expect(abs(fast - expected) < 1e-6, "\(fast) vs \(expected)")
        // A cut-off counts only the items that make the top k: never more than the full-rank value.
        #expect(validationNDCG(queries: queries, items: items, exclude: exclude, heldOut: heldOut, k: 10) < fast)
    }

    @Test("bad side information: NaN, unseen values, missing profiles and content are counted, never NaN scores")
    func badSideInformation() throws {
        let base = groupedData(users: 30, items: 30, perUser: 6)
        var side = base.side
        side.users["u0"] = UserProfile(id: "u0", attributes: ["group": "never-seen", "age": "NaN"])
        side.users["u1"] = nil
        side.items["i0"] = CatalogItem(id: "i0", categories: ["c0"], numeric: ["length": .infinity])
        side.items["i1"] = nil
        let data = TrainingData(base.interactions!, side: side)
        var c = smallConfiguration()
        c.epochs = 2
        let model = try TwoTower.fit(data, configuration: c, progress: nil)
        let w = model.summary.warnings
        #expect(w.usersWithoutProfile == 1 && w.itemsWithoutContent == 1)
        #expect(w.unseenValues >= 1 && w.missingNumbers >= 2, "\(w.summary)")
        #expect(model.userFactors.storage.allSatisfy(\.isFinite) && model.itemFactors.storage.allSatisfy(\.isFinite))
        let v = model.userVector(profile: UserProfile(id: "z", attributes: ["age": "-inf", "unknown-attribute": "x"]), history: [-3, 999])
        #expect(v.allSatisfy { $0.isFinite }, "out-of-range history items are ignored, non-finite numbers read as missing")
    }

    @Test("a configuration naming a feature the data lacks fails, naming it and listing what there is")
    func unknownFeature() {
        var c = smallConfiguration()
        c.userFeatures = ["income"]
        do {
            _ = try TwoTower.fit(Self.data, configuration: c, progress: nil)
            Issue.record("expected an error")
        } catch let e as ModelError {
            #expect(e.code == .invalidConfiguration && e.description.contains("income") && e.description.contains("group"))
        } catch { Issue.record("unexpected \(error)") }
        c.userFeatures = nil
        c.itemFeatures = ["vector"]
        #expect(throws: ModelError.self) { try TwoTower.fit(Self.data, configuration: c, progress: nil) }
        c.itemFeatures = nil
        c.batchSize = 1
        #expect(throws: ModelError.self) { try TwoTower.fit(Self.data, configuration: c, progress: nil) }
    }

    @Test("registered by name: the registry trains and the bundle loads it")
    func registry() throws {
        TailorNeural.register()
        var c = smallConfiguration()
        c.epochs = 1
        let patch = try JSONValue(encoding: c)
        let model = try ModelRegistry.shared.fit("two-tower", patch: patch, data: Self.data)
        #expect(model is TwoTower)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-two-tower-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ModelBundle(model: model, training: Self.data.interactions!).save(to: dir)
        let loaded = try ModelBundle.load(from: dir)
        #expect((loaded.model as? TwoTower)?.itemFactors == (model as? TwoTower)?.itemFactors)
    }

    @Test("a null in a configuration patch survives the registry and the model file (patience null: no early stopping)")
    func nullOptionals() throws {
        TailorNeural.register()
        let full = try ModelRegistry.shared.configuration("two-tower", patch: .object(["patience": .null, "epochs": .number(3)]))
        guard case .object(let keys) = full else { Issue.record("not an object"); return }
        #expect(keys["patience"] == .null && keys["epochs"] == .number(3))
        var c = smallConfiguration()
        c.epochs = 3
        c.patience = nil
        c.validationUsers = 30
        let model = try ModelRegistry.shared.fit("two-tower", patch: try ConfigurationPatch.encode(c), data: Self.data) as! TwoTower
        #expect(model.configuration.patience == nil && model.summary.validation.count == 3)
        let back = try TwoTower(archiveTensors: model.archiveTensors(), configuration: model.archiveConfiguration())
        #expect(back.configuration.patience == nil, "the model file keeps the null")
    }

    @Test("with an item bias, a user known by nothing gets the most popular items, and the bias column round-trips")
    func itemBias() throws {
        // Popularity falls steeply with the item index; no side information, so the bias and
        // the unknown user's vector are all a stranger can be ranked by.
        var rng = TailorRandom(seed: 12)
        var text = "user,item\n"
        for u in 0..<150 {
            var chosen = Set<Int>()
            while chosen.count < 8 { chosen.insert(min(59, Int(-log(1 - Double(rng.nextFloat()) * 0.999) * 8))) }
            for i in chosen { text += "u\(u),i\(i)\n" }
        }
        let (log, _) = try InteractionReader.read(text: text)
        var c = smallConfiguration()
        c.itemBias = true
        c.userIDDropout = 0.5
        c.historyDropout = 0.5
        let model = try TwoTower.fit(TrainingData(log), configuration: c, progress: nil)
        #expect(model.factors == c.dimension + 1)
        let v = model.userVector(profile: nil, history: [])
        #expect(v.last == 1)
        let s = scores(model, v)
        let byScore = s.indices.sorted { s[$0] > s[$1] }.prefix(5).map { log.itemIDs[Int32($0)] }
        let counts = Dictionary(grouping: log.items, by: { $0 }).mapValues(\.count)
        let popular = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(8).map { log.itemIDs[$0.key] }
        #expect(Set(byScore).isSubset(of: Set(popular)), "\(byScore) vs \(popular)")
        let back = try TwoTower(archiveTensors: model.archiveTensors(), configuration: model.archiveConfiguration())
        #expect(back.itemFactors == model.itemFactors && back.userVector(profile: nil, history: []) == v)
    }

    @Test("mixed with uniform negatives, it still learns the groups (and rejects a negative count)")
    func uniformNegatives() throws {
        var c = smallConfiguration()
        c.uniformNegatives = 32
        let model = try TwoTower.fit(Self.data, configuration: c, progress: nil)
        var share = 0
        for u in 0..<30 { share += categoryShare(scores(model, model.userFactors.row(u)), category: u % 3) }
        #expect(share >= 240, "\(share) of 300")
        c.uniformNegatives = -1
        #expect { try TwoTower.fit(Self.data, configuration: c, progress: nil) } throws: { "\($0)".contains("uniformNegatives") }
    }
}
