import Foundation

extension Kernels {
    /// The skip-gram update for one output vector, in one pass over it:
    /// `gradient += g·output; output += g·input`, reading the old `output` for both.
    /// O(count).
    @inlinable
    public static func skipGramUpdate(
        _ g: Float, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        gradient: UnsafeMutablePointer<Float>, count n: Int
    ) {
        var i = 0
        let gv = F16(repeating: g)
        while i &+ 16 <= n {
            let o = load16(output + i)
            store16(madd(load16(gradient + i), gv, o), gradient + i)
            store16(madd(o, gv, load16(input + i)), output + i)
            i &+= 16
        }
        while i < n {
            let o = output[i]
            gradient[i] = madd(gradient[i], g, o)
            output[i] = madd(o, g, input[i])
            i &+= 1
        }
    }

    /// The logistic function σ(x) = 1/(1+e^(−x)) from a 1,024-entry table over [−8, 8]
    /// (word2vec's approach), clamped outside; absolute error below 4·10⁻³. Deterministic and
    /// ~10× cheaper than `exp` in the skip-gram inner loop.
    @inlinable @inline(__always)
    public static func fastSigmoid(_ x: Float) -> Float {
        if x >= 8 { return 1 }
        if x <= -8 { return 0 }
        let position = (x + 8) * (Float(sigmoidTableSize) / 16)
        let index = Int(position)
        return sigmoidTable[min(index, sigmoidTableSize - 1)]
    }

    @usableFromInline static let sigmoidTableSize = 1024
    @usableFromInline static let sigmoidTable: [Float] = (0..<1024).map { i in
        // Value at the centre of each bucket.
        let x = (Double(i) + 0.5) / 1024 * 16 - 8
        return Float(1 / (1 + exp(-x)))
    }
}
