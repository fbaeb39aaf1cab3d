import Foundation
import Testing
import TailorData
import TailorLinalg
import TailorSQLite
import TailorText
import TailorModels
@testable import TailorCLI

@Suite("Text commands")
struct TextCommandTests {
    /// A tiny random encoder saved as a Hugging Face directory.
    static func encoder(in dir: String) throws -> String {
        let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + "abcdefghijklmnopqrstuvwxyz0123456789".map { String($0) }
            + "abcdefghijklmnopqrstuvwxyz0123456789".map { "##" + String($0) }
        let encoder = try SentenceEncoder.random(vocabulary: vocabulary, configuration: BertConfiguration(hiddenSize: 16, numHiddenLayers: 1,
                                                 numAttentionHeads: 2, intermediateSize: 32, maxPositionEmbeddings: 64), seed: 5, maxLength: 48)
        let path = "\(dir)/encoder"
        try encoder.save(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("embed stores a vector per catalogued item, a second run keeps them, content trains on them and is evaluated on cold items")
    func embedTrainEvaluate() throws {
        let dir = scratchDirectory()
        try tailor(["generate", "--events", "--users", "200", "--items", "80", "--interactions", "4000", "--output", "\(dir)/events.csv",
                    "--catalog", "\(dir)/items.csv"])
        let store = "\(dir)/t.db"
        try tailor(["ingest", "\(dir)/events.csv", "--store", store])
        try tailor(["ingest", "\(dir)/items.csv", "--kind", "items", "--store", store])
        let encoder = try Self.encoder(in: dir)
        try tailor(["embed", "--store", store, "--encoder", encoder, "--fields", "title,categories", "--progress", "none",
                    "--output", "\(dir)/vectors.safetensors"])
        let first = try SQLiteEventStore(path: store).loadItemVectors(space: "text")
        #expect(first.count == 80 && first.allSatisfy { $0.values.count == 16 })
        try tailor(["embed", "--store", store, "--encoder", encoder, "--fields", "title,categories", "--progress", "none"])
        #expect(try SQLiteEventStore(path: store).loadItemVectors(space: "text") == first)
        let exported = try SafeTensors.read(from: URL(fileURLWithPath: "\(dir)/vectors.safetensors")).tensors["item_vectors"]
        #expect(exported?.shape == [80, 16])
        // Int8 weights: close to the float vectors, not equal; switching back re-encodes.
        try tailor(["embed", "--store", store, "--encoder", encoder, "--fields", "title,categories", "--progress", "none", "--int8", "--space", "q"])
        let quantized = try SQLiteEventStore(path: store).loadItemVectors(space: "q")
        let floats = Dictionary(uniqueKeysWithValues: first.map { ($0.item, $0.values) })
        #expect(quantized.count == 80)
        #expect(Set(quantized.map(\.fingerprint)).isDisjoint(with: first.map(\.fingerprint)), "int8 vectors must carry their own fingerprint")
        for v in quantized {
            let f = try #require(floats[v.item])
            let cosine = zip(v.values, f).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            #expect(cosine >= 0.99, "item \(v.item): cosine \(cosine) between int8 and float vectors")
        }
        #expect(quantized.contains { v in v.values != floats[v.item] }, "int8 vectors equal the float ones: the int8 path did not run")
        try tailor(["embed", "--store", store, "--encoder", encoder, "--fields", "title,categories", "--progress", "none", "--space", "q"])
        let back = try SQLiteEventStore(path: store).loadItemVectors(space: "q")
        #expect(Dictionary(uniqueKeysWithValues: back.map { ($0.item, $0.values) }) == floats, "float vectors must replace the int8 ones")

        try tailor(["train", "--store", store, "--item-vectors", "text", "--model", "content", "--holdout", "cold-items",
                    "--output", "\(dir)/content", "--progress", "none"])
        try tailor(["evaluate", "--model", "\(dir)/content"])
        try tailor(["similar", "--model", "\(dir)/content", "--item", "i1", "--k", "5"])
        // An item nobody in the training part touched: compared by its content.
        let bundle = try ModelBundle.load(from: URL(fileURLWithPath: "\(dir)/content"))
        let cold = try #require((1...80).map { "i\($0)" }.first { bundle.itemIDs.position(of: $0) == nil })
        try tailor(["similar", "--model", "\(dir)/content", "--item", cold, "--k", "5", "--output", "\(dir)/similar.csv"])
        let similar = try csvRows("\(dir)/similar.csv")
        #expect(similar.count == 6 && similar.dropFirst().allSatisfy { $0[0] == cold && bundle.itemIDs.position(of: $0[1]) != nil })
        #expect { try tailor(["similar", "--model", "\(dir)/content", "--item", "no-such-item"]) } throws: { "\($0)".contains("unknown item 'no-such-item'") }
        // The two-tower item tower reads the same vectors.
        try tailor(["train", "--store", store, "--item-vectors", "text", "--model", "two-tower", "--set", "epochs=1", "--set", "itemFeatures=[\"vector\"]",
                    "--output", "\(dir)/tt", "--progress", "none"])
        // Fine-tuning on the training part's pairs writes an encoder that embed reads.
        try tailor(["fine-tune-encoder", "--store", store, "--encoder", encoder, "--fields", "title,categories", "--holdout", "cold-items",
                    "--epochs", "1", "--batch", "8", "--max-pairs", "200", "--learning-rate", "0.001", "--output", "\(dir)/tuned",
                    "--report", "\(dir)/tune.json", "--progress", "none"])
        let tune = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/tune.json"))) as! [String: Any]
        #expect((tune["epochs"] as! [[String: Any]]).count == 2 && (tune["trainingPairs"] as! Int) > 100)
        try tailor(["embed", "--store", store, "--encoder", "\(dir)/tuned", "--fields", "title,categories", "--space", "tuned", "--progress", "none"])
        #expect(try SQLiteEventStore(path: store).itemVectorSpaces() == ["text": 80, "q": 80, "tuned": 80])
        try tailor(["train", "--store", store, "--item-vectors", "tuned", "--model", "content", "--holdout", "cold-items",
                    "--output", "\(dir)/content-tuned", "--progress", "none"])
        #expect { try tailor(["evaluate", "--model", "\(dir)/content", "--model", "\(dir)/content-tuned"]) }
            throws: { "\($0)".contains("different item vectors") }
        #expect { try tailor(["train", "--store", store, "--item-vectors", "nope", "--model", "content", "--output", "\(dir)/x", "--progress", "none"]) }
            throws: { "\($0)".contains("no item vectors named 'nope'") && "\($0)".contains("tailor embed") }
        #expect { try tailor(["embed", "--store", store, "--encoder", "\(dir)/missing", "--progress", "none"]) }
            throws: { "\($0)".contains("no such model directory") }
        #expect { try tailor(["embed", "--store", store, "--encoder", encoder, "--fields", "title,body"]) }
            throws: { "\($0)".contains("unknown field 'body'") }
    }
}
