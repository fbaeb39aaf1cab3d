import ArgumentParser
import Foundation
import TailorData
import TailorLinalg
import TailorStore
import TailorText

struct FineTuneEncoder: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fine-tune-encoder",
        abstract: "Fine-tune a sentence encoder on the store's engagement (items read one after the other), and save it in Hugging Face format.",
        discussion: """
        Positive pairs are the texts of items a user consumed one right after the other; the
        other pairs of a batch are the negatives (multiple-negatives ranking loss, both ways).
        The embeddings and the lower layers start frozen and are released one layer per epoch
        from the top; the learning rate warms up over the first 10 % of steps and decays
        linearly. Early stopping watches 10 % of the training items set aside as if new (no
        pairs use them): each epoch's vectors rank them for their users, and training stops
        when that NDCG@10 stops improving (--validate pairs watches the held-out pairs' loss
        instead, which can fall while the ranking gets worse). The best epoch's weights are
        kept — the encoder as it came, when no epoch beats it (the report says so). The result is a directory PyTorch's sentence-transformers loads and `tailor
        embed --encoder` uses.

        With --holdout, only the training part of that split gives pairs, so `tailor train
        --holdout` with the same split and `tailor evaluate` measure the encoder on data it
        never saw (cold-items: items held out entirely).

        Examples:
          tailor fine-tune-encoder --store tailor.db --encoder all-MiniLM-L6-v2 --output minilm-tuned
          tailor fine-tune-encoder --store tailor.db --encoder all-MiniLM-L6-v2 --holdout cold-items \\
                 --fields title,categories --epochs 3 --frozen-layers 3 --output minilm-tuned --report tune.json
        """
    )

    @Option(help: "The store (its catalogue gives the texts, its events the pairs).")
    var store: String

    @Option(help: ArgumentHelp("The sentence encoder to start from (a Hugging Face-format directory).", valueName: "DIR"))
    var encoder: String

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the fine-tuned encoder.", valueName: "DIR"))
    var output: String

    @Option(help: ArgumentHelp("Catalogue fields that make an item's text: title, text, categories, tags.", valueName: "FIELD,…"))
    var fields = "title,text"

    @Option(help: "Pairs come only from the training part of this split: random, temporal, leave-last-out, global-time, cold-users or cold-items.")
    var holdout: HoldoutOptions.Method?

    @OptionGroup(title: "Hold-out") var holdoutOptions: HoldoutOptions

    @Option(help: "Passes over the pairs.")
    var epochs = 3

    @Option(name: .customLong("batch"), help: "Pairs per batch (the other pairs are each one's negatives).")
    var batchSize = 32

    @Option(name: .customLong("learning-rate"), help: "Peak learning rate (AdamW).")
    var learningRate: Float = 2e-5

    @Option(name: .customLong("frozen-layers"), help: ArgumentHelp("Encoder layers frozen at the start, from the bottom (default: the lower half).", valueName: "K"))
    var frozenLayers: Int?

    @Option(name: .customLong("unfreeze-every"), help: ArgumentHelp("Release one frozen layer every N epochs (0: never).", valueName: "N"))
    var unfreezeEvery = 1

    @Flag(name: .customLong("train-embeddings"), help: "Train the token and position embeddings too (frozen by default).")
    var trainEmbeddings = false

    @Option(name: .customLong("max-pairs"), help: "At most this many pairs (a seeded sample).")
    var maxPairs = 20_000

    @Option(name: .customLong("validation-fraction"), help: "Share of the pairs kept for early stopping.")
    var validationFraction = 0.1

    enum Validation: String, ExpressibleByArgument, CaseIterable { case items, pairs }

    @Option(name: .customLong("validate"), help: "What early stopping watches: items (10 % of the training items set aside as if new, ranked for their users by each epoch's vectors, NDCG@10) or pairs (the contrastive loss on held-out pairs).")
    var validateOn: Validation = .items

    @Option(help: "Random seed (pair sample, shuffling, dropout).")
    var seed: UInt64 = 42

    @Option(help: ArgumentHelp("Write a JSON report (pairs, loss per epoch, the epoch kept).", valueName: "FILE.json"))
    var report: String?

    @OptionGroup var progressOptions: ProgressOptions

    func validate() throws {
        guard validationFraction > 0 && validationFraction < 1 else { throw ValidationError("--validation-fraction must be in (0, 1), got \(validationFraction)") }
        guard maxPairs >= 10 else { throw ValidationError("--max-pairs must be at least 10, got \(maxPairs)") }
        guard unfreezeEvery >= 0 else { throw ValidationError("--unfreeze-every must be 0 (never) or more, got \(unfreezeEvery)") }
    }

    func run() throws {
        let fieldList = try Embed.parse(["--store", store, "--encoder", encoder, "--fields", fields]).parsedFields()
        var recipe = DatasetRecipe(source: .store(store))
        if let holdout { recipe.holdout = .init(method: try holdoutOptions.method(holdout), seed: holdoutOptions.splitSeed ?? 42) }
        let prepared = try recipe.prepare(openStore: StoreOptions.open)
        let items = try StoreOptions.store(at: store, create: false).loadItems()
        var texts: [String: String] = [:]
        for item in items {
            let text = ItemTextEmbedding.text(of: item, fields: fieldList)
            if !text.isEmpty { texts[item.id] = text }
        }
        let start = try SentenceEncoder.load(directory: URL(fileURLWithPath: encoder))
        var validation: ColdItemValidation?
        if validateOn == .items {
            let v = ColdItemValidation(interactions: prepared.train, texts: texts, fraction: 0.1, seed: seed)
            guard v.userCount > 0 else { throw ValidationError("no user has both set-aside and other items with text; use --validate pairs") }
            for id in v.heldOutItems { texts[id] = nil }
            Terminal.note("early stopping on \(v.heldOutItems.count) training items set aside as if new, ranked for \(v.userCount) users")
            validation = v
        }
        let pairs = ContrastiveFineTuning.pairs(from: prepared.train, texts: texts, limit: maxPairs, seed: seed)
        let validationCount = max(1, Int((Double(pairs.count) * validationFraction).rounded()))
        guard pairs.count >= validationCount + 2 else {
            throw ValidationError("only \(pairs.count) pairs of consecutive items with text in \(fields); fine-tuning needs users who read several items with text")
        }
        var c = ContrastiveFineTuning.Configuration()
        c.epochs = epochs
        c.batchSize = batchSize
        c.learningRate = learningRate
        c.frozenLayers = frozenLayers
        c.unfreezeEvery = unfreezeEvery == 0 ? nil : unfreezeEvery
        c.freezeEmbeddings = !trainEmbeddings
        c.seed = seed
        Terminal.note("\(pairs.count) pairs (\(validationCount) for validation) from \(prepared.train.count) training interactions")
        let quiet = progressOptions.progress == .none
        let (tuned, summary) = try ContrastiveFineTuning.fineTune(start, train: Array(pairs.dropFirst(validationCount)),
                                                                 validation: Array(pairs.prefix(validationCount)), configuration: c,
                                                                 validator: validation.map { v in { v.score($0) } }) { e in
            guard !quiet else { return }
            let train = e.trainLoss.map { String(format: "train loss %.4f, ", $0) } ?? "before training: "
            let score = e.validationScore.map { String(format: ", set-aside items NDCG@10 %.4f", $0) } ?? ""
            Terminal.note("epoch \(e.epoch): \(train)validation loss \(String(format: "%.4f", e.validationLoss))\(score), \(e.frozenLayers) layers frozen, \(String(format: "%.1f", e.seconds))s\(e.improved ? " (best)" : "")")
        }
        try tuned.save(to: URL(fileURLWithPath: output))
        let measure: (ContrastiveFineTuning.EpochReport) -> String = { e in
            e.validationScore.map { "set-aside items NDCG@10 \($0)" } ?? "validation loss \(e.validationLoss)"
        }
        print(summary.bestEpoch == 0
              ? "no epoch beat the encoder as it came (\(measure(summary.epochs[0]))); saved it unchanged to \(output)"
              : "kept epoch \(summary.bestEpoch) (\(measure(summary.epochs[0])) → \(measure(summary.epochs[summary.bestEpoch]))); saved to \(output)")
        if let report {
            let encoderJSON = JSONEncoder()
            encoderJSON.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoderJSON.encode(summary).write(to: URL(fileURLWithPath: report))
        }
    }
}
