import ArgumentParser
import Foundation
import TailorData

struct SplitLog: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split",
        abstract: "Split a log into train and test files, reproducibly.",
        discussion: """
        Methods:
          random          per user, a random --test-fraction of their rows (default 0.2)
          temporal        per user, their latest --test-fraction of rows, or latest --test-count rows
          leave-last-out  per user, their single latest row
          global-time     every row at or after --cutoff (Unix seconds or a date), or the latest
                          --test-fraction of all rows

        Per-user methods keep at least one row of every user in train. Both files are CSV with
        the header user,item,rating[,timestamp] and the input's own ids, and read back with no
        options. Duplicate (user, item) rows are merged first (see --duplicates).

        Examples:
          tailor split ratings.csv --method random --test-fraction 0.2 --split-seed 42 --train train.csv --test test.csv
          tailor split u.data --method leave-last-out --train train.csv --test test.csv
          tailor split log.csv --method global-time --cutoff 2024-06-01 --train before.csv --test after.csv
          tailor split --store tailor.db --method temporal --train train.csv --test test.csv   # cleaned, weighted events
        """
    )

    @Argument(help: "The interaction log; or use --store.")
    var file: String?

    @OptionGroup(title: "Store") var storeOptions: StoreOptions

    @Option(help: "random, temporal, leave-last-out or global-time.")
    var method: HoldoutOptions.Method = .random

    @OptionGroup var holdout: HoldoutOptions

    @Option(name: .customLong("train"), help: "Where to write the training rows.")
    var trainPath: String

    @Option(name: .customLong("test"), help: "Where to write the test rows.")
    var testPath: String

    @OptionGroup var read: ReadOptions

    func run() throws {
        guard (file == nil) != (storeOptions.store == nil) else { throw ValidationError("give a log FILE or --store FILE.db (one of them)") }
        let splitMethod = try holdout.method(method)
        let log = file != nil ? try read.read(file!).0 : try storeOptions.interactions()
        let split = try Split.make(log, method: splitMethod, seed: holdout.splitSeed ?? 42)
        try InteractionWriter.write(split.train, to: trainPath)
        try InteractionWriter.write(split.test, to: testPath)
        let r = split.report
        Terminal.note("\(r.method): \(r.trainRows) train rows → \(trainPath), \(r.testRows) test rows (\(r.testUsers) users) → \(testPath)" +
                      (r.coldTestUsers > 0 ? "; \(r.coldTestUsers) test users have no training rows" : "") +
                      (r.coldTestItemRows > 0 ? "; \(r.coldTestItemRows) test rows have items absent from train" : ""))
    }
}
