import ArgumentParser
import Foundation
import TailorDashboard
import TailorServer

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the dashboard as one static HTML file (the pages `tailor serve` shows at /dashboard).",
        discussion: """
        The data (events by type over time, the long tail, imports), the model versions
        (training curves), user segments on a 2-D map, drift between the two newest versions,
        and the experiments with their intervals: HTML with inline SVG plots, no JavaScript,
        for people without the server.

        Examples:
          tailor report --store tailor.db --models models --output report.html
          tailor report --store tailor.db --model model --output report.html
        """
    )

    @Option(help: ArgumentHelp("The store.", valueName: "FILE.db|URL")) var store: String
    @Option(help: ArgumentHelp("A registry of model versions (subdirectories), as for tailor serve --models.", valueName: "DIR")) var models: String?
    @Option(help: ArgumentHelp("One model directory.", valueName: "DIR")) var model: String?
    @Option(name: .shortAndLong, help: ArgumentHelp("The HTML file to write.", valueName: "FILE.html")) var output: String

    func validate() throws {
        if models != nil && model != nil { throw ValidationError("give --models DIR or --model DIR, not both") }
    }

    func run() throws {
        guard FileManager.default.fileExists(atPath: store) else { throw ValidationError("--store \(store): no such file") }
        _ = neuralModelsRegistered
        var list: [(name: String, path: String)] = []
        var active: String?
        if let models {
            let versions = try ModelVersions(root: models)
            list = try versions.list().sorted { ($0.created, $0.name) < ($1.created, $1.name) }.map { ($0.name, versions.path(of: $0.name)) }
            active = versions.active ?? list.last?.name
        } else if let model {
            list = [(URL(fileURLWithPath: model).lastPathComponent, model)]
            active = list[0].name
        }
        let html = try Dashboard.render(Dashboard.Input(store: StoreOptions.store(at: store, create: false), models: list, active: active))
        try Terminal.write(html, to: output)
        Terminal.note("wrote \(output) (\(html.utf8.count / 1024) KiB): open it in a browser")
    }
}
