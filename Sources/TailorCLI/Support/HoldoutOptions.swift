import ArgumentParser
import TailorData

/// How to hold out test interactions (shared by `split` and `train --holdout`).
struct HoldoutOptions: ParsableArguments {
    enum Method: String, ExpressibleByArgument, CaseIterable {
        case random, temporal
        case leaveLastOut = "leave-last-out"
        case globalTime = "global-time"
        case coldUsers = "cold-users"
        case coldItems = "cold-items"
    }

    @Option(name: .customLong("test-fraction"), help: "Fraction held out (rows for random, temporal, global-time; users or items for cold-users, cold-items; default 0.2).")
    var testFraction: Double?

    @Option(name: .customLong("test-count"), help: "Rows held out per user (temporal).")
    var testCount: Int?

    @Option(help: "Time cut for global-time: Unix seconds or a date such as 2024-06-01.")
    var cutoff: String?

    @Option(help: "Cold users: how many of each held-out user's first events the model may see at test time (default 0).")
    var reveal: Int?

    @Option(name: .customLong("split-seed"), help: "Random seed of the split (random method; default 42).")
    var splitSeed: UInt64?

    func method(_ m: Method) throws -> SplitMethod {
        switch m {
        case .random: return .random(testFraction: testFraction ?? 0.2)
        case .temporal:
            if let testCount { return .temporalCount(count: testCount) }
            return .temporalFraction(testFraction: testFraction ?? 0.2)
        case .leaveLastOut: return .leaveLastOut
        case .coldUsers: return .coldUsers(testFraction: testFraction ?? 0.2, revealed: reveal ?? 0)
        case .coldItems: return .coldItems(testFraction: testFraction ?? 0.2)
        case .globalTime:
            if let cutoff {
                guard let t = Timestamp.parse(cutoff) else {
                    throw ValidationError("--cutoff '\(cutoff)' is neither Unix seconds nor a date like 2024-06-01")
                }
                return .globalTime(cutoff: t)
            }
            return .globalTimeFraction(testFraction: testFraction ?? 0.2)
        }
    }

    /// Sets `recipe`'s holdout from `--holdout` and these options (or only its seed, from
    /// `--split-seed`, when the run file already has one).
    func apply(_ holdout: Method?, to recipe: inout DatasetRecipe) throws {
        if let holdout {
            recipe.holdout = .init(method: try method(holdout), seed: splitSeed ?? recipe.holdout?.seed ?? 42)
        } else if let splitSeed, recipe.holdout != nil {
            recipe.holdout!.seed = splitSeed
        }
    }
}
