import Foundation
import TailorAutodiff
import TailorNN

/// SASRec's network (Kang & McAuley 2018): item embeddings (scaled by √d) plus learned
/// positions, dropout, pre-norm Transformer blocks with causal self-attention, a final layer
/// norm. The item table is shared by the input and the output scores.
///
/// Parameter names follow PyTorch (`item_embedding.weight`, `position_embedding.weight`,
/// `blocks.0.self_attn.in_proj_weight`, `blocks.0.linear1.weight`, `final_norm.weight`…), so
/// `Benchmarks/sasrec_torch.py` builds the same network with `nn.TransformerEncoderLayer(
/// norm_first=True)` and loads these names.
final class SASRecNetwork: Module, SequenceEncoder {
    let items: Int
    let configuration: SASRec.Configuration
    let itemEmbedding: Embedding
    let positionEmbedding: Embedding
    let blocks: [TransformerEncoderBlock]
    let finalNorm: LayerNorm
    var dimension: Int { configuration.dimension }

    init(items: Int, configuration c: SASRec.Configuration) {
        self.items = items
        configuration = c
        itemEmbedding = Embedding(items + 1, c.dimension, padding: 0, seed: c.seed &+ 1)
        positionEmbedding = Embedding(c.maxLength, c.dimension, seed: c.seed &+ 2)
        // SASRec's initialization: small normal rows (N(0, 1) rows scaled by √d would saturate attention).
        for e in [itemEmbedding, positionEmbedding] { e.weight.value.storage = e.weight.value.storage.map { $0 * 0.02 } }
        blocks = (0..<c.blocks).map { b in
            TransformerEncoderBlock(width: c.dimension, heads: c.heads, feedForward: c.dimension, dropout: c.dropout, activation: .relu,
                                    normFirst: true, seed: c.seed &+ 100 &+ UInt64(b) &* 10)
        }
        finalNorm = LayerNorm(c.dimension)
    }

    override var children: [(String, Module)] {
        [("item_embedding", itemEmbedding), ("position_embedding", positionEmbedding)]
            + blocks.enumerated().map { ("blocks.\($0.offset)", $0.element) } + [("final_norm", finalNorm)]
    }

    /// `[B, T, d]` hidden states for `rows` (`[B × T]` table rows, 0 = padding).
    func hidden(_ rows: [Int32], batch b: Int, tape: Tape) -> Value {
        let t = configuration.maxLength, d = configuration.dimension
        let padding = rows.map { $0 == 0 }
        let keep = tape.constant(Tensor(shape: [b, t, 1], storage: padding.map { $0 ? 0 : 1 }))
        let positions = (0..<(b * t)).map { Int32($0 % t) }
        var x = itemEmbedding(rows, shape: [b, t], tape: tape) * Float(d).squareRoot() + positionEmbedding(positions, shape: [b, t], tape: tape)
        x = dropout(x, probability: configuration.dropout) * keep
        for block in blocks { x = block(x, causal: true, keyPadding: padding) * keep }
        return finalNorm(x)
    }

    /// `[P, d]` outputs at the real positions of `rows` (`[B × T]`, 0 = padding), in order: each
    /// window's real items packed one after another, each at its own column's position, so
    /// attention, feed-forward and norms cost what the real items cost (Beauty's windows are
    /// ~85 % padding). The same function as ``hidden(_:batch:tape:)`` at those positions
    /// (padded keys are masked there and padded rows zeroed): test `packedMatchesPadded`.
    /// With `configuration.packed == false`, the padded computation, gathered.
    func outputs(_ rows: [Int32], batch b: Int, tape: Tape) -> Value {
        let t = configuration.maxLength, d = configuration.dimension
        guard configuration.packed else {
            return gather(reshape(hidden(rows, batch: b, tape: tape), [b * t, d]), indices: rows.indices.filter { rows[$0] != 0 }.map(Int32.init))
        }
        var items: [Int32] = [], positions: [Int32] = [], lengths = [Int](repeating: 0, count: b)
        items.reserveCapacity(rows.count / 2)
        positions.reserveCapacity(rows.count / 2)
        for r in 0..<b {
            for c in 0..<t where rows[r * t + c] != 0 {
                items.append(rows[r * t + c])
                positions.append(Int32(c))
                lengths[r] += 1
            }
        }
        let n = items.count
        var x = itemEmbedding(items, shape: [n], tape: tape) * Float(d).squareRoot() + positionEmbedding(positions, shape: [n], tape: tape)
        x = dropout(x, probability: configuration.dropout)
        for block in blocks { x = block(packed: x, lengths: lengths, causal: true) }
        return finalNorm(x)
    }
}
