import Foundation
import TailorAutodiff
import TailorLinalg

/// A part of a neural network: named parameters, named buffers (state that is saved but not
/// trained, like batch-norm running statistics) and named child modules.
///
/// Names follow PyTorch's `state_dict` convention (`encoder.0.weight`), and every layer uses
/// PyTorch's parameter names and shapes, so a checkpoint written by either side loads in the
/// other. Forward passes are each layer's `callAsFunction`. Modules are mutable reference types:
/// train one from one thread at a time.
open class Module {
    /// A module with no parameters.
    public init() {}

    /// This module's own parameters, by name.
    open var localParameters: [(String, Parameter)] { [] }
    /// This module's children, by name.
    open var children: [(String, Module)] { [] }
    /// This module's own buffers, by name.
    open var localBuffers: [(String, Tensor)] { [] }
    /// Sets the buffer `name` (when loading); returns `false` if there is none by that name.
    open func setBuffer(_ name: String, _ value: Tensor) -> Bool { false }

    /// Every parameter, with its full dotted name, depth first.
    public func namedParameters(prefix: String = "") -> [(String, Parameter)] {
        localParameters.map { (prefix + $0.0, $0.1) } + children.flatMap { $0.1.namedParameters(prefix: prefix + $0.0 + ".") }
    }

    /// Every parameter.
    public var parameters: [Parameter] { namedParameters().map(\.1) }

    /// Every buffer, with its full dotted name.
    public func namedBuffers(prefix: String = "") -> [(String, Tensor)] {
        localBuffers.map { (prefix + $0.0, $0.1) } + children.flatMap { $0.1.namedBuffers(prefix: prefix + $0.0 + ".") }
    }

    /// Parameters and buffers by name.
    public func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (n, p) in namedParameters() { out[n] = p.value }
        for (n, b) in namedBuffers() { out[n] = b }
        return out
    }

    /// Loads parameters and buffers by name.
    ///
    /// - Parameters:
    ///   - strict: every parameter and buffer must be present (PyTorch's bookkeeping entries such
    ///     as `num_batches_tracked` are always ignored).
    /// - Throws: ``NNError`` naming missing or unexpected entries, or shape mismatches.
    public func load(stateDict: [String: Tensor], strict: Bool = true) throws {
        let params = Dictionary(namedParameters(), uniquingKeysWith: { a, _ in a })
        let buffers = Set(namedBuffers().map(\.0))
        var missing: [String] = []
        for (name, p) in params {
            guard let t = stateDict[name] else { missing.append(name); continue }
            guard t.shape == p.value.shape else {
                throw NNError("'\(name)' has shape \(t.shape) in the checkpoint but \(p.value.shape) in the model")
            }
            p.value = t
        }
        for name in buffers {
            guard let t = stateDict[name] else { missing.append(name); continue }
            _ = setBuffer(path: name, t)
        }
        let unexpected = stateDict.keys.filter { params[$0] == nil && !buffers.contains($0) && !$0.hasSuffix("num_batches_tracked") }
        if strict && (!missing.isEmpty || !unexpected.isEmpty) {
            throw NNError("checkpoint does not match the model" +
                          (missing.isEmpty ? "" : "; missing: \(missing.sorted().joined(separator: ", "))") +
                          (unexpected.isEmpty ? "" : "; unexpected: \(unexpected.sorted().joined(separator: ", "))"),
                          hint: "load with strict: false to take only the matching names")
        }
    }

    func setBuffer(path: String, _ value: Tensor) -> Bool {
        if let dot = path.firstIndex(of: "."), let child = children.first(where: { $0.0 == String(path[..<dot]) }) {
            return child.1.setBuffer(path: String(path[path.index(after: dot)...]), value)
        }
        return setBuffer(path, value)
    }

    /// Freezes the parameters whose names start with any of `prefixes` (all when `nil`): they
    /// get no gradients and optimizers skip them.
    public func freeze(_ prefixes: [String]? = nil) { setRequiresGrad(false, prefixes) }
    /// Unfreezes parameters (all when `nil`).
    public func unfreeze(_ prefixes: [String]? = nil) { setRequiresGrad(true, prefixes) }

    func setRequiresGrad(_ value: Bool, _ prefixes: [String]?) {
        for (name, p) in namedParameters() where prefixes == nil || prefixes!.contains(where: { name.hasPrefix($0) }) {
            p.requiresGrad = value
        }
    }

    /// Writes the state dict as safetensors (readable by `safetensors.torch.load_file`).
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        try SafeTensors.write(stateDict().mapValues { SafeTensors.Tensor($0.storage, shape: $0.shape) }, metadata: metadata, to: url)
    }

    /// Loads a safetensors state dict (written by Tailor, or by PyTorch/numpy with matching names).
    public func load(from url: URL, strict: Bool = true) throws {
        let (tensors, _) = try SafeTensors.read(from: url)
        try load(stateDict: tensors.mapValues { Tensor(shape: $0.shape, storage: $0.floats()) }, strict: strict)
    }

    /// Total number of parameter elements.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
}

/// A problem with a network, a checkpoint or training input.
public struct NNError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public var reason: String
    /// How to fix it.
    public var hint: String?
    /// A new error.
    public init(_ reason: String, hint: String? = nil) { self.reason = reason; self.hint = hint }
    /// `reason. hint`
    public var description: String { reason + (hint.map { ". " + $0 } ?? "") }
}

/// Initial values as PyTorch draws them (distributions, not streams), seeded.
public enum Initializer {
    /// The seed of part `index` of a layer seeded `seed` (SplitMix64's finalizer over both):
    /// unrelated for different seeds or parts. Layers built from layers seed their parts with
    /// this, not with `seed + offset`, since offsets collide when the caller also seeds its
    /// layers by offsets (SASRec's blocks at `s + 100` and `s + 110` gave block 0's
    /// `linear1` and block 1's attention output projection the same weights).
    public static func seed(_ seed: UInt64, part index: UInt64) -> UInt64 {
        var z = seed &+ (index &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// U(−1/√fanIn, 1/√fanIn): PyTorch's default for linear weights and biases
    /// (`kaiming_uniform_(a=√5)`).
    public static func linear(shape: [Int], fanIn: Int, seed: UInt64, stream: UInt64) -> Tensor {
        let bound = 1 / Float(max(1, fanIn)).squareRoot()
        return Tensor.uniform(shape: shape, low: -bound, high: bound, seed: seed, stream: stream)
    }

    /// Xavier/Glorot uniform: U(±√(6/(fanIn + fanOut))).
    public static func xavier(shape: [Int], fanIn: Int, fanOut: Int, seed: UInt64, stream: UInt64) -> Tensor {
        let bound = (6 / Float(fanIn + fanOut)).squareRoot()
        return Tensor.uniform(shape: shape, low: -bound, high: bound, seed: seed, stream: stream)
    }
}
