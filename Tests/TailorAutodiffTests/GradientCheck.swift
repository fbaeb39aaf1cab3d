import Testing
import TailorLinalg
@testable import TailorAutodiff

/// Compares the tape's gradients of `L = Σ f(x) ⊙ R` (R a seeded random projection) with central
/// finite differences, for every element of every input. Float32, so eps = 1e-2 and a relative
/// tolerance of 2e-2 with an absolute floor.
func checkGradients(_ inputs: [Tensor], eps: Float = 1e-2, tolerance: Float = 2e-2, seed: UInt64 = 9,
                    sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Value]) -> Value) {
    func loss(_ xs: [Tensor], tape: Tape) -> (Value, [Value]) {
        let vars = xs.map { tape.variable($0) }
        let y = f(vars)
        let r = tape.constant(Tensor.uniform(shape: y.shape, low: -1, high: 1, seed: seed, stream: 77))
        return (sum(y * r), vars)
    }
    let tape = Tape(training: true, seed: 5)
    let (l, vars) = loss(inputs, tape: tape)
    tape.backward(l)
    for (n, input) in inputs.enumerated() {
        let analytic = tape.gradient(vars[n]) ?? Tensor(shape: input.shape)
        for i in 0..<input.count {
            var plus = inputs, minus = inputs
            plus[n].storage[i] += eps
            minus[n].storage[i] -= eps
            let lp = loss(plus, tape: Tape(training: true, seed: 5)).0.scalar
            let lm = loss(minus, tape: Tape(training: true, seed: 5)).0.scalar
            let numeric = (lp - lm) / (2 * eps)
            let a = analytic.storage[i]
            #expect(abs(a - numeric) <= tolerance * max(1, abs(numeric)),
                    "input \(n) element \(i): analytic \(a) vs numeric \(numeric)", sourceLocation: sourceLocation)
        }
    }
}

func random(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    Tensor.uniform(shape: shape, low: low, high: high, seed: seed)
}
