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
    var duplicates: DuplicateRule = .sum

    func configuration() throws -> InteractionReader.Configuration {
        var c = InteractionReader.Configuration()
        if let columns { c.columns = try ColumnSelection(parsing: columns) }
        if let delimiter {
            switch delimiter.lowercased() {
            case "json", "jsonl", "jsonlines", "json-lines": c.format = .jsonLines
            case ",", "comma", "csv": c.format = .delimited(.comma)
            case "\\t", "\t", "tab", "tsv": c.format = .delimited(.tab)
            case ";", "semicolon": c.format = .delimited(.semicolon)
            case "|", "pipe": c.format = .delimited(.pipe)
            case "::", "double-colon", "doublecolon": c.format = .delimited(.doubleColon)
            case " ", "space", "whitespace": c.format = .delimited(.whitespace)
            default:
                throw ValidationError("unknown --delimiter '\(delimiter)'; use comma, tab, semicolon, pipe, double-colon, whitespace or json")
            }
        }
        if let header { c.header = header ? .present : .absent }
        c.strict = strict
        c.minimumRating = minRating
        c.duplicates = duplicates
        return c
    }

    /// Reads `path`, printing the reader's summary to standard error.
    func read(_ path: String, quiet: Bool = false) throws -> (Interactions, InteractionReader.ReadReport) {
        let (log, report) = try InteractionReader.read(path: path, configuration: configuration())
        if !quiet { Terminal.note(report.summary) }
        return (log, report)
    }
}

extension DuplicateRule: ExpressibleByArgument {}
