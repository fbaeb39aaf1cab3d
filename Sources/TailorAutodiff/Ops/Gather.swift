import TailorLinalg

/// Rows of `table` (`[V, D]`) at `indices` (any shape), giving `indices.shape + [D]`: an
/// embedding lookup. Rows equal to `padding` read as zeros and get no gradient.
///
/// The gradient of a parameter table is recorded as sparse rows (only the rows read, never a
/// dense `[V, D]` gradient); a non-parameter table gets a dense scatter-add.
public func gather(_ table: Value, indices: [Int32], shape indexShape: [Int]? = nil, padding: Int32? = nil) -> Value {
    let t = table.tensor
    precondition(t.rank == 2, "gather needs a [rows, width] table, got \(t.shape)")
    let width = t.shape[1], rows = t.shape[0]
    let shape = (indexShape ?? [indices.count]) + [width]
    precondition((indexShape ?? [indices.count]).reduce(1, *) == indices.count, "index shape does not match \(indices.count) indices")
    var out = Tensor(shape: shape)
    out.storage.withUnsafeMutableBufferPointer { o in
        t.storage.withUnsafeBufferPointer { src in
            for (r, i) in indices.enumerated() {
                precondition(i >= 0 && Int(i) < rows, "index \(i) outside a table of \(rows) rows")
                if i == padding { continue }
                (o.baseAddress! + r * width).update(from: src.baseAddress! + Int(i) * width, count: width)
            }
        }
    }
    return table.tape.record(out, inputs: [table]) { g, tape in
        var kept: [Int32] = [], values: [Float] = []
        kept.reserveCapacity(indices.count)
        values.reserveCapacity(indices.count * width)
        for (r, i) in indices.enumerated() where i != padding {
            kept.append(i)
            values.append(contentsOf: g.storage[(r * width)..<((r + 1) * width)])
        }
        if !tape.accumulateRows(table, rows: kept, values: values) {
            var dense = Tensor(shape: t.shape)
            for (p, i) in kept.enumerated() { for c in 0..<width { dense.storage[Int(i) * width + c] += values[p * width + c] } }
            tape.accumulate(table, dense)
        }
    }
}

/// How an embedding bag pools its rows.
public enum BagMode: String, Sendable, Codable, CaseIterable {
    /// Sum of the rows.
    case sum
    /// Mean of the rows (an empty bag gives zeros).
    case mean
}

/// Pooled rows of `table` per bag: bag `b` holds `indices[offsets[b]..<offsets[b+1]]` (the last
/// bag runs to the end). For multi-valued features (genres, tags), and for histories pooled with
/// fixed `weights` (one per index, `mode` `.sum`: a mean or a recency decay), like PyTorch's
/// `embedding_bag(…, per_sample_weights=)`.
///
/// Never materializes the `[indices, D]` rows: the forward pass sums straight from the table,
/// and the backward pass sums each distinct row's gradient before recording it (sparse rows for
/// a parameter table). Equals ``gather(_:indices:shape:padding:)`` followed by
/// ``segmentWeightedSum(_:weights:offsets:)`` with constant weights.
public func embeddingBag(_ table: Value, indices: [Int32], offsets: [Int], mode: BagMode = .mean, padding: Int32? = nil,
                         weights: [Float]? = nil) -> Value {
    let t = table.tensor
    precondition(t.rank == 2, "embeddingBag needs a [rows, width] table")
    precondition(weights == nil || (weights!.count == indices.count && mode == .sum),
                 "per-sample weights need mode .sum and one weight per index")
    let width = t.shape[1], bags = offsets.count, tableRows = t.shape[0]
    let ends = Array(offsets.dropFirst()) + [indices.count]
    // Each index's factor: the bag's mean scale times its weight (0 for padding).
    var factor = [Float](repeating: 0, count: indices.count)
    for b in 0..<bags {
        precondition(offsets[b] <= ends[b] && ends[b] <= indices.count, "bag offsets must not decrease or pass the indices")
        var members = 0
        for p in offsets[b]..<ends[b] where indices[p] != padding {
            precondition(indices[p] >= 0 && Int(indices[p]) < tableRows, "index \(indices[p]) outside a table of \(tableRows) rows")
            members += 1
        }
        let scale: Float = mode == .mean ? (members == 0 ? 0 : 1 / Float(members)) : 1
        for p in offsets[b]..<ends[b] where indices[p] != padding { factor[p] = scale * (weights?[p] ?? 1) }
    }
    var out = Tensor(shape: [bags, width])
    out.storage.withUnsafeMutableBufferPointer { o in
        t.storage.withUnsafeBufferPointer { src in
            for b in 0..<bags {
                let dst = o.baseAddress! + b * width
                for p in offsets[b]..<ends[b] where indices[p] != padding {
                    let row = src.baseAddress! + Int(indices[p]) * width, f = factor[p]
                    for c in 0..<width { dst[c] += f * row[c] }
                }
            }
        }
    }
    return table.tape.record(out, inputs: [table]) { g, tape in
        // One gradient row per distinct index, summed in index order.
        let (rows, entrySlot) = rowSlots(indices, skipping: padding)
        var values = [Float](repeating: 0, count: rows.count * width)
        values.withUnsafeMutableBufferPointer { v in
            g.storage.withUnsafeBufferPointer { gs in
                for b in 0..<bags {
                    let gb = gs.baseAddress! + b * width
                    for p in offsets[b]..<ends[b] where entrySlot[p] >= 0 {
                        let dst = v.baseAddress! + Int(entrySlot[p]) * width, f = factor[p]
                        for c in 0..<width { dst[c] += f * gb[c] }
                    }
                }
            }
        }
        if !tape.accumulateRows(table, rows: rows, values: values) {
            var d = Tensor(shape: t.shape)
            for (n, i) in rows.enumerated() { for c in 0..<width { d.storage[Int(i) * width + c] += values[n * width + c] } }
            tape.accumulate(table, d)
        }
    }
}

/// A `[rows, D]` tensor with each row `r` the sum of the rows of `values` (`[M, D]`) whose index
/// is `r` (the adjoint of ``gather(_:indices:shape:padding:)``).
public func scatterAdd(_ values: Value, indices: [Int32], rows: Int) -> Value {
    let v = values.tensor
    precondition(v.rank == 2 && v.shape[0] == indices.count, "scatterAdd needs [indices, width] values")
    let width = v.shape[1]
    var out = Tensor(shape: [rows, width])
    for (r, i) in indices.enumerated() {
        precondition(i >= 0 && Int(i) < rows, "index \(i) outside \(rows) rows")
        for c in 0..<width { out.storage[Int(i) * width + c] += v.storage[r * width + c] }
    }
    return values.tape.record(out, inputs: [values]) { g, tape in
        var d = Tensor(shape: v.shape)
        for (r, i) in indices.enumerated() { for c in 0..<width { d.storage[r * width + c] = g.storage[Int(i) * width + c] } }
        tape.accumulate(values, d)
    }
}

/// Weighted sums of rows per segment: `out[b] = Σ_{t ∈ segment b} weights[t] · values[t]`, where
/// segment `b` is rows `offsets[b]..<offsets[b+1]` of `values` (`[T, D]`; the last segment runs
/// to the end). `weights` (`[T]`) may be constants (a mean, recency decay) or computed (attention,
/// see ``segmentSoftmax(_:offsets:)``); both get gradients. An empty segment gives zeros.
///
/// Pools a user's history of item vectors into one vector.
public func segmentWeightedSum(_ values: Value, weights: Value, offsets: [Int]) -> Value {
    let v = values.tensor, w = weights.tensor
    precondition(v.rank == 2 && w.count == v.shape[0], "segmentWeightedSum needs [T, D] values and T weights, got \(v.shape) and \(w.shape)")
    let width = v.shape[1], segments = offsets.count
    let ends = Array(offsets.dropFirst()) + [v.shape[0]]
    for b in 0..<segments { precondition(offsets[b] <= ends[b], "segment offsets must not decrease") }
    var out = Tensor(shape: [segments, width])
    out.storage.withUnsafeMutableBufferPointer { o in
        v.storage.withUnsafeBufferPointer { vs in
            for b in 0..<segments {
                let dst = o.baseAddress! + b * width
                for t in offsets[b]..<ends[b] {
                    let wt = w.storage[t], row = vs.baseAddress! + t * width
                    for c in 0..<width { dst[c] += wt * row[c] }
                }
            }
        }
    }
    return values.tape.record(out, inputs: [values, weights]) { g, tape in
        if tape.needsGrad(values) {
            var dv = Tensor(shape: v.shape)
            dv.storage.withUnsafeMutableBufferPointer { d in
                g.storage.withUnsafeBufferPointer { gs in
                    for b in 0..<segments {
                        let gb = gs.baseAddress! + b * width
                        for t in offsets[b]..<ends[b] {
                            let wt = w.storage[t], dst = d.baseAddress! + t * width
                            for c in 0..<width { dst[c] = wt * gb[c] }
                        }
                    }
                }
            }
            tape.accumulate(values, dv)
        }
        if tape.needsGrad(weights) {
            var dw = Tensor(shape: w.shape)
            v.storage.withUnsafeBufferPointer { vs in
                g.storage.withUnsafeBufferPointer { gs in
                    for b in 0..<segments {
                        let gb = gs.baseAddress! + b * width
                        for t in offsets[b]..<ends[b] {
                            let row = vs.baseAddress! + t * width
                            var s: Float = 0
                            for c in 0..<width { s += row[c] * gb[c] }
                            dw.storage[t] = s
                        }
                    }
                }
            }
            tape.accumulate(weights, dw)
        }
    }
}

/// Softmax within each segment of a vector of `T` scores (segment `b` is
/// `offsets[b]..<offsets[b+1]`): attention weights over variable-length histories, no padding.
public func segmentSoftmax(_ scores: Value, offsets: [Int]) -> Value {
    let x = scores.tensor
    let total = x.count, segments = offsets.count
    let ends = Array(offsets.dropFirst()) + [total]
    var y = x
    y.storage.withUnsafeMutableBufferPointer { p in
        for b in 0..<segments where offsets[b] < ends[b] {
            Kernels.softmaxRows(p.baseAddress! + offsets[b], rows: 1, n: ends[b] - offsets[b])
        }
    }
    return scores.tape.record(y, inputs: [scores]) { g, tape in
        var dx = g
        for b in 0..<segments where offsets[b] < ends[b] {
            var dot: Float = 0
            for t in offsets[b]..<ends[b] { dot += g.storage[t] * y.storage[t] }
            for t in offsets[b]..<ends[b] { dx.storage[t] = y.storage[t] * (g.storage[t] - dot) }
        }
        tape.accumulate(scores, dx)
    }
}
