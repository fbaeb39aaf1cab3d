import Foundation
import Testing
import TailorData
import TailorLinalg
@testable import TailorModels

func temporaryDirectory(_ name: String = #function) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-tests-\(ProcessInfo.processInfo.processIdentifier)-\(name.filter(\.isLetter))-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite("Model files")
struct ArchiveTests {
    func trained() throws -> (ModelBundle, Interactions) {
        let (log, _) = plantedLog(users: 40, items: 30, perUser: 6)
        let model = try ALS.fit(InteractionMatrix(log), configuration: .init(factors: 6, iterations: 3, threads: 1))
        return (try ModelBundle(model: model, training: log, source: "planted"), log)
    }

    @Test("save then load gives identical scores, ids and manifest")
    func roundTrip() throws {
        let (bundle, log) = try trained()
        let dir = temporaryDirectory()
        try bundle.save(to: dir)
        let back = try ModelBundle.load(from: dir)
        #expect(back.manifest == bundle.manifest)
        #expect(back.manifest.kind == "als" && back.manifest.data.fingerprint == log.fingerprint())
        #expect(back.userIDs == bundle.userIDs && back.itemIDs == bundle.itemIDs && back.seen == bundle.seen)
        let a = try bundle.recommend(userIDs: ["u1", "u7"], k: 5), b = try back.recommend(userIDs: ["u1", "u7"], k: 5)
        #expect(a == b)
        let original = bundle.model as! ALS, loaded = back.model as! ALS
        #expect(original.userFactors == loaded.userFactors && original.itemFactors == loaded.itemFactors)
        #expect(loaded.history == original.history)
    }

    @Test("unknown users: an error by default, popular items or skipping when asked")
    func unknownUsers() throws {
        let (bundle, _) = try trained()
        #expect { try bundle.recommend(userIDs: ["nobody"], k: 3) } throws: { "\($0)".contains("unknown user 'nobody'") }
        let popular = try bundle.recommend(userIDs: ["nobody", "u1"], k: 3, unknownUsers: .popular)
        #expect(popular.count == 2 && popular[0].isFallback && !popular[1].isFallback)
        let top = bundle.popularity.itemScores.enumerated().max { $0.element < $1.element }!.offset
        #expect(popular[0].items.first?.item == bundle.itemIDs[Int32(top)])
        let skipped = try bundle.recommend(userIDs: ["nobody", "u1"], k: 3, unknownUsers: .skip)
        #expect(skipped.map(\.user) == ["u1"])
    }

    @Test("similar items by id, and clear errors for unknown items and models without vectors")
    func similar() throws {
        let (bundle, log) = try trained()
        let similar = try bundle.similarItems(to: "i3", k: 4)
        #expect(similar.count == 4 && !similar.contains { $0.item == "i3" })
        #expect { try bundle.similarItems(to: "zzz", k: 4) } throws: { "\($0)".contains("unknown item 'zzz'") }
        let pop = try ModelBundle(model: try Popularity.fit(InteractionMatrix(log)), training: log)
        #expect { try pop.similarItems(to: "i3", k: 4) } throws: { "\($0)".contains("no item vectors") }
    }

    @Test("the popularity model round-trips too")
    func popularityRoundTrip() throws {
        let (_, log) = try trained()
        let bundle = try ModelBundle(model: try Popularity.fit(InteractionMatrix(log)), training: log)
        let dir = temporaryDirectory()
        try bundle.save(to: dir)
        let back = try ModelBundle.load(from: dir)
        #expect(try back.recommend(userIDs: ["u2"], k: 5) == bundle.recommend(userIDs: ["u2"], k: 5))
    }

    @Test("missing, corrupt, truncated, foreign and too-new files give clear errors naming the file")
    func corrupt() throws {
        let (bundle, _) = try trained()
        let dir = temporaryDirectory()
        try bundle.save(to: dir)
        let manifest = dir.appendingPathComponent("manifest.json"), tensors = dir.appendingPathComponent("embeddings.safetensors")
        let goodManifest = try Data(contentsOf: manifest), goodTensors = try Data(contentsOf: tensors)

        #expect { try ModelBundle.load(from: dir.appendingPathComponent("nope")) } throws: { "\($0)".contains("not a Tailor model directory") }

        try goodTensors.prefix(goodTensors.count / 2).write(to: tensors)
        #expect { try ModelBundle.load(from: dir) } throws: { "\($0)".contains("embeddings.safetensors") && "\($0)".contains("not a valid safetensors") }

        try Data("PK\u{3}\u{4}zipzipzip".utf8).write(to: tensors)
        #expect { try ModelBundle.load(from: dir) } throws: { "\($0)".contains("embeddings.safetensors") }
        try goodTensors.write(to: tensors)

        try Data("{\"format\": \"tailor-model\", ".utf8).write(to: manifest)
        #expect { try ModelBundle.load(from: dir) } throws: { "\($0)".contains("manifest.json: is not a valid Tailor manifest") }

        try Data("{\"hello\": 1}".utf8).write(to: manifest)
        #expect { try ModelBundle.load(from: dir) } throws: { "\($0)".contains("missing field") }

        let text = String(decoding: goodManifest, as: UTF8.self)
        try Data(text.replacingOccurrences(of: "\"formatVersion\" : 1", with: "\"formatVersion\" : 99").replacingOccurrences(of: "\"formatVersion\" : 2", with: "\"formatVersion\" : 99").utf8).write(to: manifest)
        #expect { try ModelBundle.load(from: dir) } throws: { "\($0)".contains("newer than this Tailor") }

        try Data(text.replacingOccurrences(of: "\"kind\" : \"als\"", with: "\"kind\" : \"quantum\"").utf8).write(to: manifest)
        #expect { try ModelBundle.load(from: dir) } throws: { "\($0)".contains("unknown model kind 'quantum'") }

        try Data(text.replacingOccurrences(of: "\"tailor-model\"", with: "\"other\"").utf8).write(to: manifest)
        #expect { try ModelBundle.load(from: dir) } throws: { "\($0)".contains("has format 'other'") }

        try goodManifest.write(to: manifest)
        #expect(throws: Never.self) { try ModelBundle.load(from: dir) }
    }
}

@Suite("Model files are readable from Python")
struct PythonInteropTests {
    static let python: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import numpy, safetensors.numpy"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run(); p.waitUntilExit(); return p.terminationStatus == 0 } catch { return false }
    }()

    @Test("numpy and safetensors read the embeddings Tailor wrote",
          .enabled(if: python, "python3 with numpy and safetensors is not installed (pip install safetensors)"))
    func numpyReads() throws {
        let (log, _) = plantedLog(users: 20, items: 15, perUser: 4)
        let model = try ALS.fit(InteractionMatrix(log), configuration: .init(factors: 4, iterations: 2, threads: 1))
        let dir = temporaryDirectory()
        try ModelBundle(model: model, training: log).save(to: dir)
        let script = """
        import json, sys, numpy as np
        from safetensors.numpy import load_file
        t = load_file(sys.argv[1] + "/embeddings.safetensors")
        m = json.load(open(sys.argv[1] + "/manifest.json"))
        assert t["user_factors"].shape == (len(m["users"]), 4), t["user_factors"].shape
        assert t["item_factors"].dtype == np.float32
        print(float(t["user_factors"][3] @ t["item_factors"][5]))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let printed = Float(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines))
        let expected = zip(model.userFactors.row(3), model.itemFactors.row(5)).map { $0 * $1 }.reduce(0, +)
        #expect(printed != nil && abs(printed! - expected) < 1e-5)
    }
}
