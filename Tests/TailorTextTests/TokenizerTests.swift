import Foundation
import Testing
@testable import TailorText

/// The golden file written by `Benchmarks/text_golden.py` from Hugging Face `tokenizers`.
struct Golden: Decodable {
    struct Case: Decodable { let text: String; let ids: [Int32] }
    let vocabulary: [String]
    let maxLength: Int
    let uncased: [Case]
    let cased: [Case]
    /// Runs of [first code point, class] over every non-ASCII code point.
    let unicodeClasses: [[UnicodeClassRun]]
    enum UnicodeClassRun: Decodable {
        case start(UInt32), kind(String)
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(UInt32.self) { self = .start(v) } else { self = .kind(try c.decode(String.self)) }
        }
    }

    static func load() throws -> Golden {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/wordpiece_golden.json")
        return try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }
}

@Suite("WordPiece tokenizer")
struct TokenizerTests {
    @Test("matches Hugging Face tokenizers on the golden strings, uncased and cased", arguments: [true, false])
    func golden(uncased: Bool) throws {
        let golden = try Golden.load()
        let tokenizer = try WordPieceTokenizer(vocabulary: golden.vocabulary, normalizer: BertNormalizer(lowercase: uncased))
        let cases = uncased ? golden.uncased : golden.cased
        #expect(cases.count >= 300)
        var mismatches: [String] = []
        for c in cases {
            let ids = tokenizer.encode(c.text, maxLength: golden.maxLength)
            if ids != c.ids {
                mismatches.append("\(c.text.unicodeScalars.map { String($0.value, radix: 16) }.prefix(40)): \(ids.map { golden.vocabulary[Int($0)] }) vs \(c.ids.map { golden.vocabulary[Int($0)] })")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(cases.count) differ; first: \(mismatches.prefix(3))")
    }

    @Test("classifies every non-ASCII code point as tokenizers' Unicode tables do")
    func everyCodePoint() throws {
        let golden = try Golden.load()
        var runs: [(UInt32, Character)] = []
        for run in golden.unicodeClasses {
            guard case .start(let first) = run[0], case .kind(let kind) = run[1], let k = kind.first else { Issue.record("bad run"); return }
            runs.append((first, k))
        }
        #expect(runs.count > 1000)
        var mismatches: [String] = []
        var r = 0
        for cp in UInt32(0x80)..<0x110000 {
            guard let s = Unicode.Scalar(cp) else { continue }
            while r + 1 < runs.count && runs[r + 1].0 <= cp { r += 1 }
            let expected = runs[r].1
            let actual: Character
            if cp == 0xFFFD || BertNormalizer.isControl(s) { actual = "R" }
            else if BertNormalizer.isWhitespace(s) { actual = "W" }
            else {
                let d = BertNormalizer.decomposed([s]).filter { !BertNormalizer.isNonspacingMark($0) }
                actual = d.isEmpty ? "R" : d == [s] ? (BertNormalizer.isPunctuation(s) ? "P" : "K") : "D"
            }
            if actual != expected { mismatches.append("U+\(String(cp, radix: 16)) \(actual) not \(expected)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) differ: \(mismatches.prefix(10))")
    }

    @Test("the golden file covers the hard cases it is meant to")
    func coverage() throws {
        let golden = try Golden.load()
        let texts = golden.uncased.map(\.text)
        let scalars = Set(texts.flatMap { $0.unicodeScalars.map(\.value) })
        #expect(scalars.contains(0x1F970))  // an emoji newer than BERT's vocabulary
        #expect(scalars.contains(0x5317))  // CJK
        #expect(scalars.contains(0x200B))  // a format character
        #expect(texts.contains { $0.unicodeScalars.count > 1000 })  // truncated
        #expect(golden.uncased.contains { $0.ids.count == golden.maxLength })
        #expect(texts.contains { $0.isEmpty })
    }

    func tiny(lowercase: Bool = true) throws -> WordPieceTokenizer {
        try WordPieceTokenizer(vocabulary: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "aff", "cafe", "!", "東", "x"],
                               normalizer: BertNormalizer(lowercase: lowercase))
    }

    @Test("greedy longest match first, with ## continuations and [UNK] for a word with an unmatched part")
    func greedy() throws {
        let t = try tiny()
        #expect(t.tokenize("unaffable") == ["un", "##aff", "##able"])
        #expect(t.tokenize("UnAffable!") == ["un", "##aff", "##able", "!"])
        #expect(t.tokenize("unaffablez aff") == ["[UNK]", "aff"])
        #expect(t.tokenize("Café東x") == ["cafe", "東", "x"])
    }

    @Test("encode adds [CLS] and [SEP] and truncates to the maximum length")
    func truncation() throws {
        let t = try tiny()
        #expect(t.encode("x x x x x", maxLength: 4) == [2, 11, 11, 3])
        #expect(t.encode("", maxLength: 8) == [2, 3])
        #expect(t.encode(String(repeating: "x ", count: 50_000), maxLength: 16).count == 16)
    }

    @Test("a word over the character limit is one [UNK]")
    func longWord() throws {
        let t = try tiny()
        #expect(t.tokenize(String(repeating: "x", count: 101)) == ["[UNK]"])
    }

    @Test("a batch pads to its longest text with the padding id and masks the padding")
    func batch() throws {
        let t = try tiny()
        let batch = t.encodeBatch(["x", "x x x", ""], maxLength: 16)
        #expect(batch.length == 5 && batch.lengths == [3, 5, 2])
        #expect(Array(batch.ids[0..<5]) == [2, 11, 3, 0, 0])
        #expect(Array(batch.attentionMask[10..<15]) == [1, 1, 0, 0, 0])
    }

    @Test("a vocabulary without the special tokens is refused, naming the token")
    func missingSpecial() {
        #expect(throws: TextError.self) { try WordPieceTokenizer(vocabulary: ["a", "b"], normalizer: BertNormalizer(lowercase: true)) }
        do { _ = try WordPieceTokenizer(vocabulary: ["[UNK]", "a"], normalizer: BertNormalizer(lowercase: true)) } catch let e as TextError {
            #expect(e.field == "[CLS]")
        } catch { Issue.record("unexpected \(error)") }
    }
}
