import ArgumentParser
import Foundation
import TailorData
import TailorModels

struct Similar: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the items most similar to given items, by cosine of their learned vectors.",
        discussion: """
        Writes CSV with the header item,similar_item,score,rank.

        Examples:
          tailor similar --model model --item 318 --k 10
          tailor similar --model model --item 318 --item 50 --k 5 --output similar.csv

        An item the model was not trained on (nobody had interacted with it) is compared by its
        content when the model reads content (--model content): its vector is read from the
        store of the model's recipe (or --store) with the recipe's item vectors.
          tailor similar --model content --item new-article-17 --store tailor.db
        """
    )

    @Option(help: "The model directory written by `tailor train`.")
    var model: String

    @Option(help: "An item id (repeat for several).")
    var item: [String]

    @Option(help: "Similar items per item.")
    var k = 10

    @Option(help: ArgumentHelp("Where to read the content of items the model was not trained on (default: the store in the model's recipe).", valueName: "FILE.db|URL"))
    var store: String?

    @Option(name: .shortAndLong, help: "Output CSV file, or - for standard output.")
    var output = "-"

    func validate() throws {
        guard !item.isEmpty else { throw ValidationError("give at least one --item ID") }
        guard k >= 1 else { throw ValidationError("--k must be at least 1") }
    }

    func run() throws {
        _ = neuralModelsRegistered
        let bundle = try ModelBundle.load(from: URL(fileURLWithPath: model))
        var csv = "item,similar_item,score,rank\n"
        var side: SideInformation?
        for id in item {
            let list: [(item: String, score: Float)]
            if bundle.itemIDs.position(of: id) == nil, bundle.model is any ContentSimilarity {
                if side == nil {
                    guard var recipe = bundle.manifest.data.effectiveRecipe else {
                        throw ValidationError("\(model) records no recipe to read item content from; give --store FILE.db")
                    }
                    if let store { recipe.source = .store(store) }
                    side = try recipe.sideInformation(openStore: StoreOptions.open)
                }
                guard let content = side?.items[id] else {
                    throw ValidationError("unknown item '\(id)': neither in the training data nor in the catalogue of \(bundle.manifest.data.effectiveRecipe?.source.path ?? "the store")")
                }
                list = try bundle.similarItems(toContent: content, k: k)
            } else {
                list = try bundle.similarItems(to: id, k: k)
            }
            for (rank, entry) in list.enumerated() {
                csv += "\(InteractionWriter.quoted(id)),\(InteractionWriter.quoted(entry.item)),\(entry.score),\(rank + 1)\n"
            }
        }
        try Terminal.write(csv, to: output)
    }
}
