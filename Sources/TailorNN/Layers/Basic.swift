import TailorAutodiff

/// `y = x·Wᵀ + b` over the last axis (PyTorch `nn.Linear`: `weight [out, in]`, `bias [out]`).
public final class Linear: Module {
    /// `[outputs, inputs]`.
    public let weight: Parameter
    /// `[outputs]`, or `nil`.
    public let bias: Parameter?

    /// A layer with PyTorch's default initialization, seeded.
    public init(_ inputs: Int, _ outputs: Int, bias: Bool = true, seed: UInt64 = 1) {
        weight = Parameter(Initializer.linear(shape: [outputs, inputs], fanIn: inputs, seed: seed, stream: 1))
        self.bias = bias ? Parameter(Initializer.linear(shape: [outputs], fanIn: inputs, seed: seed, stream: 2)) : nil
    }

    public override var localParameters: [(String, Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    /// Applies the layer to `[…, inputs]`.
    public func callAsFunction(_ x: Value) -> Value {
        linear(x, weight: x.tape.parameter(weight), bias: bias.map { x.tape.parameter($0) })
    }
}

/// A lookup table of vectors (PyTorch `nn.Embedding`: `weight [count, dimension]`). Rows read get
/// sparse gradients. The optional padding row reads as zeros and never trains.
public final class Embedding: Module {
    /// `[count, dimension]`.
    public let weight: Parameter
    /// The padding index, if any.
    public let padding: Int32?

    /// A table initialized from N(0, 1) (PyTorch's default), padding row zero.
    public init(_ count: Int, _ dimension: Int, padding: Int32? = nil, seed: UInt64 = 1) {
        var w = Tensor.normal(shape: [count, dimension], seed: seed, stream: 3)
        if let padding { for c in 0..<dimension { w.storage[Int(padding) * dimension + c] = 0 } }
        weight = Parameter(w)
        self.padding = padding
    }

    public override var localParameters: [(String, Parameter)] { [("weight", weight)] }

    /// Rows at `indices`, shaped `shape + [dimension]`.
    public func callAsFunction(_ indices: [Int32], shape: [Int]? = nil, tape: Tape) -> Value {
        gather(tape.parameter(weight), indices: indices, shape: shape, padding: padding)
    }
}

/// Pooled lookups for multi-valued features (PyTorch `nn.EmbeddingBag`).
public final class EmbeddingBag: Module {
    /// `[count, dimension]`.
    public let weight: Parameter
    /// Pooling.
    public let mode: BagMode
    /// Padding index, if any.
    public let padding: Int32?

    /// A table initialized from N(0, 1).
    public init(_ count: Int, _ dimension: Int, mode: BagMode = .mean, padding: Int32? = nil, seed: UInt64 = 1) {
        weight = Parameter(Tensor.normal(shape: [count, dimension], seed: seed, stream: 4))
        self.mode = mode
        self.padding = padding
    }

    public override var localParameters: [(String, Parameter)] { [("weight", weight)] }

    /// One pooled vector per bag; bag `b` is `indices[offsets[b]..<offsets[b+1]]`.
    public func callAsFunction(_ indices: [Int32], offsets: [Int], tape: Tape) -> Value {
        embeddingBag(tape.parameter(weight), indices: indices, offsets: offsets, mode: mode, padding: padding)
    }
}

/// Layer normalization over the last axis (PyTorch `nn.LayerNorm`: `weight`, `bias`).
public final class LayerNorm: Module {
    /// γ, ones.
    public let weight: Parameter
    /// β, zeros.
    public let bias: Parameter
    /// ε.
    public let epsilon: Float

    /// A layer for `features`.
    public init(_ features: Int, epsilon: Float = 1e-5) {
        weight = Parameter(Tensor(shape: [features], repeating: 1))
        bias = Parameter(Tensor(shape: [features]))
        self.epsilon = epsilon
    }

    public override var localParameters: [(String, Parameter)] { [("weight", weight), ("bias", bias)] }

    /// Normalizes `x` over its last axis.
    public func callAsFunction(_ x: Value) -> Value {
        layerNorm(x, gamma: x.tape.parameter(weight), beta: x.tape.parameter(bias), epsilon: epsilon)
    }
}

/// Batch normalization of the last (feature) axis over all others (PyTorch `nn.BatchNorm1d` on
/// `[N, C]`: `weight`, `bias`, buffers `running_mean`, `running_var`).
public final class BatchNorm: Module {
    /// γ.
    public let weight: Parameter
    /// β.
    public let bias: Parameter
    /// Running statistics (buffers).
    public let running: RunningStatistics
    /// Weight of each new batch in the running statistics.
    public let momentum: Float
    /// ε.
    public let epsilon: Float

    /// A layer for `features`.
    public init(_ features: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        weight = Parameter(Tensor(shape: [features], repeating: 1))
        bias = Parameter(Tensor(shape: [features]))
        running = RunningStatistics(features: features)
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public override var localParameters: [(String, Parameter)] { [("weight", weight), ("bias", bias)] }
    public override var localBuffers: [(String, Tensor)] {
        [("running_mean", Tensor(shape: [running.mean.count], storage: running.mean)),
         ("running_var", Tensor(shape: [running.variance.count], storage: running.variance))]
    }
    public override func setBuffer(_ name: String, _ value: Tensor) -> Bool {
        switch name {
        case "running_mean": running.mean = value.storage; return true
        case "running_var": running.variance = value.storage; return true
        default: return false
        }
    }

    /// Batch statistics in training (`tape.isTraining`), running statistics otherwise.
    public func callAsFunction(_ x: Value) -> Value {
        batchNorm(x, gamma: x.tape.parameter(weight), beta: x.tape.parameter(bias), running: running, momentum: momentum, epsilon: epsilon)
    }
}

/// Inverted dropout (identity in evaluation).
public final class Dropout: Module {
    /// Drop probability.
    public let probability: Float
    /// A layer.
    public init(_ probability: Float) { self.probability = probability }
    /// Applies dropout when the tape is training.
    public func callAsFunction(_ x: Value) -> Value { dropout(x, probability: probability) }
}

/// An activation function.
public enum Activation: String, Sendable, Codable, CaseIterable {
    case relu, gelu, tanh, sigmoid, identity

    /// Applies it.
    public func callAsFunction(_ x: Value) -> Value {
        switch self {
        case .relu: TailorAutodiff.relu(x)
        case .gelu: TailorAutodiff.gelu(x)
        case .tanh: TailorAutodiff.tanh(x)
        case .sigmoid: TailorAutodiff.sigmoid(x)
        case .identity: x
        }
    }
}

/// A multilayer perceptron: Linear → activation (→ batch norm) (→ dropout) for each hidden size,
/// then a final Linear. Children are numbered like PyTorch's `nn.Sequential` of the same layers
/// (`0.weight`, `2.weight`, …, counting activations), so its checkpoints load both ways.
public final class MLP: Module {
    enum Layer { case linear(Linear), activation(Activation), norm(BatchNorm), dropout(Dropout) }
    let layers: [Layer]

    /// Sizes `[in, hidden…, out]`.
    public init(_ sizes: [Int], activation: Activation = .relu, batchNorm: Bool = false, dropout: Float = 0, seed: UInt64 = 1) {
        precondition(sizes.count >= 2, "an MLP needs at least input and output sizes")
        var layers: [Layer] = []
        for i in 0..<(sizes.count - 1) {
            layers.append(.linear(Linear(sizes[i], sizes[i + 1], seed: seed &+ UInt64(i) &* 7919)))
            if i < sizes.count - 2 {
                layers.append(.activation(activation))
                if batchNorm { layers.append(.norm(BatchNorm(sizes[i + 1]))) }
                if dropout > 0 { layers.append(.dropout(Dropout(dropout))) }
            }
        }
        self.layers = layers
    }

    public override var children: [(String, Module)] {
        layers.enumerated().compactMap { i, layer in
            switch layer {
            case .linear(let l): ("\(i)", l)
            case .norm(let n): ("\(i)", n)
            default: nil
            }
        }
    }

    /// Applies every layer in order.
    public func callAsFunction(_ x: Value) -> Value {
        var h = x
        for layer in layers {
            switch layer {
            case .linear(let l): h = l(h)
            case .activation(let a): h = a(h)
            case .norm(let n): h = n(h)
            case .dropout(let d): h = d(h)
            }
        }
        return h
    }
}
