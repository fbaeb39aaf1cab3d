import Foundation
import Testing
import TailorData
import TailorLinalg
import TailorModels
import TailorEval
@testable import TailorNeural

/// Users who read items 0..<30 on mobile and items 30..<60 on desktop, in equal amounts: their
/// histories mix both halves, so only the event's device can tell which half they want now.
func deviceData(users: Int = 150, items: Int = 60, perDevice: Int = 6, seed: UInt64 = 3) -> TrainingData {
    var rng = TailorRandom(seed: seed)
    var us: [Int32] = [], its: [Int32] = [], times: [Int64] = []
    var context = ContextColumns()
    let half = items / 2
    for u in 0..<users {
        var picked: [(Int, String)] = []
        var mobile = Set<Int>(), desktop = Set<Int>()
        while mobile.count < perDevice { mobile.insert(rng.nextInt(below: half)) }
        while desktop.count < perDevice { desktop.insert(half + rng.nextInt(below: half)) }
        picked = mobile.sorted().map { ($0, "mobile") } + desktop.sorted().map { ($0, "desktop") }
        // Interleave the devices in time.
        picked.sort { ($0.0 % half, $0.0) < ($1.0 % half, $1.0) }
        for (n, (item, device)) in picked.enumerated() {
            us.append(Int32(u)); its.append(Int32(item)); times.append(Int64(3_600 * n + u))
            context.append([device, nil, nil])
        }
    }
    let log = Interactions(users: us, items: its, values: [Float](repeating: 1, count: us.count), timestamps: times,
                           userIDs: IDMap((0..<users).map { "u\($0)" }), itemIDs: IDMap((0..<items).map { "i\($0)" }), context: context)
    return TrainingData(log)
}

@Suite("Two-tower request context")
struct ContextTests {
    static let data = deviceData()

    static func configuration(context: [String]) -> TwoTower.Configuration {
        var c = smallConfiguration()
        c.context = context
        c.epochs = 30
        c.contextDropout = 0.2
        return c
    }

    static let model = try! TwoTower.fit(data, configuration: configuration(context: ["device"]), progress: nil)

    /// Mean share of items 0..<30 in the top 10 of users 0..<40 (seen items excluded), in `context`.
    func mobileShare(_ model: TwoTower, context: [String: String]) throws -> Double {
        let users = (0..<Int32(40)).map { $0 }
        let vectors = try model.userVectors(users: users.map { $0 }, profiles: users.map { _ in nil }, histories: users.map { _ in nil }, context: context)
        let seen = Self.data.matrix.userItems
        var share = 0.0
        for (q, u) in users.enumerated() {
            let banned = Set(seen.columns(inRow: Int(u)))
            let scores = (0..<model.itemCount).map { i in zip(vectors.row(q), model.itemFactors.row(i)).map(*).reduce(0, +) }
            let top = scores.indices.filter { !banned.contains(Int32($0)) }.sorted { scores[$0] > scores[$1] }.prefix(10)
            share += Double(top.filter { $0 < 30 }.count) / 10
        }
        return share / Double(users.count)
    }

    @Test("the request's device turns a known user's recommendations to what they read on it")
    func deviceSteers() throws {
        let mobile = try mobileShare(Self.model, context: ["device": "mobile"])
        let desktop = try mobileShare(Self.model, context: ["device": "desktop"])
        // Without the device the two halves are equally likely (0.5 each).
        #expect(mobile >= 0.8, "mobile requests: \(mobile) of the top 10 are mobile items")
        #expect(desktop <= 0.2, "desktop requests: \(desktop) of the top 10 are mobile items")
        // No context: the trained vectors, unchanged.
        let plain = try Self.model.userVectors(users: [3], profiles: [nil], histories: [nil], context: [:])
        #expect(plain.row(0) == Self.model.userFactors.row(3))
        #expect(Self.model.contextFeatures == ["device"])
    }

    @Test("a model without context features has none, and an empty request context gives the trained vectors")
    func noContextModel() throws {
        var c = Self.configuration(context: [])
        c.epochs = 2
        let plain = try TwoTower.fit(Self.data, configuration: c, progress: nil)
        #expect(plain.contextFeatures.isEmpty)
        let v = try plain.userVectors(users: [5], profiles: [nil], histories: [nil], context: [:])
        #expect(v.row(0) == plain.userFactors.row(5))
    }

    @Test("context survives the model file: the same vectors for the same request after loading")
    func archive() throws {
        let model = Self.model
        let back = try TwoTower(archiveTensors: model.archiveTensors(), configuration: model.archiveConfiguration())
        let request: [String: String] = ["device": "mobile"]
        let a = try model.userVectors(users: [1, nil], profiles: [nil, nil], histories: [nil, [2, 40]], context: request)
        let b = try back.userVectors(users: [1, nil], profiles: [nil, nil], histories: [nil, [2, 40]], context: request)
        #expect(a.storage == b.storage)
        #expect(back.contextFeatures == ["device"])
    }

    @Test("a context feature the data lacks, or no such feature, is an error naming it and what there is")
    func missingFeature() {
        var c = Self.configuration(context: ["platform"])
        c.epochs = 1
        #expect { try TwoTower.fit(Self.data, configuration: c, progress: nil) } throws: {
            "\($0)".contains("'platform'") && "\($0)".contains("device, hour, weekday")
        }
        c.context = ["weather"]
        #expect { try TwoTower.fit(Self.data, configuration: c, progress: nil) } throws: {
            "\($0)".contains("'weather'") && "\($0)".contains("not a context feature")
        }
        // Without times there is no hour.
        let log = Self.data.interactions!
        let untimed = Interactions(users: log.users, items: log.items, values: log.values, userIDs: log.userIDs, itemIDs: log.itemIDs)
        c.context = ["hour"]
        #expect { try TwoTower.fit(TrainingData(untimed), configuration: c, progress: nil) } throws: { "\($0)".contains("'hour'") }
    }

    @Test("request contexts that do not parse are errors; unseen values read as out-of-vocabulary, counted")
    func requestErrors() throws {
        var schema = FeatureSchema()
        try schema.fitContext(["device", "hour", "weekday"], log: Self.data.interactions, minimumCount: 1)
        var warnings = FeatureWarnings()
        #expect { try schema.encode(context: ["hour": "25"], warnings: &warnings) } throws: { "\($0)".contains("hour '25'") }
        #expect { try schema.encode(context: ["weekday": "someday"], warnings: &warnings) } throws: { "\($0)".contains("weekday 'someday'") }
        #expect { try schema.encode(context: ["mood": "happy"], warnings: &warnings) } throws: { "\($0)".contains("unknown context key 'mood'") }
        #expect { try schema.encode(context: ["time": "yesterday"], warnings: &warnings) } throws: { "\($0)".contains("Unix seconds") }
        // Every event of the data is on Thursday 1970-01-01 (weekday 3), hours 0–11.
        let codes = try schema.encode(context: ["device": "watch", "weekday": "Thursday", "hour": "1"], warnings: &warnings)
        // Columns in name order: device, hour, weekday.
        #expect(codes[0] == CategoricalEncoder.outOfVocabulary && warnings.unseenValues == 1)
        #expect(codes[1] == schema.context!["hour"]!.encode("1") && codes[1] != CategoricalEncoder.outOfVocabulary)
        #expect(codes[2] == schema.context!["weekday"]!.encode("3") && codes[2] != CategoricalEncoder.outOfVocabulary)
        #expect(try schema.encode(context: ["weekday": "tue"], warnings: &warnings) == [0, 0, 0] && warnings.unseenValues == 2)
        // time=… gives both the hour and the weekday.
        let t: Int64 = 3 * 86_400 + 5 * 3_600   // Sunday 1970-01-04, 05:00 UTC
        #expect(try schema.encode(context: ["time": String(t)], warnings: &warnings)
                == schema.encode(context: ["hour": "5", "weekday": "sun"], warnings: &warnings))
    }

    @Test("evaluation in the test events' context ranks the held-out item better than without context")
    func evaluationInContext() throws {
        let train = Self.data.interactions!
        let bundle = try ModelBundle(model: Self.model, training: train)
        // One new event per user: an unseen item of the half its device reads (even users mobile).
        var rng = TailorRandom(seed: 11)
        var us: [Int32] = [], its: [Int32] = [], times: [Int64] = []
        var context = ContextColumns()
        let seen = Self.data.matrix.userItems
        for u in 0..<Int32(train.userIDs.count) {
            let mobile = u % 2 == 0
            var item: Int32
            repeat { item = Int32(rng.nextInt(below: 30) + (mobile ? 0 : 30)) } while seen.columns(inRow: Int(u)).contains(item)
            us.append(u); its.append(item); times.append(100_000 + Int64(u))
            context.append([mobile ? "mobile" : "desktop", nil, nil])
        }
        let test = Interactions(users: us, items: its, values: us.map { _ in 1 }, timestamps: times, userIDs: train.userIDs, itemIDs: train.itemIDs,
                                context: context)
        let contexts = ContextEvaluation.firstTestContexts(test: test, bundle: bundle)
        #expect(contexts.count == 150 && contexts[0]?["device"] == "mobile" && contexts[1]?["device"] == "desktop" && contexts[0]?["hour"] == "3" && contexts[0]?["weekday"] == "4")
        let testMatrix = AlignedInteractions(test, to: bundle).matrix
        let configuration = Evaluator.Configuration(ks: [10], computeAUC: false, threads: 1)
        let plain = Evaluator.evaluate(bundle.model, train: seen, test: testMatrix, configuration: configuration).value("recall", at: 10)!
        let served = try ContextEvaluation.evaluate(bundle: bundle, train: seen, test: testMatrix, contexts: contexts, configuration: configuration)
            .value("recall", at: 10)!
        // Without context ≈ 10 of 48 unseen items; with it ≈ 10 of the 24 in the right half.
        #expect(served > plain + 0.1, "recall@10 in context \(served), without \(plain)")
        // A model without context features cannot be evaluated this way.
        var c = Self.configuration(context: [])
        c.epochs = 1
        let plainModel = try ModelBundle(model: TwoTower.fit(Self.data, configuration: c, progress: nil), training: train)
        #expect { try ContextEvaluation.evaluate(bundle: plainModel, train: seen, test: testMatrix, contexts: contexts) } throws: {
            "\($0)".contains("no context features")
        }
    }

    @Test("hours and weekdays are read in UTC, before 1970 too")
    func calendar() {
        #expect(ContextFeature.weekday(0) == "3")                 // Thursday 1970-01-01
        #expect(ContextFeature.weekday(-1) == "2")                // Wednesday 1969-12-31 23:59:59
        #expect(ContextFeature.hour(-1) == "23")
        #expect(ContextFeature.weekday(1_700_000_000) == "1")     // Tuesday 2023-11-14
        #expect(ContextFeature.hour(1_700_000_000) == "22")       // 22:13:20 UTC
        #expect(ContextFeature.weekdayNumber("SUNDAY") == 6 && ContextFeature.weekdayNumber("su") == nil && ContextFeature.weekdayNumber("7") == nil)
    }
}
