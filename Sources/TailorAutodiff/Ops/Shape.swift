/// The same elements with a new shape (one axis may be −1). Free: no copy.
public func reshape(_ a: Value, _ shape: [Int]) -> Value {
    let x = a.tensor
    let out = x.reshaped(shape)
    return a.tape.record(out, inputs: [a]) { g, tape in tape.accumulate(a, g.reshaped(x.shape)) }
}

/// Axes reordered: output axis `i` is input axis `axes[i]`. Copies into row-major order.
public func permute(_ a: Value, _ axes: [Int]) -> Value {
    let x = a.tensor
    precondition(axes.sorted() == Array(0..<x.rank), "permute needs a permutation of 0..<\(x.rank), got \(axes)")
    let out = permuted(x, axes)
    var inverse = [Int](repeating: 0, count: axes.count)
    for (i, ax) in axes.enumerated() { inverse[ax] = i }
    return a.tape.record(out, inputs: [a]) { g, tape in tape.accumulate(a, permuted(g, inverse)) }
}

/// Swaps two axes (by default the last two).
public func transpose(_ a: Value, _ first: Int = -2, _ second: Int = -1) -> Value {
    let rank = a.shape.count
    var axes = Array(0..<rank)
    axes.swapAt(normalize(axis: first, rank: rank), normalize(axis: second, rank: rank))
    return permute(a, axes)
}

/// A row-major copy of `x` with axes reordered.
public func permuted(_ x: Tensor, _ axes: [Int]) -> Tensor {
    if axes == Array(0..<x.rank) { return x }
    let shape = axes.map { x.shape[$0] }
    // Moving only axes of extent 1 (one attention head's [B, T, 1, E] → [B, 1, T, E]) keeps
    // the row-major order of the elements: the same storage, no copy.
    let moved = axes.filter { x.shape[$0] != 1 }
    if moved == moved.sorted() { return Tensor(shape: shape, storage: x.storage) }
    let inStrides = x.strides
    let strides = axes.map { inStrides[$0] }
    var out = Tensor(shape: shape)
    out.storage.withUnsafeMutableBufferPointer { o in
        x.storage.withUnsafeBufferPointer { p in
            // A run along the last output axis reads with stride strides.last.
            forEachBroadcastRun(shape, strides, [Int](repeating: 0, count: shape.count)) { oo, io, _, n, step, _ in
                for j in 0..<n { o[oo + j] = p[io + j * step] }
            }
        }
    }
    return out
}

/// Values joined along `axis` (all other extents equal).
public func concat(_ values: [Value], axis: Int) -> Value {
    precondition(!values.isEmpty, "concat needs at least one value")
    let tensors = values.map(\.tensor)
    let rank = tensors[0].rank
    let ax = normalize(axis: axis, rank: rank)
    for t in tensors {
        precondition(t.rank == rank && (0..<rank).allSatisfy { $0 == ax || t.shape[$0] == tensors[0].shape[$0] },
                     "concat along axis \(ax) needs matching shapes, got \(tensors.map(\.shape))")
    }
    var shape = tensors[0].shape
    shape[ax] = tensors.reduce(0) { $0 + $1.shape[ax] }
    let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
    var out = Tensor(shape: shape)
    var offset = 0
    var offsets: [Int] = []
    for t in tensors {
        offsets.append(offset)
        let e = t.shape[ax]
        for i in 0..<outer {
            for j in 0..<(e * inner) { out.storage[(i * shape[ax] + offset) * inner + j] = t.storage[i * e * inner + j] }
        }
        offset += e
    }
    return values[0].tape.record(out, inputs: values) { g, tape in
        for (v, (t, start)) in zip(values, zip(tensors, offsets)) where tape.needsGrad(v) {
            let e = t.shape[ax]
            var d = Tensor(shape: t.shape)
            for i in 0..<outer {
                for j in 0..<(e * inner) { d.storage[i * e * inner + j] = g.storage[(i * shape[ax] + start) * inner + j] }
            }
            tape.accumulate(v, d)
        }
    }
}

/// Elements `range` of `axis`.
public func slice(_ a: Value, axis: Int, _ range: Range<Int>) -> Value {
    let x = a.tensor
    let ax = normalize(axis: axis, rank: x.rank)
    precondition(range.lowerBound >= 0 && range.upperBound <= x.shape[ax], "slice \(range) outside axis \(ax) of extent \(x.shape[ax])")
    let (outer, extent, inner) = split(x.shape, axis: ax)
    var shape = x.shape
    shape[ax] = range.count
    var out = Tensor(shape: shape)
    for i in 0..<outer {
        for j in 0..<(range.count * inner) { out.storage[i * range.count * inner + j] = x.storage[(i * extent + range.lowerBound) * inner + j] }
    }
    return a.tape.record(out, inputs: [a]) { g, tape in
        var d = Tensor(shape: x.shape)
        for i in 0..<outer {
            for j in 0..<(range.count * inner) { d.storage[(i * extent + range.lowerBound) * inner + j] = g.storage[i * range.count * inner + j] }
        }
        tape.accumulate(a, d)
    }
}

/// Pieces of `sizes` along `axis`.
public func split(_ a: Value, sizes: [Int], axis: Int) -> [Value] {
    let ax = normalize(axis: axis, rank: a.shape.count)
    precondition(sizes.reduce(0, +) == a.shape[ax], "split sizes \(sizes) do not add up to \(a.shape[ax])")
    var start = 0
    return sizes.map { size in
        defer { start += size }
        return slice(a, axis: ax, start..<(start + size))
    }
}
