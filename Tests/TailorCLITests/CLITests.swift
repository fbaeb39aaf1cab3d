import ArgumentParser
import Foundation
import Testing
import TailorData
import TailorModels
import TailorExperiments
import TailorSQLite
@testable import TailorCLI

/// Runs `tailor ARGS` in-process.
func tailor(_ arguments: [String]) throws {
    var command = try Tailor.parseAsRoot(arguments)
    try command.run()
}

func scratchDirectory(_ name: String = #function) -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
        "tailor-cli-\(name.filter(\.isLetter))-\(UUID().uuidString.prefix(8))").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func csvRows(_ path: String) throws -> [[String]] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
}

@Suite("The tailor command")
struct CLITests {
    @Test("generate → split → train → recommend → similar → evaluate, files in the input's id space")
    func pipeline() throws {
        let dir = scratchDirectory()
        try tailor(["generate", "--users", "300", "--items", "150", "--interactions", "6000", "--output", "\(dir)/log.csv",
                    "--catalog", "\(dir)/catalog.csv"])
        try tailor(["split", "\(dir)/log.csv", "--method", "temporal", "--test-fraction", "0.2",
                    "--train", "\(dir)/train.csv", "--test", "\(dir)/test.csv"])
        let trainRows = try csvRows("\(dir)/train.csv"), testRows = try csvRows("\(dir)/test.csv")
        #expect(trainRows[0] == ["user", "item", "rating", "timestamp"])
        #expect(trainRows.count - 1 + testRows.count - 1 == (try csvRows("\(dir)/log.csv")).count - 1)
        #expect(testRows.dropFirst().allSatisfy { $0[0].hasPrefix("u") && $0[1].hasPrefix("i") })

        try tailor(["train", "\(dir)/train.csv", "--model", "als", "--factors", "8", "--iterations", "5", "--regularization", "0.05",
                    "--alpha", "1", "--threads", "2", "--seed", "1", "--output", "\(dir)/model", "--report", "\(dir)/train.json",
                    "--progress", "none"])
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/train.json"))) as! [String: Any]
        #expect(report["rowsRead"] as? Int == trainRows.count - 1)
        #expect(report["rowsSkipped"] as? Int == 0)
        #expect(report["users"] as? Int == 300)
        for key in ["secondsLoading", "secondsFitting", "secondsSaving", "items", "finalLoss"] { #expect(report[key] != nil, "\(key)") }

        try tailor(["recommend", "--model", "\(dir)/model", "--users", "\(dir)/test.csv", "--k", "5", "--output", "\(dir)/recs.csv"])
        let recs = try csvRows("\(dir)/recs.csv")
        #expect(recs[0] == ["user", "item", "score", "rank"])
        let byUser = Dictionary(grouping: recs.dropFirst(), by: { $0[0] })
        #expect(byUser.count == Set(testRows.dropFirst().map { $0[0] }).count)
        let trainPairs = Set(trainRows.dropFirst().map { $0[0] + "/" + $0[1] })
        for (_, rows) in byUser {
            #expect(rows.map { Int($0[3])! } == Array(1...rows.count))
            let scores = rows.map { Float($0[2])! }
            #expect(scores == scores.sorted(by: >))
            #expect(rows.allSatisfy { !trainPairs.contains($0[0] + "/" + $0[1]) }, "seen items excluded by default")
        }

        try tailor(["recommend", "--model", "\(dir)/model", "--all-users", "--k", "3", "--include-seen", "--output", "\(dir)/all.csv"])
        #expect(try csvRows("\(dir)/all.csv").count == 1 + 300 * 3)

        try tailor(["similar", "--model", "\(dir)/model", "--item", "i3", "--item", "i7", "--k", "4", "--output", "\(dir)/similar.csv"])
        let similar = try csvRows("\(dir)/similar.csv")
        #expect(similar[0] == ["item", "similar_item", "score", "rank"] && similar.count == 9)

        try tailor(["evaluate", "--model", "\(dir)/model", "--train", "\(dir)/train.csv", "--test", "\(dir)/test.csv",
                    "--k", "5,10", "--json", "\(dir)/eval.json"])
        let eval = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/eval.json"))) as! [String: Any]
        #expect((eval["trainMatchesModel"] as? [String: Bool]) == ["als": true])
        let results = eval["results"] as! [String: Any]
        #expect(Set(results.keys) == ["als", "popularity"])
        let als = results["als"] as! [String: Any]
        let atK = als["atK"] as! [[String: Any]]
        #expect(atK.map { $0["k"] as! Int } == [5, 10])
        let ndcg = (atK[1]["metrics"] as! [String: Double])["ndcg"]!
        #expect(ndcg > 0 && ndcg <= 1)
    }

    @Test("one user to standard output, unknown users by policy")
    func singleUser() throws {
        let dir = scratchDirectory()
        try tailor(["generate", "--users", "50", "--items", "40", "--interactions", "600", "--output", "\(dir)/log.csv"])
        try tailor(["train", "\(dir)/log.csv", "--factors", "4", "--iterations", "2", "--output", "\(dir)/m", "--progress", "none"])
        #expect { try tailor(["recommend", "--model", "\(dir)/m", "--user", "ghost", "--output", "\(dir)/r.csv"]) }
            throws: { "\($0)".contains("unknown user 'ghost'") }
        try "user\nghost\nu1\n".write(toFile: "\(dir)/users.txt", atomically: true, encoding: .utf8)
        try tailor(["recommend", "--model", "\(dir)/m", "--users", "\(dir)/users.txt", "--unknown-users", "popular", "--k", "2", "--output", "\(dir)/r.csv"])
        let rows = try csvRows("\(dir)/r.csv")
        #expect(rows.dropFirst().map { $0[0] } == ["ghost", "ghost", "u1", "u1"])
    }

    @Test("the popularity model trains and recommends through the same commands")
    func popularity() throws {
        let dir = scratchDirectory()
        try tailor(["generate", "--users", "50", "--items", "40", "--interactions", "600", "--output", "\(dir)/log.csv"])
        try tailor(["train", "\(dir)/log.csv", "--model", "popularity", "--output", "\(dir)/p"])
        try tailor(["recommend", "--model", "\(dir)/p", "--user", "u3", "--k", "3", "--output", "\(dir)/r.csv"])
        #expect(try csvRows("\(dir)/r.csv").count == 4)
        #expect { try tailor(["similar", "--model", "\(dir)/p", "--item", "i1"]) } throws: { "\($0)".contains("no item vectors") }
    }

    @Test("bad input gives errors that name the file, line or flag")
    func errors() throws {
        let dir = scratchDirectory()
        try "user,item,rating\n1,2,5\n1,3,five\n".write(toFile: "\(dir)/bad.csv", atomically: true, encoding: .utf8)
        #expect { try tailor(["train", "\(dir)/bad.csv", "--strict", "--output", "\(dir)/m"]) }
            throws: { "\($0)".contains("bad.csv:3: rating 'five' is not a number") }
        #expect { try tailor(["train", "\(dir)/missing.csv", "--output", "\(dir)/m"]) } throws: { "\($0)".contains("missing.csv: no such file") }
        #expect { try tailor(["train", "\(dir)/bad.csv", "--model", "magic", "--output", "\(dir)/m"]) } throws: { "\($0)".contains("unknown --model 'magic'") }
        #expect(throws: (any Error).self) { try tailor(["recommend", "--model", "\(dir)/m", "--k", "3"]) }  // no user choice
        #expect { try tailor(["recommend", "--model", "\(dir)/nothing", "--user", "1"]) } throws: { "\($0)".contains("not a Tailor model directory") }
        #expect { try tailor(["train", "\(dir)/bad.csv", "--columns", "who=1", "--output", "\(dir)/m"]) } throws: { "\($0)".contains("unknown role 'who'") }
    }

    @Test("segments: users clustered by their vectors, a CSV of assignments and a JSON report with profiles and gaps")
    func segments() throws {
        let dir = scratchDirectory()
        try tailor(["generate", "--users", "400", "--items", "150", "--interactions", "8000", "--output", "\(dir)/log.csv",
                    "--catalog", "\(dir)/items.csv"])
        try tailor(["train", "\(dir)/log.csv", "--factors", "8", "--iterations", "5", "--output", "\(dir)/m", "--progress", "none"])
        try tailor(["segments", "--model", "\(dir)/m", "--items", "\(dir)/items.csv", "--k-min", "2", "--k-max", "6",
                    "--output", "\(dir)/segments.csv", "--report", "\(dir)/segments.json"])
        let rows = try csvRows("\(dir)/segments.csv")
        #expect(rows[0] == ["user", "segment"] && rows.count == 401)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/segments.json"))) as! [String: Any]
        let k = report["k"] as! Int
        #expect((2...6).contains(k) && (report["candidates"] as! [Any]).count == 5)
        #expect(Set(rows.dropFirst().map { Int($0[1])! }) == Set(0..<k))
        let profiles = report["profiles"] as! [[String: Any]]
        #expect(profiles.map { $0["users"] as! Int }.reduce(0, +) == 400)
        #expect(profiles.allSatisfy { !(($0["topCategories"] as? [Any]) ?? []).isEmpty }, "the catalogue's genres profile each segment")
        #expect { try tailor(["segments", "--model", "\(dir)/m", "--k", "1000"]) } throws: { "\($0)".contains("only 400 users") }
    }

    @Test("drift: two model versions compared (the same model shows none), and a store's latest window against the one before")
    func drift() throws {
        let dir = scratchDirectory()
        try tailor(["generate", "--users", "300", "--items", "120", "--interactions", "6000", "--output", "\(dir)/log.csv"])
        for seed in ["1", "2"] {
            try tailor(["train", "\(dir)/log.csv", "--factors", "8", "--iterations", "5", "--seed", seed, "--output", "\(dir)/m\(seed)", "--progress", "none"])
        }
        func measures(_ a: String, _ b: String) throws -> [String: Any] {
            try tailor(["drift", "--model", "\(dir)/\(a)", "--model", "\(dir)/\(b)", "--users", "100", "--json", "\(dir)/d.json"])
            return try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/d.json"))) as! [String: Any]
        }
        let same = try measures("m1", "m1"), other = try measures("m1", "m2")
        #expect(same["topKJaccard"] as? Double == 1 && same["usersCompared"] as? Int == 100)
        let j = try #require(other["topKJaccard"] as? Double)
        #expect(j > 0 && j < 1)
        #expect((other["itemShift"] as? [String: Any])?["count"] as? Int == 120)
        try tailor(["generate", "--events", "--users", "200", "--items", "80", "--interactions", "5000", "--output", "\(dir)/events.csv"])
        try tailor(["ingest", "\(dir)/events.csv", "--store", "\(dir)/t.db"])
        try tailor(["drift", "--store", "\(dir)/t.db", "--window", "30d", "--json", "\(dir)/data.json"])
        let data = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/data.json"))) as! [String: Any]
        #expect((data["eventsAfter"] as? Int ?? 0) > 0 && (data["eventMixPSI"] as? Double ?? -1) >= 0)
        #expect { try tailor(["drift", "--model", "\(dir)/m1"]) } throws: { "\($0)".contains("give two --model") }
    }

    @Test("experiment: create, list, report and stop an A/B test in a store; bad splits are refused")
    func experiment() throws {
        let dir = scratchDirectory()
        let db = "\(dir)/t.db"
        try tailor(["experiment", "create", "div", "--store", db, "--variants", "control=0.5,treatment=0.5", "--option", "treatment:diversity=0.3",
                    "--window", "1h"])
        #expect { try tailor(["experiment", "create", "div", "--store", db, "--variants", "a=0.5,b=0.5"]) } throws: { "\($0)".contains("already exists") }
        #expect { try tailor(["experiment", "create", "bad", "--store", db, "--variants", "a=0.5,b=0.4"]) } throws: { "\($0)".contains("sum to 0.9") }
        #expect { try tailor(["experiment", "create", "bad", "--store", db, "--variants", "a=0.5,b=0.5", "--option", "b:colour=red"]) }
            throws: { "\($0)".contains("unknown request option 'colour'") }
        let store = try SQLiteEventStore(path: db)
        let saved = try Experiment.all(in: store)
        #expect(saved.count == 1 && saved[0].variants[1].options == ["diversity": "0.3"] && saved[0].attributionWindowSeconds == 3_600)
        // Exposures and a click, then the report.
        let e = saved[0]
        let users = (0..<40).map { "u\($0)" }
        var events = users.map { e.exposure(user: $0, item: "i1", variant: e.variant(for: $0).name, at: 1_000_000) }
        let clicker = users.first { e.variant(for: $0).name == "treatment" }!
        events.append(Event(user: clicker, item: "i1", type: .click, timestampMilliseconds: 1_060_000))
        _ = try store.append(events)
        try tailor(["experiment", "report", "div", "--store", db, "--json", "\(dir)/r.json"])
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/r.json"))) as! [String: Any]
        let arms = report["arms"] as! [[String: Any]]
        #expect(arms.map { ($0["exposures"] as! [String: Any])["successes"] as! Int } == [0, 1])
        #expect(arms.map { $0["users"] as! Int }.reduce(0, +) == 40)
        // Replay the logged lists for a candidate trained on a log with the same user and item ids.
        try tailor(["generate", "--users", "60", "--items", "30", "--interactions", "1200", "--output", "\(dir)/log.csv"])
        try tailor(["train", "\(dir)/log.csv", "--factors", "4", "--iterations", "2", "--output", "\(dir)/m", "--progress", "none"])
        try tailor(["experiment", "replay", "--store", db, "--model", "\(dir)/m", "--experiment", "div", "--json", "\(dir)/replay.json"])
        let replay = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/replay.json"))) as! [String: Any]
        #expect(replay["lists"] as? Int == 1 && replay["candidateNDCG"] as? Double == 1, "one list of one item, clicked")
        try tailor(["experiment", "stop", "div", "--store", db])
        #expect(try Experiment.all(in: store)[0].status == .stopped)
        #expect { try tailor(["experiment", "stop", "div", "--store", db]) } throws: { "\($0)".contains("already stopped") }
    }

    @Test("experiment: concurrent experiments by layer and traffic, an interleaving experiment and its report; conflicts refused by field")
    func concurrentExperiments() throws {
        let dir = scratchDirectory()
        let db = "\(dir)/t.db"
        try tailor(["experiment", "create", "a", "--store", db, "--variants", "control=0.5,treatment=0.5", "--option", "treatment:diversity=0.3",
                    "--layer", "ranking", "--traffic", "0.6"])
        try tailor(["experiment", "create", "b", "--store", db, "--variants", "control=0.5,treatment=0.5", "--option", "treatment:diversity=0.5",
                    "--layer", "ranking", "--traffic", "0.4"])
        #expect { try tailor(["experiment", "create", "c", "--store", db, "--variants", "x=0.5,y=0.5", "--option", "y:rerank=false", "--layer", "ranking", "--traffic", "0.1"]) }
            throws: { "\($0)".contains("layer 'ranking' has no free 10 %") }
        #expect { try tailor(["experiment", "create", "c", "--store", db, "--variants", "x=0.5,y=0.5", "--option", "y:diversity=0.1", "--layer", "other"]) }
            throws: { "\($0)".contains("also changes diversity") }
        try tailor(["experiment", "create", "il", "--store", db, "--interleave", "--variants", "control,candidate", "--model", "candidate=v2", "--layer", "models"])
        #expect { try tailor(["experiment", "create", "il2", "--store", db, "--interleave", "--variants", "a=0.3,b=0.7", "--model", "b=v2", "--layer", "z"]) }
            throws: { "\($0)".contains("without shares") }
        #expect { try tailor(["experiment", "create", "t", "--store", db, "--variants", "a=0.5,b=0.5", "--traffic", "0"]) } throws: { "\($0)".contains("--traffic") }
        let store = try SQLiteEventStore(path: db)
        let saved = try Experiment.all(in: store)
        #expect(saved.map(\.name) == ["a", "b", "il"])
        #expect(saved[0].trafficStart == 0 && abs(saved[0].trafficEnd - 0.6) < 1e-12 && abs(saved[1].trafficStart - 0.6) < 1e-12 && saved[1].trafficEnd == 1)
        #expect(saved[2].kind == .interleave && saved[2].variants.map(\.share) == [0.5, 0.5] && saved[2].variants[1].model == "v2")
        // An interleaved list: the candidate drafted the clicked item.
        let il = saved[2]
        _ = try store.append([il.exposure(user: "u1", item: "i1", variant: "control", at: 1_000, list: "l1"),
                              il.exposure(user: "u1", item: "i2", variant: "candidate", at: 1_000, list: "l1"),
                              Event(user: "u1", item: "i2", type: .click, timestampMilliseconds: 2_000)])
        try tailor(["experiment", "report", "il", "--store", db, "--json", "\(dir)/il.json"])
        let report = try JSONDecoder().decode(ExperimentReport.self, from: Data(contentsOf: URL(fileURLWithPath: "\(dir)/il.json")))
        #expect(report.interleaving?.lists == 1 && report.interleaving?.winsB == 1 && report.interleaving?.winsA == 0)
        let text = ExperimentCommand.render(report)
        #expect(text.contains("1 lists to 1 users: 0 prefer control, 1 prefer candidate, 0 neither"), "\(text)")
    }

    @Test("tune: a TPE search with pruning writes its trial log and a best run file that trains; --resume continues the log")
    func tune() throws {
        let dir = scratchDirectory()
        try tailor(["generate", "--users", "300", "--items", "120", "--interactions", "6000", "--output", "\(dir)/log.csv"])
        try #"{"factors": {"int": [4, 16]}, "regularization": {"float": [0.01, 10], "log": true}}"#.write(toFile: "\(dir)/space.json", atomically: true, encoding: .utf8)
        let common = ["tune", "\(dir)/log.csv", "--model", "als", "--space", "\(dir)/space.json", "--rungs", "2,5", "--log", "\(dir)/trials.jsonl", "--threads", "2"]
        try tailor(common + ["--trials", "6", "--output", "\(dir)/best.json"])
        let lines = try String(contentsOfFile: "\(dir)/trials.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 6)
        let best = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/best.json"))) as! [String: Any]
        let configuration = best["configuration"] as! [String: Any]
        #expect(best["model"] as? String == "als" && configuration["iterations"] as? Int == 5 && configuration["factors"] != nil)
        try tailor(["train", "--config", "\(dir)/best.json", "--output", "\(dir)/m", "--progress", "none"])
        #expect(FileManager.default.fileExists(atPath: "\(dir)/m/manifest.json"))
        #expect { try tailor(common + ["--trials", "8"]) } throws: { "\($0)".contains("--resume") }
        try tailor(common + ["--trials", "8", "--resume"])
        #expect(try String(contentsOfFile: "\(dir)/trials.jsonl", encoding: .utf8).split(separator: "\n").count == 8)
        // --holdout as train's: the best run keeps it, so train → evaluate replays the same split.
        try tailor(["tune", "\(dir)/log.csv", "--model", "als", "--space", "\(dir)/space.json", "--trials", "2", "--threads", "2",
                    "--holdout", "temporal", "--output", "\(dir)/best-temporal.json"])
        let temporal = try TrainingRun.read(from: "\(dir)/best-temporal.json")
        #expect(temporal.data.holdout?.method == .temporalFraction(testFraction: 0.2))
        try tailor(["train", "--config", "\(dir)/best-temporal.json", "--output", "\(dir)/mt", "--progress", "none"])
        try tailor(["evaluate", "--model", "\(dir)/mt", "--json", "\(dir)/mt.json"])
        #expect(FileManager.default.fileExists(atPath: "\(dir)/mt.json"))
        try #"{"factors": {"int": [16, 4]}}"#.write(toFile: "\(dir)/bad.json", atomically: true, encoding: .utf8)
        #expect { try tailor(["tune", "\(dir)/log.csv", "--space", "\(dir)/bad.json"]) } throws: { "\($0)".contains("bad.json: factors.int") }
    }

    @Test("report: the dashboard as one HTML file from a store and a model")
    func report() throws {
        let dir = scratchDirectory()
        try tailor(["generate", "--events", "--users", "200", "--items", "80", "--interactions", "4000", "--output", "\(dir)/events.csv"])
        try tailor(["ingest", "\(dir)/events.csv", "--store", "\(dir)/t.db"])
        try tailor(["train", "--store", "\(dir)/t.db", "--factors", "8", "--iterations", "3", "--output", "\(dir)/models/v1", "--progress", "none"])
        try tailor(["report", "--store", "\(dir)/t.db", "--models", "\(dir)/models", "--output", "\(dir)/report.html"])
        let html = try String(contentsOfFile: "\(dir)/report.html", encoding: .utf8)
        #expect(html.hasPrefix("<!doctype html>") && html.contains("<section id=\"segments\">") && html.contains("Events by type"))
        #expect(html.contains("v1 (active)") && !html.contains("<section id=\"serving\">"))
        #expect { try tailor(["report", "--store", "\(dir)/none.db", "--output", "\(dir)/r.html"]) } throws: { "\($0)".contains("no such file") }
    }

    @Test("odd option values are errors naming the option, never a crash")
    func oddOptions() throws {
        let dir = scratchDirectory()
        try tailor(["generate", "--users", "50", "--items", "30", "--interactions", "600", "--output", "\(dir)/log.csv"])
        try tailor(["train", "\(dir)/log.csv", "--factors", "4", "--iterations", "1", "--output", "\(dir)/m", "--progress", "none"])
        for k in [",", ",,", " "] {
            #expect { try tailor(["evaluate", "--model", "\(dir)/m", "--train", "\(dir)/log.csv", "--test", "\(dir)/log.csv", "--k", k]) }
                throws: { "\($0)".contains("--k takes positive integers") }
        }
        #expect { try tailor(["generate", "--events", "--bots=-1", "--output", "\(dir)/e.csv"]) } throws: { "\($0)".contains("--bots must be 0 or more") }
        // tailor serve: bad limits and a ranker that is not one fail before binding a port.
        let serve = ["serve", "--store", "\(dir)/s.db", "--model", "\(dir)/m", "--port", "0"]
        #expect { try tailor(serve + ["--request-timeout=-1"]) } throws: { "\($0)".contains("--request-timeout must be 0") }
        #expect { try tailor(serve + ["--ranker-shortlist", "0"]) } throws: { "\($0)".contains("--ranker-shortlist must be 1 to 10000") }
        #expect { try tailor(serve + ["--ranker", "\(dir)/nothing"]) } throws: { "\($0)".contains("--ranker \(dir)/nothing: no model there") }
        #expect { try tailor(serve + ["--ranker", "\(dir)/m"]) } throws: { "\($0)".contains("does not predict clicks") }
        // --k far beyond the catalogue and --threads in the thousands: bounded, every item once.
        try tailor(["recommend", "--model", "\(dir)/m", "--all-users", "--k", "2000000000", "--threads", "100000", "--output", "\(dir)/all.csv"])
        let rows = try csvRows("\(dir)/all.csv").dropFirst()
        let perUser = Dictionary(grouping: rows, by: { $0[0] })
        #expect(perUser.count == 50)
        #expect(perUser.values.allSatisfy { $0.count <= 30 && Set($0.map { $0[1] }).count == $0.count })
    }

    @Test("progress renders as a bar for people and as JSON lines for scripts, for classic and neural runs")
    func progressRendering() throws {
        let epoch = TrainingEvent(model: "mlp", kind: .step, step: 3, totalSteps: 10, batch: 40, batches: 40, elapsedSeconds: 12.5,
                                  metrics: ["loss": 0.12345, "validation": 0.41], improved: true)
        #expect(ProgressRendering.barLine(epoch, width: 10) == "mlp ███░░░░░░░ 3/10 batch 40/40 loss 0.1235 val 0.4100 (best)  12.5s eta 29.2s")
        let als = TrainingEvent(model: "als", step: 15, totalSteps: 15, elapsedSeconds: 4, metrics: ["loss": 0.1])
        #expect(ProgressRendering.barLine(als, width: 4) == "als ████ 15/15 loss 0.1000  4.0s")
        let line = ProgressRendering.jsonLine(epoch)
        #expect(!line.contains("\n"))
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        #expect(object["event"] as? String == "step" && object["step"] as? Int == 3 && object["batches"] as? Int == 40)
        #expect(object["loss"] as? Double == 0.12345 && object["validation"] as? Double == 0.41 && object["improved"] as? Bool == true)
    }

    @Test("every command's help teaches by example")
    func help() {
        for command in [Train.self, Recommend.self, Similar.self, Evaluate.self, SplitLog.self, Demo.self, Generate.self] as [any ParsableCommand.Type] {
            let text = command.helpMessage()
            #expect(text.contains("Examples:"), "\(command)")
            #expect(text.contains("tailor "), "\(command)")
        }
    }

    @Test("the demo runs end to end on a small synthetic log and keeps its files when asked")
    func demo() throws {
        let dir = scratchDirectory()
        try tailor(["demo", "--users", "300", "--items", "200", "--interactions", "6000", "--factors", "8", "--iterations", "4",
                    "--progress", "none", "--output", dir])
        for file in ["tailor.db", "interactions.csv", "train.csv", "test.csv", "model/manifest.json", "model/embeddings.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: "\(dir)/\(file)"), "\(file)")
        }
        // The kept files are the run: the split partitions the interactions, and the model it
        // trained beats popularity on the held-out part (what the demo claims).
        let all = try csvRows("\(dir)/interactions.csv").count - 1
        let train = try csvRows("\(dir)/train.csv").count - 1, test = try csvRows("\(dir)/test.csv").count - 1
        #expect(train + test == all && test > 0)
        try tailor(["evaluate", "--model", "\(dir)/model", "--train", "\(dir)/train.csv", "--test", "\(dir)/test.csv",
                    "--k", "10", "--json", "\(dir)/eval.json"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/eval.json"))) as! [String: Any]
        let results = json["results"] as! [String: [String: Any]]
        func ndcg(_ label: String) -> Double {
            let atK = results[label]!["atK"] as! [[String: Any]]
            return (atK.first { $0["k"] as? Int == 10 }!["metrics"] as! [String: Double])["ndcg"]!
        }
        #expect(ndcg("als") > 1.2 * ndcg("popularity"), "ALS \(ndcg("als")) vs popularity \(ndcg("popularity"))")
    }
}

@Suite("The tailor binary")
struct BinaryTests {
    static let binary: String? = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        for config in ["debug", "release"] {
            let path = url.appendingPathComponent(".build/\(config)/tailor").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }()

    @Test("exits non-zero with the error on standard error", .enabled(if: binary != nil, "the tailor binary is not built"))
    func exitCode() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary!)
        p.arguments = ["train", "/nonexistent/log.csv", "--output", "/tmp/x"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus != 0)
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("/nonexistent/log.csv: no such file"))
    }
}
