import Foundation

/// BERT's text normalization and pre-tokenization, as Hugging Face `tokenizers` does it
/// (`BertNormalizer` then `BertPreTokenizer`): control characters dropped, whitespace unified,
/// CJK ideographs split into single-character words, accents stripped (NFD, nonspacing marks
/// removed) and letters lower-cased for uncased vocabularies, then words split at whitespace
/// and at every punctuation character.
///
/// The character classes follow the Rust implementation, checked against it on every code
/// point (`Benchmarks/text_golden.py` has the script): "control" is Cc, Cf, Co or Cs except
/// tab, newline and carriage return, which count as whitespace (unassigned code points are
/// kept and become `[UNK]`); punctuation is ASCII punctuation (including `$+<=>^`|~`) or a
/// Unicode P* category. `tokenizers` classifies with Unicode 8.0 tables (the
/// `unicode_categories` crate) and decomposes with Unicode 12-era tables, while Swift knows
/// Unicode 16; so categories count only for characters assigned by Unicode 8.0, with the
/// handful whose category changed since then pinned to their 8.0 value. Lower-casing uses
/// current Unicode on both sides and agrees everywhere. punctuation is ASCII punctuation (including `$+<=>^`|~`) or any Unicode P*
/// category.
public struct BertNormalizer: Sendable, Equatable, Codable {
    /// Drop control characters and map whitespace to a space.
    public var cleanText: Bool
    /// Put spaces around CJK ideographs, so each is its own word.
    public var handleChineseCharacters: Bool
    /// Decompose (NFD) and drop nonspacing marks.
    public var stripAccents: Bool
    /// Lower-case every character.
    public var lowercase: Bool

    /// BERT's defaults: an uncased vocabulary strips accents and lower-cases, a cased one does neither.
    public init(lowercase: Bool, stripAccents: Bool? = nil, cleanText: Bool = true, handleChineseCharacters: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseCharacters = handleChineseCharacters
        self.stripAccents = stripAccents ?? lowercase
        self.lowercase = lowercase
    }

    /// The words of `text` after normalization, as arrays of Unicode scalars, in order. Stops
    /// once `limit` words were produced (a truncated encoding needs no more; each word yields
    /// at least one token).
    public func words(_ text: String, limit: Int = .max) -> [[Unicode.Scalar]] {
        // Normalization is per scalar except NFD, which needs the whole string (canonical
        // reordering); it only runs when a non-ASCII scalar survives cleaning.
        var cleaned: [Unicode.Scalar] = []
        cleaned.reserveCapacity(text.unicodeScalars.underestimatedCount)
        var ascii = true
        for s in text.unicodeScalars {
            if cleanText {
                if s.value == 0 || s.value == 0xFFFD || Self.isControl(s) { continue }
                if Self.isWhitespace(s) { cleaned.append(" "); continue }
            }
            if handleChineseCharacters && Self.isChinese(s) {
                cleaned.append(" "); cleaned.append(s); cleaned.append(" ")
                ascii = false
                continue
            }
            if s.value >= 0x80 { ascii = false }
            cleaned.append(s)
        }
        if stripAccents && !ascii {
            cleaned = Self.decomposed(cleaned).filter { !Self.isNonspacingMark($0) }
        }
        var splitter = WordSplitter(limit: limit)
        scan: for s in cleaned {
            if lowercase && s.value >= 0x80 {
                for l in s.properties.lowercaseMapping.unicodeScalars where splitter.add(l) { break scan }
                continue
            }
            var c = s
            if lowercase && s.value >= 65 && s.value <= 90 { c = Unicode.Scalar(s.value + 32)! }
            if splitter.add(c) { break scan }
        }
        return splitter.finish()
    }

    /// Tab, newline, carriage return, or any scalar with the Unicode White_Space property.
    @inline(__always)
    public static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x20, 0x09, 0x0A, 0x0D: return true
        case 0..<0x80: return false
        default: return s.properties.isWhitespace
        }
    }

    /// A control, format, private-use or surrogate character (Cc, Cf, Co, Cs) of Unicode 8.0
    /// other than tab, newline and carriage return. Unassigned code points are not controls (as
    /// in `tokenizers`).
    @inline(__always)
    public static func isControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09, 0x0A, 0x0D: return false
        case 0x20..<0x7F: return false
        default:
            switch s.properties.generalCategory {
            case .control, .privateUse, .surrogate: return true
            case .format: return inUnicode8(s)
            default: return false
            }
        }
    }

    /// ASCII punctuation (33–47, 58–64, 91–96, 123–126) or a punctuation category of Unicode 8.0.
    @inline(__always)
    public static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return (v >= 33 && v <= 47) || (v >= 58 && v <= 64) || (v >= 91 && v <= 96) || (v >= 123 && v <= 126) }
        if v == 0x166D || v == 0x111C9 { return true }  // Po in Unicode 8.0 (So and Mn today)
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return inUnicode8(s)
        default: return false
        }
    }

    /// A nonspacing mark (Mn) of Unicode 8.0: what accent stripping removes.
    @inline(__always)
    public static func isNonspacingMark(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x1734, 0x1171E: return true  // Mn in Unicode 8.0 (Mc today)
        case 0x1885, 0x1886, 0xA9BD, 0x111C9: return false  // not Mn in Unicode 8.0
        default: return s.properties.generalCategory == .nonspacingMark && inUnicode8(s)
        }
    }

    @inline(__always)
    static func inUnicode8(_ s: Unicode.Scalar) -> Bool {
        guard let age = s.properties.age else { return false }
        return age.major < 8 || (age.major == 8 && age.minor == 0)
    }

    /// Canonical decomposition (NFD) as `tokenizers` computes it: U+11938 (added to the
    /// decomposition tables in Unicode 13) stays whole.
    static func decomposed(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count + 8)
        for (i, segment) in scalars.split(separator: Unicode.Scalar(0x11938)!, omittingEmptySubsequences: false).enumerated() {
            if i > 0 { out.append(Unicode.Scalar(0x11938)!) }
            var string = String.UnicodeScalarView()
            string.append(contentsOf: segment)
            out.append(contentsOf: String(string).decomposedStringWithCanonicalMapping.unicodeScalars)
        }
        return out
    }

    /// A CJK Unified Ideograph (the blocks BERT's original tokenizer lists; not Hangul, Hiragana
    /// or Katakana).
    @inline(__always)
    public static func isChinese(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }
}

/// Splits normalized scalars into words at whitespace and around punctuation, stopping at a
/// word limit.
private struct WordSplitter {
    let limit: Int
    var words: [[Unicode.Scalar]] = []
    var current: [Unicode.Scalar] = []

    init(limit: Int) { self.limit = limit }

    mutating func flush() {
        if !current.isEmpty { words.append(current); current.removeAll(keepingCapacity: true) }
    }

    /// Adds one scalar; true once `limit` words are complete.
    mutating func add(_ s: Unicode.Scalar) -> Bool {
        if BertNormalizer.isWhitespace(s) {
            flush()
        } else if BertNormalizer.isPunctuation(s) {
            flush()
            words.append([s])
        } else {
            current.append(s)
        }
        return words.count >= limit
    }

    mutating func finish() -> [[Unicode.Scalar]] {
        if words.count < limit { flush() }
        if words.count > limit { words.removeLast(words.count - limit) }
        return words
    }
}
