import Foundation
import Testing
@testable import TailorData

func events(_ text: String, _ configure: (inout EventReader.Configuration) -> Void = { _ in }) throws -> ([Event], TableReadReport) {
    var c = EventReader.Configuration()
    configure(&c)
    var out: [Event] = []
    let report = try EventReader.read(text: text, name: "events.csv", configuration: c) { out += $0 }
    return (out, report)
}

@Suite("Reading events, items and users")
struct EventReadingTests {
    @Test("columns by name, types canonicalized, context and extra key-values, times in s, ms or dates")
    func csv() throws {
        let text = """
        event_id,user_id,item_id,action,dwell,timestamp,device,country,session_id,campaign,ab_group
        1,alice,news-1,View,,1704067200,mobile,US,s1,spring,B
        2,alice,news-1,Add-To-Cart,,1704067200123,mobile,US,s1,spring,B
        3,bob,news-2,dwell, 12.5 ,2024-01-01T00:00:05Z,desktop,GB,,,A
        """
        let (es, report) = try events(text)
        #expect(report.rowsAccepted == 3 && report.rowsSkipped == 0)
        #expect(es.map(\.type) == [.view, .addToCart, .dwell])
        #expect(es.map(\.timestampMilliseconds) == [1_704_067_200_000, 1_704_067_200_123, 1_704_067_205_000])
        #expect(es[0].context == EventContext(device: "mobile", country: "US", session: "s1", referrer: "spring", extra: ["ab_group": "B"]))
        #expect(es[2].value == 12.5 && es[2].id == "3")
    }

    @Test("JSON Lines events, and malformed rows with their lines")
    func jsonl() throws {
        let text = """
        {"user": "u1", "item": "i1", "type": "like", "timestamp": 1704067200}
        {"user": "u1", "item": "i2", "type": "rating", "value": "x", "timestamp": 1704067200}
        {"user": "", "item": "i3", "timestamp": 1704067200}
        oops
        """
        let (es, report) = try events(text)
        #expect(es.count == 1 && es[0].type == .like)
        #expect(report.problems.map(\.line) == [2, 3, 4])
        #expect { try events(text) { $0.strict = true } } throws: { "\($0)".contains("events.csv:2:") }
    }

    @Test("a stray quote in an events file loses only its own row (what tailor ingest reads)")
    func strayQuoteEvents() throws {
        var rows = ["user,item,type,timestamp"]
        for k in 0..<1_000 { rows.append(k == 400 ? "u1,\"i2,click,1600000000" : "u\(k % 7),i\(k),view,\(1_600_000_000 + k)") }
        let (es, report) = try events(rows.joined(separator: "\n"))
        #expect(es.count == 999 && report.rowsSkipped == 1)
        #expect(es.last?.item == "i999")
    }

    @Test("without a type column, events take the default type, or rating for a rating column")
    func defaultType() throws {
        #expect(try events("user,item\na,b\n").0.first?.type == .click)
        #expect(try events("user,item,rating\na,b,4\n").0.first?.type == .rating)
        #expect(try events("user,item\na,b\n") { $0.defaultType = .view }.0.first?.type == .view)
    }

    @Test("event keys: same id → same key; no id → the content decides")
    func keys() {
        let a = Event(id: "7", user: "u", item: "i", type: .click, timestampMilliseconds: 1)
        var b = a
        b.timestampMilliseconds = 2
        #expect(a.key == b.key)
        var c = a, d = a
        c.id = nil; d.id = nil
        #expect(c.key == d.key)
        d.context.device = "mobile"
        #expect(c.key != d.key)
    }

    @Test("items: categories, tags, numeric attributes, feature vectors; users: attributes and signup")
    func catalog() throws {
        let (items, report) = try CatalogReader.readItems(text: """
        item_id,title,genres,tags,price,brand,embedding,published
        1,Alpha,Drama|War,"old, classic",9.5,Acme,0.1 0.2 0.3,1995-01-01
        2,Beta,Comedy,,12,Bolt,0.4 0.5 0.6,
        """)
        #expect(report.rowsAccepted == 2)
        #expect(items[0].categories == ["Drama", "War", "Acme"])
        #expect(items[0].tags == ["old", "classic"] && items[0].numeric == ["price": 9.5])
        #expect(items[1].features == [0.4, 0.5, 0.6] && items[0].publishedMilliseconds == 788_918_400_000)
        #expect { try CatalogReader.readItems(text: "item_id,embedding\n1,0.1 0.2\n2,0.3\n") } throws: { "\($0)".contains("has 1 numbers but earlier rows have 2") }
        let (users, _) = try CatalogReader.readUsers(text: "user_id,age,gender,signup\nu1,34,F,2020-05-01\n")
        #expect(users[0].attributes == ["age": "34", "gender": "F"] && users[0].signupMilliseconds == 1_588_291_200_000)
    }
}

@Suite("Cleaning, weighting, sessions, encoders")
struct CleaningTests {
    let t0: Int64 = 1_704_067_200_000  // 2024-01-01

    func log(_ events: [Event]) -> EventLog { EventLog(events) }

    func e(_ user: String, _ item: String, _ type: EventType = .click, value: Double? = nil, at seconds: Double, session: String? = nil) -> Event {
        Event(user: user, item: item, type: type, value: value, timestampMilliseconds: t0 + Int64(seconds * 1000), context: EventContext(session: session))
    }

    func removed(_ report: CleaningReport, _ step: String) -> Int? { report.steps.first { $0.name == step }?.removed }

    @Test("each step removes exactly what it should and reports it")
    func steps() {
        var c = CleaningConfiguration()
        c.referenceTime = t0 / 1000 + 86_400
        c.ratingRange = 1...5
        let input = [
            e("u", "a", at: 0), e("u", "a", at: 0),                       // exact duplicate (1 removed)
            e("u", "b", at: 10), e("u", "b", at: 11), e("u", "b", at: 30), // quick repeat at +1 s (1 removed)
            e("u", "c", .dwell, value: -3, at: 40),                        // impossible dwell
            e("u", "c", .dwell, value: 99_999, at: 41),                    // impossible dwell
            e("u", "d", .rating, value: 9, at: 50),                        // rating out of range
            e("u", "e", EventType("teleport"), at: 60),                    // unknown type
            e("u", "f", at: 10 * 86_400),                                  // future
            Event(user: "u", item: "g", type: .click, timestampMilliseconds: 10_000),  // before the floor
        ]
        let (clean, report) = Cleaner.clean(log(input), configuration: c)
        #expect(removed(report, "anomalies") == 6)
        #expect(report.steps.first { $0.name == "anomalies" }?.details == [
            "in the future": 1, "before the earliest time": 1, "with impossible dwell": 2, "with ratings out of range": 1, "of unknown types": 1])
        #expect(removed(report, "exact duplicates") == 1)
        #expect(removed(report, "quick repeats") == 1)
        #expect(clean.count == input.count - 8)
        #expect(report.eventsBefore == input.count && report.eventsAfter == clean.count)
    }

    @Test("bots are flagged by rate, session size, item spread and dwell patterns, and listed")
    func bots() {
        var input: [Event] = [e("human", "x", at: 0), e("human", "y", at: 300)]
        for k in 0..<150 { input.append(e("fast", "i\(k)", .view, at: Double(k) * 0.2)) }  // 150 in 30 s
        for k in 0..<30 { input.append(e("robot", "r\(k % 3)", .dwell, value: 0.3, at: Double(k) * 100)) }  // dwell < 1 s
        let (clean, report) = Cleaner.clean(log(input))
        #expect(Set(report.flaggedUsers.map(\.user)) == ["fast", "robot"])
        #expect(report.flaggedUsers.first { $0.user == "fast" }!.reasons.contains { $0.contains("events in one minute") })
        #expect(report.flaggedUsers.first { $0.user == "robot" }!.reasons.contains { $0.contains("under one second") })
        #expect(report.flaggedUsers.first { $0.user == "fast" }!.events == 150)
        #expect(clean.count == 2)
        #expect(report.summary.contains("users flagged as bots (2)"))
    }

    @Test("exact duplicates are found even when an event with another value lies between them")
    func interleavedDuplicates() {
        let input = [e("u", "a", .rating, value: 4, at: 0), e("u", "a", .rating, value: 2, at: 0), e("u", "a", .rating, value: 4, at: 0),
                     e("u", "b", .view, at: 5), e("u", "b", .view, at: 5)]
        var c = CleaningConfiguration()
        c.repeatWindowSeconds = nil
        let (clean, report) = Cleaner.clean(log(input), configuration: c)
        #expect(removed(report, "exact duplicates") == 2)
        #expect(clean.values.filter { $0 == 4 }.count == 1 && clean.values.filter { $0 == 2 }.count == 1)
    }

    @Test("distinct items per hour is a sliding hour, not clock-hour buckets")
    func slidingHour() {
        var rules = BotRules()
        rules.maxDistinctItemsPerHour = 100
        rules.maxEventsPerMinute = 1_000
        // 80 items in the last 20 minutes of one clock hour and 80 in the first 20 of the next:
        // 160 within 40 minutes. Clock buckets saw 80 and 80.
        var input: [Event] = []
        for k in 0..<80 { input.append(e("spread", "a\(k)", .view, at: 2_400 + Double(k) * 15)) }
        for k in 0..<80 { input.append(e("spread", "b\(k)", .view, at: 3_600 + Double(k) * 15)) }
        // A human: 160 items over 4 hours, never more than 50 in any hour.
        for k in 0..<160 { input.append(e("slow", "c\(k)", .view, at: Double(k) * 90)) }
        var c = CleaningConfiguration()
        c.bots = rules
        let (_, report) = Cleaner.clean(log(input), configuration: c)
        #expect(report.flaggedUsers.map(\.user) == ["spread"])
        #expect(report.flaggedUsers[0].reasons == ["160 distinct items in one hour"])
    }

    @Test("bot rules count only user actions: impressions, untimed history and bulk ratings are not a bot")
    func botRulesCountActions() {
        var input: [Event] = []
        // A news reader: shown 300 items in one minute (skips), clicked 3.
        for k in 0..<300 { input.append(e("reader", "n\(k)", .skip, at: Double(k) * 0.1, session: "imp1")) }
        for k in 0..<3 { input.append(e("reader", "n\(k)", .click, at: 5 + Double(k), session: "imp1")) }
        // A click history without times, stamped with one time (MIND's history column).
        for k in 0..<400 {
            var h = e("history", "h\(k)", .click, at: 100)
            h.context.isUntimed = true
            input.append(h)
        }
        // Someone rating 600 films in 50 minutes after signing up (MovieLens user 405).
        for k in 0..<600 { input.append(e("rater", "m\(k)", .rating, value: 4, at: Double(k) * 5)) }
        // A bot doing the same as views (and a rating bot at 3 per second) is still caught.
        for k in 0..<600 { input.append(e("viewbot", "m\(k)", .view, at: Double(k) * 5)) }
        for k in 0..<200 { input.append(e("ratebot", "m\(k)", .rating, value: 5, at: Double(k) * 0.3)) }
        let (_, report) = Cleaner.clean(log(input))
        #expect(Set(report.flaggedUsers.map(\.user)) == ["viewbot", "ratebot"])
        #expect(report.flaggedUsers.first { $0.user == "viewbot" }!.reasons.contains { $0.contains("distinct items in one hour") })
        #expect(report.flaggedUsers.first { $0.user == "ratebot" }!.reasons.contains { $0.contains("events in one minute") })
    }

    @Test("rules decoded from a partial JSON file keep the other defaults")
    func partialRules() throws {
        let rules = try JSONDecoder().decode(BotRules.self, from: Data(#"{"maxEventsPerMinute": 10}"#.utf8))
        var expected = BotRules()
        expected.maxEventsPerMinute = 10
        #expect(rules == expected)
    }

    @Test("huge thresholds in a cleaning file do not trap")
    func hugeThresholds() {
        var c = CleaningConfiguration()
        c.futureToleranceSeconds = 1e300
        c.repeatWindowSeconds = 1e300
        c.earliestTime = Int64.min / 10
        let (clean, _) = Cleaner.clean(log([e("u", "a", at: 0), e("u", "a", at: 10), e("u", "b", at: 20)]), configuration: c)
        #expect(clean.count == 2)  // the repeat of (u, a) is inside the endless window
        var sessionizer = Sessionizer()
        sessionizer.gapSeconds = 1e300
        #expect(sessionizer.sessions(clean).count == 1)
    }

    @Test("k-core repeats until every user and item has enough events; minimum rating drops low ratings")
    func kCoreAndRating() {
        var c = CleaningConfiguration()
        c.userCore = 2; c.itemCore = 2; c.bots = nil
        // u1–u2 share items a,b; u3 has one event on c (goes), which leaves nothing else affected.
        let input = [e("u1", "a", at: 0), e("u1", "b", at: 10), e("u2", "a", at: 20), e("u2", "b", at: 30), e("u3", "c", at: 40)]
        let (clean, report) = Cleaner.clean(log(input), configuration: c)
        #expect(clean.count == 4 && removed(report, "k-core") == 1)
        var r = CleaningConfiguration()
        r.minimumRating = 4
        let (rated, ratedReport) = Cleaner.clean(log([e("u", "a", .rating, value: 5, at: 0), e("u", "b", .rating, value: 2, at: 10)]), configuration: r)
        #expect(rated.count == 1 && removed(ratedReport, "minimum rating") == 1)
    }

    @Test("weights follow the documented defaults and sum per (user, item)")
    func weights() {
        let w = EventWeights()
        #expect(w.weight(type: .view, value: .nan) == 0.5)
        #expect(w.weight(type: .purchase, value: 30) == 5)
        #expect(abs(w.weight(type: .dwell, value: 10)! - 0.5 * log1p(10)) < 1e-12)
        #expect(w.weight(type: .dwell, value: 1e9) == 4)
        #expect(w.weight(type: .rating, value: 5) == 2)
        #expect(w.weight(type: .dislike, value: .nan) == nil)  // excluded by default
        var negative = EventWeights()
        negative.negativeFeedback = .negative
        #expect(negative.weight(type: .dislike, value: .nan) == -3)
        let interactions = w.interactions(from: log([e("u", "a", .view, at: 0), e("u", "a", .click, at: 5), e("u", "a", .like, at: 9),
                                                       e("u", "b", .dislike, at: 1)]))
        #expect(interactions.count == 1 && interactions.values == [4.5] && interactions.timestamps == [t0 / 1000 + 9])
        let withNegative = negative.interactions(from: log([e("u", "b", .dislike, at: 1), e("u", "c", .view, at: 2)]))
        #expect(Set(withNegative.values) == [-3, 0.5])
    }

    @Test("device, platform and country ride along: filtering keeps them aligned, a merged pair keeps its latest event's")
    func contextColumns() {
        func at(_ user: String, _ item: String, _ seconds: Double, device: String?, country: String? = nil) -> Event {
            Event(user: user, item: item, type: .click, timestampMilliseconds: t0 + Int64(seconds * 1000),
                  context: EventContext(device: device, country: country))
        }
        // No context anywhere: nothing stored.
        #expect(log([e("u", "a", at: 0)]).context.isEmpty)
        let events = log([at("u", "a", 0, device: nil), at("u", "a", 50, device: "tablet", country: "FR"), at("u", "a", 9, device: "mobile"),
                          at("v", "b", 3, device: "desktop"), at("v", "c", 4, device: nil)])
        #expect(events.context.count == 5 && events.context.value(field: 0, row: 0) == nil && events.context.value(field: 0, row: 3) == "desktop")
        let kept = events.filter { $0 != 1 }
        #expect((0..<kept.count).map { kept.context.value(field: 0, row: $0) } == [nil, "mobile", "desktop", nil])
        let interactions = EventWeights().interactions(from: events)
        let rows = (0..<interactions.count).map { r in
            (interactions.itemIDs[interactions.items[r]], interactions.context!.value(field: 0, row: r), interactions.context!.value(field: 2, row: r))
        }
        // (u, a) merges three clicks: the one at 50 s (tablet, FR) is the latest, though not the last in the log.
        #expect(rows.contains { $0 == ("a", "tablet", "FR") } && rows.contains { $0 == ("b", "desktop", nil) } && rows.contains { $0 == ("c", nil, nil) })
        #expect(interactions.selecting([2, 0]).context!.count == 2)
    }

    @Test("sessions split at the inactivity gap or where the source session changes")
    func sessions() {
        let input = [e("u", "a", at: 0), e("u", "b", at: 600), e("u", "c", at: 600 + 1801),
                     e("v", "a", at: 0, session: "s1"), e("v", "b", at: 1, session: "s2"), e("v", "c", at: 5000, session: "s2")]
        let sessions = Sessionizer().sessions(log(input))
        #expect(sessions.map(\.items.count) == [2, 1, 1, 2])
        let stats = DataStats(log(input))
        #expect(stats.sessions == 4 && stats.events == 6 && stats.users == 2 && stats.items == 3)
        #expect(abs(stats.topTenPercentShare - 2.0 / 6) < 1e-12)  // one item of three, rounded up
    }

    @Test("encoders: z-score, min-max, log; vocabularies with an out-of-vocabulary bucket; hashing")
    func encoders() throws {
        let z = NumericEncoder(fitting: [1, 2, 3, .nan], method: .zScore)
        #expect(abs(z.encode(2)) < 1e-12 && abs(z.encode(3) - 1.224744871) < 1e-6 && z.encode(.nan) == 0)
        let m = NumericEncoder(fitting: [10, 20], method: .minMax)
        #expect(m.encode(15) == 0.5 && m.encode(99) == 1)
        let l = NumericEncoder(fitting: [0, Foundation.exp(2) - 1], method: .log)
        #expect(abs(l.encode(Foundation.exp(2) - 1) - 1) < 1e-9)
        let v = CategoricalEncoder(fitting: [["a", "b"], ["a"], ["c"]], minimumCount: 2)
        #expect(v.encode("a") == 1 && v.encode("b") == 0 && v.encode(["a", "zzz"]) == [1, 0] && v.size == 2)
        let h = CategoricalEncoder(hashBuckets: 8)
        #expect(h.encode("x") == h.encode("x") && (0..<8).contains(h.encode("y")))
        let encoders = FeatureEncoders(items: [CatalogItem(id: "1", categories: ["A"], numeric: ["p": 1]), CatalogItem(id: "2", categories: ["A"], numeric: ["p": 3])],
                                       users: [UserProfile(id: "u", attributes: ["age": "30", "g": "F"])], minimumCount: 1)
        #expect(encoders.itemCategories.encode("A") == 1 && encoders.userNumeric["age"] != nil && encoders.userCategorical["g"] != nil)
        let back = try JSONDecoder().decode(FeatureEncoders.self, from: JSONEncoder().encode(encoders))
        #expect(back == encoders)
    }

    @Test("the synthetic event stream plants bots and dirt that cleaning finds")
    func synthetic() {
        var c = SyntheticEvents.Configuration()
        c.log.users = 300; c.log.items = 150; c.log.interactions = 4_000; c.bots = 3
        let generated = SyntheticEvents.generate(c)
        var cleaning = CleaningConfiguration()
        cleaning.referenceTime = 1_800_000_000
        let (_, report) = Cleaner.clean(EventLog(generated.events), configuration: cleaning)
        #expect(Set(report.flaggedUsers.map(\.user)) == Set(generated.botUsers))
        #expect((removed(report, "exact duplicates") ?? 0) > 0)
        #expect((removed(report, "quick repeats") ?? 0) > 0)
        #expect(report.steps.first { $0.name == "anomalies" }!.details["in the future"] == c.futureEvents)
        #expect(report.steps.first { $0.name == "anomalies" }!.details["with impossible dwell"] == c.negativeDwells)
    }

    @Test("streaming the synthetic events gives exactly the events and CSV of the in-memory generator, duplicates and bots included")
    func streamedSynthetic() throws {
        for skipped in [0, 3] {
            var c = SyntheticEvents.Configuration()
            c.log.users = 200; c.log.items = 120; c.log.interactions = 3_000; c.bots = 2; c.skippedPerImpression = skipped
            c.duplicateRate = 0.05
            let generated = SyntheticEvents.generate(c)
            var streamed: [Event] = []
            let summary = SyntheticEvents.stream(c) { streamed.append($0) }
            #expect(streamed == generated.events)
            #expect(summary.count == generated.events.count && summary.botUsers == generated.botUsers)
            #expect(summary.hasSessions == (skipped > 0))
            // The duplicates were replayed (in pairs, without ids), so equality above covered them.
            let idless = streamed.filter { $0.id == nil }.count
            #expect(idless > 0 && idless % 2 == 0)
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-stream-\(UUID().uuidString).csv").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let written = try SyntheticEvents.writeCSV(c, to: path)
            #expect(written.count == generated.events.count)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == generated.csv())
        }
    }
}

@Suite("Dataset presets")
struct PresetTests {
    @Test("MovieLens 100K: ratings, genres, demographics", .enabled(if: SharedData.path("ml-100k") != nil, SharedData.skipMessage))
    func ml100k() throws {
        let content = try DatasetPreset.movielens100k.read(directory: SharedData.path("ml-100k")!)
        #expect(content.events.count == 100_000 && content.items.count == 1_682 && content.users.count == 943)
        let toyStory = content.items.first { $0.id == "1" }!
        #expect(toyStory.title == "Toy Story (1995)" && toyStory.categories == ["Animation", "Children's", "Comedy"])
        #expect(content.items.contains { ($0.title ?? "").contains("Misérables") })  // Latin-1 decoded
        #expect(content.users.first { $0.id == "1" }?.attributes["occupation"] == "technician")
    }

    @Test("MovieLens latest-small: ratings, genres, tags", .enabled(if: SharedData.path("ml-latest-small") != nil, SharedData.skipMessage))
    func latestSmall() throws {
        let content = try DatasetPreset.movielensLatestSmall.read(directory: SharedData.path("ml-latest-small")!)
        #expect(content.events.filter { $0.type == .rating }.count == 100_836)
        #expect(content.events.filter { $0.type == EventType("tag") }.count == 3_683)
        #expect(content.items.count == 9_742)
        #expect(content.items.first { $0.id == "1" }?.numeric["year"] == 1995)
        #expect(content.items.contains { !$0.tags.isEmpty })
    }

    @Test("MIND: clicks, skips, history and news text", .enabled(if: SharedData.path("mind-sample") != nil, SharedData.skipMessage))
    func mind() throws {
        let content = try DatasetPreset.mind.read(directory: SharedData.path("mind-sample")!)
        #expect(content.events.filter { $0.type == .click && $0.context.extra["source"] == nil }.count == 7_542)
        #expect(content.events.filter { $0.type == .skip }.count == 189_359 - 7_542)
        #expect(content.items.count == 2_000 && content.items.allSatisfy { $0.categories.count == 2 })
        #expect(content.reports[0].rowsSkipped == 0)
    }

    @Test("default bot rules remove under 1 % of the real users of every preset",
          arguments: [(DatasetPreset.movielens100k, "ml-100k"), (.movielensLatestSmall, "ml-latest-small"), (.mind, "mind-sample")])
    func presetsKeepRealPeople(preset: DatasetPreset, directory: String) throws {
        guard let path = SharedData.path(directory) else {
            print("skipped: \(SharedData.skipMessage)")
            return
        }
        let content = try preset.read(directory: path)
        let log = EventLog(content.events)
        let (_, report) = Cleaner.clean(log, configuration: { var c = CleaningConfiguration(); c.referenceTime = 1_800_000_000; return c }())
        let flagged = Double(report.flaggedUsers.count) / Double(log.userIDs.count)
        #expect(flagged < 0.01, "\(report.flaggedUsers.count) of \(log.userIDs.count) users flagged: \(report.flaggedUsers.prefix(3))")
        if preset == .mind {
            #expect(content.events.filter { $0.context.isUntimed }.count > 100_000)  // the history is untimed
        }
    }

    @Test("a directory without the preset's files is a clear error")
    func missing() {
        #expect { try DatasetPreset.mind.read(directory: "/tmp") } throws: { "\($0)".contains("is not a mind directory: behaviors.tsv, news.tsv missing") }
    }
}
