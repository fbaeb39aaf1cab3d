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
public enum BagMode: String, Sendable, Codable {
    /// Sum of the rows.
    case sum
    /// Mean of the rows (an empty bag gives zeros).
    case mean
}

/// Pooled rows of `table` per bag: bag `b` holds `indices[offsets[b]..<offsets[b+1]]` (the last
/// bag runs to the end). For multi-valued features (genres, tags). Sparse row gradients.
public func embeddingBag(_ table: Value, indices: [Int32], offsets: [Int], mode: BagMode = .mean, padding: Int32? = nil) -> Value {
    let t = table.tensor
    precondition(t.rank == 2, "embeddingBag needs a [rows, width] table")
    let width = t.shape[1], bags = offsets.count
    let ends = Array(offsets.dropFirst()) + [indices.count]
    var scale = [Float](repeating: 0, count: bags)
    var out = Tensor(shape: [bags, width])
    for b in 0..<bags {
        let members = indices[offsets[b]..<ends[b]].filter { $0 != padding }
        scale[b] = mode == .mean ? (members.isEmpty ? 0 : 1 / Float(members.count)) : 1
        for i in members {
            precondition(i >= 0 && Int(i) < t.shape[0], "index \(i) outside a table of \(t.shape[0]) rows")
            for c in 0..<width { out.storage[b * width + c] += scale[b] * t.storage[Int(i) * width + c] }
        }
    }
    return table.tape.record(out, inputs: [table]) { g, tape in
        var rows: [Int32] = [], values: [Float] = []
        for b in 0..<bags {
            for i in indices[offsets[b]..<ends[b]] where i != padding {
                rows.append(i)
                values.append(contentsOf: g.storage[(b * width)..<((b + 1) * width)].map { $0 * scale[b] })
            }
        }
        if !tape.accumulateRows(table, rows: rows, values: values) {
            var dense = Tensor(shape: t.shape)
            for (p, i) in rows.enumerated() { for c in 0..<width { dense.storage[Int(i) * width + c] += values[p * width + c] } }
            tape.accumulate(table, dense)
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
