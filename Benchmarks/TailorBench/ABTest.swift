import Foundation
import TailorExperiments
import TailorLinalg

/// `tailor-bench abtest [--runs N]`: the A/B statistics validated by simulation, at the sizes of
/// real experiments. A/A tests (no difference) must reject at the nominal 5 %; planted lifts must
/// be found with the power the normal approximation predicts; peeking after every look inflates
/// the z-test's false positives, which the always-valid sequential p-value must not. Then the
/// report's real shape: users who each see many items and differ in how often they click
/// (per-exposure z-test against the delta method over users), and team-draft interleaving
/// against an A/B test on the same users.
func benchABTest() {
    let runs = argument("--runs", default: 10_000)
    var rng = TailorRandom(seed: 2026)
    func binomial(_ n: Int, _ p: Double) -> Int {
        var k = 0
        for _ in 0..<n where rng.nextDouble() < p { k += 1 }
        return k
    }
    let base = 0.05, n = 10_000
    // A/A: fixed horizon.
    var falsePositives = 0, srmAlarms = 0
    for _ in 0..<runs {
        let a = ABStatistics.Proportion(successes: binomial(n, base), trials: n)
        let b = ABStatistics.Proportion(successes: binomial(n, base), trials: n)
        if ABStatistics.compare(control: a, variant: b).pValue < 0.05 { falsePositives += 1 }
        // Units split by a fair coin: the sample-ratio check must rarely cry wolf.
        let left = binomial(2 * n, 0.5)
        if ABStatistics.sampleRatio(observed: [left, 2 * n - left], expectedShares: [0.5, 0.5]).pValue < 0.001 { srmAlarms += 1 }
    }
    let fp = Double(falsePositives) / Double(runs)
    emit(["bench": "abtest-aa", "runs": runs, "users_per_arm": n, "rate": base, "false_positive_rate": fp,
          "false_positive_ci95": [fp - 1.96 * (fp * (1 - fp) / Double(runs)).squareRoot(), fp + 1.96 * (fp * (1 - fp) / Double(runs)).squareRoot()],
          "srm_false_alarm_rate": Double(srmAlarms) / Double(runs)])
    // Power against the normal approximation, for several relative lifts.
    for lift in [0.05, 0.1, 0.2] {
        let pb = base * (1 + lift)
        var found = 0
        let m = max(200, runs / 5)
        for _ in 0..<m {
            let c = ABStatistics.compare(control: .init(successes: binomial(n, base), trials: n), variant: .init(successes: binomial(n, pb), trials: n))
            if c.pValue < 0.05 && c.difference > 0 { found += 1 }
        }
        let se = (base * (1 - base) / Double(n) + pb * (1 - pb) / Double(n)).squareRoot()
        let theory = ABStatistics.normalSurvival(1.959963984540054 - (pb - base) / se)
        emit(["bench": "abtest-power", "runs": m, "users_per_arm": n, "relative_lift": lift, "power": Double(found) / Double(m), "theory": theory])
    }
    // Peeking: 50 looks of 400 users per arm each.
    let looks = 50, step = 400, m = max(200, runs / 10)
    for lift in [0.0, 0.2] {
        var naive = 0, valid = 0, stoppedAt: [Int] = []
        for _ in 0..<m {
            var a = ABStatistics.Proportion(successes: 0, trials: 0), b = a
            var sequential = ABStatistics.Sequential()
            var naiveHit = false, stop: Int?
            for look in 1...looks {
                a.successes += binomial(step, base); a.trials += step
                b.successes += binomial(step, base * (1 + lift)); b.trials += step
                if sequential.update(control: a, variant: b) <= 0.05, stop == nil { stop = look * step }
                if ABStatistics.compare(control: a, variant: b).pValue < 0.05 { naiveHit = true }
            }
            if naiveHit { naive += 1 }
            if let stop { valid += 1; stoppedAt.append(stop) }
        }
        emit(["bench": "abtest-peeking", "runs": m, "looks": looks, "users_per_look_per_arm": step, "relative_lift": lift,
              "z_test_any_look_rejection_rate": Double(naive) / Double(m), "sequential_rejection_rate": Double(valid) / Double(m),
              "sequential_mean_stop_users_per_arm": stoppedAt.isEmpty ? 0 : Double(stoppedAt.reduce(0, +)) / Double(stoppedAt.count)])
    }
    clusteredAndInterleaving(runs: max(200, runs / 10), rng: &rng)
}

/// Users with a click propensity (a fifth click often, the rest rarely) each shown 10 items.
/// A/A: how often the per-exposure z-test and the delta method reject. Then a candidate whose
/// items are clicked `lift` more often: the power of the A/B test (half the users each, delta
/// method) against team-draft interleaving (every user sees 5 items of each ranker; users who
/// prefer the candidate's items, sign test over users), at the same number of users.
func clusteredAndInterleaving(runs: Int, rng: inout TailorRandom) {
    func binomial(_ n: Int, _ p: Double, _ rng: inout TailorRandom) -> Int {
        var k = 0
        for _ in 0..<n where rng.nextDouble() < p { k += 1 }
        return k
    }
    let users = 2_000, shown = 10
    func propensity(_ rng: inout TailorRandom) -> Double { rng.nextDouble() < 0.2 ? 0.3 : 0.02 }
    for lift in [0.0, 0.1, 0.2] {
        var naive = 0, delta = 0, sequential = 0, interleaveSign = 0, interleaveSequential = 0
        for _ in 0..<runs {
            // A/B: users split in half; the treatment's items are clicked (1 + lift) times as often.
            var ratios = [ABStatistics.Ratio(), ABStatistics.Ratio()]
            var props = [ABStatistics.Proportion(successes: 0, trials: 0), ABStatistics.Proportion(successes: 0, trials: 0)]
            var looks = ABStatistics.Sequential()
            for u in 0..<users {
                let arm = u % 2, p = propensity(&rng) * (arm == 1 ? 1 + lift : 1)
                let clicks = binomial(shown, min(1, p), &rng)
                ratios[arm].add(successes: Double(clicks), trials: Double(shown))
                props[arm].successes += clicks; props[arm].trials += shown
                if (u + 1) % 100 == 0 { looks.update(control: ratios[0], variant: ratios[1]) }
            }
            if ABStatistics.compare(control: props[0], variant: props[1]).pValue < 0.05 { naive += 1 }
            if ABStatistics.compare(control: ratios[0], variant: ratios[1]).pValue < 0.05 { delta += 1 }
            if looks.pValue <= 0.05 { sequential += 1 }
            // Interleaving: each user sees 5 items of each ranker.
            var decisions: [Bool?] = []
            for _ in 0..<users {
                let p = propensity(&rng)
                let a = binomial(shown / 2, p, &rng), b = binomial(shown / 2, min(1, p * (1 + lift)), &rng)
                if a != b { decisions.append(b > a) }
            }
            let outcome = ExperimentReport.Interleaving.make(lists: users, users: users, decisions: decisions)
            if outcome.pValue < 0.05 { interleaveSign += 1 }
            if outcome.sequentialPValue <= 0.05 { interleaveSequential += 1 }
        }
        let r = Double(runs)
        emit(["bench": "abtest-clustered", "runs": runs, "users": users, "items_per_user": shown, "relative_lift": lift,
              "ab_per_exposure_z_rejection_rate": Double(naive) / r, "ab_delta_method_rejection_rate": Double(delta) / r,
              "ab_sequential_20_looks_rejection_rate": Double(sequential) / r,
              "interleaving_sign_test_rejection_rate": Double(interleaveSign) / r, "interleaving_sequential_rejection_rate": Double(interleaveSequential) / r])
    }
}
