import Foundation
import TailorLinalg

extension Reference {
    /// The last layer's hidden states of one sequence, computed the way the BERT paper and
    /// Hugging Face's `BertModel` describe it, one dot product at a time in double precision:
    /// the twin that ``BertEncoder/hiddenStates(_:threads:workspace:)`` is tested against. Returns
    /// `ids.count` rows of `hidden` values.
    public static func bertHiddenStates(_ ids: [Int32], configuration c: BertConfiguration, weights w: BertWeights) -> [[Float]] {
        let h = c.hiddenSize, heads = c.numAttentionHeads, dh = c.headSize, n = ids.count
        func layerNorm(_ v: [Double], _ gamma: [Float], _ beta: [Float]) -> [Double] {
            let mean = v.reduce(0, +) / Double(v.count)
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)
            return v.indices.map { (v[$0] - mean) / (variance + Double(c.layerNormEps)).squareRoot() * Double(gamma[$0]) + Double(beta[$0]) }
        }
        // y = W·x + b for W stored [out, in] row-major.
        func linear(_ x: [Double], _ weight: ArraySlice<Float>, _ bias: ArraySlice<Float>, out: Int) -> [Double] {
            let inputs = x.count, start = weight.startIndex, biasStart = bias.startIndex
            return (0..<out).map { o in
                var s = Double(bias[biasStart + o])
                for i in 0..<inputs { s += Double(weight[start + o * inputs + i]) * x[i] }
                return s
            }
        }
        var x: [[Double]] = ids.enumerated().map { p, id in
            layerNorm((0..<h).map { j in
                Double(w.wordEmbeddings[Int(id) * h + j]) + Double(w.positionEmbeddings[p * h + j]) + Double(w.tokenTypeEmbeddings[j])
            }, w.embeddingNormGamma, w.embeddingNormBeta)
        }
        for layer in w.layers {
            let q = x.map { linear($0, layer.qkvWeight[0..<(h * h)], layer.qkvBias[0..<h], out: h) }
            let k = x.map { linear($0, layer.qkvWeight[(h * h)..<(2 * h * h)], layer.qkvBias[h..<(2 * h)], out: h) }
            let v = x.map { linear($0, layer.qkvWeight[(2 * h * h)..<(3 * h * h)], layer.qkvBias[(2 * h)..<(3 * h)], out: h) }
            var context = [[Double]](repeating: [Double](repeating: 0, count: h), count: n)
            for head in 0..<heads {
                let cols = (head * dh)..<((head + 1) * dh)
                for i in 0..<n {
                    let scores = (0..<n).map { j in cols.reduce(0.0) { $0 + q[i][$1] * k[j][$1] } / Double(dh).squareRoot() }
                    let top = scores.max()!
                    let e = scores.map { Foundation.exp($0 - top) }
                    let total = e.reduce(0, +)
                    for j in 0..<n { for col in cols { context[i][col] += e[j] / total * v[j][col] } }
                }
            }
            x = (0..<n).map { i in
                let attended = linear(context[i], layer.outputWeight[...], layer.outputBias[...], out: h)
                return layerNorm((0..<h).map { x[i][$0] + attended[$0] }, layer.attentionNormGamma, layer.attentionNormBeta)
            }
            x = x.map { row in
                let inner = linear(row, layer.intermediateWeight[...], layer.intermediateBias[...], out: c.intermediateSize)
                    .map { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }
                let out = linear(inner, layer.feedForwardWeight[...], layer.feedForwardBias[...], out: h)
                return layerNorm((0..<h).map { row[$0] + out[$0] }, layer.outputNormGamma, layer.outputNormBeta)
            }
        }
        return x.map { $0.map(Float.init) }
    }
}
