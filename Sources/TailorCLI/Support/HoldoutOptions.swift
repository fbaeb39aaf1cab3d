import ArgumentParser
import TailorData

/// How to hold out test interactions (shared by `split` and `train --holdout`).
struct HoldoutOptions: ParsableArguments {
    enum Method: String, ExpressibleByArgument, CaseIterable {
        case random, temporal
        case leaveLastOut = "leave-last-out"
        case globalTime = "global-time"
    }

    @Option(name: .customLong("test-fraction"), help: "Fraction held out (random, temporal, global-time; default 0.2).")
    var testFraction: Double?

    @Option(name: .customLong("test-count"), help: "Rows held out per user (temporal).")
    var testCount: Int?

    @Option(help: "Time cut for global-time: Unix seconds or a date such as 2024-06-01.")
    var cutoff: String?

    @Option(name: .customLong("split-seed"), help: "Random seed of the split (random method; default 42).")
    var splitSeed: UInt64?

    func method(_ m: Method) throws -> SplitMethod {
        switch m {
        case .random: return .random(testFraction: testFraction ?? 0.2)
        case .temporal:
            if let testCount { return .temporalCount(count: testCount) }
            return .temporalFraction(testFraction: testFraction ?? 0.2)
        case .leaveLastOut: return .leaveLastOut
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
}
