import TailorLinalg

/// Gradient rows of an embedding-like table: `values` holds one row of `width` numbers per entry
/// of `rows` (rows may repeat; they add). Never materializes the whole table.
public struct SparseRows: Sendable, Equatable {
    /// Row indices.
    public var rows: [Int32] = []
    /// `rows.count × width` gradient values.
    public var values: [Float] = []
    /// Row width.
    public var width: Int

    /// Empty rows of `width`.
    public init(width: Int) { self.width = width }

    /// The rows summed per distinct index, indices ascending. Each row's entries add in the order
    /// they were recorded, so the result does not depend on how the rows are found: a slot table
    /// (dense when the indices are compact, hashed otherwise), then a sort of the distinct rows.
    /// O(entries · width + distinct · log distinct); ``referenceCoalesced()`` is the plain
    /// sort-and-merge it is tested against.
    public func coalesced() -> SparseRows {
        guard !rows.isEmpty else { return self }
        let n = rows.count, w = width
        let (distinct, entrySlot) = rowSlots(rows)
        var sums = [Float](repeating: 0, count: distinct.count * w)
        sums.withUnsafeMutableBufferPointer { acc in
            values.withUnsafeBufferPointer { v in
                for p in 0..<n {
                    let dst = acc.baseAddress! + Int(entrySlot[p]) * w, src = v.baseAddress! + p * w
                    for c in 0..<w { dst[c] += src[c] }
                }
            }
        }
        let order = distinct.indices.sorted { distinct[$0] < distinct[$1] }
        var out = SparseRows(width: w)
        out.rows = order.map { distinct[$0] }
        out.values = [Float](repeating: 0, count: distinct.count * w)
        out.values.withUnsafeMutableBufferPointer { o in
            sums.withUnsafeBufferPointer { s in
                for (k, slot) in order.enumerated() { (o.baseAddress! + k * w).update(from: s.baseAddress! + slot * w, count: w) }
            }
        }
        return out
    }

    /// ``coalesced()`` the slow, readable way: sort the entries by (row, position), merge runs.
    public func referenceCoalesced() -> SparseRows {
        var order = Array(0..<rows.count)
        order.sort { (rows[$0], $0) < (rows[$1], $1) }
        var out = SparseRows(width: width)
        for p in order {
            if out.rows.last == rows[p] {
                let base = out.values.count - width
                for c in 0..<width { out.values[base + c] += values[p * width + c] }
            } else {
                out.rows.append(rows[p])
                out.values.append(contentsOf: values[(p * width)..<((p + 1) * width)])
            }
        }
        return out
    }
}

/// The distinct values of `rows` in order of first appearance, and each entry's slot among them
/// (−1 for entries equal to `skipping`): a dense table when the values are compact, a hash map
/// otherwise. What coalescing sparse gradient rows is built on.
func rowSlots(_ rows: [Int32], skipping: Int32? = nil) -> (distinct: [Int32], slots: [Int32]) {
    var distinct: [Int32] = [], slots = [Int32](repeating: -1, count: rows.count)
    guard let smallest = rows.min(), let largest = rows.max() else { return (distinct, slots) }
    let dense = smallest >= 0 && Int(largest) < 4 * rows.count + 4096
    var denseSlots = dense ? [Int32](repeating: -1, count: Int(largest) + 1) : []
    var hashedSlots: [Int32: Int32] = [:]
    if !dense { hashedSlots.reserveCapacity(rows.count) }
    for (p, r) in rows.enumerated() where r != skipping {
        var s: Int32
        if dense {
            s = denseSlots[Int(r)]
            if s < 0 { s = Int32(distinct.count); denseSlots[Int(r)] = s; distinct.append(r) }
        } else if let found = hashedSlots[r] {
            s = found
        } else {
            s = Int32(distinct.count); hashedSlots[r] = s; distinct.append(r)
        }
        slots[p] = s
    }
    return (distinct, slots)
}

/// A trainable tensor that outlives training steps: its value, and the gradient accumulated by
/// the last backward pass (dense, or sparse rows for embedding tables).
public final class Parameter: @unchecked Sendable {
    /// The current value.
    public var value: Tensor
    /// Accumulated dense gradient (same shape as `value`), or `nil`.
    public var grad: Tensor?
    /// Accumulated sparse row gradient (for tables read by row), or `nil`.
    public var sparseGrad: SparseRows?
    /// Frozen parameters get no gradient and are left alone by optimizers.
    public var requiresGrad = true

    /// A parameter with an initial value.
    public init(_ value: Tensor) { self.value = value }

    /// Forgets the accumulated gradients.
    public func zeroGrad() {
        grad = nil
        sparseGrad = nil
    }

    func accumulate(dense g: Tensor) {
        if grad == nil { grad = g; return }
        grad!.storage.withUnsafeMutableBufferPointer { dst in
            g.storage.withUnsafeBufferPointer { src in Kernels.axpy(1, src.baseAddress!, dst.baseAddress!, count: src.count) }
        }
    }

    func accumulate(rows: [Int32], values: [Float]) {
        if sparseGrad == nil { sparseGrad = SparseRows(width: value.shape.last ?? 1) }
        sparseGrad!.rows += rows
        sparseGrad!.values += values
    }

    /// When the parameter has both a dense and a sparse row gradient (a table read by rows and
    /// also used whole, as a tied input and output item embedding), adds the rows into the
    /// dense gradient and drops the sparse one, so an optimizer takes one step on their sum, as
    /// PyTorch does. (Stepping on each separately moved the rows twice per step, moments
    /// included.) Returns whether it merged. O(dense + sparse entries).
    @discardableResult
    public func mergeGradients() -> Bool {
        guard grad != nil, let sparse = sparseGrad else { return false }
        let w = sparse.width
        grad!.storage.withUnsafeMutableBufferPointer { g in
            sparse.values.withUnsafeBufferPointer { v in
                for (k, row) in sparse.rows.enumerated() {
                    Kernels.axpy(1, v.baseAddress! + k &* w, g.baseAddress! + Int(row) &* w, count: w)
                }
            }
        }
        sparseGrad = nil
        return true
    }
}

/// The record of one forward computation, for reverse-mode differentiation.
///
/// Every operation on ``Value``s appends a node holding its result and a closure that, given the
/// gradient of the result, adds the gradients of its inputs. ``backward(_:)`` runs those closures
/// from the last node to the first. A tape serves one forward/backward pass: backward frees every
/// activation as soon as it has been used (only the loss, inputs and ``variable(_:)`` leaves stay
/// readable), so the memory of a training step does not depend on how long the tape is kept.
public final class Tape {
    struct Node {
        var value: Tensor
        var grad: Tensor?
        var requiresGrad: Bool
        var backward: ((Tensor, Tape) -> Void)?
        var parameter: Parameter?
        /// An op's result or a parameter: released by ``Tape/backward(_:seed:retainValues:)``.
        var releasable = false
        /// Its value was released by backward.
        var released = false
    }

    var nodes: [Node] = []
    var parameterNodes: [ObjectIdentifier: Int] = [:]
    /// Whether layers behave as in training (dropout active, batch norm on batch statistics).
    public var isTraining: Bool
    /// The random stream for dropout.
    public var rng: TailorRandom
    /// Whether operations record how to differentiate them (see ``init(training:seed:gradients:)``).
    public let recordsGradients: Bool

    /// A tape; `seed` drives dropout masks. `gradients` (by default: `training`) says whether
    /// ops record their backward closures. An evaluation tape records none: serving and
    /// validation need only values, and a recorded closure holds its inputs, which hold the
    /// tape, so a tape whose backward never runs would never be freed (every request would
    /// leak its activations). Ask for `gradients: true` to differentiate in evaluation mode.
    public init(training: Bool = true, seed: UInt64 = 0, gradients: Bool? = nil) {
        isTraining = training
        recordsGradients = gradients ?? training
        rng = TailorRandom(seed: seed, stream: 0xD809)
    }

    /// Number of recorded nodes.
    public var count: Int { nodes.count }

    /// A value that needs no gradient (inputs, targets).
    public func constant(_ t: Tensor) -> Value {
        nodes.append(Node(value: t, grad: nil, requiresGrad: false, backward: nil, parameter: nil))
        return Value(tape: self, id: nodes.count - 1)
    }

    /// The value of `p` on this tape (one node per parameter, however often it is used).
    public func parameter(_ p: Parameter) -> Value {
        if let id = parameterNodes[ObjectIdentifier(p)], !nodes[id].released { return Value(tape: self, id: id) }
        nodes.append(Node(value: p.value, grad: nil, requiresGrad: p.requiresGrad, backward: nil, parameter: p, releasable: true))
        parameterNodes[ObjectIdentifier(p)] = nodes.count - 1
        return Value(tape: self, id: nodes.count - 1)
    }

    /// Records an operation's result; `backward` receives the result's gradient. The result
    /// needs a gradient if any input does.
    public func record(_ value: Tensor, inputs: [Value], backward: @escaping (Tensor, Tape) -> Void) -> Value {
        let needs = recordsGradients && inputs.contains { nodes[$0.id].requiresGrad }
        nodes.append(Node(value: value, grad: nil, requiresGrad: needs, backward: needs ? backward : nil, parameter: nil, releasable: true))
        return Value(tape: self, id: nodes.count - 1)
    }

    /// The value of node `id`.
    public func value(_ id: Int) -> Tensor { nodes[id].value }
    /// Whether node `id` needs a gradient.
    public func needsGrad(_ v: Value) -> Bool { nodes[v.id].requiresGrad }
    /// The parameter behind a leaf, if any.
    public func parameter(of v: Value) -> Parameter? { nodes[v.id].parameter }

    /// Adds `g` to the gradient of `v` (ignored if it needs none).
    public func accumulate(_ v: Value, _ g: Tensor) {
        guard nodes[v.id].requiresGrad else { return }
        precondition(g.shape == nodes[v.id].value.shape, "gradient shape \(g.shape) differs from value shape \(nodes[v.id].value.shape)")
        if nodes[v.id].grad == nil {
            nodes[v.id].grad = g
        } else {
            nodes[v.id].grad!.storage.withUnsafeMutableBufferPointer { dst in
                g.storage.withUnsafeBufferPointer { src in Kernels.axpy(1, src.baseAddress!, dst.baseAddress!, count: src.count) }
            }
        }
    }

    /// Adds sparse row gradients to a table `v` that is a parameter leaf, without a dense
    /// gradient; returns `false` if `v` is not such a leaf (the caller then scatters densely).
    public func accumulateRows(_ v: Value, rows: [Int32], values: [Float]) -> Bool {
        guard nodes[v.id].requiresGrad, let p = nodes[v.id].parameter else { return false }
        p.accumulate(rows: rows, values: values)
        return true
    }

    /// Backpropagates from the scalar `loss` (or from `seed` as its gradient), then adds the leaf
    /// gradients into their parameters.
    ///
    /// Frees memory as it goes, as PyTorch frees a graph's saved tensors: each op's gradient
    /// closure (and the activations it captured) once it has run, and every op result and
    /// parameter value recorded before the loss. The loss, constants and ``variable(_:)`` leaves
    /// stay readable; reading a released value stops with a message. Pass `retainValues: true`
    /// to keep every value (the closures are released either way: backward runs once per tape).
    /// Releasing parameter values also means an optimizer step that follows updates the
    /// parameters in place instead of copying them away from the tape's references.
    public func backward(_ loss: Value, seed: Tensor? = nil, retainValues: Bool = false) {
        let start = nodes[loss.id].value
        precondition(seed != nil || start.count == 1, "backward needs a scalar loss or a seed gradient, got shape \(start.shape)")
        precondition(!didBackward, "backward was already run on this tape; record the next forward pass on a new Tape")
        precondition(recordsGradients, "this evaluation tape records no gradients; create it with Tape(training: false, gradients: true) to differentiate")
        didBackward = true
        accumulate(loss, seed ?? Tensor(shape: start.shape, repeating: 1))
        for id in stride(from: loss.id, through: 0, by: -1) {
            if let g = nodes[id].grad {
                if let backward = nodes[id].backward {
                    backward(g, self)
                    nodes[id].grad = nil
                } else if let p = nodes[id].parameter {
                    p.accumulate(dense: g)
                    nodes[id].grad = nil
                }  // a variable leaf keeps its gradient for gradient(_:)
            }
            nodes[id].backward = nil
            if !retainValues && id != loss.id && nodes[id].releasable {
                nodes[id].value = Tape.releasedValue
                nodes[id].released = true
            }
        }
    }

    static let releasedValue = Tensor(shape: [0])
    private var didBackward = false

    /// Bytes held by the values and gradients still on the tape (for memory tests).
    public var retainedBytes: Int {
        nodes.reduce(0) { $0 + 4 * ($1.value.count + ($1.grad?.count ?? 0)) }
    }

    /// The gradient recorded for `v` (for tests of non-parameter inputs): call before backward
    /// releases it, i.e. only for leaves created with ``variable(_:)``.
    public func gradient(_ v: Value) -> Tensor? { nodes[v.id].grad }

    /// A leaf that needs a gradient but is not a parameter (for gradient checks); its gradient
    /// stays readable through ``gradient(_:)`` after backward.
    public func variable(_ t: Tensor) -> Value {
        nodes.append(Node(value: t, grad: nil, requiresGrad: true, backward: nil, parameter: nil))
        return Value(tape: self, id: nodes.count - 1)
    }
}

/// A tensor on a tape: the handle operations take and return.
public struct Value {
    /// The tape it lives on.
    public let tape: Tape
    /// Its node.
    public let id: Int

    /// Its tensor.
    public var tensor: Tensor {
        precondition(!tape.nodes[id].released,
                     "this value was freed by Tape.backward; read it before backward, or call backward(_:retainValues: true)")
        return tape.nodes[id].value
    }
    /// Its shape.
    public var shape: [Int] { tensor.shape }
    /// The scalar of a one-element value.
    public var scalar: Float { tensor.scalar }
}
