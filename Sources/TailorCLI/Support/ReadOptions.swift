import ArgumentParser
import TailorData

/// Options shared by every command that reads an interaction log.
struct ReadOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Which columns hold what, by header name or 1-based position.",
                               discussion: "Example: --columns user=userId,item=movieId,rating=rating,time=timestamp. Use rating=none to ignore a rating column.",
                               valueName: "ROLE=COLUMN,…"))
    var columns: String?

    @Option(help: ArgumentHelp("Field separator: comma, tab, semicolon, pipe, double-colon, whitespace or json (JSON Lines). Detected when omitted.",
                               valueName: "SEP"))
    var delimiter: String?

    @Flag(inversion: .prefixedNo, help: "Whether the first row is a header (detected when neither is given).")
    var header: Bool?

    @Flag(help: "Stop at the first malformed row, naming file:line, instead of skipping and reporting it.")
    var strict = false

    @Option(name: .customLong("min-rating"), help: ArgumentHelp("Keep only rows rated at least this, as implicit feedback (strength 1).", valueName: "R"))
    var minRating: Float?

    @Option(help: ArgumentHelp("How repeated (user, item) rows combine: sum (default), last, first or max. The merged row keeps the latest time.",
                               valueName: "RULE"))
    var duplicates: DuplicateRule?

    /// `base` with the options that were given applied.
    func apply(to base: InteractionReader.Configuration) throws -> InteractionReader.Configuration {
        var c = base
        if let columns { c.columns = try ColumnSelection(parsing: columns) }
        if let delimiter { c.format = try LogFormat(parsing: delimiter) }
        if let header { c.header = header ? .present : .absent }
        if strict { c.strict = true }
        if let minRating { c.minimumRating = minRating }
        if let duplicates { c.duplicates = duplicates }
        return c
    }

    func configuration() throws -> InteractionReader.Configuration { try apply(to: .init()) }

    /// Reads `path`, printing the reader's summary to standard error.
    func read(_ path: String, quiet: Bool = false) throws -> (Interactions, InteractionReader.ReadReport) {
        let (log, report) = try InteractionReader.read(path: path, configuration: configuration())
        if !quiet { Terminal.note(report.summary) }
        return (log, report)
    }
}

extension DuplicateRule: ExpressibleByArgument {}
