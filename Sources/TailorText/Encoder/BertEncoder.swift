import Foundation
import TailorLinalg
import TailorAutodiff

/// A BERT-family transformer encoder for inference (Devlin et al. 2019): word + position +
/// token-type embeddings with layer norm, then post-LN layers of multi-head self-attention and
/// a GELU feed-forward.
///
/// The fast path packs a batch without padding: the rows of all sequences form one
/// `tokens × hidden` matrix, so every linear layer is one GEMM over real tokens only, and
/// attention runs per (sequence, head) over that sequence's own rows (a padded key would be
/// masked out anyway, and a padded query's output is never read). Row-wise work (bias, GELU,
/// residual, layer norm) is fused into one pass per layer part and spread over the threads.
/// ``Reference/bertHiddenStates(_:configuration:weights:)`` is the slow, obviously-right twin.
public struct BertEncoder: Sendable {
    /// The shape.
    public let configuration: BertConfiguration
    /// The parameters.
    public let weights: BertWeights
    /// How the linear layers multiply: float32, or int8 weights with activations quantized per
    /// token (``Quantization``).
    public let quantization: Quantization
    /// Each layer's four weight matrices packed once for the GEMM micro-kernel.
    private let packed: [PackedLayer]

    private struct PackedLayer: Sendable {
        let qkv: Linear, output: Linear, intermediate: Linear, feedForward: Linear
    }

    /// A linear layer's weight, packed for the kernel that multiplies by it.
    private enum Linear: Sendable {
        case float(Kernels.PackedB)
        case int8(Kernels.Int8PackedB)

        init(_ w: [Float], out: Int, in k: Int, quantization: Quantization) {
            self = w.withUnsafeBufferPointer { b in
                switch quantization {
                case .none: .float(Kernels.PackedB(transposed: true, k: k, n: out, b: b.baseAddress!, ldb: k))
                case .int8: .int8(Kernels.Int8PackedB(transposed: true, k: k, n: out, b: b.baseAddress!, ldb: k))
                }
            }
        }

        /// `c ← a · Wᵀ` for `m` rows.
        func apply(m: Int, a: UnsafePointer<Float>, lda: Int, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
            switch self {
            case .float(let p): Kernels.gemm(m: m, a: a, lda: lda, packedB: p, c: c, ldc: ldc, threads: threads)
            case .int8(let p): Kernels.gemmInt8(m: m, a: a, lda: lda, packedB: p, c: c, ldc: ldc, threads: threads)
            }
        }
    }

    /// How the linear layers of the encoder multiply.
    public enum Quantization: String, Sendable, Codable, CaseIterable {
        /// Float32 weights and activations: equal to PyTorch's vectors.
        case none
        /// Int8 weights (one scale per output unit) and int8 activations (one scale per token,
        /// computed on the fly), products summed exactly in 32-bit integers: PyTorch's
        /// `quantize_dynamic` of the linear layers. Embeddings, attention scores, layer norms
        /// and GELU stay float32. Faster only on CPUs with AVX-512 VNNI (``Kernels/int8VNNI``).
        case int8
    }

    /// An encoder over `weights`, which must have `configuration`'s shapes; `quantization`
    /// picks how the linear layers multiply (float32 unless asked).
    public init(configuration: BertConfiguration, weights: BertWeights, quantization: Quantization = .none) {
        let h = configuration.hiddenSize
        precondition(weights.wordEmbeddings.count == configuration.vocabSize * h, "word embeddings do not match the configuration")
        precondition(weights.layers.count == configuration.numHiddenLayers, "layer count does not match the configuration")
        self.configuration = configuration
        self.weights = weights
        self.quantization = quantization
        let inner = configuration.intermediateSize
        func pack(_ w: [Float], out: Int, in k: Int) -> Linear { Linear(w, out: out, in: k, quantization: quantization) }
        packed = weights.layers.map { layer in
            PackedLayer(qkv: pack(layer.qkvWeight, out: 3 * h, in: h), output: pack(layer.outputWeight, out: h, in: h),
                        intermediate: pack(layer.intermediateWeight, out: inner, in: h), feedForward: pack(layer.feedForwardWeight, out: h, in: inner))
        }
    }

    /// The last layer's hidden states of every sequence, packed: sequence `s` owns rows
    /// `offsets[s]..<offsets[s + 1]` of the `offsets.last! × hidden` result. Ids must be below
    /// the vocabulary size and sequences no longer than the position table.
    ///
    /// Cost: O(tokens·layers·hidden·(hidden + intermediate)) for the GEMMs plus
    /// O(Σ length²·hidden) for attention.
    public func hiddenStates(_ sequences: [[Int32]], threads: Int = 0, workspace: Workspace? = nil) -> (states: [Float], offsets: [Int]) {
        let c = configuration
        let h = c.hiddenSize, inner = c.intermediateSize, heads = c.numAttentionHeads, dh = c.headSize
        var offsets = [0]
        offsets.reserveCapacity(sequences.count + 1)
        for s in sequences {
            precondition(s.count <= c.maxPositionEmbeddings, "a sequence of \(s.count) tokens exceeds max_position_embeddings \(c.maxPositionEmbeddings)")
            offsets.append(offsets.last! + s.count)
        }
        let tokens = offsets.last!
        if tokens == 0 { return ([], offsets) }
        let workers = effectiveThreadCount(threads)
        let rowChunk = max(1, 16_384 / h)
        let longest = sequences.map(\.count).max() ?? 0

        // Every buffer is written before it is read (GEMMs with beta 0 do not read C), so the
        // workspace is handed out uninitialized.
        let space = workspace ?? Workspace()
        let base = space.floats(tokens * (h + 3 * h + h + h + inner) + workers * longest * longest)
        let x = UnsafeSendable(base), q = UnsafeSendable(base + tokens * h), ctx = UnsafeSendable(base + tokens * 4 * h)
        let proj = UnsafeSendable(base + tokens * 5 * h), inter = UnsafeSendable(base + tokens * 6 * h)
        let sc = UnsafeSendable(base + tokens * (6 * h + inner))
        let w = weights

        // Embeddings.
        w.wordEmbeddings.withUnsafeBufferPointer { word in
            w.positionEmbeddings.withUnsafeBufferPointer { position in
                w.tokenTypeEmbeddings.withUnsafeBufferPointer { type in
                    w.embeddingNormGamma.withUnsafeBufferPointer { gamma in
                        w.embeddingNormBeta.withUnsafeBufferPointer { beta in
                            parallelFor(sequences.count, chunkSize: max(1, 64 / max(1, longest / 8)), threads: workers) { chunk in
                                for s in chunk.range {
                                    for (p, id) in sequences[s].enumerated() {
                                        precondition(id >= 0 && Int(id) < c.vocabSize, "token id \(id) is outside the vocabulary of \(c.vocabSize)")
                                        let row = x.value + (offsets[s] + p) * h
                                        let wr = word.baseAddress! + Int(id) * h, pr = position.baseAddress! + p * h
                                        for j in 0..<h { row[j] = wr[j] + pr[j] + type[j] }
                                    }
                                    Kernels.layerNorm(x.value + offsets[s] * h, rows: sequences[s].count, width: h,
                                                      gamma: gamma.baseAddress!, beta: beta.baseAddress!, epsilon: c.layerNormEps)
                                }
                            }
                        }
                    }
                }
            }
        }

        let scale = 1 / Float(dh).squareRoot()
        for (layer, packedLayer) in zip(w.layers, packed) {
            // Q, K, V in one product, then their biases.
            packedLayer.qkv.apply(m: tokens, a: x.value, lda: h, c: q.value, ldc: 3 * h, threads: workers)
            layer.qkvBias.withUnsafeBufferPointer { bias in
                parallelFor(tokens, chunkSize: rowChunk, threads: workers) { chunk in
                    for r in chunk.range {
                        let row = q.value + r * 3 * h
                        for j in 0..<(3 * h) { row[j] += bias[j] }
                    }
                }
            }
            // Attention per (sequence, head) over the sequence's own rows.
            parallelFor(sequences.count * heads, chunkSize: 1, threads: workers) { chunk in
                let s = chunk.range.lowerBound / heads, head = chunk.range.lowerBound % heads
                let n = sequences[s].count
                if n == 0 { return }
                let base = q.value + offsets[s] * 3 * h + head * dh
                let score = sc.value + chunk.worker * longest * longest
                Kernels.gemm(transposeB: true, m: n, n: n, k: dh, alpha: scale, a: base, lda: 3 * h, b: base + h, ldb: 3 * h,
                             c: score, ldc: n, threads: 1)
                Kernels.softmaxRows(score, rows: n, n: n)
                Kernels.gemm(m: n, n: dh, k: n, a: score, lda: n, b: base + 2 * h, ldb: 3 * h,
                             c: ctx.value + offsets[s] * h + head * dh, ldc: h, threads: 1)
            }
            // Output projection, residual, layer norm.
            packedLayer.output.apply(m: tokens, a: ctx.value, lda: h, c: proj.value, ldc: h, threads: workers)
            Self.residualNorm(proj.value, into: x.value, bias: layer.outputBias, gamma: layer.attentionNormGamma,
                              beta: layer.attentionNormBeta, rows: tokens, width: h, epsilon: c.layerNormEps, chunk: rowChunk, threads: workers)
            // Feed-forward.
            packedLayer.intermediate.apply(m: tokens, a: x.value, lda: h, c: inter.value, ldc: inner, threads: workers)
            layer.intermediateBias.withUnsafeBufferPointer { bias in
                parallelFor(tokens, chunkSize: max(1, rowChunk * h / inner), threads: workers) { chunk in
                    Kernels.gelu(inter.value + chunk.range.lowerBound * inner, bias: bias.baseAddress!, rows: chunk.range.count, width: inner)
                }
            }
            packedLayer.feedForward.apply(m: tokens, a: inter.value, lda: inner, c: proj.value, ldc: h, threads: workers)
            Self.residualNorm(proj.value, into: x.value, bias: layer.feedForwardBias, gamma: layer.outputNormGamma,
                              beta: layer.outputNormBeta, rows: tokens, width: h, epsilon: c.layerNormEps, chunk: rowChunk, threads: workers)
        }
        return (Array(UnsafeBufferPointer(start: x.value, count: tokens * h)), offsets)
    }

    /// Scratch memory for ``hiddenStates(_:threads:workspace:)``, kept between calls so a
    /// stream of batches reuses one buffer instead of mapping (and faulting in) fresh memory
    /// for every batch. One per thread that calls the encoder; it grows to the largest batch.
    public final class Workspace: @unchecked Sendable {
        private var storage: UnsafeMutablePointer<Float>?
        private var capacity = 0

        /// An empty workspace.
        public init() {}

        deinit { storage?.deallocate() }

        /// At least `count` floats, uninitialized.
        func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
            if count > capacity {
                storage?.deallocate()
                storage = .allocate(capacity: count)
                capacity = count
            }
            return storage!
        }
    }

    /// `x = LayerNorm(x + delta + bias)` row by row.
    private static func residualNorm(_ delta: UnsafeMutablePointer<Float>, into x: UnsafeMutablePointer<Float>, bias: [Float],
                                     gamma: [Float], beta: [Float], rows: Int, width: Int, epsilon: Float, chunk: Int, threads: Int) {
        let d = UnsafeSendable(delta), xs = UnsafeSendable(x)
        bias.withUnsafeBufferPointer { b in gamma.withUnsafeBufferPointer { g in beta.withUnsafeBufferPointer { be in
            parallelFor(rows, chunkSize: chunk, threads: threads) { part in
                for r in part.range {
                    let row = xs.value + r * width, add = d.value + r * width
                    for j in 0..<width { row[j] += add[j] + b[j] }
                }
                Kernels.layerNorm(xs.value + part.range.lowerBound * width, rows: part.range.count, width: width,
                                  gamma: g.baseAddress!, beta: be.baseAddress!, epsilon: epsilon)
            }
        } } }
    }
}

/// How token states become one sentence vector (sentence-transformers' `Pooling` modes).
public enum Pooling: String, Sendable, Codable, CaseIterable {
    /// The mean over the sequence's tokens, `[CLS]` and `[SEP]` included (all-MiniLM, most
    /// sentence-transformers models).
    case mean
    /// The `[CLS]` token's state (bge, some retrieval models).
    case cls
    /// The element-wise maximum over the tokens.
    case max

    /// Pools packed `states` (rows per ``BertEncoder/hiddenStates(_:threads:workspace:)``'s offsets)
    /// into `offsets.count − 1` rows of `width`, each L2-normalized when `normalize` (with
    /// PyTorch's `F.normalize` floor of 10⁻¹² on the norm).
    public func pool(_ states: [Float], offsets: [Int], width: Int, normalize: Bool) -> [Float] {
        let count = offsets.count - 1
        var out = [Float](repeating: 0, count: count * width)
        for s in 0..<count {
            let first = offsets[s], n = offsets[s + 1] - first
            guard n > 0 else { continue }
            let o = s * width
            switch self {
            case .cls:
                for j in 0..<width { out[o + j] = states[first * width + j] }
            case .mean:
                for r in first..<(first + n) { for j in 0..<width { out[o + j] += states[r * width + j] } }
                let inverse = 1 / Float(n)
                for j in 0..<width { out[o + j] *= inverse }
            case .max:
                for j in 0..<width { out[o + j] = states[first * width + j] }
                for r in (first + 1)..<(first + n) { for j in 0..<width { out[o + j] = Swift.max(out[o + j], states[r * width + j]) } }
            }
            if normalize {
                var norm: Float = 0
                for j in 0..<width { norm += out[o + j] * out[o + j] }
                let inverse = 1 / Swift.max(norm.squareRoot(), 1e-12)
                for j in 0..<width { out[o + j] *= inverse }
            }
        }
        return out
    }
}
