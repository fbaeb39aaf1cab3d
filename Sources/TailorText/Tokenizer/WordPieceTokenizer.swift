import Foundation

/// BERT's WordPiece tokenizer, token for token the same as Hugging Face's `BertTokenizerFast`
/// (the `tokenizers` package): ``BertNormalizer`` splits the text into words, then each word
/// becomes the greedy longest-match-first sequence of vocabulary pieces (continuations carry
/// `##`), or a single `[UNK]` when it is longer than ``maxInputCharactersPerWord`` or some
/// part of it matches nothing (Wu et al. 2016; Devlin et al. 2019).
///
/// An encoding is `[CLS] pieces… [SEP]`, truncated to a maximum length (pieces are dropped
/// from the end, as Hugging Face's default `longest_first` truncation does for one sentence).
/// Tokenization stops reading a long text once enough pieces are known, so a 100 KB text costs
/// no more than its first few hundred words.
public struct WordPieceTokenizer: Sendable {
    /// The vocabulary, one piece per id.
    public let vocabulary: [String]
    /// Normalization and pre-tokenization.
    public let normalizer: BertNormalizer
    /// Words longer than this (in Unicode scalars) become `[UNK]`.
    public let maxInputCharactersPerWord: Int
    /// The prefix marking a piece that continues a word.
    public let continuingSubwordPrefix: String
    /// Ids of the special tokens.
    public let unknownID: Int32, classifierID: Int32, separatorID: Int32, paddingID: Int32

    private let ids: [String: Int32]
    /// The longest piece, in scalars: no match can be longer.
    private let longestPiece: Int

    /// A tokenizer over `vocabulary` (ids are positions). Throws when a special token is missing.
    public init(vocabulary: [String], normalizer: BertNormalizer, maxInputCharactersPerWord: Int = 100,
                continuingSubwordPrefix: String = "##", unknownToken: String = "[UNK]", classifierToken: String = "[CLS]",
                separatorToken: String = "[SEP]", paddingToken: String = "[PAD]", file: String? = nil) throws {
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(vocabulary.count)
        var longest = 0
        for (i, piece) in vocabulary.enumerated() where ids[piece] == nil {
            ids[piece] = Int32(i)
            longest = max(longest, piece.unicodeScalars.count)
        }
        func id(_ token: String) throws -> Int32 {
            guard let id = ids[token] else {
                throw TextError(.malformedFile, file: file, field: token, reason: "the vocabulary has no \(token) token",
                                hint: "use the vocab.txt that came with the checkpoint")
            }
            return id
        }
        self.vocabulary = vocabulary
        self.normalizer = normalizer
        self.maxInputCharactersPerWord = maxInputCharactersPerWord
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.ids = ids
        self.longestPiece = longest
        unknownID = try id(unknownToken)
        classifierID = try id(classifierToken)
        separatorID = try id(separatorToken)
        paddingID = try id(paddingToken)
    }

    /// Reads `vocab.txt` (one piece per line) and, when present, `tokenizer_config.json`
    /// (`do_lower_case`, `strip_accents`, `tokenize_chinese_chars`) from a Hugging Face model
    /// directory. Without a config, the casing is inferred: a vocabulary with no upper-case
    /// letter is uncased.
    public static func load(directory: URL) throws -> WordPieceTokenizer {
        let vocabURL = directory.appendingPathComponent("vocab.txt")
        guard FileManager.default.fileExists(atPath: vocabURL.path) else {
            throw TextError(.missingFile, file: vocabURL.path, reason: "no vocab.txt in the model directory",
                            hint: "a BERT-family checkpoint needs config.json, vocab.txt and model.safetensors")
        }
        let data = try Data(contentsOf: vocabURL)
        var text = String(decoding: data, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        let vocabulary = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        var lowercase = !vocabulary.contains { $0.unicodeScalars.contains { $0.properties.isUppercase } }
        var stripAccents: Bool? = nil
        var chinese = true
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        if let configData = try? Data(contentsOf: configURL) {
            guard let object = try? JSONSerialization.jsonObject(with: configData) as? [String: Any] else {
                throw TextError(.malformedFile, file: configURL.path, reason: "not a JSON object")
            }
            if let value = object["do_lower_case"] as? Bool { lowercase = value }
            if let value = object["strip_accents"] as? Bool { stripAccents = value }
            if let value = object["tokenize_chinese_chars"] as? Bool { chinese = value }
        }
        return try WordPieceTokenizer(
            vocabulary: vocabulary,
            normalizer: BertNormalizer(lowercase: lowercase, stripAccents: stripAccents, handleChineseCharacters: chinese),
            file: vocabURL.path)
    }

    /// The vocabulary id of `piece`, if it has one.
    public func id(of piece: String) -> Int32? { ids[piece] }

    /// The WordPiece ids of `text` without special tokens, at most `limit` of them.
    public func pieceIDs(_ text: String, limit: Int = .max) -> [Int32] {
        var out: [Int32] = []
        for word in normalizer.words(text, limit: limit) {
            appendPieces(of: word, to: &out)
            if out.count >= limit { out.removeLast(out.count - limit); break }
        }
        return out
    }

    /// The pieces of `text` as strings (for inspection), without special tokens.
    public func tokenize(_ text: String) -> [String] {
        pieceIDs(text).map { vocabulary[Int($0)] }
    }

    /// `[CLS] pieces… [SEP]` with at most `maxLength` ids in all.
    public func encode(_ text: String, maxLength: Int = 512) -> [Int32] {
        precondition(maxLength >= 2, "maxLength must leave room for [CLS] and [SEP], got \(maxLength)")
        var ids: [Int32] = [classifierID]
        ids.append(contentsOf: pieceIDs(text, limit: maxLength - 2))
        ids.append(separatorID)
        return ids
    }

    /// Greedy longest-match-first pieces of one word.
    private func appendPieces(of word: [Unicode.Scalar], to out: inout [Int32]) {
        if word.count > maxInputCharactersPerWord { out.append(unknownID); return }
        let start0 = out.count
        var start = 0
        var candidate = String.UnicodeScalarView()
        while start < word.count {
            var end = min(word.count, start + longestPiece)
            var found: Int32? = nil
            while end > start {
                candidate.removeAll(keepingCapacity: true)
                if start > 0 { candidate.append(contentsOf: continuingSubwordPrefix.unicodeScalars) }
                candidate.append(contentsOf: word[start..<end])
                if let id = ids[String(candidate)] { found = id; break }
                end -= 1
            }
            guard let id = found else {
                out.removeLast(out.count - start0)
                out.append(unknownID)
                return
            }
            out.append(id)
            start = end
        }
    }
}

/// Token ids of several texts padded into one rectangle, with the attention mask.
public struct TokenBatch: Sendable, Equatable {
    /// Number of texts.
    public let count: Int
    /// Columns: the longest encoding in the batch.
    public let length: Int
    /// `count × length` ids, row-major; padding positions hold the padding id.
    public let ids: [Int32]
    /// `count × length`, 1 for real tokens and 0 for padding.
    public let attentionMask: [UInt8]
    /// Real tokens per text.
    public let lengths: [Int]

    /// Pads `encodings` to the longest of them with `paddingID`.
    public init(_ encodings: [[Int32]], paddingID: Int32) {
        count = encodings.count
        length = encodings.map(\.count).max() ?? 0
        lengths = encodings.map(\.count)
        var ids = [Int32](repeating: paddingID, count: count * length)
        var mask = [UInt8](repeating: 0, count: count * length)
        for (row, encoding) in encodings.enumerated() {
            for (j, id) in encoding.enumerated() {
                ids[row * length + j] = id
                mask[row * length + j] = 1
            }
        }
        self.ids = ids
        self.attentionMask = mask
    }
}

extension WordPieceTokenizer {
    /// Encodes every text and pads them into one batch.
    public func encodeBatch(_ texts: [String], maxLength: Int = 512) -> TokenBatch {
        TokenBatch(texts.map { encode($0, maxLength: maxLength) }, paddingID: paddingID)
    }
}
