import ArgumentParser
import TailorAutodiff
import TailorNeural

/// The `tailor` command-line tool.
@main
struct Tailor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tailor",
        abstract: "Learn user and item embeddings from interaction logs and serve personalized recommendations.",
        discussion: """
        A typical session:

          tailor demo                                   # everything on synthetic data, nothing to download
          tailor ingest events.csv --store tailor.db    # load events into the embedded store
          tailor stats --store tailor.db                # what is there, and what cleaning removes
          tailor split ratings.csv --method random --train train.csv --test test.csv
          tailor train train.csv --model als --factors 64 --output model
          tailor evaluate --model model --train train.csv --test test.csv --k 5,10,20
          tailor recommend --model model --user 42 --k 10 --output -
          tailor similar --model model --item 318 --k 10

        Logs are CSV, TSV, '::' or whitespace separated, or JSON Lines; the MovieLens files
        (u.data, ratings.csv, ratings.dat) are recognized without options. Run
        `tailor help COMMAND` for each command's options and examples.
        """,
        version: "0.1.0",
        subcommands: [Demo.self, IngestCommand.self, Stats.self, Train.self, Models.self, Recommend.self, Similar.self, Evaluate.self, SplitLog.self,
                      SessionsCommand.self, Encode.self, Embed.self, FineTuneEncoder.self, Generate.self, Serve.self, Keys.self, Segments.self, Drift.self, ExperimentCommand.self, Tune.self, Report.self,
                      Export.self, Import.self]
    )

    /// Registers the neural models, then parses and runs the command.
    static func main() {
        _ = neuralModelsRegistered
        // Training reuses freed activation memory instead of faulting it in again each step
        // (TAILOR_MALLOC_DEFAULTS=1 keeps glibc's defaults).
        MemoryTuning.apply()
        main(nil)
    }
}

/// The neural models join the registry once, before any command (or a test calling one)
/// trains or loads a model by kind.
let neuralModelsRegistered: Void = TailorNeural.register()
