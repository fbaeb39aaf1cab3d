import Foundation
import TailorAutodiff
import TailorLinalg

/// Parameters sharing a learning rate and weight decay (for example, pre-trained layers with a
/// small learning rate beside new layers with a large one).
public final class ParameterGroup {
    /// Named parameters.
    public var parameters: [(String, Parameter)]
    /// Base learning rate (the schedule multiplies it).
    public var learningRate: Float
    /// Weight decay: L2 added to the gradient (SGD, Adagrad, Adam) or decoupled (AdamW).
    public var weightDecay: Float

    /// A group.
    public init(_ parameters: [(String, Parameter)], learningRate: Float, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }
}

/// How the learning rate changes with the step: a multiplier of each group's base rate.
public enum LearningRateSchedule: Sendable, Codable, Equatable {
    /// Always 1.
    case constant
    /// Linear warm-up from 0 over `warmup` steps, then linear decay to 0 at `total`.
    case warmupLinear(warmup: Int, total: Int)
    /// Linear warm-up over `warmup` steps, then cosine decay to `floor` at `total`.
    case warmupCosine(warmup: Int, total: Int, floor: Float)

    /// The multiplier at (1-based) `step`.
    public func multiplier(at step: Int) -> Float {
        switch self {
        case .constant: return 1
        case .warmupLinear(let warmup, let total):
            if step <= warmup { return Float(step) / Float(max(1, warmup)) }
            return max(0, Float(total - step) / Float(max(1, total - warmup)))
        case .warmupCosine(let warmup, let total, let floor):
            if step <= warmup { return Float(step) / Float(max(1, warmup)) }
            let progress = min(1, Float(step - warmup) / Float(max(1, total - warmup)))
            return floor + (1 - floor) * 0.5 * (1 + cosf(.pi * progress))
        }
    }
}

/// Updates parameters from their gradients.
public protocol Optimizer: AnyObject {
    /// The parameter groups.
    var groups: [ParameterGroup] { get }
    /// The learning-rate schedule.
    var schedule: LearningRateSchedule { get set }
    /// Steps taken.
    var steps: Int { get }
    /// Applies one update from the current gradients (frozen parameters are skipped).
    func step()
    /// State to checkpoint (moment estimates by parameter name, and the step count).
    func state() -> [String: Tensor]
    /// Restores ``state()``.
    func load(state: [String: Tensor]) throws
}

extension Optimizer {
    /// Per-parameter buffers of `table` as tensors named `<parameter><suffix>`, with the step count.
    func namedState(_ table: [ObjectIdentifier: [Float]], suffix: String) -> [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor(scalar: Float(steps))]
        for g in groups {
            for (name, p) in g.parameters {
                if let v = table[ObjectIdentifier(p)] { out[name + suffix] = Tensor(shape: p.value.shape, storage: v) }
            }
        }
        return out
    }

    /// The buffers named `<parameter><suffix>` in `state`, checked against their parameters' sizes.
    func loadNamedState(_ state: [String: Tensor], suffix: String) throws -> [ObjectIdentifier: [Float]] {
        var table: [ObjectIdentifier: [Float]] = [:]
        for g in groups {
            for (name, p) in g.parameters {
                guard let v = state[name + suffix] else { continue }
                guard v.count == p.value.count else {
                    throw NNError("optimizer state '\(name + suffix)' has \(v.count) values, the parameter has \(p.value.count)",
                                  hint: "load a checkpoint written for this model")
                }
                table[ObjectIdentifier(p)] = v.storage
            }
        }
        return table
    }

    /// Clears every gradient.
    public func zeroGrad() { for g in groups { for (_, p) in g.parameters { p.zeroGrad() } } }

    /// Scales all gradients so their global L2 norm is at most `maxNorm`; returns the norm before
    /// clipping. Sparse row gradients count by their rows.
    @discardableResult
    public func clipGradientNorm(_ maxNorm: Float) -> Float {
        var total: Double = 0
        for g in groups {
            for (_, p) in g.parameters {
                p.mergeGradients()
                if let d = p.grad { total += d.storage.reduce(0.0) { $0 + Double($1 * $1) } }
                if let s = p.sparseGrad?.coalesced() { total += s.values.reduce(0.0) { $0 + Double($1 * $1) } }
            }
        }
        let norm = Float(total.squareRoot())
        guard norm > maxNorm, norm > 0 else { return norm }
        let factor = maxNorm / norm
        for g in groups {
            for (_, p) in g.parameters {
                if p.grad != nil { p.grad = p.grad!.map { $0 * factor } }
                if p.sparseGrad != nil { p.sparseGrad!.values = p.sparseGrad!.values.map { $0 * factor } }
            }
        }
        return norm
    }
}

/// Stochastic gradient descent with momentum (and Nesterov momentum). Sparse gradients update
/// only their rows (without momentum on untouched rows).
public final class SGD: Optimizer {
    public let groups: [ParameterGroup]
    public var schedule: LearningRateSchedule
    public private(set) var steps = 0
    /// Momentum coefficient (0: plain SGD).
    public let momentum: Float
    /// Nesterov momentum.
    public let nesterov: Bool
    var velocity: [ObjectIdentifier: [Float]] = [:]

    /// An optimizer over `groups`.
    public init(_ groups: [ParameterGroup], momentum: Float = 0, nesterov: Bool = false, schedule: LearningRateSchedule = .constant) {
        self.groups = groups
        self.momentum = momentum
        self.nesterov = nesterov
        self.schedule = schedule
    }

    /// One group of `parameters` at `learningRate`.
    public convenience init(_ parameters: [(String, Parameter)], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        self.init([ParameterGroup(parameters, learningRate: learningRate, weightDecay: weightDecay)], momentum: momentum)
    }

    public func step() {
        steps += 1
        let factor = schedule.multiplier(at: steps)
        for group in groups {
            let lr = group.learningRate * factor
            for (_, p) in group.parameters where p.requiresGrad {
                p.mergeGradients()
                if let g = p.grad {
                    // Taken out of the dictionary so it is mutated in place, not copied every step.
                    var v = velocity.removeValue(forKey: ObjectIdentifier(p)) ?? [Float](repeating: 0, count: g.count)
                    for i in 0..<g.count {
                        let d = g.storage[i] + group.weightDecay * p.value.storage[i]
                        if momentum != 0 {
                            v[i] = momentum * v[i] + d
                            p.value.storage[i] -= lr * (nesterov ? d + momentum * v[i] : v[i])
                        } else {
                            p.value.storage[i] -= lr * d
                        }
                    }
                    if momentum != 0 { velocity[ObjectIdentifier(p)] = v }
                }
                if let s = p.sparseGrad?.coalesced() {
                    for (k, row) in s.rows.enumerated() {
                        for c in 0..<s.width {
                            let i = Int(row) * s.width + c
                            p.value.storage[i] -= lr * (s.values[k * s.width + c] + group.weightDecay * p.value.storage[i])
                        }
                    }
                }
            }
        }
    }

    public func state() -> [String: Tensor] { namedState(velocity, suffix: ".velocity") }

    public func load(state: [String: Tensor]) throws {
        velocity = try loadNamedState(state, suffix: ".velocity")
        steps = Int(state["step"]?.scalar ?? 0)
    }
}

/// Adagrad (Duchi, Hazan and Singer 2011): per-coordinate rates `lr/√(Σ g² + ε)`.
public final class Adagrad: Optimizer {
    public let groups: [ParameterGroup]
    public var schedule: LearningRateSchedule
    public private(set) var steps = 0
    /// ε.
    public let epsilon: Float
    var sums: [ObjectIdentifier: [Float]] = [:]

    /// An optimizer over `groups`.
    public init(_ groups: [ParameterGroup], epsilon: Float = 1e-10, schedule: LearningRateSchedule = .constant) {
        self.groups = groups
        self.epsilon = epsilon
        self.schedule = schedule
    }

    public func step() {
        steps += 1
        let factor = schedule.multiplier(at: steps)
        for group in groups {
            let lr = group.learningRate * factor
            for (_, p) in group.parameters where p.requiresGrad {
                p.mergeGradients()
                // Taken out of the dictionary so it is mutated in place, not copied every step.
                var acc = sums.removeValue(forKey: ObjectIdentifier(p)) ?? [Float](repeating: 0, count: p.value.count)
                func update(_ i: Int, _ g0: Float) {
                    let g = g0 + group.weightDecay * p.value.storage[i]
                    acc[i] += g * g
                    p.value.storage[i] -= lr * g / (acc[i].squareRoot() + epsilon)
                }
                if let g = p.grad { for i in 0..<g.count { update(i, g.storage[i]) } }
                if let s = p.sparseGrad?.coalesced() {
                    for (k, row) in s.rows.enumerated() { for c in 0..<s.width { update(Int(row) * s.width + c, s.values[k * s.width + c]) } }
                }
                sums[ObjectIdentifier(p)] = acc
            }
        }
    }

    public func state() -> [String: Tensor] { namedState(sums, suffix: ".sum") }

    public func load(state: [String: Tensor]) throws {
        sums = try loadNamedState(state, suffix: ".sum")
        steps = Int(state["step"]?.scalar ?? 0)
    }
}

/// Adam (Kingma and Ba 2015) and AdamW (Loshchilov and Hutter 2019, decoupled weight decay).
///
/// Parameters with sparse row gradients (embedding tables) get lazy updates: only the rows in
/// the gradient have their moments and values updated, as PyTorch's SparseAdam does, so a step
/// costs the rows read rather than the whole table. Those rows also follow SparseAdam's (and
/// TensorFlow's LazyAdam's) arithmetic, ε added before the bias correction of the second moment
/// (`θ −= lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε)`), so a model ported from PyTorch trains the same
/// (Benchmarks/nn_parity_torch.py). The two forms differ only for gradients near ε in size.
public final class Adam: Optimizer {
    public let groups: [ParameterGroup]
    public var schedule: LearningRateSchedule
    public private(set) var steps = 0
    /// β₁, β₂, ε.
    public let beta1: Float, beta2: Float, epsilon: Float
    /// Decoupled weight decay (AdamW) instead of L2 in the gradient.
    public let decoupled: Bool
    /// First and second moments of one parameter, in a class so updates happen in place
    /// (arrays taken out of a dictionary and stored back were copied whole on every step).
    final class Moments {
        var m: [Float], v: [Float]
        init(count: Int) { m = [Float](repeating: 0, count: count); v = m }
    }
    var moments: [ObjectIdentifier: Moments] = [:]

    /// An optimizer over `groups`.
    public init(_ groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                decoupledWeightDecay: Bool = false, schedule: LearningRateSchedule = .constant) {
        self.groups = groups
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.decoupled = decoupledWeightDecay
        self.schedule = schedule
    }

    /// One group of `parameters`.
    public convenience init(_ parameters: [(String, Parameter)], learningRate: Float = 1e-3, weightDecay: Float = 0,
                            decoupledWeightDecay: Bool = false) {
        self.init([ParameterGroup(parameters, learningRate: learningRate, weightDecay: weightDecay)], decoupledWeightDecay: decoupledWeightDecay)
    }

    public func step() {
        steps += 1
        let factor = schedule.multiplier(at: steps)
        let c1 = 1 - powf(beta1, Float(steps)), c2 = 1 - powf(beta2, Float(steps))
        for group in groups {
            let lr = group.learningRate * factor, wd = group.weightDecay
            let rule = AdamRule(beta1: beta1, beta2: beta2, epsilon: epsilon, c1: c1, c2: c2, lr: lr, wd: wd, decoupled: decoupled)
            // ε/√(1−β₂ᵗ) after the correction is ε before it (SparseAdam's form).
            let sparseRule = AdamRule(beta1: beta1, beta2: beta2, epsilon: epsilon / c2.squareRoot(), c1: c1, c2: c2, lr: lr, wd: wd,
                                      decoupled: decoupled)
            for (_, p) in group.parameters where p.requiresGrad && (p.grad != nil || p.sparseGrad != nil) {
                p.mergeGradients()
                let id = ObjectIdentifier(p)
                let state = moments[id] ?? Moments(count: p.value.count)
                moments[id] = state
                p.value.storage.withUnsafeMutableBufferPointer { w in
                    state.m.withUnsafeMutableBufferPointer { mp in
                        state.v.withUnsafeMutableBufferPointer { vp in
                            let ptrs = UnsafeSendable((w.baseAddress!, mp.baseAddress!, vp.baseAddress!))
                            if let g = p.grad {
                                g.storage.withUnsafeBufferPointer { gp in
                                    let gs = UnsafeSendable(gp.baseAddress!)
                                    let count = gp.count
                                    parallelFor(count, chunkSize: 32_768, threads: count > 65_536 ? 0 : 1) { chunk in
                                        let (w, m, v) = ptrs.value
                                        rule.update(chunk.range, gs.value, w, m, v)
                                    }
                                }
                            }
                            if let s = p.sparseGrad?.coalesced() {
                                let (w, m, v) = ptrs.value
                                s.values.withUnsafeBufferPointer { gp in
                                    for (k, row) in s.rows.enumerated() {
                                        let offset = Int(row) * s.width
                                        // The rule indexes g with the parameter's element index.
                                        sparseRule.update(offset..<(offset + s.width), gp.baseAddress! + k * s.width - offset, w, m, v)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    public func state() -> [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor(scalar: Float(steps))]
        for g in groups {
            for (name, p) in g.parameters {
                if let x = moments[ObjectIdentifier(p)] {
                    out[name + ".exp_avg"] = Tensor(shape: p.value.shape, storage: x.m)
                    out[name + ".exp_avg_sq"] = Tensor(shape: p.value.shape, storage: x.v)
                }
            }
        }
        return out
    }

    public func load(state: [String: Tensor]) throws {
        steps = Int(state["step"]?.scalar ?? 0)
        for g in groups {
            for (name, p) in g.parameters {
                if let x = state[name + ".exp_avg"], let y = state[name + ".exp_avg_sq"] {
                    guard x.count == p.value.count, y.count == p.value.count else {
                        throw NNError("optimizer state for '\(name)' does not match the parameter")
                    }
                    let moment = Moments(count: 0)
                    moment.m = x.storage
                    moment.v = y.storage
                    moments[ObjectIdentifier(p)] = moment
                }
            }
        }
    }
}

/// One Adam/AdamW update of elements `range` (PyTorch's arithmetic), branch-free inside the
/// loops so they vectorize.
struct AdamRule: Sendable {
    let beta1: Float, beta2: Float, epsilon: Float, c1: Float, c2: Float, lr: Float, wd: Float, decoupled: Bool

    @inline(__always)
    func update(_ range: Range<Int>, _ g: UnsafePointer<Float>, _ w: UnsafeMutablePointer<Float>,
                _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>) {
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        let stepSize = lr / c1, rootC2 = c2.squareRoot()
        let coupled: Float = decoupled ? 0 : wd
        let shrink: Float = decoupled ? 1 - lr * wd : 1
        for i in range {
            let gi = g[i] + coupled * w[i]
            let mi = b1 * m[i] + (1 - b1) * gi
            let vi = b2 * v[i] + (1 - b2) * gi * gi
            m[i] = mi
            v[i] = vi
            w[i] = w[i] * shrink - stepSize * mi / (vi.squareRoot() / rootC2 + eps)
        }
    }
}


