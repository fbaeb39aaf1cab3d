import TailorAutodiff

/// Multi-head self- or cross-attention on `[B, T, E]` inputs (PyTorch `nn.MultiheadAttention`
/// with `batch_first=True`: `in_proj_weight [3E, E]`, `in_proj_bias [3E]`, `out_proj.weight`,
/// `out_proj.bias`).
public final class MultiHeadAttention: Module {
    /// `[3E, E]`: query, key and value projections stacked.
    public let inProjectionWeight: Parameter
    /// `[3E]`.
    public let inProjectionBias: Parameter
    /// The output projection.
    public let outProjection: Linear
    /// Heads.
    public let heads: Int
    /// E.
    public let width: Int

    /// Dropout on the attention probabilities in training (PyTorch's `dropout` argument).
    public let attentionDropout: Float

    /// A layer of `width` split into `heads` heads (PyTorch's initialization: Xavier-uniform
    /// input projection, zero biases), with `dropout` on the attention probabilities.
    public init(width: Int, heads: Int, dropout: Float = 0, seed: UInt64 = 1) {
        precondition(dropout >= 0 && dropout < 1, "attention dropout must be in [0, 1), got \(dropout)")
        attentionDropout = dropout
        precondition(width % heads == 0, "width \(width) must divide into \(heads) heads")
        self.width = width
        self.heads = heads
        inProjectionWeight = Parameter(Initializer.xavier(shape: [3 * width, width], fanIn: width, fanOut: 3 * width, seed: seed, stream: 5))
        inProjectionBias = Parameter(Tensor(shape: [3 * width]))
        outProjection = Linear(width, width, seed: Initializer.seed(seed, part: 1))
        outProjection.bias!.value = Tensor(shape: [width])
    }

    public override var localParameters: [(String, Parameter)] { [("in_proj_weight", inProjectionWeight), ("in_proj_bias", inProjectionBias)] }
    public override var children: [(String, Module)] { [("out_proj", outProjection)] }

    /// `[B, T, E]` → `[B, H, T, E/H]`.
    func splitHeads(_ x: Value) -> Value {
        let s = x.shape
        return permute(reshape(x, [s[0], s[1], heads, width / heads]), [0, 2, 1, 3])
    }

    /// Attention of `query` (`[B, T, E]`) over `key`/`value` (`[B, S, E]`; default: self-attention).
    public func callAsFunction(_ query: Value, key: Value? = nil, value: Value? = nil, causal: Bool = false, keyPadding: [Bool]? = nil) -> Value {
        let tape = query.tape
        let w = tape.parameter(inProjectionWeight), b = tape.parameter(inProjectionBias)
        let q: Value, k: Value, v: Value
        if key == nil && value == nil {
            // One projection for all three, then split.
            let qkv = matmul(query, w, transposeB: true) + b
            let parts = split(qkv, sizes: [width, width, width], axis: -1)
            (q, k, v) = (parts[0], parts[1], parts[2])
        } else {
            let ws = split(w, sizes: [width, width, width], axis: 0), bs = split(b, sizes: [width, width, width], axis: 0)
            q = matmul(query, ws[0], transposeB: true) + bs[0]
            k = matmul(key ?? query, ws[1], transposeB: true) + bs[1]
            v = matmul(value ?? key ?? query, ws[2], transposeB: true) + bs[2]
        }
        let attended = scaledDotProductAttention(splitHeads(q), splitHeads(k), splitHeads(v), causal: causal, keyPadding: keyPadding,
                                                 dropout: attentionDropout)
        let s = query.shape
        let merged = reshape(permute(attended, [0, 2, 1, 3]), [s[0], s[1], width])
        return outProjection(merged)
    }

    /// Self-attention over packed sequences: `x` is `[N, E]`, the rows of each sequence one after
    /// another (`lengths`), no padding. The same function as the `[B, T, E]` call with a
    /// key-padding mask, at the real positions, for `Σ L²` instead of `B·T²` (see
    /// `packedSelfAttention`).
    public func callAsFunction(packed x: Value, lengths: [Int], causal: Bool = false) -> Value {
        let tape = x.tape
        let qkv = matmul(x, tape.parameter(inProjectionWeight), transposeB: true) + tape.parameter(inProjectionBias)
        return outProjection(packedSelfAttention(qkv, heads: heads, lengths: lengths, causal: causal, dropout: attentionDropout))
    }
}

/// A Transformer encoder layer on `[B, T, E]` (PyTorch `nn.TransformerEncoderLayer` with
/// `batch_first=True`: `self_attn`, `linear1`, `linear2`, `norm1`, `norm2`). Post-norm by default,
/// as PyTorch; `normFirst` gives the pre-norm variant.
public final class TransformerEncoderBlock: Module {
    public let selfAttention: MultiHeadAttention
    public let linear1: Linear
    public let linear2: Linear
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    /// Dropout on the attention probabilities, the attention output, the feed-forward hidden
    /// layer and its output (PyTorch's `TransformerEncoderLayer(dropout:)` uses it in all four).
    public let dropout: Float
    /// Feed-forward activation.
    public let activation: Activation
    /// Pre-norm when true.
    public let normFirst: Bool

    /// A block of `width` with `heads` heads and a feed-forward layer of `feedForward` units;
    /// its layer norms use `normEpsilon` (PyTorch's 10⁻⁵ by default; BERT's is 10⁻¹²).
    public init(width: Int, heads: Int, feedForward: Int, dropout: Float = 0.1, activation: Activation = .relu,
                normFirst: Bool = false, normEpsilon: Float = 1e-5, seed: UInt64 = 1) {
        selfAttention = MultiHeadAttention(width: width, heads: heads, dropout: dropout, seed: Initializer.seed(seed, part: 0))
        linear1 = Linear(width, feedForward, seed: Initializer.seed(seed, part: 1))
        linear2 = Linear(feedForward, width, seed: Initializer.seed(seed, part: 2))
        norm1 = LayerNorm(width, epsilon: normEpsilon)
        norm2 = LayerNorm(width, epsilon: normEpsilon)
        self.dropout = dropout
        self.activation = activation
        self.normFirst = normFirst
    }

    public override var children: [(String, Module)] {
        [("self_attn", selfAttention), ("linear1", linear1), ("linear2", linear2), ("norm1", norm1), ("norm2", norm2)]
    }

    func feedForward(_ x: Value) -> Value {
        TailorAutodiff.dropout(linear2(TailorAutodiff.dropout(activation(linear1(x)), probability: dropout)), probability: dropout)
    }

    /// Applies the block; masks as in ``MultiHeadAttention``.
    public func callAsFunction(_ x: Value, causal: Bool = false, keyPadding: [Bool]? = nil) -> Value {
        if normFirst {
            let h = x + TailorAutodiff.dropout(selfAttention(norm1(x), causal: causal, keyPadding: keyPadding), probability: dropout)
            return h + feedForward(norm2(h))
        }
        let h = norm1(x + TailorAutodiff.dropout(selfAttention(x, causal: causal, keyPadding: keyPadding), probability: dropout))
        return norm2(h + feedForward(h))
    }

    /// Applies the block to packed sequences (`[N, E]`, see ``MultiHeadAttention``'s packed call):
    /// every other part works row by row, so only the attention needs the lengths.
    public func callAsFunction(packed x: Value, lengths: [Int], causal: Bool = false) -> Value {
        if normFirst {
            let h = x + TailorAutodiff.dropout(selfAttention(packed: norm1(x), lengths: lengths, causal: causal), probability: dropout)
            return h + feedForward(norm2(h))
        }
        let h = norm1(x + TailorAutodiff.dropout(selfAttention(packed: x, lengths: lengths, causal: causal), probability: dropout))
        return norm2(h + feedForward(h))
    }
}

/// A single-layer gated recurrent unit over `[B, T, inputs]` (Cho et al. 2014; PyTorch `nn.GRU`
/// with `batch_first=True`: `weight_ih_l0 [3H, I]`, `weight_hh_l0 [3H, H]`, `bias_ih_l0`,
/// `bias_hh_l0`, gates in the order reset, update, new):
///
///     r = σ(Wᵢᵣx + bᵢᵣ + Wₕᵣh + bₕᵣ),  z = σ(Wᵢ_z x + bᵢ_z + Wₕ_z h + bₕ_z),
///     n = tanh(Wᵢₙx + bᵢₙ + r ⊙ (Wₕₙh + bₕₙ)),  h′ = (1 − z) ⊙ n + z ⊙ h.
public final class GRU: Module {
    public let weightIH: Parameter, weightHH: Parameter, biasIH: Parameter, biasHH: Parameter
    /// Hidden size H.
    public let hidden: Int

    /// A layer with PyTorch's initialization U(±1/√H), seeded.
    public init(inputs: Int, hidden: Int, seed: UInt64 = 1) {
        self.hidden = hidden
        weightIH = Parameter(Initializer.linear(shape: [3 * hidden, inputs], fanIn: hidden, seed: seed, stream: 6))
        weightHH = Parameter(Initializer.linear(shape: [3 * hidden, hidden], fanIn: hidden, seed: seed, stream: 7))
        biasIH = Parameter(Initializer.linear(shape: [3 * hidden], fanIn: hidden, seed: seed, stream: 8))
        biasHH = Parameter(Initializer.linear(shape: [3 * hidden], fanIn: hidden, seed: seed, stream: 9))
    }

    public override var localParameters: [(String, Parameter)] {
        [("weight_ih_l0", weightIH), ("weight_hh_l0", weightHH), ("bias_ih_l0", biasIH), ("bias_hh_l0", biasHH)]
    }

    /// Every step's hidden state `[B, T, H]` and the last one `[B, H]`, from `h0` (zeros by default).
    /// With `keep` (`[B × T]`), the state is reset to zero after every step where it is false
    /// (left padding: each sequence then starts from zeros at its first real step).
    ///
    /// The input projections of all steps in one product, then the recurrence as one fused op
    /// (`gruSequence`); ``steps(_:initial:keep:resets:)`` is the same layer op by op, its reference.
    /// With `resets` (`[B × T]`), the state is zero before every step where it is true (a new
    /// sequence starts there: session-parallel batches).
    public func callAsFunction(_ x: Value, initial: Value? = nil, keep: [Bool]? = nil, resets: [Bool]? = nil) -> (outputs: Value, last: Value) {
        let tape = x.tape
        let (b, t) = (x.shape[0], x.shape[1])
        let gi = matmul(x, tape.parameter(weightIH), transposeB: true) + tape.parameter(biasIH)
        let outputs = gruSequence(gi, weightHH: tape.parameter(weightHH), biasHH: tape.parameter(biasHH), initial: initial, keep: keep,
                                  resets: resets)
        guard t > 0 else { return (outputs, initial ?? tape.constant(Tensor(shape: [b, hidden]))) }
        return (outputs, reshape(slice(outputs, axis: 1, (t - 1)..<t), [b, hidden]))
    }

    /// The same as ``callAsFunction(_:initial:keep:resets:)``, step by step from primitive ops (matmul,
    /// split, sigmoid, tanh, products): the readable reference the fused op is tested against.
    public func steps(_ x: Value, initial: Value? = nil, keep: [Bool]? = nil, resets: [Bool]? = nil) -> (outputs: Value, last: Value) {
        let tape = x.tape
        let (b, t) = (x.shape[0], x.shape[1])
        let h3 = 3 * hidden
        // Input contributions for every step at once: [B, T, 3H].
        let gi = matmul(x, tape.parameter(weightIH), transposeB: true) + tape.parameter(biasIH)
        let whh = tape.parameter(weightHH), bhh = tape.parameter(biasHH)
        var h = initial ?? tape.constant(Tensor(shape: [b, hidden]))
        var outputs: [Value] = []
        for step in 0..<t {
            if let resets, (0..<b).contains(where: { resets[$0 * t + step] }) {
                h = h * tape.constant(Tensor(shape: [b, 1], storage: (0..<b).map { resets[$0 * t + step] ? 0 : 1 }))
            }
            let giStep = reshape(slice(gi, axis: 1, step..<(step + 1)), [b, h3])
            let gh = matmul(h, whh, transposeB: true) + bhh
            let gis = split(giStep, sizes: [hidden, hidden, hidden], axis: 1), ghs = split(gh, sizes: [hidden, hidden, hidden], axis: 1)
            let r = sigmoid(gis[0] + ghs[0])
            let z = sigmoid(gis[1] + ghs[1])
            let n = TailorAutodiff.tanh(gis[2] + r * ghs[2])
            h = n + z * (h - n)  // (1 − z)·n + z·h
            if let keep, (0..<b).contains(where: { !keep[$0 * t + step] }) {
                h = h * tape.constant(Tensor(shape: [b, 1], storage: (0..<b).map { keep[$0 * t + step] ? 1 : 0 }))
            }
            outputs.append(reshape(h, [b, 1, hidden]))
        }
        return (concat(outputs, axis: 1), h)
    }
}
