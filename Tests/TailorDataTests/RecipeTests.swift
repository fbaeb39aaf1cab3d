import Foundation
import Testing
@testable import TailorData

@Suite("Recipes, configuration patches and confidence transforms")
struct RecipeTests {
    func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(json.utf8))
    }

    @Test("a patch changes only the keys it names, nested structs key by key")
    func patch() throws {
        let c = try ConfigurationPatch.apply(try decode(JSONValue.self, #"{"userCore": 3, "bots": {"maxEventsPerMinute": 10}}"#),
                                             to: CleaningConfiguration(), context: "cleaning")
        var expected = CleaningConfiguration()
        expected.userCore = 3
        expected.bots!.maxEventsPerMinute = 10
        #expect(c == expected)
    }

    @Test("unknown keys are named with the valid ones, at any depth; wrong types name the key")
    func unknownKeys() throws {
        #expect { try ConfigurationPatch.apply(try decode(JSONValue.self, #"{"userCroe": 3}"#), to: CleaningConfiguration(), context: "cleaning") }
            throws: { ($0 as? DataError)?.code == .unknownConfigurationKey && "\($0)".contains("cleaning.userCroe") && "\($0)".contains("userCore") }
        #expect { try ConfigurationPatch.apply(try decode(JSONValue.self, #"{"bots": {"perMinute": 3}}"#), to: CleaningConfiguration(), context: "cleaning") }
            throws: { "\($0)".contains("cleaning.bots.perMinute") && "\($0)".contains("maxEventsPerMinute") }
        #expect { try ConfigurationPatch.apply(try decode(JSONValue.self, #"{"userCore": "many"}"#), to: CleaningConfiguration(), context: "cleaning") }
            throws: { ($0 as? DataError)?.code == .invalidConfiguration && "\($0)".contains("cleaning.userCore") }
        // An optional key that is nil by default is still a known key.
        let c = try ConfigurationPatch.apply(try decode(JSONValue.self, #"{"minimumRating": 4}"#), to: CleaningConfiguration(), context: "cleaning")
        #expect(c.minimumRating == 4)
    }

    enum Shape: String, Codable, CaseIterable { case round, square }
    struct Inner: Codable, Equatable { var shape = Shape.round }
    struct Outer: Codable, Equatable { var inner = Inner(); var shapes: [Shape] = [.round, .square]; var count = 1 }

    @Test("an enum setting given a value it does not have lists the values it accepts, at any depth and in arrays")
    func enumValues() throws {
        func message(_ json: String) -> String? {
            do { _ = try ConfigurationPatch.apply(try decode(JSONValue.self, json), to: Outer(), context: "configuration"); return nil } catch {
                return (error as? DataError)?.code == .invalidConfiguration ? "\(error)" : "not a DataError: \(error)"
            }
        }
        let nested = try #require(message(#"{"inner": {"shape": "oval"}}"#))
        #expect(nested.contains("configuration.inner.shape") && nested.contains("'oval' is not one of round, square"), "\(nested)")
        let inArray = try #require(message(#"{"shapes": ["square", "hexagon"]}"#))
        #expect(inArray.contains("configuration.shapes[1]") && inArray.contains("'hexagon' is not one of round, square"), "\(inArray)")
        // Other wrong values keep the type message.
        let number = try #require(message(#"{"count": "many"}"#))
        #expect(number.contains("configuration.count") && !number.contains("is not one of"), "\(number)")
        #expect(try ConfigurationPatch.apply(try decode(JSONValue.self, #"{"inner": {"shape": "square"}}"#), to: Outer(), context: "c").inner.shape == .square)
    }

    @Test("confidence transforms: log keeps 1 at 1 and tames counts, binary, linear, and BM25 as implicit computes it")
    func transforms() throws {
        let log = Interactions(users: [0, 0, 1, 1, 2], items: [0, 1, 0, 2, 2], values: [1, 100_000, 3, -2, 7], timestamps: nil,
                               userIDs: IDMap(["a", "b", "c"]), itemIDs: IDMap(["x", "y", "z"]))
        let logValues = ConfidenceTransform.standard.transformed(log)
        #expect(logValues[0] == 1)
        #expect(abs(logValues[1] - Float(Foundation.log(1_000_001.0) / Foundation.log(11.0))) < 1e-3)  // ≈ 5.76
        #expect(abs(logValues[3] + Float(Foundation.log(21.0) / Foundation.log(11.0))) < 1e-5)  // sign kept
        #expect(ConfidenceTransform.log(epsilon: 1).transformed(log)[1] == Float(Foundation.log(100_001.0) / Foundation.log(2.0)))
        #expect(ConfidenceTransform.binary.transformed(log) == [1, 1, 1, -1, 1])
        #expect(ConfidenceTransform.linear.transformed(log) == log.values)
        // BM25 by hand (K1 100, B 0.8): N = 3 users; df x 2, y 1, z 2; row sums 100001, 1, 7.
        let bm25 = ConfidenceTransform.bm25(k1: 100, b: 0.8).transformed(log)
        let sums: [Double] = [100_001, 1, 7], average = sums.reduce(0, +) / 3, df: [Double] = [2, 1, 2]
        for i in 0..<log.count {
            let r = Double(log.values[i]), u = Int(log.users[i]), item = Int(log.items[i])
            let norm = 0.2 + 0.8 * sums[u] / average
            let expected = r * 101 / (100 * norm + r) * (Foundation.log(3) - Foundation.log1p(df[item]))
            #expect(abs(Double(bm25[i]) - expected) < 1e-4 * max(1, abs(expected)), "row \(i)")
        }
        #expect(try ConfidenceTransform(parsing: "bm25:50:0.5") == .bm25(k1: 50, b: 0.5))
        #expect(throws: DataError.self) { try ConfidenceTransform(parsing: "log:-1") }
        #expect(throws: DataError.self) { try ConfidenceTransform(parsing: "sqrt") }
    }

    @Test("one value transformed alone equals the same value in a whole log (what fold-in uses); BM25 has no per-value form")
    func perValue() {
        let values: [Float] = [1, 0.5, 3, 250, 100_000, -2]
        let log = Interactions(users: values.indices.map { Int32($0) }, items: values.indices.map { _ in 0 }, values: values, timestamps: nil,
                               userIDs: IDMap(values.indices.map { "u\($0)" }), itemIDs: IDMap(["i"]))
        for t in [ConfidenceTransform.linear, .binary, .standard, .log(epsilon: 1)] {
            #expect(values.map { t.transform(value: $0)! } == t.transformed(log), "\(t)")
        }
        #expect(ConfidenceTransform.bm25(k1: 100, b: 0.8).transform(value: 3) == nil)
    }

    @Test("a recipe round-trips through JSON with explicit, stable names")
    func recipeJSON() throws {
        var recipe = DatasetRecipe(source: .log("ratings.csv"), confidence: .bm25(k1: 100, b: 0.8),
                                   holdout: .init(method: .temporalFraction(testFraction: 0.25), seed: 7))
        recipe.reader.columns = try ColumnSelection(parsing: "user=userId,item=2,rating=none")
        recipe.reader.format = .delimited(.tab)
        recipe.reader.minimumRating = 4
        let json = String(decoding: try JSONEncoder().encode(recipe), as: UTF8.self)
        #expect(json.contains(#""method":"temporal""#) && json.contains(#""testFraction":0.25"#) && json.contains(#""delimiter":"tab""#))
        #expect(try decode(DatasetRecipe.self, json) == recipe)
        let store = DatasetRecipe(source: .store("t.db"), holdout: .init(method: .leaveLastOut))
        #expect(try decode(DatasetRecipe.self, String(decoding: try JSONEncoder().encode(store), as: UTF8.self)) == store)
    }

    @Test("recipe files name what is wrong: no source, two sources, a bad split")
    func recipeErrors() throws {
        #expect { try decode(DatasetRecipe.self, #"{"confidence": "log"}"#) } throws: { "\($0)".contains("names no source") }
        #expect { try decode(DatasetRecipe.self, #"{"log": "a", "store": "b"}"#) } throws: { "\($0)".contains("both") }
        #expect { try decode(DatasetRecipe.self, #"{"log": "a", "holdout": {"method": "temporal", "testFraction": 1.5}}"#) }
            throws: { "\($0)".contains("holdout.testFraction") }
        #expect { try decode(DatasetRecipe.self, #"{"log": "a", "holdout": {"method": "sideways"}}"#) }
            throws: { "\($0)".contains("unknown method 'sideways'") }
        let defaults = try decode(DatasetRecipe.self, #"{"log": "a"}"#)
        #expect(defaults.confidence == .standard && defaults.holdout == nil && defaults.cleaning == CleaningConfiguration())
    }

    @Test("prepare reads, splits and transforms only the training part")
    func prepare() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recipe-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("plays.csv").path
        var rows = ["user,item,plays,timestamp"]
        for u in 0..<20 { for i in 0..<5 { rows.append("u\(u),i\((u + i) % 9),\(1 + (u * i) % 50),\(1_600_000_000 + u * 10 + i)") } }
        try rows.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let recipe = try decode(DatasetRecipe.self, #"{"log": "\#(path)", "holdout": {"method": "temporal", "testCount": 1}}"#)
        let prepared = try recipe.prepare()
        #expect(prepared.all.count == 100 && prepared.train.count == 80 && prepared.test?.count == 20)
        #expect(prepared.trainRaw.values.contains { $0 > 10 })
        #expect(prepared.train.values == ConfidenceTransform.standard.transformed(prepared.trainRaw))
        #expect(prepared.test!.values.contains { $0 > 10 })  // the test part keeps raw strengths
        #expect { try DatasetRecipe(source: .store("x.db")).prepare() } throws: { "\($0)".contains("cannot open stores") }
    }
}
