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
        """
    )

    @Option(help: "The model directory written by `tailor train`.")
    var model: String

    @Option(help: "An item id (repeat for several).")
    var item: [String]

    @Option(help: "Similar items per item.")
    var k = 10

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
        for id in item {
            for (rank, entry) in try bundle.similarItems(to: id, k: k).enumerated() {
                csv += "\(InteractionWriter.quoted(id)),\(InteractionWriter.quoted(entry.item)),\(entry.score),\(rank + 1)\n"
            }
        }
        try Terminal.write(csv, to: output)
    }
}
