import Foundation
import TailorAutodiff
import TailorLinalg

/// Loss functions; each returns the mean over examples as a scalar ``Value``.
public enum Loss {
    /// Binary cross-entropy on logits, stable for any logit:
    /// `−[w⁺·y·log σ(x) + (1 − y)·log(1 − σ(x))]`, with `positiveWeight` `w⁺` (PyTorch's
    /// `pos_weight`, for imbalanced classes) and optional per-element `weights`.
    public static func binaryCrossEntropy(logits: Value, targets: Tensor, positiveWeight: Float = 1, weights: Tensor? = nil) -> Value {
        let x = logits.tensor
        precondition(targets.shape == x.shape, "targets \(targets.shape) differ from logits \(x.shape)")
        precondition(weights == nil || weights!.shape == x.shape, "weights must match the logits")
        let n = Float(max(1, x.count))
        var total: Float = 0
        var grad = Tensor(shape: x.shape)
        for i in 0..<x.count {
            let z = x.storage[i], y = targets.storage[i], w = weights?.storage[i] ?? 1
            // log σ(z) = −softplus(−z), log(1 − σ(z)) = −softplus(z)
            let sp = log1p(expf(-abs(z))) + max(-z, 0)  // softplus(−z)
            total += w * ((1 - y) * z + (1 + (positiveWeight - 1) * y) * sp)
            let s = 1 / (1 + expf(-z))
            grad.storage[i] = w * (s * (positiveWeight * y + 1 - y) - positiveWeight * y) / n
        }
        return logits.tape.record(Tensor(scalar: total / n), inputs: [logits]) { g, tape in
            tape.accumulate(logits, grad.map { $0 * g.scalar })
        }
    }

    /// Softmax cross-entropy of `logits` `[N, C]` against class indices, optionally weighting
    /// classes.
    public static func crossEntropy(logits: Value, targets: [Int32], classWeights: [Float]? = nil) -> Value {
        let x = logits.tensor
        precondition(x.rank == 2 && x.shape[0] == targets.count, "crossEntropy needs [N, C] logits and N targets")
        let c = x.shape[1], rows = x.shape[0]
        var probabilities = x
        probabilities.storage.withUnsafeMutableBufferPointer { Kernels.softmaxRows($0.baseAddress!, rows: rows, n: c) }
        var total: Float = 0, weightSum: Float = 0
        for r in 0..<rows {
            let t = Int(targets[r])
            precondition(t >= 0 && t < c, "target \(t) outside \(c) classes")
            let w = classWeights?[t] ?? 1
            total -= w * logf(max(probabilities.storage[r * c + t], .leastNormalMagnitude))
            weightSum += w
        }
        return logits.tape.record(Tensor(scalar: total / weightSum), inputs: [logits]) { g, tape in
            var dx = probabilities
            for r in 0..<rows {
                let t = Int(targets[r]), w = classWeights?[t] ?? 1
                dx.storage[r * c + t] -= 1
                for j in 0..<c { dx.storage[r * c + j] *= w * g.scalar / weightSum }
            }
            tape.accumulate(logits, dx)
        }
    }

    /// Sampled softmax with the log-Q correction (Bengio and Senécal 2008; Yi et al. 2019): for
    /// each query, softmax over its positive and a shared set of sampled negative items, with
    /// each item's logit lowered by the log of its sampling probability so the estimate is
    /// unbiased; negatives equal to the query's positive are masked out.
    ///
    /// - Parameters:
    ///   - queries: `[N, D]` query (user) vectors.
    ///   - items: `[V, D]` item table (sparse row gradients when it is a parameter).
    ///   - positives: each query's positive item.
    ///   - negatives: the shared sampled negatives.
    ///   - logQ: log sampling probability of every item (`V` entries).
    public static func sampledSoftmax(queries: Value, items: Value, positives: [Int32], negatives: [Int32], logQ: [Float]) -> Value {
        let n = positives.count, m = negatives.count
        let pos = gather(items, indices: positives)                     // [N, D]
        let neg = gather(items, indices: negatives)                     // [M, D]
        let positiveLogits = sum(queries * pos, axis: 1, keepDims: true) // [N, 1]
        let negativeLogits = matmul(queries, neg, transposeB: true)     // [N, M]
        var correction = [Float](repeating: 0, count: n * (m + 1))
        var bits = [Bool](repeating: false, count: n * (m + 1))
        for r in 0..<n {
            correction[r * (m + 1)] = -logQ[Int(positives[r])]
            for j in 0..<m {
                correction[r * (m + 1) + 1 + j] = -logQ[Int(negatives[j])]
                bits[r * (m + 1) + 1 + j] = negatives[j] == positives[r]
            }
        }
        let tape = queries.tape
        let logits = concat([positiveLogits, negativeLogits], axis: 1) + tape.constant(Tensor(shape: [n, m + 1], storage: correction))
        let masked = maskedFill(logits, Mask(shape: [n, m + 1], bits: bits), value: -.infinity)
        return crossEntropy(logits: masked, targets: [Int32](repeating: 0, count: n))
    }

    /// In-batch sampled softmax (Yi et al. 2019, "Sampling-bias-corrected neural modeling"): row
    /// `r` of `queries` should pick row `r` of `items` among all the batch's items, the others
    /// serving as negatives. Each logit is `q·i / temperature − log Q(item)`, `Q` being the item's
    /// chance to appear in a batch (its popularity), so popular items are not over-punished for
    /// being sampled often; another row holding the same item is masked out rather than counted
    /// as a negative.
    ///
    /// - Parameters:
    ///   - queries: `[B, D]` user vectors.
    ///   - items: `[B, D]` the batch's item vectors.
    ///   - itemIDs: the batch's items (to mask duplicates and look up `logQ`).
    ///   - logQ: log sampling probability per item id (empty: no correction).
    ///   - temperature: divides the logits (with L2-normalized vectors, 0.05–0.2).
    public static func inBatchSoftmax(queries: Value, items: Value, itemIDs: [Int32], logQ: [Float], temperature: Float) -> Value {
        mixedSoftmax(queries: queries, items: items, itemIDs: itemIDs, logQ: logQ, temperature: temperature)
    }

    /// In-batch softmax mixed with `M` extra negatives drawn uniformly from `catalogue` items
    /// (mixed negative sampling, Yang et al. 2020): the batch's items are biased toward popular
    /// ones, the uniform ones reach the long tail. Each candidate's logit is corrected by the log
    /// of its expected count in the candidate set: `log(B·q_j)` for a batch item (`q` from
    /// `logQ`), `log(M/catalogue)` for a uniform one; with no extra negatives this is
    /// ``inBatchSoftmax(queries:items:itemIDs:logQ:temperature:)``. A candidate equal to the
    /// row's positive (another row's, or a uniform draw) is masked out.
    ///
    /// - Parameters:
    ///   - extra: `[M, D]` vectors of the uniform draws (`nil`: none), with their ids `extraIDs`.
    public static func mixedSoftmax(queries: Value, items: Value, itemIDs: [Int32], logQ: [Float], temperature: Float,
                                    extra: Value? = nil, extraIDs: [Int32] = [], catalogue: Int = 0) -> Value {
        let b = itemIDs.count, m = extraIDs.count
        precondition(queries.shape == [b, queries.shape.last ?? 0] && items.shape == queries.shape,
                     "queries \(queries.shape) and items \(items.shape) must both be [\(b), D]")
        precondition(extra == nil ? m == 0 : extra!.shape == [m, queries.shape[1]] && catalogue >= 1, "extra negatives need [M, D] vectors, M ids and the catalogue size")
        let candidates = extra.map { concat([items, $0], axis: 0) } ?? items
        let n = b + m
        var logits = matmul(queries, candidates, transposeB: true) * (1 / temperature)   // [B, B + M]
        if !logQ.isEmpty {
            // With no extra negatives the log B cancels in the softmax; with them it matters.
            let shift: Float = m > 0 ? logf(Float(b)) : 0
            let row = itemIDs.map { -(logQ[Int($0)] + shift) } + [Float](repeating: -(logf(Float(m)) - logf(Float(max(1, catalogue)))), count: m)
            logits = logits + queries.tape.constant(Tensor(shape: [1, n], storage: row))
        }
        let ids = itemIDs + extraIDs
        var bits = [Bool](repeating: false, count: b * n)
        for r in 0..<b { for j in 0..<n where j != r && ids[j] == itemIDs[r] { bits[r * n + j] = true } }
        let masked = maskedFill(logits, Mask(shape: [b, n], bits: bits), value: -.infinity)
        return crossEntropy(logits: masked, targets: (0..<b).map { Int32($0) })
    }

    /// Bayesian personalized ranking: `mean(−log σ(positive − negative))`, stable.
    public static func bpr(positive: Value, negative: Value) -> Value {
        mean(softplus(negative - positive))
    }

    /// Mean squared error.
    public static func meanSquaredError(_ prediction: Value, _ target: Tensor) -> Value {
        precondition(prediction.shape == target.shape, "prediction \(prediction.shape) and target \(target.shape) differ")
        return meanSquaredErrorOp(prediction, target)
    }
}

/// `log(1 + eˣ)`, stable; its derivative is σ(x).
public func softplus(_ a: Value) -> Value {
    let x = a.tensor
    let y = x.map { log1p(expf(-abs($0))) + max($0, 0) }
    return a.tape.record(y, inputs: [a]) { g, tape in
        var dx = g
        for i in 0..<dx.count { dx.storage[i] *= 1 / (1 + expf(-x.storage[i])) }
        tape.accumulate(a, dx)
    }
}

