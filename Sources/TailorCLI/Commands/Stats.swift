import ArgumentParser
import Foundation
import TailorData
import TailorStore
import TailorSQLite

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report on a store: users, items, events per type, sparsity, long tail, sessions, and what each cleaning step removes.",
        discussion: """
        Shows the raw events, what cleaning removes step by step (with the users flagged as bots
        and why), and the cleaned data. Nothing in the store changes.

        Cleaning (all configurable with --cleaning FILE.json; fields as below):
          anomalies         events in the future (futureToleranceSeconds), before earliestTime,
                            impossible dwell (maximumDwellSeconds), ratings outside ratingRange,
                            types the weighting does not know (dropUnknownTypes)
          exact duplicates  same user, item, type, value, time and session (exactDuplicates)
          quick repeats     same user, item and type within repeatWindowSeconds (default 2)
          bots              users above bots.maxEventsPerMinute (120), maxEventsPerSession (2000),
                            maxDistinctItemsPerHour (500), or with inhuman dwell patterns
          minimum rating    minimumRating
          k-core            userCore / itemCore

        Weights (--weights FILE.json): {"rules": {"view": {"constant": {"_0": 0.5}}, …},
        "negativeFeedback": "exclude"}; defaults: view 0.5, click 1, dwell min(4, 0.5·ln(1+s)),
        like 3, favorite 3, share 4, add_to_cart 3, purchase 5, review 2, rating value−3,
        skip −0.5, dislike −3 (negatives excluded unless negativeFeedback is "negative").

        Examples:
          tailor stats --store tailor.db
          tailor stats --store tailor.db --json stats.json --cleaning strict-cleaning.json
        """
    )

    @OptionGroup var data: StoreOptions

    @Option(name: .customLong("session-gap"), help: "Minutes of inactivity that end a session.")
    var sessionGap: Double = 30

    @Option(help: ArgumentHelp("Write the report as JSON.", valueName: "FILE.json"))
    var json: String?

    struct Output: Codable {
        var store: String
        var raw: DataStats
        var cleaning: CleaningReport
        var cleaned: DataStats
        var interactions: Int
        var imports: [ImportRecord]
    }

    func validate() throws {
        guard data.store != nil else { throw ValidationError("give --store FILE.db") }
    }

    func run() throws {
        let store = try StoreOptions.store(at: data.store!, create: false)
        let recipe = try data.recipe()
        let (log, clean, report) = try recipe.cleanedEvents(openStore: { _ in store })
        let sessionizer = Sessionizer(gapSeconds: sessionGap * 60)
        let raw = DataStats(log, sessionizer: sessionizer)
        let weights = recipe.weights
        let cleaned = DataStats(clean, sessionizer: sessionizer)
        let interactions = weights.interactions(from: clean)
        print("\(data.store!) — raw events")
        print(raw.summary.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        print("")
        print(report.summary)
        print("")
        print("after cleaning")
        print(cleaned.summary.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        print("  weighted into \(interactions.count) (user, item) interactions for training")
        if let json {
            try Terminal.writeJSON(Output(store: data.store!, raw: raw, cleaning: report, cleaned: cleaned, interactions: interactions.count,
                                          imports: try store.imports()), to: json)
        }
    }
}
