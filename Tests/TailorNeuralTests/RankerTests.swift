import Foundation
import Testing
import TailorData
import TailorEval
import TailorLinalg
@testable import TailorModels
@testable import TailorNeural

/// Users of group g click items of category g half the time and others 2 % of the time; each
/// impression shows 10 random items. Ids, attributes and categories all carry the signal, the
/// item's overall click rate does not (every item is liked by half the users).
func plantedClicks(users: Int = 120, items: Int = 40, impressions: Int = 1500, seed: UInt64 = 3) -> (TrainingData, test: Impressions) {
    var rng = TailorRandom(seed: seed)
    var text = "user,item,clicked,timestamp,impression\n"
    for n in 0..<impressions {
        let u = rng.nextInt(below: users)
        var shown = Set<Int>()
        while shown.count < 10 { shown.insert(rng.nextInt(below: items)) }
        for i in shown.sorted() {
            let p = (i % 2 == u % 2) ? 0.5 : 0.02
            text += "u\(u),i\(i),\(Double(rng.nextFloat()) < p ? 1 : 0),\(1_000_000 + 60 * n),imp\(n)\n"
        }
    }
    let (all, _) = try! Impressions.read(text: text)
    let (train, test) = all.splitByTime(testFraction: 0.25)
    // Interactions: the training clicks.
    let clicks = (0..<train.count).filter { train.rows.values[$0] > 0 }
    let log = train.rows.selecting(clicks).compacted()
    let side = SideInformation(items: (0..<items).map { CatalogItem(id: "i\($0)", categories: ["c\($0 % 2)"]) },
                               users: (0..<users).map { UserProfile(id: "u\($0)", attributes: ["group": "g\($0 % 2)"]) })
    var data = TrainingData(log, side: side)
    data.impressions = train
    return (data, test)
}

func smallRanker() -> Ranker.Configuration {
    var c = Ranker.Configuration()
    c.hidden = [32]
    c.epochs = 8
    c.batchSize = 256
    c.learningRate = 0.005
    return c
}

@Suite("Click-through ranker")
struct RankerTests {
    static let planted = plantedClicks()

    func report(_ model: Ranker, _ test: Impressions) -> ClickReport {
        ClickReport(probabilities: model.clickProbabilities(test), labels: test.rows.values, groups: test.groups)
    }

    @Test("learns who clicks what, beats the item click rate, and stays calibrated under each balancing", arguments: Ranker.Balance.allCases)
    func learnsAndCalibrates(balance: Ranker.Balance) throws {
        let (data, test) = Self.planted
        var c = smallRanker()
        c.balance = balance
        if balance == .downsample { c.negativeRate = 0.2 }  // clicks are a quarter of the rows; keep a fifth of the skips
        let model = try Ranker.fit(data, configuration: c, progress: nil)
        let r = report(model, test)
        let baseline = ClickReport(probabilities: ItemClickRate(data.impressions!).probabilities(test), labels: test.rows.values, groups: test.groups)
        #expect(r.auc > 0.8 && r.auc > baseline.auc + 0.2, "ranker \(r.auc) vs item click rate \(baseline.auc)")
        #expect(r.precisionAtK[1]! > baseline.precisionAtK[1]! + 0.15)
        // Mean prediction within 30 % of the click rate: the balancing is undone.
        #expect(r.predictedOverObserved > 0.7 && r.predictedOverObserved < 1.3, "\(balance): \(r.predictedOverObserved)")
        #expect(r.logLoss < baseline.logLoss)
        if balance != .none { #expect(model.summary.logitOffset < 0) }
    }

    @Test("SMOTE adds synthetic clicks between neighbouring clicks and the probabilities stay calibrated")
    func smote() throws {
        let (data, test) = Self.planted
        var c = smallRanker()
        c.smoteNeighbors = 5
        c.smoteRatio = 1
        let model = try Ranker.fit(data, configuration: c, progress: nil)
        #expect(model.summary.synthetic > 0 && model.summary.synthetic <= data.impressions!.positives)
        let r = report(model, test)
        #expect(r.auc > 0.8)
        #expect(r.predictedOverObserved > 0.7 && r.predictedOverObserved < 1.3, "\(r.predictedOverObserved)")
        c.smoteRatio = 0
        #expect { try Ranker.fit(data, configuration: c, progress: nil) } throws: { "\($0)".contains("smoteRatio") }
    }

    @Test("without impressions it trains on interactions against random items")
    func sampledNegatives() throws {
        var (data, test) = Self.planted
        data.impressions = nil
        let model = try Ranker.fit(data, configuration: smallRanker(), progress: nil)
        #expect(!model.summary.fromImpressions)
        #expect(report(model, test).auc > 0.7)
    }

    @Test("the model file round-trips: the same probabilities, impression-only items included")
    func archive() throws {
        let (data, test) = Self.planted
        let model = try Ranker.fit(data, configuration: smallRanker(), progress: nil)
        let back = try Ranker(archiveTensors: model.archiveTensors(), configuration: model.archiveConfiguration())
        #expect(back.clickProbabilities(test) == model.clickProbabilities(test))
        #expect(back.tables.itemIDs == model.tables.itemIDs && model.tables.itemIDs.count >= data.interactions!.itemIDs.count)
        // A crafted count that would not convert to an integer is an error, not a trap.
        guard case .object(var fields) = try model.archiveConfiguration() else { Issue.record("not an object"); return }
        fields["users"] = .number(1e300)
        #expect { try Ranker(archiveTensors: model.archiveTensors(), configuration: .object(fields)) } throws: { "\($0)".contains("not whole numbers in range") }
    }

    @Test("two stages: the ranker orders the retrieval shortlist by click probability")
    func rerank() throws {
        let (data, _) = Self.planted
        let ranker = try ModelBundle(model: try Ranker.fit(data, configuration: smallRanker(), progress: nil), training: data.interactions!)
        let retrieval = try ModelBundle(model: try ALS.fit(data.matrix, configuration: .init(factors: 4, iterations: 3, threads: 1)), training: data.interactions!)
        let users = ["u0", "u1", "u7"]
        let two = try ranker.rerank(userIDs: users, k: 5, retrieval: retrieval, shortlist: 12)
        let one = try retrieval.recommend(userIDs: users, k: 12)
        for (a, b) in zip(two, one) {
            #expect(a.items.count == 5 && Set(a.items.map(\.item)).isSubset(of: Set(b.items.map(\.item))))
            #expect(a.items.map(\.score) == a.items.map(\.score).sorted(by: >))
            #expect(a.items.allSatisfy { $0.score > 0 && $0.score < 1 })
        }
        // Their group's items first (the ranker knows the groups even where ALS is unsure).
        let matching = two.enumerated().reduce(0) { sum, e in sum + e.element.items.filter { Int($0.item.dropFirst())! % 2 == [0, 1, 7][e.offset] % 2 }.count }
        #expect(matching >= 13, "\(matching) of 15")
        #expect(throws: ModelError.self) { try retrieval.rerank(userIDs: users, k: 5, retrieval: retrieval) }
    }

    @Test("bad settings are errors naming the key")
    func badConfiguration() {
        var c = smallRanker()
        c.negativeRate = 0
        #expect { try Ranker.fit(Self.planted.0, configuration: c, progress: nil) } throws: { "\($0)".contains("negativeRate") }
        c = smallRanker()
        c.retrieval = "/nonexistent/model"
        #expect { try Ranker.fit(Self.planted.0, configuration: c, progress: nil) } throws: { "\($0)".contains("/nonexistent/model") }
    }
}

@Suite("Impressions and click metrics")
struct ImpressionTests {
    @Test("impressions from events: sessions with skips, clicks positive, other sessions ignored, clicked-and-skipped counts as clicked")
    func fromEvents() {
        func event(_ u: String, _ i: String, _ type: EventType, _ t: Int64, _ session: String?) -> Event {
            Event(user: u, item: i, type: type, timestampMilliseconds: t * 1000, context: EventContext(session: session))
        }
        let log = EventLog([
            event("a", "x", .skip, 10, "imp1"), event("a", "y", .click, 10, "imp1"), event("a", "z", .skip, 10, "imp1"),
            event("a", "z", .click, 11, "imp1"),
            event("b", "x", .click, 20, "s9"),          // a session without skips: not an impression
            event("b", "y", .skip, 30, "imp2"), event("b", "w", .view, 30, "imp2"),
        ])
        let shown = Impressions.from(log, weights: EventWeights())!
        var labels: [String: Float] = [:]
        for r in 0..<shown.count { labels[shown.rows.userIDs[shown.rows.users[r]] + shown.rows.itemIDs[shown.rows.items[r]]] = shown.rows.values[r] }
        #expect(labels == ["ax": 0, "ay": 1, "az": 1, "by": 0, "bw": 1])
        #expect(Set(shown.groups).count == 2)
    }

    @Test("synthetic events with impressions: each view comes with its skips in one session, and they become labelled impressions")
    func synthetic() {
        var c = SyntheticEvents.Configuration()
        c.log.users = 40; c.log.items = 30; c.log.interactions = 400
        c.skippedPerImpression = 3
        c.bots = 0; c.duplicateRate = 0; c.futureEvents = 0; c.negativeDwells = 0
        let generated = SyntheticEvents.generate(c)
        let skips = generated.events.filter { $0.type == .skip }
        let views = generated.events.filter { $0.type == .view }
        #expect(skips.count == 3 * views.count && views.allSatisfy { $0.context.session != nil })
        let shown = Impressions.from(EventLog(generated.events), weights: EventWeights())!
        #expect(shown.positives == views.count && shown.count == 4 * views.count)
        #expect(generated.csv().hasPrefix("event_id,user,item,type,value,timestamp,device,platform,country,session\n"))
    }

    @Test("reading impressions: bad labels and times are counted with their line; no label column is an error")
    func reading() throws {
        let (shown, report) = try Impressions.read(text: "user,item,clicked,ts\na,x,1,100\na,y,maybe,100\nb,x,0,soon\nb,y,no,200\n")
        #expect(shown.count == 2 && shown.positives == 1 && report.rowsSkipped == 2)
        #expect(report.problems.map(\.line) == [3, 4])
        #expect { try Impressions.read(text: "user,item,rating\na,x,1\n") } throws: { "\($0)".contains("no label column") }
    }

    @Test("time split keeps each impression whole and holds out the latest")
    func split() throws {
        let (shown, _) = try Impressions.read(text: "user,item,clicked,timestamp,impression\n" + (0..<40).map { "u\($0 % 3),i\($0 % 7),\($0 % 2),\(1000 + $0 / 4),g\($0 / 4)" }.joined(separator: "\n"))
        let (train, test) = shown.splitByTime(testFraction: 0.3)
        #expect(test.count == 12 && train.count == 28)
        #expect(test.rows.timestamps!.min()! > train.rows.timestamps!.max()!)
    }

    @Test("click metrics on cases worked by hand")
    func metrics() {
        let perfect = ClickReport(probabilities: [0.9, 0.1, 0.8, 0.2], labels: [1, 0, 1, 0], groups: [0, 0, 1, 1], ks: [1])
        #expect(perfect.auc == 1 && perfect.impressionAUC == 1 && perfect.precisionAtK[1] == 1)
        let coin = ClickReport(probabilities: [0.5, 0.5], labels: [1, 0], groups: [-1, -1])
        #expect(abs(coin.logLoss - log(2)) < 1e-9 && coin.auc == 0.5 && coin.calibrationError == 0 && coin.predictedOverObserved == 1)
        // Everything predicted 0.9 while half is clicked: 0.4 off.
        #expect(abs(ClickReport(probabilities: [0.9, 0.9], labels: [1, 0], groups: [0, 0]).calibrationError - 0.4) < 1e-6)
        let inverted = ClickReport(probabilities: [0.1, 0.9], labels: [1, 0], groups: [0, 0], ks: [1])
        #expect(inverted.auc == 0 && inverted.precisionAtK[1] == 0)
    }
}
