import Foundation
import TailorData
import TailorLinalg

/// Item2Vec (Barkan and Koenigstein, "Item2Vec: Neural Item Embedding for Collaborative
/// Filtering", 2016): word2vec's skip-gram with negative sampling (Mikolov et al. 2013) over
/// item sequences, each user's time-ordered history or their sessions.
///
/// Every (item, context item) pair within `window` positions is a positive example; `negatives`
/// items drawn from the unigram distribution raised to 3/4 are negatives. Frequent items are
/// subsampled (kept with probability `(√(f/t) + 1)·t/f` for frequency `f` and threshold `t`). The
/// learning rate decays linearly to 0.01 % of its start.
///
/// A user is represented by their items' (unit-length) vectors: the mean, a recency-weighted
/// mean (each item weighted `0.5^(age / halfLife)`), or attention, where for each candidate item
/// `j` the history items are weighted by `softmax(β·cos(i, j))`, so a user with several tastes is
/// matched on the taste the candidate belongs to.
///
/// Training runs on one thread: every update touches arbitrary items, so parallel updates would
/// either race (results depending on thread timing) or need locks; one thread keeps results
/// exactly reproducible for a seed.
public struct Item2Vec: TrainableRecommender, HistoryScoring, ItemSimilarity {
    /// The model family name, `item2vec`.
    public static let kind = "item2vec"

    /// How a user's item vectors are combined.
    public enum Aggregation: String, Sendable, Codable, CaseIterable {
        /// Plain mean.
        case mean
        /// Exponentially decayed by age, `halfLifeDays` (or `halfLifeEvents` without times).
        case recency
        /// Weighted by similarity to each candidate item (softmax with `attentionSharpness`).
        case attention
    }

    /// How candidate items are scored against a user's history.
    public enum Scoring: String, Sendable, Codable, CaseIterable {
        /// Cosine of the (aggregated) unit item vectors, as in the Item2Vec paper, plus
        /// ``Configuration/priorWeight`` times the candidate's log-frequency: a softmax over
        /// `count_j · exp(cos/τ)` with τ = priorWeight. The default. Pure cosine (priorWeight 0)
        /// is blind to how common an item is, which is what put Item2Vec below popularity on
        /// temporal splits (NDCG@10 0.035 vs 0.086 on ml-latest-small).
        case cosine
        /// An estimate of the log-probability of the candidate given the history: the mean of
        /// `in_h · out_j` over history items (skip-gram with negative sampling learns
        /// `in·out ≈ PMI − log k`, Levy and Goldberg 2014) plus priorWeight times the
        /// candidate's log-frequency (`log P(j | h) = PMI(h, j) + log P(j)` at weight 1).
        /// Measured below ``cosine`` on every data set tried; kept as an option.
        case probability
    }

    /// Item2Vec hyperparameters.
    public struct Configuration: Sendable, Codable, Equatable {
        /// Vector length.
        public var factors = 64
        /// Passes over the sequences (20: measured better than 10 on MovieLens, Last.fm and play
        /// counts, `Benchmarks/defaults_vs_popularity.py`).
        public var epochs = 20
        /// Context positions on each side; 0 (the default) treats the whole sequence as the
        /// context, as in the paper, sampling ``maxContexts`` of it for long sequences.
        public var window = 0
        /// With `window = 0`, at most this many context items per position, drawn at random.
        public var maxContexts = 50
        /// Negative samples per positive pair.
        public var negatives = 5
        /// Starting learning rate (word2vec's 0.025 suits billions of tokens; item logs are far
        /// smaller and train better with 0.05, measured on MovieLens 100K).
        public var learningRate: Float = 0.05
        /// Subsampling threshold `t` (0 disables subsampling).
        public var subsample: Double = 1e-3
        /// Split a user's history into sessions at gaps longer than this many seconds (needs
        /// timestamps); `nil` uses whole histories.
        public var sessionGapSeconds: Int?
        /// How user vectors are formed.
        public var aggregation: Aggregation = .mean
        /// Half-life in days for ``Aggregation/recency`` with timestamps.
        public var halfLifeDays: Double = 30
        /// Half-life in events for ``Aggregation/recency`` without timestamps.
        public var halfLifeEvents: Double = 20
        /// β in the attention softmax.
        public var attentionSharpness: Float = 5
        /// How candidates are scored (attention aggregation always scores by its own softmax).
        public var scoring: Scoring = .cosine
        /// Weight of the candidate's log-frequency added to its score (0: similarity alone).
        /// 0.05 with cosine scoring measured best of 0–0.2 on MovieLens 100K and latest-small,
        /// Last.fm sequences, play counts and a synthetic random split
        /// (`Benchmarks/defaults_vs_popularity.py`, Docs/Benchmarks.md).
        public var priorWeight: Float = 0.05
        /// Seed.
        public var seed: UInt64 = 1

        /// Throws a ``ModelError`` naming the first key out of range.
        public func validate() throws {
            func check(_ ok: Bool, _ key: String, _ rule: String, _ value: Any) throws {
                guard ok else { throw ModelError(.invalidConfiguration, reason: "Item2Vec \(key) must be \(rule), got \(value)") }
            }
            try check(factors >= 1 && factors <= 4096, "factors", "between 1 and 4096", factors)
            try check(epochs >= 0, "epochs", "≥ 0", epochs)
            try check(window >= 0, "window", "≥ 0", window)
            try check(negatives >= 1 && negatives <= 1000, "negatives", "between 1 and 1000", negatives)
            try check(maxContexts >= 1, "maxContexts", "≥ 1", maxContexts)
            try check(learningRate > 0 && learningRate.isFinite, "learningRate", "positive", learningRate)
            try check(subsample >= 0 && subsample.isFinite, "subsample", "≥ 0", subsample)
            try check(halfLifeDays > 0 && halfLifeDays.isFinite, "halfLifeDays", "positive", halfLifeDays)
            try check(halfLifeEvents > 0 && halfLifeEvents.isFinite, "halfLifeEvents", "positive", halfLifeEvents)
            try check(attentionSharpness.isFinite, "attentionSharpness", "finite", attentionSharpness)
            try check(priorWeight >= 0 && priorWeight.isFinite, "priorWeight", "≥ 0", priorWeight)
            try check((sessionGapSeconds ?? 1) > 0, "sessionGapSeconds", "positive", sessionGapSeconds ?? 0)
        }

        /// A configuration; every parameter has the documented default.
        public init(factors: Int = 64, epochs: Int = 20, window: Int = 0, negatives: Int = 5, aggregation: Aggregation = .mean, seed: UInt64 = 1) {
            self.factors = factors
            self.epochs = epochs
            self.window = window
            self.negatives = negatives
            self.aggregation = aggregation
            self.seed = seed
        }
    }

    /// The configuration used.
    public let configuration: Configuration
    /// `items × factors`, unit length (zero for items never seen).
    public let itemVectors: Matrix
    /// Each user's training history (time order) with times if known.
    public let histories: [UserHistory]
    /// `items × factors` input vectors as trained (not normalized), for ``Scoring/probability``;
    /// `nil` in models written before it existed.
    public let inputVectors: Matrix?
    /// `items × factors` output (context) vectors, for ``Scoring/probability``.
    public let outputVectors: Matrix?
    /// `log(count)` of each item in the training sequences (−∞ for items never seen; stored as
    /// a large negative number).
    public let logCounts: [Float]?

    /// Number of users.
    public var userCount: Int { histories.count }
    /// Number of items.
    public var itemCount: Int { itemVectors.rows }

    /// A model from known vectors and histories.
    public init(configuration: Configuration, itemVectors: Matrix, histories: [UserHistory],
                inputVectors: Matrix? = nil, outputVectors: Matrix? = nil, logCounts: [Float]? = nil) {
        self.configuration = configuration
        self.itemVectors = itemVectors
        self.histories = histories
        self.inputVectors = inputVectors
        self.outputVectors = outputVectors
        self.logCounts = logCounts
    }

    /// Whether scoring uses the log-probability estimate (the configuration asks for it, the
    /// vectors are there, and the aggregation is not attention).
    var scoresByProbability: Bool {
        configuration.scoring == .probability && configuration.aggregation != .attention
            && inputVectors != nil && outputVectors != nil && logCounts != nil
    }

    /// Trains the embeddings. O(epochs · pairs · negatives · factors) on one thread.
    public static func fit(_ data: TrainingData, configuration c: Configuration = .init(), progress: ProgressHandler? = nil) throws -> Item2Vec {
        guard data.matrix.nonZeroCount > 0 else {
            throw ModelError(.emptyData, reason: "no interactions to learn from (\(data.userCount) users, \(data.itemCount) items)")
        }
        try c.validate()
        if c.sessionGapSeconds != nil && !data.hasTimestamps {
            throw ModelError(reason: "sessions need timestamps, and this log has no time column",
                             hint: "name the time column with --columns time=COLUMN, or drop --session-gap")
        }
        let start = monotonicSeconds()
        let n = data.itemCount, k = c.factors
        let sequences = data.userSequences()
        let histories = sequences.map { UserHistory(items: $0.items, times: $0.times) }
        // Training sequences: whole histories or sessions.
        var corpus: [[Int32]] = []
        for s in sequences {
            guard let gap = c.sessionGapSeconds, let times = s.times else { corpus.append(s.items); continue }
            var current: [Int32] = []
            for (t, item) in s.items.enumerated() {
                if t > 0 && times[t] - times[t - 1] > Int64(gap) { corpus.append(current); current = [] }
                current.append(item)
            }
            corpus.append(current)
        }
        corpus = corpus.filter { $0.count >= 2 }
        var counts = [Double](repeating: 0, count: n)
        for s in corpus { for i in s { counts[Int(i)] += 1 } }
        let total = max(1, counts.reduce(0, +))
        let keep = counts.map { f -> Double in
            guard c.subsample > 0, f > 0 else { return 1 }
            let freq = f / total
            return min(1, ((freq / c.subsample).squareRoot() + 1) * c.subsample / freq)
        }
        let noise = AliasTable(weights: counts.map { pow($0, 0.75) })
        var rng = TailorRandom(seed: c.seed)
        var input = Matrix(rows: n, columns: k, storage: (0..<(n * k)).map { _ in (rng.nextFloat() - 0.5) / Float(k) })
        var output = Matrix(rows: n, columns: k)
        let pairsPerEpoch = corpus.reduce(0) { $0 + $1.count * (c.window == 0 ? min(c.maxContexts, $1.count - 1) : 2 * c.window) }
        let totalSteps = max(1, Double(pairsPerEpoch) * Double(c.epochs))
        var done = 0.0
        var gradient = [Float](repeating: 0, count: k)
        for epoch in 0..<c.epochs {
            var order = Array(0..<corpus.count)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
            var lossSum = 0.0, pairs = 0
            let track = progress != nil
            input.withUnsafeMutableBufferPointer { inp in
                output.withUnsafeMutableBufferPointer { outp in
                    gradient.withUnsafeMutableBufferPointer { grad in
                        for s in order {
                            let kept = corpus[s].filter { rng.nextDouble() < keep[Int($0)] }
                            guard kept.count >= 2 else { continue }
                            var contexts: [Int] = []
                            for p in 0..<kept.count {
                                contexts.removeAll(keepingCapacity: true)
                                if c.window > 0 {
                                    let reach = 1 + rng.nextInt(below: c.window)  // word2vec's shrunk window
                                    for q in max(0, p - reach)...min(kept.count - 1, p + reach) where q != p { contexts.append(q) }
                                } else if kept.count - 1 <= c.maxContexts {
                                    for q in 0..<kept.count where q != p { contexts.append(q) }
                                } else {
                                    while contexts.count < c.maxContexts {
                                        let q = rng.nextInt(below: kept.count)
                                        if q != p { contexts.append(q) }
                                    }
                                }
                                let lr = c.learningRate * Float(max(1e-4, 1 - done / totalSteps))
                                let h = inp.baseAddress! + Int(kept[p]) * k
                                for q in contexts {
                                    grad.baseAddress!.update(repeating: 0, count: k)
                                    for t in 0...c.negatives {
                                        let target: Int32 = t == 0 ? kept[q] : Int32(noise.sample(&rng))
                                        if t > 0 && target == kept[q] { continue }
                                        let o = outp.baseAddress! + Int(target) * k
                                        let score = Kernels.dot(h, o, count: k)
                                        let sigma = Kernels.fastSigmoid(score)
                                        let g = ((t == 0 ? 1 : 0) - sigma) * lr
                                        if track { lossSum -= t == 0 ? Double(log(max(1e-7, sigma))) : Double(log(max(1e-7, 1 - sigma))) }
                                        Kernels.skipGramUpdate(g, input: h, output: o, gradient: grad.baseAddress!, count: k)
                                    }
                                    Kernels.axpy(1, grad.baseAddress!, h, count: k)
                                    pairs += 1
                                    done += 1
                                }
                            }
                        }
                    }
                }
            }
            progress?(TrainingEvent(model: kind, step: epoch + 1, totalSteps: c.epochs, elapsedSeconds: monotonicSeconds() - start,
                                    metrics: ["loss": lossSum / Double(max(1, pairs)), "pairs": Double(pairs)]))
        }
        // Unit-length item vectors for similarity; items never trained keep a zero vector. The raw
        // input and output vectors and the item counts are kept for probability scoring.
        let rawInput = input
        for i in 0..<n {
            let norm = (0..<k).reduce(Float(0)) { $0 + input[i, $1] * input[i, $1] }.squareRoot()
            for f in 0..<k { input[i, f] = counts[i] > 0 && norm > 0 ? input[i, f] / norm : 0 }
        }
        let logCounts = counts.map { $0 > 0 ? Float(log($0)) : Item2Vec.unseenLogCount }
        return Item2Vec(configuration: c, itemVectors: input, histories: histories,
                        inputVectors: rawInput, outputVectors: output, logCounts: logCounts)
    }

    /// The weights of a history's items under ``Aggregation/recency``.
    func recencyWeights(_ h: UserHistory) -> [Float] {
        if let times = h.times, let latest = times.max() {
            let halfLife = configuration.halfLifeDays * 86_400
            return times.map { Float(pow(0.5, Double(latest - $0) / halfLife)) }
        }
        let n = h.items.count
        return (0..<n).map { Float(pow(0.5, Double(n - 1 - $0) / configuration.halfLifeEvents)) }
    }

    /// The log-count given to items absent from the training sequences (they rank last).
    static let unseenLogCount: Float = -1e6

    /// The aggregated vector of a history (mean or recency; attention has none): of the unit
    /// item vectors, or of the raw input vectors under probability scoring.
    public func userVector(_ h: UserHistory) -> [Float] {
        let k = configuration.factors
        let source = scoresByProbability ? inputVectors! : itemVectors
        var v = [Float](repeating: 0, count: k)
        let weights = configuration.aggregation == .recency ? recencyWeights(h) : [Float](repeating: 1, count: h.items.count)
        var total: Float = 0
        for (t, i) in h.items.enumerated() where i >= 0 && Int(i) < itemCount {
            for f in 0..<k { v[f] += weights[t] * source[Int(i), f] }
            total += weights[t]
        }
        return total > 0 ? v.map { $0 / total } : v
    }

    /// Scores for any history: cosine-based, by the configured aggregation.
    public func scores(for h: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let n = itemCount, k = configuration.factors
        let valid = h.items.filter { $0 >= 0 && Int($0) < n }
        guard !valid.isEmpty else { scores.baseAddress!.update(repeating: 0, count: n); return }
        if scoresByProbability {
            // mean_h in_h·out_j + log count_j  ≈  log P(j | history) + const.
            let v = userVector(h)
            outputVectors!.withUnsafeBufferPointer { y in
                Kernels.gemv(y.baseAddress!, lda: k, rows: n, columns: k, v, scores.baseAddress!)
            }
            let prior = logCounts!, w = configuration.priorWeight
            for j in 0..<n { scores[j] += w * prior[j] }
            return
        }
        if configuration.aggregation != .attention {
            let v = userVector(h)
            itemVectors.withUnsafeBufferPointer { y in
                Kernels.gemv(y.baseAddress!, lda: k, rows: n, columns: k, v, scores.baseAddress!)
            }
            if let prior = logCounts, configuration.priorWeight > 0 {
                let w = configuration.priorWeight
                for j in 0..<n { scores[j] += w * prior[j] }
            }
            return
        }
        // Attention: similarities of every history item to every candidate, softmax over the history.
        let historyVectors = gatherRows(itemVectors, valid)
        let similarity = historyVectors.multiplied(by: itemVectors, transposeOther: true)  // history × items
        let beta = configuration.attentionSharpness
        for j in 0..<n {
            var maximum = -Float.infinity
            for r in 0..<valid.count { maximum = max(maximum, similarity[r, j]) }
            var weightSum: Float = 0, weighted: Float = 0
            for r in 0..<valid.count {
                let s = similarity[r, j]
                let w = exp(beta * (s - maximum))
                weightSum += w
                weighted += w * s
            }
            scores[j] = weighted / weightSum
        }
    }

    /// Scores from each user's training history.
    public func scores(users: [Int32], into scores: UnsafeMutableBufferPointer<Float>, threads: Int) {
        let n = itemCount
        let shared = UnsafeSendable(scores.baseAddress!)
        parallelFor(users.count, chunkSize: 4, threads: threads) { chunk in
            for r in chunk.range {
                let u = Int(users[r])
                let row = UnsafeMutableBufferPointer(start: shared.value + r * n, count: n)
                if u >= 0 && u < self.histories.count {
                    self.scores(for: self.histories[u], into: row)
                } else {
                    row.baseAddress!.update(repeating: 0, count: n)
                }
            }
        }
    }

    /// Cosine neighbours of the item vectors.
    public func similarItems(to items: [Int32], k: Int, threads: Int) -> TopKResult {
        Kernels.topKInnerProducts(queries: gatherRows(itemVectors, items), items: itemVectors, k: k,
                                  exclude: { q in [items[q]] }, threads: threads)
    }

    /// Item vectors and the histories (CSR of items in time order, with times when known).
    public func archiveTensors() -> [String: SafeTensors.Tensor] {
        var pointers: [Int64] = [0]
        for h in histories { pointers.append(pointers.last! + Int64(h.items.count)) }
        var t: [String: SafeTensors.Tensor] = [
            "item_vectors": .init(itemVectors),
            "history_indptr": .init(pointers, shape: [pointers.count]),
            "history_items": .init(histories.flatMap(\.items), shape: [Int(pointers.last!)]),
        ]
        if let inputVectors, let outputVectors, let logCounts {
            t["input_vectors"] = .init(inputVectors)
            t["output_vectors"] = .init(outputVectors)
            t["item_log_counts"] = .init(logCounts, shape: [logCounts.count])
        }
        if histories.allSatisfy({ $0.times != nil }) {
            t["history_times"] = .init(histories.flatMap { $0.times! }, shape: [Int(pointers.last!)])
        }
        return t
    }

    /// The configuration.
    public func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try ConfigurationPatch.encode(configuration)])
    }

    /// Restores a model written by ``archiveTensors()``.
    public init(archiveTensors t: [String: SafeTensors.Tensor], configuration: JSONValue) throws {
        guard let vectors = t["item_vectors"]?.matrix(), let items = t["history_items"]?.int32s() else {
            throw ModelError(reason: "the Item2Vec model file lacks consistent item vectors and histories")
        }
        let pointers = try ArchiveChecks.pointers(t["history_indptr"]?.int64s(), count: items.count, name: "history_indptr", model: "Item2Vec")
        try ArchiveChecks.indices(items, below: vectors.rows, name: "history_items", model: "Item2Vec")
        try ArchiveChecks.finite(vectors, name: "item_vectors", model: "Item2Vec")
        let times = t["history_times"]?.int64s()
        guard times == nil || times!.count == items.count else {
            throw ModelError(reason: "the Item2Vec model file's 'history_times' has \(times!.count) entries for \(items.count) history items",
                             hint: "the model directory is damaged; retrain the model")
        }
        var histories: [UserHistory] = []
        for u in 0..<(pointers.count - 1) {
            let range = pointers[u]..<pointers[u + 1]
            histories.append(UserHistory(items: Array(items[range]), times: times.map { Array($0[range]) }))
        }
        guard case .object(let fields) = configuration, let c = fields["configuration"] else {
            throw ModelError(reason: "the Item2Vec manifest lacks its configuration")
        }
        let decoded = try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration")
        try decoded.validate()
        try ArchiveChecks.factorWidth(vectors.columns, configured: decoded.factors, model: "Item2Vec")
        // Probability scoring's tensors (absent from files written before it: those score by cosine).
        let input = t["input_vectors"]?.matrix(), output = t["output_vectors"]?.matrix(), logCounts = t["item_log_counts"]?.floats()
        if input != nil || output != nil || logCounts != nil {
            guard let input, let output, let logCounts, input.rows == vectors.rows, output.rows == vectors.rows,
                  input.columns == vectors.columns, output.columns == vectors.columns, logCounts.count == vectors.rows else {
                throw ModelError(.invalidModelFile, reason: "the Item2Vec model file's input_vectors, output_vectors and item_log_counts are incomplete or of the wrong shape",
                                 hint: "the model directory is damaged; retrain the model")
            }
            try ArchiveChecks.finite(input, name: "input_vectors", model: "Item2Vec")
            try ArchiveChecks.finite(output, name: "output_vectors", model: "Item2Vec")
        }
        self.init(configuration: decoded, itemVectors: vectors, histories: histories, inputVectors: input, outputVectors: output, logCounts: logCounts)
    }
}

/// Walker's alias method: O(1) sampling from a fixed discrete distribution.
struct AliasTable: Sendable {
    let probability: [Double]
    let alias: [Int]

    init(weights: [Double]) {
        let n = weights.count
        let total = weights.reduce(0, +)
        var scaled = weights.map { total > 0 ? $0 * Double(n) / total : 1 }
        var small: [Int] = [], large: [Int] = []
        for (i, w) in scaled.enumerated() { if w < 1 { small.append(i) } else { large.append(i) } }
        var probability = [Double](repeating: 1, count: n), alias = Array(0..<n)
        while let s = small.popLast(), let l = large.last {
            probability[s] = scaled[s]
            alias[s] = l
            scaled[l] -= 1 - scaled[s]
            if scaled[l] < 1 { large.removeLast(); small.append(l) }
        }
        self.probability = probability
        self.alias = alias
    }

    func sample(_ rng: inout TailorRandom) -> Int {
        let i = rng.nextInt(below: probability.count)
        return rng.nextDouble() < probability[i] ? i : alias[i]
    }
}
