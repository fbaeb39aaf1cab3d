import Foundation
import TailorData
import TailorLinalg

/// The tree-structured Parzen estimator (Bergstra, Bardenet, Bengio & Kégl 2011), univariate
/// as in Hyperopt and Optuna: after `startup` random trials, the finished trials are split into
/// the best `γ` share and the rest; for each parameter, a Parzen density `l` of the good values
/// and `g` of the others (Gaussians at each value, bandwidth from the neighbouring values, plus
/// the uniform prior as one more component); `candidates` values drawn from `l`, and the one
/// with the largest `l/g` is proposed.
public struct TPE: Sendable {
    public var startup = 10
    public var gamma = 0.25
    public var candidates = 24
    /// Share of proposals after the start-up drawn at random, so the search keeps exploring.
    /// (Univariate TPE can still lock out a category whose early trials had poor values of the
    /// other parameters: it models each parameter alone.)
    public var randomFraction = 0.1

    public init(startup: Int = 10, gamma: Double = 0.25, candidates: Int = 24, randomFraction: Double = 0.1) {
        self.startup = startup
        self.gamma = gamma
        self.candidates = candidates
        self.randomFraction = randomFraction
    }

    /// The next configuration to try, given finished trials (`score`: larger is better).
    public func suggest(_ space: SearchSpace, history: [(configuration: [String: JSONValue], score: Double)], rng: inout TailorRandom) -> [String: JSONValue] {
        guard history.count >= startup, rng.nextDouble() >= randomFraction else { return space.sample(&rng) }
        let sorted = history.sorted { $0.score > $1.score }
        let nGood = max(1, Int((gamma * Double(sorted.count)).rounded(.up)))
        let good = sorted.prefix(nGood).map(\.configuration), bad = sorted.dropFirst(nGood).map(\.configuration)
        var out: [String: JSONValue] = [:]
        for (name, p) in space.parameters {
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
                func internalValue(_ v: JSONValue?) -> Double? {
                    guard case .number(let n)? = v else { return nil }
                    if case .int(_, _, let log, _) = p { return log ? Foundation.log(n) : n }
                    if case .float(_, _, let log, _) = p { return log ? Foundation.log(max(n, 1e-300)) : n }
                    return nil
                }
                let l = Parzen(values: good.compactMap { internalValue($0[name]) }, low: a, high: b)
                let g = Parzen(values: bad.compactMap { internalValue($0[name]) }, low: a, high: b)
                var best = l.sample(&rng), bestRatio = -Double.infinity
                for _ in 0..<candidates {
                    let x = l.sample(&rng)
                    let ratio = l.logDensity(x) - g.logDensity(x)
                    if ratio > bestRatio { best = x; bestRatio = ratio }
                }
                switch p {
                case .int(let low, let high, let log, _): out[name] = .number(Double(SearchSpace.clampInt(log ? exp(best) : best, low, high)))
                case .float(let low, let high, let log, _): out[name] = .number(min(high, max(low, log ? exp(best) : best)))
                case .choice: break
                }
            }
        }
        return out
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
