import TailorLinalg

/// A dense, row-major array of `Float` with a shape: the values flowing through Tailor's neural
/// networks.
///
/// A value type (copy-on-write through its storage array). Element `(i₀, …, iₙ)` lives at
/// `Σ iₖ·strideₖ` with `strideₙ = 1`.
@frozen
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
    /// The extent of each axis.
    public var shape: [Int]
    /// The elements in row-major order.
    public var storage: [Float]

    /// A tensor of `shape` filled with `value`.
    @inlinable
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "tensor shape must be non-negative, got \(shape)")
        self.shape = shape
        self.storage = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// A tensor over existing storage; its count must match the shape.
    @inlinable
    public init(shape: [Int], storage: [Float]) {
        precondition(storage.count == shape.reduce(1, *), "tensor storage has \(storage.count) elements, shape \(shape) needs \(shape.reduce(1, *))")
        self.shape = shape
        self.storage = storage
    }

    /// A scalar (rank 0).
    @inlinable
    public init(scalar: Float) {
        shape = []
        storage = [scalar]
    }

    /// A rank-2 tensor from a matrix.
    public init(_ matrix: Matrix) {
        self.init(shape: [matrix.rows, matrix.columns], storage: matrix.storage)
    }

    /// A tensor from nested rows (rank 2).
    public init(_ rows: [[Float]]) {
        let columns = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == columns }, "rows must all have \(columns) elements")
        self.init(shape: [rows.count, columns], storage: rows.flatMap { $0 })
    }

    /// Number of elements.
    @inlinable public var count: Int { storage.count }
    /// Number of axes.
    @inlinable public var rank: Int { shape.count }
    /// The single element of a one-element tensor.
    @inlinable public var scalar: Float {
        precondition(storage.count == 1, "scalar of a tensor with \(storage.count) elements")
        return storage[0]
    }

    /// Row-major strides.
    public var strides: [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    /// The element at `indices`.
    public subscript(_ indices: Int...) -> Float {
        get { storage[offset(indices)] }
        set { storage[offset(indices)] = newValue }
    }

    func offset(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "\(indices.count) indices for a rank-\(shape.count) tensor")
        var o = 0
        for (i, (index, extent)) in zip(indices, shape).enumerated() {
            precondition(index >= 0 && index < extent, "index \(index) out of range for axis \(i) of extent \(extent)")
            o = o * extent + index
        }
        return o
    }

    /// The same elements with another shape (the counts must agree; one axis may be −1).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: Tensor.resolve(newShape, count: count), storage: storage)
    }

    static func resolve(_ shape: [Int], count: Int) -> [Int] {
        guard let unknown = shape.firstIndex(of: -1) else {
            precondition(shape.reduce(1, *) == count, "cannot reshape \(count) elements to \(shape)")
            return shape
        }
        let known = shape.enumerated().filter { $0.offset != unknown }.reduce(1) { $0 * $1.element }
        precondition(known > 0 && count % known == 0, "cannot reshape \(count) elements to \(shape)")
        var out = shape
        out[unknown] = count / known
        return out
    }

    /// A tensor with entries drawn uniformly from [low, high), seeded.
    public static func uniform(shape: [Int], low: Float, high: Float, seed: UInt64, stream: UInt64 = 0) -> Tensor {
        var rng = TailorRandom(seed: seed, stream: stream)
        return Tensor(shape: shape, storage: (0..<shape.reduce(1, *)).map { _ in low + (high - low) * rng.nextFloat() })
    }

    /// A tensor with entries from N(0, std²), seeded.
    public static func normal(shape: [Int], std: Float = 1, seed: UInt64, stream: UInt64 = 0) -> Tensor {
        var rng = TailorRandom(seed: seed, stream: stream)
        return Tensor(shape: shape, storage: (0..<shape.reduce(1, *)).map { _ in Float(rng.nextGaussian()) * std })
    }

    /// Shape and the first few elements.
    public var description: String {
        "Tensor(\(shape): \(storage.prefix(6).map { "\($0)" }.joined(separator: ", "))\(count > 6 ? ", …" : ""))"
    }
}
