import Foundation
import Testing
@testable import TailorCLI

@Suite("The two-tower model from the command line", .serialized)
struct NeuralCommandTests {
    /// A log where user group g picks items of category g, with item and user files.
    static let dir: String = {
        let dir = scratchDirectory("two-tower")
        var log = "user,item,timestamp\n", items = "item_id,title,genres\n", users = "user_id,group\n"
        for u in 0..<90 {
            users += "u\(u),g\(u % 3)\n"
            for n in 0..<10 { log += "u\(u),i\(3 * ((u * 7 + n * 5) % 20) + u % 3),\(1_000 * n + u)\n" }
        }
        for i in 0..<60 { items += "i\(i),item \(i),c\(i % 3)\n" }
        try! log.write(toFile: "\(dir)/log.csv", atomically: true, encoding: .utf8)
        try! items.write(toFile: "\(dir)/items.csv", atomically: true, encoding: .utf8)
        try! users.write(toFile: "\(dir)/users.csv", atomically: true, encoding: .utf8)
        return dir
    }()

    func run(holdout: String, name: String) throws -> [String: Any] {
        let dir = Self.dir
        try """
        {"data": {"log": "\(dir)/log.csv", "items": "\(dir)/items.csv", "users": "\(dir)/users.csv",
                  "holdout": {"method": "\(holdout)", "testFraction": 0.2, "seed": 1}},
         "model": "two-tower",
         "configuration": {"dimension": 16, "idDimension": 16, "hidden": [32], "epochs": 12, "batchSize": 64, "learningRate": 0.01,
                           "validationUsers": 0, "userIDDropout": 0.3, "historyDropout": 0.3, "itemIDDropout": 0.3, "temperature": 0.1},
         "output": "\(dir)/\(name)"}
        """.write(toFile: "\(dir)/\(name).json", atomically: true, encoding: .utf8)
        try tailor(["train", "--config", "\(dir)/\(name).json", "--progress", "none"])
        try tailor(["evaluate", "--config", "\(dir)/\(name).json", "--k", "5", "--json", "\(dir)/\(name)-eval.json"])
        return try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name)-eval.json"))) as! [String: Any]
    }

    func auc(_ output: [String: Any], _ label: String) -> Double {
        ((output["results"] as? [String: Any])?[label] as? [String: Any])?["auc"] as? Double ?? -1
    }

    @Test("a run file with item and user files trains it; evaluate replays cold items with content-kNN beside it")
    func coldItems() throws {
        let out = try run(holdout: "cold-items", name: "cold-items")
        #expect((out["protocol"] as? String)?.hasPrefix("cold items") == true)
        #expect(auc(out, "two-tower") > 0.7, "the genre decides: \(out)")
        #expect(auc(out, "content-knn") > 0.7)
    }

    @Test("cold users are ranked from their profile, beside popularity and demographic popularity")
    func coldUsers() throws {
        let out = try run(holdout: "cold-users", name: "cold-users")
        #expect(auc(out, "two-tower") > auc(out, "popularity") + 0.1, "\(out)")
        #expect(auc(out, "demographic-popularity") > 0)
    }

    @Test("a feature the data lacks is an error naming it")
    func unknownFeature() throws {
        let dir = Self.dir
        do {
            try tailor(["train", "\(dir)/log.csv", "--model", "two-tower", "--set", "userFeatures=[\"income\"]", "--output", "\(dir)/bad", "--progress", "none"])
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("income"), "\(error)")
        }
    }
}
