import Foundation
import Testing
@testable import TailorCLI

@Suite("tailor train for every model")
struct ModelCommandTests {
    static let dir: String = {
        let dir = scratchDirectory("models")
        try! tailor(["generate", "--users", "200", "--items", "120", "--interactions", "5000", "--output", "\(dir)/log.csv"])
        try! tailor(["split", "\(dir)/log.csv", "--method", "temporal", "--train", "\(dir)/train.csv", "--test", "\(dir)/test.csv"])
        return dir
    }()

    @Test("each model trains from the command line and recommends", arguments: [
        ["--model", "als", "--factors", "8", "--iterations", "3"],
        ["--model", "bpr", "--factors", "8", "--epochs", "5", "--learning-rate", "0.05", "--negative-sampling", "popularity"],
        ["--model", "itemknn", "--neighbors", "20", "--weighting", "bm25", "--shrinkage", "2"],
        ["--model", "ease", "--l2", "50"],
        ["--model", "mf", "--solver", "als-wr", "--factors", "4", "--epochs", "3"],
        ["--model", "item2vec", "--factors", "8", "--epochs", "2", "--aggregation", "recency", "--half-life", "7"],
        ["--model", "popularity", "--half-life", "30"],
    ])
    func trains(options: [String]) throws {
        let dir = Self.dir
        let out = "\(dir)/\(options[1])"
        try tailor(["train", "\(dir)/train.csv", "--output", out, "--progress", "none", "--threads", "2"] + options)
        try tailor(["recommend", "--model", out, "--user", "u5", "--k", "3", "--output", "\(out).csv"])
        #expect(try csvRows("\(out).csv").count == 4)
    }

    @Test("an option that does not apply to the model is an error naming what it applies to")
    func strayOption() {
        #expect {
            try tailor(["train", "\(Self.dir)/train.csv", "--model", "als", "--neighbors", "5", "--output", "\(Self.dir)/x"])
        } throws: { "\($0)".contains("--neighbors does not apply to --model als") }
        #expect {
            try tailor(["train", "\(Self.dir)/train.csv", "--model", "als", "--solver", "sgd", "--output", "\(Self.dir)/x"])
        } throws: { "\($0)".contains("--solver (configuration key solver)") && "\($0)".contains("sgd") }
    }

    @Test("--config reads a model's configuration from JSON, flags override it, unknown fields are named")
    func configFile() throws {
        let dir = Self.dir
        try #"{"neighbors": 7, "shrinkage": 3}"#.write(toFile: "\(dir)/knn.json", atomically: true, encoding: .utf8)
        try tailor(["train", "\(dir)/train.csv", "--model", "itemknn", "--config", "\(dir)/knn.json", "--shrinkage", "1", "--output", "\(dir)/cfg"])
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/cfg/manifest.json"))) as! [String: Any]
        let configuration = ((manifest["model"] as! [String: Any])["configuration"] as! [String: Any])
        #expect(configuration["neighbors"] as? Int == 7 && configuration["shrinkage"] as? Double == 1)
        try #"{"neighbours": 7}"#.write(toFile: "\(dir)/bad.json", atomically: true, encoding: .utf8)
        #expect {
            try tailor(["train", "\(dir)/train.csv", "--model", "itemknn", "--config", "\(dir)/bad.json", "--output", "\(dir)/cfg2"])
        } throws: { "\($0)".contains("unknown key 'neighbours'") && "\($0)".contains("neighbors") }
    }

    @Test("evaluate compares several models in one table and JSON, with RMSE for rating models")
    func compare() throws {
        let dir = Self.dir
        for (name, extra) in [("cmp-als", ["--model", "als", "--factors", "8", "--iterations", "3"]), ("cmp-mf", ["--model", "mf", "--factors", "4", "--epochs", "3"])] {
            try tailor(["train", "\(dir)/train.csv", "--output", "\(dir)/\(name)", "--progress", "none"] + extra)
        }
        try tailor(["evaluate", "--model", "\(dir)/cmp-als", "--model", "\(dir)/cmp-mf", "--train", "\(dir)/train.csv",
                    "--test", "\(dir)/test.csv", "--k", "10", "--json", "\(dir)/cmp.json"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/cmp.json"))) as! [String: Any]
        #expect(Set((json["results"] as! [String: Any]).keys) == ["als", "mf", "popularity"])
        let errors = json["ratingErrors"] as! [String: [String: Any]]
        #expect(errors["mf"]?["rmse"] as? Double ?? 0 > 0)
    }

    @Test("recommend --history folds in new and known users without retraining")
    func history() throws {
        let dir = Self.dir
        try tailor(["train", "\(dir)/train.csv", "--model", "als", "--factors", "8", "--iterations", "3", "--output", "\(dir)/h", "--progress", "none"])
        try "user,item\nstranger,i1\nstranger,i2\nu3,i9\n".write(toFile: "\(dir)/new.csv", atomically: true, encoding: .utf8)
        try tailor(["recommend", "--model", "\(dir)/h", "--history", "\(dir)/new.csv", "--k", "4", "--output", "\(dir)/h.csv"])
        let rows = try csvRows("\(dir)/h.csv").dropFirst()
        #expect(Set(rows.map { $0[0] }) == ["stranger", "u3"])
        #expect(!rows.contains { $0[0] == "stranger" && ($0[1] == "i1" || $0[1] == "i2") })
    }
}
