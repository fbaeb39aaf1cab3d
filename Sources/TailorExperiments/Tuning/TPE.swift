import Foundation
import TailorData
import TailorLinalg

/// The tree-structured Parzen estimator (Bergstra, Bardenet, Bengio & Kégl 2011), univariate
/// as in Hyperopt and Optuna: after `startup` random trials, the finished trials are split into
/// the best `γ` share and the rest; for each parameter, a Parzen density `l` of the good values
/// and `g` of the others (Gaussians at each value, bandwidth from the neighbouring values, plus
/// the uniform prior as one more component); `candidates` values drawn from `l`, and the one
/// with the largest `l/g` is proposed.
///
/// **Multivariate** (the default, as Optuna's `multivariate=True` and BOHB, Falkner et al.
/// 2018): over the ranges, `l` and `g` are joint densities, a product of Gaussians at each trial
/// (Scott's bandwidth), so ranges that trade off against each other (ALS's regularization and
/// alpha) are proposed together rather than each from its own marginal. Choices keep their own
/// per-parameter ratio: in a joint kernel their signal drowns in the ranges' (measured on a
/// ridge objective with a better choice: picked in 3 of 10 searches jointly, 5 of 10 alone).
public struct TPE: Sendable {
    public var startup = 10
    /// Share of the finished trials that make the good density (Optuna uses about 0.1, Hyperopt
    /// 0.25; 0.15 did better than either on ALS with ~20 trials, Docs/Benchmarks.md).
    public var gamma = 0.15
    public var candidates = 24
    /// Share of proposals after the start-up drawn at random, so the search keeps exploring
    /// (BOHB draws a third at random). TPE's densities can settle on a second-best ridge that an
    /// early trial found by luck (ALS's low-regularization ridge), and univariate TPE can lock
    /// out a category whose early trials had poor values of the other parameters. 0.25 measured
    /// a little better than 0.1 and 1/3 on ALS over 80 seeded searches (Docs/Benchmarks.md).
    public var randomFraction = 0.25
    /// Joint densities over all parameters (true) or one per parameter (false).
    public var multivariate = true

    public init(startup: Int = 10, gamma: Double = 0.15, candidates: Int = 24, randomFraction: Double = 0.25, multivariate: Bool = true) {
        self.startup = startup
        self.gamma = gamma
        self.candidates = candidates
        self.randomFraction = randomFraction
        self.multivariate = multivariate
    }

    /// The next configuration to try, given finished trials (`score`: larger is better).
    public func suggest(_ space: SearchSpace, history: [(configuration: [String: JSONValue], score: Double)], rng: inout TailorRandom) -> [String: JSONValue] {
        guard history.count >= startup, rng.nextDouble() >= randomFraction else { return space.sample(&rng) }
        let sorted = history.sorted { $0.score > $1.score }
        let nGood = max(1, Int((gamma * Double(sorted.count)).rounded(.up)))
        let good = sorted.prefix(nGood).map(\.configuration), bad = sorted.dropFirst(nGood).map(\.configuration)
        var out: [String: JSONValue] = [:]
        if multivariate {
            let numeric = SearchSpace(parameters: space.parameters.filter { if case .choice = $0.parameter { false } else { true } })
            if !numeric.parameters.isEmpty { out = suggestJointly(numeric, good: good, bad: bad, rng: &rng) }
        }
        for (name, p) in space.parameters where out[name] == nil {
            switch p {
            case .choice(let values):
                func weights(_ configs: [[String: JSONValue]]) -> [Double] {
                    values.map { v in (Double(configs.filter { $0[name] == v }.count) + 1) / (Double(configs.count) + Double(values.count)) }
                }
                let l = weights(good), g = weights(bad)
                var best = 0, bestRatio = -Double.infinity
                for _ in 0..<candidates {
                    let c = TPE.draw(l, &rng)
                    let ratio = log(l[c]) - log(g[c])
                    if ratio > bestRatio { best = c; bestRatio = ratio }
                }
                out[name] = values[best]
            case .int, .float:
                let (a, b) = SearchSpace.internalRange(p)
                let l = Parzen(values: good.compactMap { TPE.internalValue(p, $0[name]) }, low: a, high: b)
                let g = Parzen(values: bad.compactMap { TPE.internalValue(p, $0[name]) }, low: a, high: b)
                var best = l.sample(&rng), bestRatio = -Double.infinity
                for _ in 0..<candidates {
                    let x = l.sample(&rng)
                    let ratio = l.logDensity(x) - g.logDensity(x)
                    if ratio > bestRatio { best = x; bestRatio = ratio }
                }
                out[name] = TPE.externalValue(p, best)
            }
        }
        return out
    }

    /// A range's value in the search's internal coordinates (the log for log ranges).
    static func internalValue(_ p: SearchSpace.Parameter, _ v: JSONValue?) -> Double? {
        switch p {
        case .choice: return nil
        case .int(_, _, let log, _), .float(_, _, let log, _):
            guard case .number(let n)? = v else { return nil }
            return log ? Foundation.log(max(n, 1e-300)) : n
        }
    }

    static func externalValue(_ p: SearchSpace.Parameter, _ x: Double) -> JSONValue {
        switch p {
        case .choice: return .null
        case .int(let low, let high, let log, _): return .number(Double(SearchSpace.clampInt(log ? exp(x) : x, low, high)))
        case .float(let low, let high, let log, _): return .number(min(high, max(low, log ? exp(x) : x)))
        }
    }

    func suggestJointly(_ space: SearchSpace, good: [[String: JSONValue]], bad: [[String: JSONValue]], rng: inout TailorRandom) -> [String: JSONValue] {
        let parameters = space.parameters.map(\.parameter)
        func points(_ configs: [[String: JSONValue]]) -> [[Double]] {
            configs.compactMap { c in
                let x = space.parameters.map { TPE.internalValue($0.parameter, c[$0.name]) }
                return x.contains(where: { $0 == nil }) ? nil : x.map { $0! }
            }
        }
        let l = JointParzen(points: points(good), parameters: parameters)
        let g = JointParzen(points: points(bad), parameters: parameters)
        var best = l.sample(&rng), bestRatio = -Double.infinity
        for _ in 0..<candidates {
            let x = l.sample(&rng)
            let ratio = l.logDensity(x) - g.logDensity(x)
            if ratio > bestRatio { best = x; bestRatio = ratio }
        }
        var out: [String: JSONValue] = [:]
        for (i, p) in space.parameters.enumerated() { out[p.name] = TPE.externalValue(p.parameter, best[i]) }
        return out
    }

    /// A density over the ranges jointly: the uniform prior and, at each point, a product of
    /// truncated Gaussians with bandwidth 0.2 · n^(-1/(d+4)) of each range (Scott's rule, as in
    /// Optuna's multivariate TPE); equal weights. Choices are not modelled here.
    struct JointParzen {
        let ranges: [(low: Double, high: Double)]
        let points: [[Double]]
        let sigmas: [Double]
        /// log of each point's kernel mass inside the box (truncation), by point.
        let logMasses: [Double]
        let logPrior: Double

        init(points: [[Double]], parameters: [SearchSpace.Parameter]) {
            let ranges = parameters.map { SearchSpace.internalRange($0) }
            let d = Double(parameters.count), n = Double(max(points.count, 1))
            let sigmas = ranges.map { max(1e-12, 0.2 * pow(n, -1 / (d + 4)) * ($0.1 - $0.0)) }
            self.ranges = ranges.map { (low: $0.0, high: $0.1) }
            self.points = points
            self.sigmas = sigmas
            var masses: [Double] = []
            for x in points {
                var m = 0.0
                for j in x.indices {
                    let (a, b) = ranges[j]
                    m += log(max(1e-12, Parzen.cdf((b - x[j]) / sigmas[j]) - Parzen.cdf((a - x[j]) / sigmas[j])))
                }
                masses.append(m)
            }
            logMasses = masses
            var prior = 0.0
            for (a, b) in ranges { prior -= log(max(b - a, 1e-300)) }
            logPrior = prior
        }

        func logDensity(_ x: [Double]) -> Double {
            var terms = [logPrior]
            for (i, point) in points.enumerated() {
                var t = -logMasses[i]
                for j in x.indices {
                    let z = (x[j] - point[j]) / sigmas[j]
                    t += -0.5 * z * z - log(sigmas[j] * (2 * Double.pi).squareRoot())
                }
                terms.append(t)
            }
            let top = terms.max()!
            return top + log(terms.reduce(0) { $0 + exp($1 - top) }) - log(Double(terms.count))
        }

        func sample(_ rng: inout TailorRandom) -> [Double] {
            let c = rng.nextInt(below: points.count + 1)
            return ranges.enumerated().map { j, r in
                if c == points.count { return r.low + rng.nextDouble() * (r.high - r.low) }
                for _ in 0..<32 {
                    let x = points[c][j] + sigmas[j] * rng.nextGaussian()
                    if x >= r.low && x <= r.high { return x }
                }
                return min(r.high, max(r.low, points[c][j]))
            }
        }
    }

    static func draw(_ weights: [Double], _ rng: inout TailorRandom) -> Int {
        var target = rng.nextDouble() * weights.reduce(0, +)
        for (i, w) in weights.enumerated() {
            target -= w
            if target <= 0 { return i }
        }
        return weights.count - 1
    }

    /// A Parzen density on [low, high]: the uniform prior and a Gaussian at each value with a
    /// bandwidth of the larger gap to its neighbours (bounded below by the range over
    /// min(100, n + 1)), each truncated to the range; equal weights.
    struct Parzen {
        let low: Double, high: Double
        let means: [Double], sigmas: [Double], masses: [Double]

        init(values: [Double], low: Double, high: Double) {
            self.low = low
            self.high = high
            let sorted = values.map { min(high, max(low, $0)) }.sorted()
            let span = high - low
            let floor = span / Double(min(100, sorted.count + 1))
            var sigmas: [Double] = []
            for (i, x) in sorted.enumerated() {
                let left = i > 0 ? x - sorted[i - 1] : x - low
                let right = i + 1 < sorted.count ? sorted[i + 1] - x : high - x
                sigmas.append(min(span, max(floor, max(left, right))))
            }
            means = sorted
            self.sigmas = sigmas
            masses = zip(sorted, sigmas).map { m, s in Parzen.cdf((high - m) / s) - Parzen.cdf((low - m) / s) }
        }

        static func cdf(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }

        func logDensity(_ x: Double) -> Double {
            let k = Double(means.count + 1)
            var density = 1 / (high - low)  // the prior
            for i in means.indices {
                let z = (x - means[i]) / sigmas[i]
                density += exp(-0.5 * z * z) / (sigmas[i] * (2 * Double.pi).squareRoot() * max(masses[i], 1e-12))
            }
            return log(density / k)
        }

        func sample(_ rng: inout TailorRandom) -> Double {
            let c = rng.nextInt(below: means.count + 1)
            if c == means.count { return low + rng.nextDouble() * (high - low) }
            for _ in 0..<32 {
                let x = means[c] + sigmas[c] * rng.nextGaussian()
                if x >= low && x <= high { return x }
            }
            return min(high, max(low, means[c]))
        }
    }
}
