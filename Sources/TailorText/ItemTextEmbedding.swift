import Foundation
import TailorData
import TailorLinalg

/// Text vectors for a catalogue: which fields of each item make its text, a fingerprint of
/// that text and the encoder, and an incremental run that encodes only items whose
/// fingerprint is new (the store keeps the rest from an earlier run).
public enum ItemTextEmbedding {
    /// A catalogue field that can go into an item's text.
    public enum Field: String, Sendable, Codable, CaseIterable {
        case title, text, categories, tags
    }

    /// What a run did.
    public struct Report: Sendable, Equatable {
        /// Items encoded now (new, or their text or the encoder changed).
        public var encoded = 0
        /// Items whose stored vector was still current.
        public var unchanged = 0
        /// Items with no text in the chosen fields (no vector).
        public var empty = 0
        /// Items whose text held replacement characters (U+FFFD: invalid UTF-8 in the source).
        public var withInvalidText = 0
        /// Seconds spent encoding.
        public var seconds = 0.0
    }

    /// The item's text: the chosen fields that are present, joined by ". " (categories and
    /// tags by ", "); empty when none is.
    public static func text(of item: CatalogItem, fields: [Field]) -> String {
        var parts: [String] = []
        for field in fields {
            switch field {
            case .title: if let t = item.title?.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty { parts.append(t) }
            case .text: if let t = item.text?.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty { parts.append(t) }
            case .categories: if !item.categories.isEmpty { parts.append(item.categories.joined(separator: ", ")) }
            case .tags: if !item.tags.isEmpty { parts.append(item.tags.joined(separator: ", ")) }
            }
        }
        return parts.joined(separator: ". ")
    }

    /// The fingerprint of `text` under an encoder with fingerprint `encoder`.
    public static func fingerprint(text: String, encoder: UInt64) -> UInt64 {
        var h = FNV1a64()
        h.combine([encoder])
        h.combine(text)
        return h.value
    }

    /// Encodes the items whose text fingerprint differs from `existing` (by item id) and
    /// returns their new vectors with a report. `body`, when given, receives the vectors chunk
    /// by chunk as they are computed (to store them as the run goes, so an interrupted run
    /// keeps its work, and memory stays at one chunk's vectors: none are returned then);
    /// `progress` hears (items done, items to encode).
    public static func embed(items: [CatalogItem], fields: [Field], encoder: SentenceEncoder, existing: [ItemVector],
                             batchSize: Int = 64, threads: Int = 0, chunk: Int = 4096,
                             body: (([ItemVector]) throws -> Void)? = nil,
                             progress: ((Int, Int) -> Void)? = nil) rethrows -> (vectors: [ItemVector], report: Report) {
        var report = Report()
        let current = Dictionary(existing.map { ($0.item, $0.fingerprint) }, uniquingKeysWith: { _, last in last })
        var todo: [(id: String, text: String, fingerprint: UInt64)] = []
        let encoderPrint = encoder.fingerprint
        for item in items {
            let text = text(of: item, fields: fields)
            if text.isEmpty { report.empty += 1; continue }
            if text.unicodeScalars.contains("\u{FFFD}") { report.withInvalidText += 1 }
            let print = fingerprint(text: text, encoder: encoderPrint)
            if current[item.id] == print { report.unchanged += 1; continue }
            todo.append((item.id, text, print))
        }
        var out: [ItemVector] = []
        if body == nil { out.reserveCapacity(todo.count) }
        let start = Date()
        var done = 0
        // A chunk at a time, so `body` can store each before the next is computed.
        var first = 0
        while first < todo.count {
            let part = todo[first..<min(todo.count, first + chunk)]
            let matrix = encoder.encode(part.map(\.text), batchSize: batchSize, threads: threads)
            let vectors = part.enumerated().map { r, entry in
                ItemVector(item: entry.id, fingerprint: entry.fingerprint, values: Array(matrix.row(r)))
            }
            try body?(vectors)
            if body == nil { out.append(contentsOf: vectors) }
            done += part.count
            progress?(done, todo.count)
            first += chunk
        }
        report.encoded = todo.count
        report.seconds = Date().timeIntervalSince(start)
        return (out, report)
    }
}
