import TailorLinalg

/// Splits `shape` around `axis` into (outer, extent, inner) for a reduction.
func split(_ shape: [Int], axis: Int) -> (outer: Int, extent: Int, inner: Int) {
    (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
}

func normalize(axis: Int, rank: Int) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < rank, "axis \(axis) out of range for rank \(rank)")
    return a
}

/// Sum of every element (a scalar).
public func sum(_ a: Value) -> Value {
    let x = a.tensor
    return a.tape.record(Tensor(scalar: parallelSum(x)), inputs: [a]) { g, tape in
        tape.accumulate(a, Tensor(shape: x.shape, repeating: g.scalar))
    }
}

/// Mean of every element (a scalar).
public func mean(_ a: Value) -> Value { sum(a) * (1 / Float(max(1, a.tensor.count))) }

/// Sum along `axis` (the axis is removed unless `keepDims`).
public func sum(_ a: Value, axis: Int, keepDims: Bool = false) -> Value {
    let x = a.tensor
    let ax = normalize(axis: axis, rank: x.rank)
    let (outer, extent, inner) = split(x.shape, axis: ax)
    var shape = x.shape
    if keepDims { shape[ax] = 1 } else { shape.remove(at: ax) }
    var out = Tensor(shape: shape)
    out.storage.withUnsafeMutableBufferPointer { o in
        x.storage.withUnsafeBufferPointer { p in
            for i in 0..<outer {
                for e in 0..<extent {
                    let src = (i * extent + e) * inner
                    for j in 0..<inner { o[i * inner + j] += p[src + j] }
                }
            }
        }
    }
    return a.tape.record(out, inputs: [a]) { g, tape in
        var dx = Tensor(shape: x.shape)
        dx.storage.withUnsafeMutableBufferPointer { d in
            g.storage.withUnsafeBufferPointer { gp in
                for i in 0..<outer {
                    for e in 0..<extent {
                        let dst = (i * extent + e) * inner
                        for j in 0..<inner { d[dst + j] = gp[i * inner + j] }
                    }
                }
            }
        }
        tape.accumulate(a, dx)
    }
}

/// Mean along `axis`.
public func mean(_ a: Value, axis: Int, keepDims: Bool = false) -> Value {
    let extent = a.shape[normalize(axis: axis, rank: a.shape.count)]
    return sum(a, axis: axis, keepDims: keepDims) * (1 / Float(max(1, extent)))
}

/// Maximum along `axis`; the gradient flows to the first maximal element.
public func max(_ a: Value, axis: Int, keepDims: Bool = false) -> Value {
    let x = a.tensor
    let ax = normalize(axis: axis, rank: x.rank)
    let (outer, extent, inner) = split(x.shape, axis: ax)
    precondition(extent > 0, "max over an empty axis")
    var shape = x.shape
    if keepDims { shape[ax] = 1 } else { shape.remove(at: ax) }
    var out = Tensor(shape: shape, repeating: -.infinity)
    var argmax = [Int](repeating: 0, count: outer * inner)
    out.storage.withUnsafeMutableBufferPointer { o in
        x.storage.withUnsafeBufferPointer { p in
            for i in 0..<outer {
                for e in 0..<extent {
                    let src = (i * extent + e) * inner
                    for j in 0..<inner where p[src + j] > o[i * inner + j] {
                        o[i * inner + j] = p[src + j]
                        argmax[i * inner + j] = e
                    }
                }
            }
        }
    }
    return a.tape.record(out, inputs: [a]) { g, tape in
        var dx = Tensor(shape: x.shape)
        for i in 0..<outer {
            for j in 0..<inner { dx.storage[(i * extent + argmax[i * inner + j]) * inner + j] = g.storage[i * inner + j] }
        }
        tape.accumulate(a, dx)
    }
}

/// `mean((prediction − target)²)` as one op (one pass forward, one backward).
public func meanSquaredErrorOp(_ prediction: Value, _ target: Tensor) -> Value {
    let x = prediction.tensor
    precondition(x.shape == target.shape, "prediction \(x.shape) and target \(target.shape) differ")
    let count = x.count
    let chunks = max(1, (count + pointwiseGrain - 1) / pointwiseGrain)
    var partial = [Float](repeating: 0, count: chunks)
    x.storage.withUnsafeBufferPointer { xp in target.storage.withUnsafeBufferPointer { tp in partial.withUnsafeMutableBufferPointer { pp in
        let p = UnsafeSendable((xp.baseAddress!, tp.baseAddress!, pp.baseAddress!))
        parallelFor(count, chunkSize: pointwiseGrain, threads: chunks > 1 ? 0 : 1) { chunk in
            let (xs, ts, ps) = p.value
            var s: Float = 0
            for i in chunk.range { let d = xs[i] - ts[i]; s += d * d }
            ps[chunk.index] = s
        }
    } } }
    let loss = partial.reduce(0, +) / Float(max(1, count))
    return prediction.tape.record(Tensor(scalar: loss), inputs: [prediction]) { g, tape in
        let scale = 2 * g.scalar / Float(max(1, count))
        let dx = Tensor(uninitializedShape: x.shape) { d, _ in
            x.storage.withUnsafeBufferPointer { xp in target.storage.withUnsafeBufferPointer { tp in
                let p = UnsafeSendable((xp.baseAddress!, tp.baseAddress!, d))
                forChunks(count) { range in
                    let (xs, ts, ds) = p.value
                    for i in range { ds[i] = scale * (xs[i] - ts[i]) }
                }
            } }
        }
        tape.accumulate(prediction, dx)
    }
}
