import Testing
import TailorLinalg
@testable import TailorAutodiff

/// Expects the tape's gradients of `f` to match finite differences (see ``GradientCheck``).
func checkGradients(_ inputs: [Tensor], eps: Float = 1e-2, tolerance: Float = 2e-2, seed: UInt64 = 9,
                    sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Value]) -> Value) {
    let bad = GradientCheck.mismatches(inputs, epsilon: eps, tolerance: tolerance, seed: seed, f)
    #expect(bad.isEmpty, "\(bad.prefix(5))", sourceLocation: sourceLocation)
}

func random(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    Tensor.uniform(shape: shape, low: low, high: high, seed: seed)
}
