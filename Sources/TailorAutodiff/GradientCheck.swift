/// Finite-difference gradient checking, for tests of ops and layers (and of ops you write).
public enum GradientCheck {
    /// One disagreement between the tape's gradient and the numeric one.
    public struct Mismatch: Sendable, CustomStringConvertible {
        /// Which input and element.
        public var input: Int, element: Int
        /// The two gradients.
        public var analytic: Float, numeric: Float
        /// `input 0 element 3: analytic … vs numeric …`
        public var description: String { "input \(input) element \(element): analytic \(analytic) vs numeric \(numeric)" }
    }

    /// Compares the gradients of `L = Σ f(x) ⊙ R` (R a seeded random projection, so every output
    /// element matters) with central differences `(L(x+ε) − L(x−ε))/2ε` for every element of every
    /// input. Returns the elements whose difference exceeds `tolerance·max(1, |numeric|)`.
    ///
    /// Float32 arithmetic: ε = 1e-2 and a tolerance of 2e-2 catch wrong gradients while
    /// tolerating rounding. Each evaluation runs on a fresh tape seeded alike, so dropout masks
    /// repeat.
    public static func mismatches(_ inputs: [Tensor], epsilon eps: Float = 1e-2, tolerance: Float = 2e-2, seed: UInt64 = 9,
                                  _ f: ([Value]) -> Value) -> [Mismatch] {
        func loss(_ xs: [Tensor], tape: Tape) -> (Value, [Value]) {
            let vars = xs.map { tape.variable($0) }
            let y = f(vars)
            let r = tape.constant(Tensor.uniform(shape: y.shape, low: -1, high: 1, seed: seed, stream: 77))
            return (sum(y * r), vars)
        }
        let tape = Tape(training: true, seed: 5)
        let (l, vars) = loss(inputs, tape: tape)
        tape.backward(l)
        var out: [Mismatch] = []
        for (n, input) in inputs.enumerated() {
            let analytic = tape.gradient(vars[n]) ?? Tensor(shape: input.shape)
            for i in 0..<input.count {
                var plus = inputs, minus = inputs
                plus[n].storage[i] += eps
                minus[n].storage[i] -= eps
                let numeric = (loss(plus, tape: Tape(training: true, seed: 5)).0.scalar - loss(minus, tape: Tape(training: true, seed: 5)).0.scalar) / (2 * eps)
                let a = analytic.storage[i]
                if abs(a - numeric) > tolerance * max(1, abs(numeric)) {
                    out.append(Mismatch(input: n, element: i, analytic: a, numeric: numeric))
                }
            }
        }
        return out
    }
}
