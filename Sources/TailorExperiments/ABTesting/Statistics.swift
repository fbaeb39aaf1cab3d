import Foundation

/// The statistics of online experiments: proportions with intervals, the two-proportion z-test,
/// the sample-ratio-mismatch check, and an always-valid sequential test.
public enum ABStatistics {
    /// Successes out of trials (clicks of exposures, conversions of users).
    public struct Proportion: Sendable, Codable, Equatable {
        public var successes: Int
        public var trials: Int
        public init(successes: Int, trials: Int) {
            self.successes = successes
            self.trials = trials
        }
        /// The observed rate (0 with no trials).
        public var rate: Double { trials > 0 ? Double(successes) / Double(trials) : 0 }

        /// The Wilson score interval (Wilson 1927) at `confidence`: unlike the textbook
        /// `p ± z·√(p(1−p)/n)` it stays inside [0, 1] and keeps its coverage for rare events.
        public func wilson(confidence: Double = 0.95) -> ClosedRange<Double> {
            ABStatistics.wilson(rate: rate, trials: Double(trials), confidence: confidence)
        }
    }

    /// The Wilson score interval of `rate` over `trials` (0...1 with none).
    static func wilson(rate p: Double, trials n: Double, confidence: Double) -> ClosedRange<Double> {
        guard n > 0 else { return 0...1 }
        let z = normalQuantile(0.5 + confidence / 2)
        let centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        let half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)).squareRoot()
        return max(0, centre - half)...min(1, centre + half)
    }

    /// A rate over units that each contribute several trials: clicks over items shown, summed
    /// over users. Users, not exposures, are what the experiment randomizes, and one user's
    /// exposures are not independent (some users click far more than others), so the variance
    /// of the rate comes from the users by the **delta method** (Deng, Knoblich & Lu 2018,
    /// "Applying the delta method in metric analytics"): with per-user successes `c` and
    /// trials `s`, n users and `R = Σc/Σs`, `Var(R) ≈ (σ²_c − 2R·σ_cs + R²·σ²_s) / (n·s̄²)`.
    /// Treating exposures as independent trials understates it by the design effect, and an
    /// A/A test then "finds" differences far more often than 5 % (measured in the tests).
    public struct Ratio: Sendable, Codable, Equatable {
        /// Units (users) added.
        public private(set) var units = 0
        /// Σ successes and Σ trials.
        public private(set) var successes = 0.0
        public private(set) var trials = 0.0
        var successesSquared = 0.0, trialsSquared = 0.0, cross = 0.0

        public init() {}

        /// Adds one unit's successes and trials.
        public mutating func add(successes c: Double, trials t: Double) {
            units += 1
            successes += c; trials += t
            successesSquared += c * c; trialsSquared += t * t; cross += c * t
        }

        /// Σ successes / Σ trials (0 with no trials).
        public var rate: Double { trials > 0 ? successes / trials : 0 }

        /// The delta-method variance of ``rate`` (0 with fewer than two units).
        public var variance: Double {
            guard units > 1, trials > 0 else { return 0 }
            let n = Double(units), meanC = successes / n, meanT = trials / n, r = rate
            let varC = (successesSquared - n * meanC * meanC) / (n - 1)
            let varT = (trialsSquared - n * meanT * meanT) / (n - 1)
            let cov = (cross - n * meanC * meanT) / (n - 1)
            return max(0, (varC - 2 * r * cov + r * r * varT) / (n * meanT * meanT))
        }

        /// The variance relative to that of as many independent trials (1: exposures behave
        /// as independent; above 1: users cluster).
        public var designEffect: Double {
            let binomial = rate * (1 - rate) / trials
            return binomial > 0 && units > 1 ? variance / binomial : 1
        }

        /// The trials that would give the same variance if independent (Kish's effective
        /// sample size), never more than the trials; 0 with a single unit (one user says
        /// nothing about how users differ).
        public var effectiveTrials: Double {
            guard units > 1 else { return 0 }
            let v = variance, r = rate
            guard v > 0 else { return trials }
            return min(trials, r * (1 - r) / v)
        }

        /// The Wilson interval on the effective trials: the usual one when exposures are
        /// independent, wider by √(design effect) when users cluster.
        public func wilson(confidence: Double = 0.95) -> ClosedRange<Double> {
            ABStatistics.wilson(rate: rate, trials: effectiveTrials, confidence: confidence)
        }
    }

    /// The z-test of `variant`'s ratio against `control`'s with delta-method variances (Welch
    /// style, unpooled), and the difference's interval at `confidence`.
    public static func compare(control a: Ratio, variant b: Ratio, confidence: Double = 0.95) -> Comparison {
        let difference = b.rate - a.rate
        let se = (a.variance + b.variance).squareRoot()
        guard a.trials > 0, b.trials > 0, se > 0 else {
            return Comparison(difference: difference, relativeLift: a.rate > 0 ? difference / a.rate : 0, lower: -1, upper: 1, z: 0, pValue: 1)
        }
        let z = difference / se
        let q = normalQuantile(0.5 + confidence / 2)
        return Comparison(difference: difference, relativeLift: a.rate > 0 ? difference / a.rate : 0,
                          lower: difference - q * se, upper: difference + q * se, z: z, pValue: 2 * normalSurvival(abs(z)))
    }

    /// A comparison of a variant's rate with the control's.
    public struct Comparison: Sendable, Codable, Equatable {
        /// Variant rate − control rate.
        public var difference: Double
        /// `difference / control rate` (0 when the control rate is 0).
        public var relativeLift: Double
        /// Interval of the difference (unpooled standard error).
        public var lower: Double
        public var upper: Double
        /// The pooled two-proportion z statistic and its two-sided p-value.
        public var z: Double
        public var pValue: Double
    }

    /// The two-proportion z-test of `variant` against `control` (two-sided, pooled standard
    /// error under the null), with the difference's interval at `confidence` (unpooled).
    public static func compare(control a: Proportion, variant b: Proportion, confidence: Double = 0.95) -> Comparison {
        let pa = a.rate, pb = b.rate, na = Double(a.trials), nb = Double(b.trials)
        let difference = pb - pa
        guard na > 0, nb > 0 else { return Comparison(difference: difference, relativeLift: 0, lower: -1, upper: 1, z: 0, pValue: 1) }
        let pooled = Double(a.successes + b.successes) / (na + nb)
        let se0 = (pooled * (1 - pooled) * (1 / na + 1 / nb)).squareRoot()
        let z = se0 > 0 ? difference / se0 : 0
        let p = se0 > 0 ? 2 * normalSurvival(abs(z)) : 1
        let se = (pa * (1 - pa) / na + pb * (1 - pb) / nb).squareRoot()
        let q = normalQuantile(0.5 + confidence / 2)
        return Comparison(difference: difference, relativeLift: pa > 0 ? difference / pa : 0,
                          lower: difference - q * se, upper: difference + q * se, z: z, pValue: p)
    }

    /// The sample-ratio-mismatch check: Pearson's χ² of the observed units per variant against
    /// the configured shares, and its p-value (df = variants − 1). A tiny p-value (below 0.001
    /// by convention) means the assignment or the logging is broken, and the experiment's
    /// results cannot be trusted.
    public static func sampleRatio(observed: [Int], expectedShares: [Double]) -> (chiSquare: Double, pValue: Double) {
        let total = Double(observed.reduce(0, +))
        guard observed.count == expectedShares.count, observed.count > 1, total > 0 else { return (0, 1) }
        var chi = 0.0
        for (o, share) in zip(observed, expectedShares) where share > 0 {
            let e = total * share
            chi += (Double(o) - e) * (Double(o) - e) / e
        }
        return (chi, chiSquareSurvival(chi, degrees: Double(observed.count - 1)))
    }

    /// The mixture sequential probability ratio test for a difference of two proportions
    /// (Johari, Pekelis & Walsh 2017, "Always valid inference"), in its normal approximation:
    /// with `v` the variance of the observed difference θ̂ and a normal mixing prior of variance
    /// τ² on the true difference, `Λ = √(v/(v+τ²))·exp(θ̂²τ² / (2v(v+τ²)))`. The always-valid
    /// p-value is the running minimum of `1/Λ` over the looks taken so far, so the
    /// experiment may be checked after every event and **stopped the first time p ≤ α**
    /// without inflating the false-positive rate above α.
    public struct Sequential: Sendable, Codable, Equatable {
        /// The mixing prior's standard deviation, as a share of the pooled rate (0.1: effects
        /// around a 10 % relative lift are detected soonest).
        public var relativeTau: Double
        /// The always-valid p-value so far.
        public private(set) var pValue = 1.0
        /// Looks taken.
        public private(set) var looks = 0

        public init(relativeTau: Double = 0.1) { self.relativeTau = relativeTau }

        /// Takes a look at the cumulative counts; returns the always-valid p-value.
        @discardableResult
        public mutating func update(control a: Proportion, variant b: Proportion) -> Double {
            guard a.trials > 0, b.trials > 0 else { looks += 1; return pValue }
            let pa = a.rate, pb = b.rate
            let v = pa * (1 - pa) / Double(a.trials) + pb * (1 - pb) / Double(b.trials)
            let pooled = Double(a.successes + b.successes) / Double(a.trials + b.trials)
            return update(difference: pb - pa, variance: v, pooledRate: pooled)
        }

        /// Takes a look at cumulative ratios (clicks over exposures per user), with their
        /// delta-method variances.
        @discardableResult
        public mutating func update(control a: Ratio, variant b: Ratio) -> Double {
            guard a.trials > 0, b.trials > 0 else { looks += 1; return pValue }
            return update(difference: b.rate - a.rate, variance: a.variance + b.variance,
                          pooledRate: (a.successes + b.successes) / (a.trials + b.trials))
        }

        /// Takes a look at an estimated difference and its variance.
        @discardableResult
        public mutating func update(difference theta: Double, variance v: Double, pooledRate: Double) -> Double {
            looks += 1
            let tau2 = pow(max(1e-6, relativeTau * pooledRate), 2)
            guard v > 0 else { return pValue }
            let logLambda = 0.5 * log(v / (v + tau2)) + theta * theta * tau2 / (2 * v * (v + tau2))
            pValue = min(pValue, min(1, exp(-logLambda)))
            return pValue
        }
    }

    // MARK: Distributions

    /// P(Z > z) for a standard normal.
    public static func normalSurvival(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }

    /// The standard normal quantile (Acklam's rational approximation refined by one Halley
    /// step; |error| < 1e-12 on (0, 1)).
    public static func normalQuantile(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "a quantile needs 0 < p < 1")
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        var x: Double
        if p < 0.02425 {
            let q = (-2 * log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p > 1 - 0.02425 {
            let q = (-2 * log(1 - p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else {
            let q = p - 0.5, r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        }
        let e = 0.5 * erfc(-x / 2.0.squareRoot()) - p
        let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        return x - u / (1 + x * u / 2)
    }

    /// P(X > x) for a χ² variable with `degrees` degrees of freedom: the regularized upper
    /// incomplete gamma function Q(k/2, x/2) (series below its mean, continued fraction above,
    /// as in Numerical Recipes' `gammq`).
    public static func chiSquareSurvival(_ x: Double, degrees: Double) -> Double {
        guard x > 0 else { return 1 }
        let a = degrees / 2, y = x / 2
        let logPrefix = -y + a * log(y) - lgamma(a)
        if y < a + 1 {
            var sum = 1 / a, term = 1 / a, n = a
            for _ in 0..<10_000 {
                n += 1
                term *= y / n
                sum += term
                if abs(term) < abs(sum) * 1e-15 { break }
            }
            return max(0, 1 - sum * exp(logPrefix))
        }
        // Lentz's continued fraction for Q.
        let tiny = 1e-300
        var b = y + 1 - a, c = 1 / tiny, d = 1 / b, h = d
        for i in 1..<10_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b; if abs(d) < tiny { d = tiny }
            c = b + an / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-15 { break }
        }
        return min(1, exp(logPrefix) * h)
    }
}
