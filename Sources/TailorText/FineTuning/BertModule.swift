import Foundation
import TailorAutodiff
import TailorLinalg
import TailorNN

/// The BERT encoder as a trainable TailorNN module, for fine-tuning: the same parameters as
/// ``BertWeights`` (each block is a post-norm `TransformerEncoderBlock` with GELU, whose packed
/// `in_proj_weight` is BERT's stacked query, key and value), forward over padded batches with
/// the padding masked out of attention, mean (or CLS, max) pooling over the real tokens, and
/// unit-length output.
///
/// Dropout follows `TransformerEncoderBlock`: after attention, inside and after the
/// feed-forward, on the attention probabilities and on the embeddings (BERT has no dropout on
/// the feed-forward's hidden layer; with the same probability this regularizes slightly more).
public final class BertModule: Module {
    /// The shape.
    public let configuration: BertConfiguration
    public let wordEmbeddings: Parameter, positionEmbeddings: Parameter, tokenTypeEmbeddings: Parameter
    public let embeddingNorm: LayerNorm
    public let blocks: [TransformerEncoderBlock]
    /// Dropout probability (the config's `hidden_dropout_prob`, 0.1 when absent).
    public let dropoutProbability: Float
    /// The checkpoint's pooler, not trained (sentence vectors do not use it), handed back by
    /// ``weights()`` so a fine-tuned checkpoint stays complete.
    let pooler: BertWeights.Pooler?

    /// A module holding a copy of `weights`.
    public init(configuration c: BertConfiguration, weights w: BertWeights) {
        configuration = c
        dropoutProbability = c.hiddenDropoutProb ?? 0.1
        pooler = w.pooler
        let h = c.hiddenSize
        wordEmbeddings = Parameter(Tensor(shape: [c.vocabSize, h], storage: w.wordEmbeddings))
        positionEmbeddings = Parameter(Tensor(shape: [c.maxPositionEmbeddings, h], storage: w.positionEmbeddings))
        tokenTypeEmbeddings = Parameter(Tensor(shape: [c.typeVocabSize, h], storage: w.tokenTypeEmbeddings))
        embeddingNorm = LayerNorm(h, epsilon: c.layerNormEps)
        embeddingNorm.weight.value = Tensor(shape: [h], storage: w.embeddingNormGamma)
        embeddingNorm.bias.value = Tensor(shape: [h], storage: w.embeddingNormBeta)
        blocks = w.layers.map { layer in
            let block = TransformerEncoderBlock(width: h, heads: c.numAttentionHeads, feedForward: c.intermediateSize,
                                                dropout: c.hiddenDropoutProb ?? 0.1, activation: .gelu, normFirst: false, normEpsilon: c.layerNormEps)
            block.selfAttention.inProjectionWeight.value = Tensor(shape: [3 * h, h], storage: layer.qkvWeight)
            block.selfAttention.inProjectionBias.value = Tensor(shape: [3 * h], storage: layer.qkvBias)
            block.selfAttention.outProjection.weight.value = Tensor(shape: [h, h], storage: layer.outputWeight)
            block.selfAttention.outProjection.bias!.value = Tensor(shape: [h], storage: layer.outputBias)
            block.norm1.weight.value = Tensor(shape: [h], storage: layer.attentionNormGamma)
            block.norm1.bias.value = Tensor(shape: [h], storage: layer.attentionNormBeta)
            block.linear1.weight.value = Tensor(shape: [c.intermediateSize, h], storage: layer.intermediateWeight)
            block.linear1.bias!.value = Tensor(shape: [c.intermediateSize], storage: layer.intermediateBias)
            block.linear2.weight.value = Tensor(shape: [h, c.intermediateSize], storage: layer.feedForwardWeight)
            block.linear2.bias!.value = Tensor(shape: [h], storage: layer.feedForwardBias)
            block.norm2.weight.value = Tensor(shape: [h], storage: layer.outputNormGamma)
            block.norm2.bias.value = Tensor(shape: [h], storage: layer.outputNormBeta)
            return block
        }
    }

    public override var localParameters: [(String, Parameter)] {
        [("word_embeddings", wordEmbeddings), ("position_embeddings", positionEmbeddings), ("token_type_embeddings", tokenTypeEmbeddings)]
    }

    public override var children: [(String, Module)] {
        [("embedding_norm", embeddingNorm)] + blocks.enumerated().map { ("layer.\($0.offset)", $0.element) }
    }

    /// The embedding parameters (tables and their layer norm).
    public var embeddingParameters: [Parameter] {
        [wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings, embeddingNorm.weight, embeddingNorm.bias]
    }

    /// Unit sentence vectors `[B, hidden]` of `sequences` (token ids with `[CLS]`/`[SEP]`),
    /// padded to the longest with `padding`; mean or CLS pooling.
    public func sentenceVectors(_ sequences: [[Int32]], padding: Int32, pooling: Pooling, tape: Tape) -> Value {
        let b = sequences.count, length = sequences.map(\.count).max() ?? 1, h = configuration.hiddenSize
        precondition(length <= configuration.maxPositionEmbeddings, "a sequence of \(length) tokens exceeds the position table")
        var ids = [Int32](repeating: padding, count: b * length), positions = [Int32](repeating: 0, count: b * length)
        var keyPadding = [Bool](repeating: true, count: b * length), mask = [Float](repeating: 0, count: b * length)
        for (r, s) in sequences.enumerated() {
            for p in 0..<length {
                positions[r * length + p] = Int32(p)
                if p < s.count { ids[r * length + p] = s[p]; keyPadding[r * length + p] = false; mask[r * length + p] = 1 }
            }
        }
        let word = gather(tape.parameter(wordEmbeddings), indices: ids)
        let position = gather(tape.parameter(positionEmbeddings), indices: positions)
        let type = gather(tape.parameter(tokenTypeEmbeddings), indices: [Int32](repeating: 0, count: b * length))
        var x = reshape(word + position + type, [b, length, h])
        x = dropout(embeddingNorm(x), probability: dropoutProbability)
        for block in blocks { x = block(x, keyPadding: keyPadding) }
        let pooled: Value
        switch pooling {
        case .cls:
            pooled = reshape(slice(x, axis: 1, 0..<1), [b, h])
        case .mean, .max:
            precondition(pooling == .mean, "fine-tuning supports mean and CLS pooling")
            let m = tape.constant(Tensor(shape: [b, length, 1], storage: mask))
            let counts = tape.constant(Tensor(shape: [b, 1], storage: sequences.map { 1 / Float(max(1, $0.count)) }))
            pooled = sum(x * m, axis: 1) * counts
        }
        return l2Normalize(pooled)
    }

    /// The current parameters as ``BertWeights``.
    public func weights() -> BertWeights {
        let c = configuration
        var named: [String: [Float]] = [
            "embeddings.word_embeddings.weight": wordEmbeddings.value.storage,
            "embeddings.position_embeddings.weight": positionEmbeddings.value.storage,
            "embeddings.token_type_embeddings.weight": tokenTypeEmbeddings.value.storage,
            "embeddings.LayerNorm.weight": embeddingNorm.weight.value.storage, "embeddings.LayerNorm.bias": embeddingNorm.bias.value.storage,
        ]
        let h = c.hiddenSize
        for (l, block) in blocks.enumerated() {
            let p = "encoder.layer.\(l).", w = block.selfAttention.inProjectionWeight.value.storage, b = block.selfAttention.inProjectionBias.value.storage
            for (k, part) in ["query", "key", "value"].enumerated() {
                named[p + "attention.self.\(part).weight"] = Array(w[(k * h * h)..<((k + 1) * h * h)])
                named[p + "attention.self.\(part).bias"] = Array(b[(k * h)..<((k + 1) * h)])
            }
            named[p + "attention.output.dense.weight"] = block.selfAttention.outProjection.weight.value.storage
            named[p + "attention.output.dense.bias"] = block.selfAttention.outProjection.bias!.value.storage
            named[p + "attention.output.LayerNorm.weight"] = block.norm1.weight.value.storage
            named[p + "attention.output.LayerNorm.bias"] = block.norm1.bias.value.storage
            named[p + "intermediate.dense.weight"] = block.linear1.weight.value.storage
            named[p + "intermediate.dense.bias"] = block.linear1.bias!.value.storage
            named[p + "output.dense.weight"] = block.linear2.weight.value.storage
            named[p + "output.dense.bias"] = block.linear2.bias!.value.storage
            named[p + "output.LayerNorm.weight"] = block.norm2.weight.value.storage
            named[p + "output.LayerNorm.bias"] = block.norm2.bias.value.storage
        }
        var weights = BertWeights(named: named, configuration: c)
        weights.pooler = pooler
        return weights
    }
}
