import Foundation
import TailorData
import TailorLinalg

/// Alternating least squares for implicit feedback (Hu, Koren and Volinsky, "Collaborative
/// Filtering for Implicit Feedback Datasets", ICDM 2008), with the conjugate-gradient solver of
/// Takács, Pilászy and Tikk ("Applications of the Conjugate Gradient Method for Implicit Feedback
/// Collaborative Filtering", RecSys 2011) or an exact Cholesky solve.
///
/// Each observed strength `r` becomes a preference `p = 1` with confidence `c = 1 + α·r`;
/// unobserved pairs have `p = 0`, `c = 1`; a negative strength is negative feedback (`p = 0`,
/// `c = 1 + α·|r|`). Training minimises `Σ c (p − xᵤ·yᵢ)² + λ(Σ‖xᵤ‖² + Σ‖yᵢ‖²)` by solving for all
/// user vectors with the item vectors fixed, then the reverse, `iterations` times. Each half-step
/// is parallel over rows; a row's solve does not depend on the others, so results are identical
/// for any thread count.
///
/// ```swift
/// let model = try ALS.fit(InteractionMatrix(log), configuration: .init(factors: 64))
/// let top10 = model.recommend(users: [0], k: 10, exclude: matrix.userItems, threads: 0)
/// ```
public struct ALS: FactorModel, TrainableRecommender, HistoryScoring {
    /// The model family name, `als`.
    public static let kind = "als"

    /// How the per-row least-squares problems are solved.
    public enum Solver: String, Sendable, Codable, CaseIterable {
        /// A few conjugate-gradient steps warm-started from the previous vector (fast; default).
        case conjugateGradient = "cg"
        /// The exact solution by Cholesky factorization (slower, O(k³) per row).
        case cholesky
    }

    /// ALS hyperparameters.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Length of the user and item vectors.
        public var factors = 64
        /// Alternating passes over users and items.
        public var iterations = 15
        /// L2 penalty λ on every vector, not scaled by interaction counts (as in implicit; Spark's
        /// ALS-WR scales it). 10: of 0.05–100, the value highest on three of the four temporal
        /// splits measured and above the former 0.05 on all four (MovieLens 100K and
        /// latest-small, Last.fm as a log, synthetic play counts: +5 to +12 %; 20 and up lose on
        /// Last.fm), and level on leave-last-out sequences (Docs/Benchmarks.md).
        public var regularization: Float = 10
        /// Confidence slope α in `c = 1 + α·r`. 0.5 with the recipe's default `log` transform:
        /// the pair measured at or above binarized input on ratings, sequences and raw play counts
        /// (`Benchmarks/defaults_vs_popularity.py`, Docs/Benchmarks.md).
        public var alpha: Float = 0.5
        /// Per-row solver.
        public var solver: Solver = .conjugateGradient
        /// Conjugate-gradient steps per row and half-iteration.
        public var conjugateGradientSteps = 3
        /// Seed for the initial vectors.
        public var seed: UInt64 = 1
        /// Worker threads (0: all cores).
        public var threads = 0
        /// Standard deviation of the initial vectors' entries.
        public var initialScale: Float = 0.01
        /// Compute the training loss after every iteration (costs about one CG step).
        public var computeLoss = true

        /// A configuration; every parameter has the documented default.
        public init(factors: Int = 64, iterations: Int = 15, regularization: Float = 10, alpha: Float = 0.5,
                    solver: Solver = .conjugateGradient, seed: UInt64 = 1, threads: Int = 0) {
            self.factors = factors
            self.iterations = iterations
            self.regularization = regularization
            self.alpha = alpha
            self.solver = solver
            self.seed = seed
            self.threads = threads
        }

        func validate() throws {
            guard factors >= 1 && factors <= 4096 else { throw ModelError(.invalidConfiguration, reason: "factors must be between 1 and 4096, got \(factors)") }
            guard iterations >= 0 else { throw ModelError(.invalidConfiguration, reason: "iterations must be ≥ 0, got \(iterations)") }
            guard regularization >= 0 && regularization.isFinite else { throw ModelError(.invalidConfiguration, reason: "regularization must be ≥ 0, got \(regularization)") }
            guard alpha >= 0 && alpha.isFinite else { throw ModelError(.invalidConfiguration, reason: "alpha must be ≥ 0, got \(alpha)") }
            guard conjugateGradientSteps >= 1 else { throw ModelError(.invalidConfiguration, reason: "conjugate-gradient steps must be ≥ 1") }
        }
    }

    /// One iteration's record.
    public struct IterationRecord: Sendable, Codable, Equatable {
        /// 1-based iteration.
        public var iteration: Int
        /// Training loss after it (see ``ALS/loss(_:)``), if computed.
        public var loss: Double?
        /// Seconds since the fit started.
        public var seconds: Double
        /// Rows whose exact (Cholesky) solve failed because the system was not positive definite
        /// (possible only with `regularization = 0`) and which were solved by conjugate gradient
        /// instead; `nil` for the CG solver.
        public var fallbackSolves: Int?

        /// A record.
        public init(iteration: Int, loss: Double?, seconds: Double, fallbackSolves: Int? = nil) {
            self.iteration = iteration
            self.loss = loss
            self.seconds = seconds
            self.fallbackSolves = fallbackSolves
        }
    }

    /// The hyperparameters used.
    public let configuration: Configuration
    /// `users × factors`.
    public let userFactors: Matrix
    /// `items × factors`.
    public let itemFactors: Matrix
    /// Loss and time per iteration.
    public let history: [IterationRecord]

    /// `YᵀY + λI` for the item factors, kept for fold-in.
    let itemGram: Matrix

    /// A model from known factors (for example, loaded from a file).
    public init(configuration: Configuration, userFactors: Matrix, itemFactors: Matrix, history: [IterationRecord] = []) {
        precondition(userFactors.columns == itemFactors.columns, "user and item factors differ in width")
        self.configuration = configuration
        self.userFactors = userFactors
        self.itemFactors = itemFactors
        self.history = history
        var gram = itemFactors.gram(threads: configuration.threads)
        for i in 0..<gram.rows { gram[i, i] += configuration.regularization }
        itemGram = gram
    }

    /// Trains on `data` (see ``fit(_:configuration:progress:)-(InteractionMatrix,_,_)``).
    public static func fit(_ data: TrainingData, configuration: Configuration, progress: ProgressHandler?) throws -> ALS {
        try fit(data.matrix, configuration: configuration, progress: progress)
    }

    /// Trains on `matrix` (users × items strengths).
    ///
    /// - Throws: ``ModelError`` for an empty matrix or invalid hyperparameters.
    /// - Complexity: per iteration, O(nnz·k·steps + (users + items)·k²·steps) with CG, or
    ///   O(nnz·k² + (users + items)·k³) with Cholesky.
    public static func fit(_ matrix: InteractionMatrix, configuration: Configuration = .init(),
                           progress: ProgressHandler? = nil) throws -> ALS {
        try configuration.validate()
        guard matrix.nonZeroCount > 0 else {
            throw ModelError(.emptyData, reason: "no interactions to train on (\(matrix.userCount) users, \(matrix.itemCount) items, 0 interactions)",
                             hint: "check the input log and any filters (--min-rating) that may have removed every row")
        }
        let k = configuration.factors
        let x = randomFactors(matrix.userCount, k, seed: configuration.seed, stream: 1, scale: configuration.initialScale)
        let y = randomFactors(matrix.itemCount, k, seed: configuration.seed, stream: 2, scale: configuration.initialScale)
        return iterate(matrix, configuration: configuration, users: x, items: y, history: [], steps: configuration.iterations, progress: progress)
    }

    /// `steps` more iterations from these factors; `configuration.iterations` counts them all.
    static func iterate(_ matrix: InteractionMatrix, configuration: Configuration, users: Matrix, items: Matrix, history past: [IterationRecord],
                        steps: Int, progress: ProgressHandler?) -> ALS {
        let start = monotonicSeconds()
        let threads = effectiveThreadCount(configuration.threads)
        let userConfidence = confidence(matrix.userItems, alpha: configuration.alpha)
        let itemConfidence = confidence(matrix.itemUsers, alpha: configuration.alpha)
        var x = users, y = items
        var history = past
        let done = past.count
        for iteration in (done + 1)..<(done + steps + 1) {
            let failed = solve(&x, fixed: y, confidence: userConfidence, configuration, threads: threads)
                + solve(&y, fixed: x, confidence: itemConfidence, configuration, threads: threads)
            let loss = configuration.computeLoss
                ? lossValue(userFactors: x, itemFactors: y, confidence: userConfidence, regularization: configuration.regularization, threads: threads)
                : nil
            let elapsed = monotonicSeconds() - start
            let fallbacks = configuration.solver == .cholesky ? failed : nil
            history.append(IterationRecord(iteration: iteration, loss: loss, seconds: elapsed, fallbackSolves: fallbacks))
            var metrics = loss.map { ["loss": $0] } ?? [:]
            if let fallbacks, fallbacks > 0 { metrics["fallback_solves"] = Double(fallbacks) }
            progress?(TrainingEvent(model: kind, step: iteration, totalSteps: configuration.iterations, elapsedSeconds: elapsed,
                                    metrics: metrics))
        }
        return ALS(configuration: configuration, userFactors: x, itemFactors: y, history: history)
    }

    /// Confidence-coded values: `1 + α·r` for `r ≥ 0`, `−(1 + α·|r|)` for negative feedback.
    static func confidence(_ m: CSRMatrix, alpha: Float) -> CSRMatrix {
        m.mapValues { r in r >= 0 ? 1 + alpha * r : -(1 + alpha * -r) }
    }

    /// Initial vectors with entries from N(0, scale²), seeded.
    static func randomFactors(_ rows: Int, _ k: Int, seed: UInt64, stream: UInt64, scale: Float) -> Matrix {
        var rng = TailorRandom(seed: seed, stream: stream)
        return Matrix(rows: rows, columns: k, storage: (0..<(rows * k)).map { _ in Float(rng.nextGaussian()) * scale })
    }

    /// CG rows with up to this many observations copy their factor rows into scratch first
    /// (more loads in flight, then cache-resident passes): 4,096, 1 MiB of scratch per worker
    /// at 64 factors. `TAILOR_ALS_GATHER=N` overrides it for measurements (0 turns it off).
    static let gatherRows = ProcessInfo.processInfo.environment["TAILOR_ALS_GATHER"].flatMap(Int.init).map { max(0, $0) } ?? 4096

    /// Re-solves every row of `target` against the fixed factors. Returns how many exact solves
    /// failed (a system that is not positive definite) and were solved by CG instead.
    @discardableResult
    static func solve(_ target: inout Matrix, fixed: Matrix, confidence: CSRMatrix, _ c: Configuration, threads: Int) -> Int {
        let k = c.factors
        var gram = fixed.gram(threads: threads)
        for i in 0..<k { gram[i, i] += c.regularization }
        let rows = target.rows
        // Exact solves process a row's observations in blocks, bounding scratch memory.
        let block = 256
        let gatherRows = ALS.gatherRows
        let cgScratch = Kernels.implicitCGScratchCount(k: k, gatherRows: gatherRows)
        let scratchPerWorker = c.solver == .cholesky ? max(Kernels.implicitExactScratchCount(k: k, count: block), cgScratch) : cgScratch
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchPerWorker * threads)
        let chunkCount = (rows + 63) / 64
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: max(1, chunkCount))
        failures.initialize(repeating: 0, count: max(1, chunkCount))
        defer { scratch.deallocate(); failures.deallocate() }
        gram.withUnsafeBufferPointer { g in
            fixed.withUnsafeBufferPointer { f in
                target.withUnsafeMutableBufferPointer { t in
                    confidence.rowPointers.withUnsafeBufferPointer { ptr in
                        confidence.columnIndices.withUnsafeBufferPointer { idx in
                            confidence.values.withUnsafeBufferPointer { val in
                                let shared = UnsafeSendable((g.baseAddress!, f.baseAddress!, t.baseAddress!, ptr.baseAddress!,
                                                                idx.baseAddress, val.baseAddress, scratch, failures))
                                parallelFor(rows, chunkSize: 64, threads: threads) { chunk in
                                    let (g, f, t, ptr, idx, val, scratch, failures) = shared.value
                                    let s = scratch + chunk.worker * scratchPerWorker
                                    for row in chunk.range {
                                        let lo = ptr[row], count = ptr[row + 1] - lo
                                        let x = t + row * k
                                        guard let idx, let val else {
                                            // No observations anywhere: the solution is 0.
                                            x.update(repeating: 0, count: k)
                                            continue
                                        }
                                        switch c.solver {
                                        case .conjugateGradient:
                                            Kernels.implicitLeastSquaresCG(gram: g, factors: f, k: k, indices: idx + lo,
                                                                           confidences: val + lo, count: count, x: x,
                                                                           steps: c.conjugateGradientSteps, scratch: s, gatherRows: gatherRows)
                                        case .cholesky:
                                            // Not positive definite (λ = 0 and degenerate factors): CG
                                            // still finds a least-squares solution; count it.
                                            if !Kernels.implicitLeastSquaresExactOrCG(gram: g, factors: f, k: k, indices: idx + lo,
                                                                                      confidences: val + lo, count: count, x: x,
                                                                                      scratch: s, block: block, steps: c.conjugateGradientSteps) {
                                                failures[chunk.index] += 1
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (0..<chunkCount).reduce(0) { $0 + failures[$1] }
    }
}
