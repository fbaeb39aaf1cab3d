import Foundation
import Testing
import TailorData
import TailorLinalg
import TailorModels
@testable import TailorCLI

/// A model the CLI has never heard of: registering it is all it takes to train it by name.
struct MeanScore: TrainableRecommender {
    static let kind = "mean-score"
    struct Configuration: Sendable, Codable, Equatable {
        var shift: Float = 0
        var seed: UInt64 = 1
    }
    let configuration: Configuration
    let itemScores: [Float]
    let userCount: Int
    var itemCount: Int { itemScores.count }

    static func fit(_ data: TrainingData, configuration: Configuration, progress: ProgressHandler?) throws -> MeanScore {
        var sums = [Float](repeating: 0, count: data.itemCount)
        for (i, v) in zip(data.matrix.userItems.columnIndices, data.matrix.userItems.values) { sums[Int(i)] += v }
        progress?(TrainingEvent(model: kind, step: 1, totalSteps: 1, elapsedSeconds: 0, metrics: ["loss": 0.5]))
        return MeanScore(configuration: configuration, itemScores: sums.map { $0 + configuration.shift }, userCount: data.userCount)
    }
    func scores(users: [Int32], into scores: UnsafeMutableBufferPointer<Float>, threads: Int) {
        for r in users.indices { for i in 0..<itemCount { scores[r * itemCount + i] = itemScores[i] } }
    }
    func archiveTensors() -> [String: SafeTensors.Tensor] { ["scores": .init(itemScores, shape: [itemScores.count])] }
    func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try JSONValue(encoding: configuration), "users": .number(Double(userCount))])
    }
    init(configuration: Configuration, itemScores: [Float], userCount: Int) {
        self.configuration = configuration
        self.itemScores = itemScores
        self.userCount = userCount
    }
    init(archiveTensors: [String: SafeTensors.Tensor], configuration: JSONValue) throws {
        guard case .object(let f) = configuration, let c = f["configuration"], case .number(let users)? = f["users"],
              let scores = archiveTensors["scores"]?.floats() else { throw ModelError(.invalidModelFile, reason: "bad mean-score file") }
        self.init(configuration: try c.decode(Configuration.self), itemScores: scores, userCount: Int(users))
    }
}

@Suite("Run files and the model registry", .serialized)
struct RunFileTests {
    static let dir: String = {
        let dir = scratchDirectory("runfile")
        try! tailor(["generate", "--users", "200", "--items", "120", "--interactions", "5000", "--output", "\(dir)/log.csv"])
        return dir
    }()

    func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    @Test("train --config run.json trains what the file says; evaluate --config replays its split")
    func runFile() throws {
        let dir = Self.dir
        try """
        {"data": {"log": "\(dir)/log.csv", "confidence": "log", "holdout": {"method": "temporal", "testFraction": 0.2, "seed": 3}},
         "model": "als", "configuration": {"factors": 6, "iterations": 4}, "seed": 5, "threads": 1, "output": "\(dir)/run-model"}
        """.write(toFile: "\(dir)/run.json", atomically: true, encoding: .utf8)
        try tailor(["train", "--config", "\(dir)/run.json", "--progress", "none", "--report", "\(dir)/run-report.json"])
        let manifest = try json("\(dir)/run-model/manifest.json")
        let configuration = (manifest["model"] as! [String: Any])["configuration"] as! [String: Any]
        #expect(configuration["factors"] as? Int == 6 && configuration["iterations"] as? Int == 4)
        #expect(configuration["seed"] as? Int == 5 && configuration["threads"] as? Int == 1)
        let recipe = (manifest["data"] as! [String: Any])["recipe"] as! [String: Any]
        #expect((recipe["holdout"] as! [String: Any])["method"] as? String == "temporal")
        #expect(manifest["formatVersion"] as? Int == 2)
        let report = try json("\(dir)/run-report.json")
        #expect(report["finalLoss"] is Double, "the loss comes from progress events, for any model")

        try tailor(["evaluate", "--config", "\(dir)/run.json", "--k", "10", "--json", "\(dir)/run-eval.json"])
        let eval = try json("\(dir)/run-eval.json")
        #expect(eval["trainMatchesModel"] as? [String: Bool] == ["als": true], "the replayed training part is the one the model saw")
        // The model directory alone is enough: its manifest records the recipe.
        try tailor(["evaluate", "--model", "\(dir)/run-model", "--k", "10", "--json", "\(dir)/run-eval2.json"])
        let a = (try json("\(dir)/run-eval.json"))["results"] as! [String: Any], b = (try json("\(dir)/run-eval2.json"))["results"] as! [String: Any]
        #expect(NSDictionary(dictionary: a).isEqual(to: b))
    }

    @Test("flags override the run file's values")
    func flagsOverride() throws {
        let dir = Self.dir
        try """
        {"data": {"log": "\(dir)/log.csv"}, "model": "als", "configuration": {"factors": 6, "iterations": 2}, "output": "\(dir)/o1"}
        """.write(toFile: "\(dir)/run2.json", atomically: true, encoding: .utf8)
        try tailor(["train", "--config", "\(dir)/run2.json", "--factors", "4", "--confidence", "binary", "--output", "\(dir)/o2", "--progress", "none"])
        let manifest = try json("\(dir)/o2/manifest.json")
        #expect(((manifest["model"] as! [String: Any])["configuration"] as! [String: Any])["factors"] as? Int == 4)
        #expect((((manifest["data"] as! [String: Any])["recipe"] as! [String: Any])["confidence"] as! [String: Any])["transform"] as? String == "binary")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/o1"))
    }

    @Test("run files with mistakes name the key and the file")
    func badRunFiles() throws {
        let dir = Self.dir
        for (text, needle) in [(#"{"data": {"log": "x.csv"}, "modle": "als"}"#, "unknown key 'modle'"),
                               (#"{"data": {"log": "x.csv"}, "model": "als", "configuration": {"factor": 3}, "output": "o"}"#, "unknown key 'factor'"),
                               // A wrong type is found before the data is read (x.csv does not exist).
                               (#"{"data": {"log": "x.csv"}, "model": "als", "configuration": {"factors": "many"}, "output": "o"}"#, "configuration key factors"),
                               (#"{"data": {"log": "x.csv", "holdout": {"method": "temporal", "testFraction": 2}}, "output": "o"}"#, "holdout.testFraction"),
                               (#"{"model": "als", "output": "o"}"#, "data")] {
            try text.write(toFile: "\(dir)/bad-run.json", atomically: true, encoding: .utf8)
            #expect(throws: (any Error).self, "\(text)") { try tailor(["train", "--config", "\(dir)/bad-run.json", "--progress", "none"]) }
            do { try tailor(["train", "--config", "\(dir)/bad-run.json", "--progress", "none"]) } catch {
                #expect("\(error)".contains(needle), "\(error)")
            }
        }
    }

    @Test("a model registered once trains from the CLI by name and loads back, with --set for its keys")
    func registeredModel() throws {
        ModelRegistry.registerShared(MeanScore.self, summary: "test model", defaults: .init())
        let dir = Self.dir
        try tailor(["train", "\(dir)/log.csv", "--model", "mean-score", "--set", "shift=2.5", "--seed", "9", "--output", "\(dir)/mean", "--progress", "none"])
        let bundle = try ModelBundle.load(from: URL(fileURLWithPath: "\(dir)/mean"))
        let model = try #require(bundle.model as? MeanScore)
        #expect(model.configuration == .init(shift: 2.5, seed: 9))
        #expect { try tailor(["train", "\(dir)/log.csv", "--model", "mean-score", "--factors", "3", "--output", "\(dir)/m2"]) }
            throws: { "\($0)".contains("--factors does not apply to --model mean-score") && "\($0)".contains("shift") }
        #expect { try tailor(["train", "\(dir)/log.csv", "--model", "mean-score", "--set", "shfit=1", "--output", "\(dir)/m2"]) }
            throws: { "\($0)".contains("no key 'shfit'") }
    }
}
