import Foundation

/// Reading and writing the safetensors format (Hugging Face): an 8-byte little-endian header
/// length, a JSON header mapping tensor names to `{dtype, shape, data_offsets}`, then the raw
/// little-endian tensor bytes. numpy, PyTorch and the `safetensors` Python package read what
/// this writes (habit 12).
public enum SafeTensors {
    /// Element type of a stored tensor.
    public enum DType: String, Sendable, Codable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16", i32 = "I32", i64 = "I64", u8 = "U8", f64 = "F64"

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .f32, .i32: 4
            case .f16, .bf16: 2
            case .i64, .f64: 8
            case .u8: 1
            }
        }
    }

    /// One named tensor: its element type, shape and raw little-endian bytes.
    public struct Tensor: Sendable, Equatable {
        /// Element type.
        public var dtype: DType
        /// Shape (row-major).
        public var shape: [Int]
        /// Raw little-endian bytes, `shape.product × dtype.size` of them.
        public var bytes: [UInt8]

        /// A tensor from raw bytes; the byte count must match the shape.
        public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
            precondition(bytes.count == shape.reduce(1, *) * dtype.size,
                         "tensor bytes (\(bytes.count)) do not match shape \(shape) of \(dtype.rawValue)")
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// A float32 tensor.
        public init(_ values: [Float], shape: [Int]) {
            self.init(dtype: .f32, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
        }

        /// An int32 tensor.
        public init(_ values: [Int32], shape: [Int]) {
            self.init(dtype: .i32, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
        }

        /// An int64 tensor.
        public init(_ values: [Int64], shape: [Int]) {
            self.init(dtype: .i64, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
        }

        /// A float32 tensor holding `matrix` with shape `[rows, columns]`.
        public init(_ matrix: Matrix) {
            self.init(matrix.storage, shape: [matrix.rows, matrix.columns])
        }

        /// The elements as `Float` (float16 and float64 are converted).
        public func floats() -> [Float] {
            switch dtype {
            case .f32: return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            case .f64: return bytes.withUnsafeBytes { $0.bindMemory(to: Double.self).map { Float($0) } }
            case .f16: return bytes.withUnsafeBytes { $0.bindMemory(to: UInt16.self).map(halfToFloat) }
            case .bf16: return bytes.withUnsafeBytes { $0.bindMemory(to: UInt16.self).map { Float(bitPattern: UInt32($0) << 16) } }
            case .i32: return int32s().map(Float.init)
            case .i64: return int64s().map(Float.init)
            case .u8: return bytes.map(Float.init)
            }
        }

        /// The elements as `Int32` (int64 values are truncated; use for indices).
        public func int32s() -> [Int32] {
            switch dtype {
            case .i32: return bytes.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
            case .i64: return int64s().map { Int32(exactly: $0) ?? -1 }  // out of range: −1, rejected by index checks
            // Non-integral or out-of-range values become −1, which every index check rejects.
            default: return floats().map { Int32(exactly: $0) ?? -1 }
            }
        }

        /// The elements as `Int64`.
        public func int64s() -> [Int64] {
            switch dtype {
            case .i64: return bytes.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
            case .i32: return int32s().map(Int64.init)
            default: return floats().map { Int64(exactly: $0) ?? -1 }
            }
        }

        /// The tensor as a matrix (2-D float tensors only).
        public func matrix() -> Matrix? {
            guard shape.count == 2 else { return nil }
            return Matrix(rows: shape[0], columns: shape[1], storage: floats())
        }
    }

    /// A problem reading a safetensors file.
    public struct FormatError: Error, CustomStringConvertible, Sendable {
        /// The file involved.
        public let path: String
        /// What is wrong with it.
        public let reason: String
        /// What is wrong and what to do, for people.
        public var description: String {
            "\(path): not a valid safetensors file: \(reason). Re-create it with the tool that wrote it (for a Tailor model: `tailor train … --output DIR`)."
        }
    }

    /// Serializes tensors (in name order) with optional string metadata.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            header[name] = ["dtype": t.dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + t.bytes.count]]
            offset += t.bytes.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces to a multiple of 8 bytes so tensor data is aligned.
        while (json.count + 8) % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names { out.append(contentsOf: tensors[name]!.bytes) }
        return out
    }

    /// Writes tensors to `url` atomically.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        try encode(tensors, metadata: metadata).write(to: url, options: .atomic)
    }

    /// Where one tensor lives in a safetensors file: its element type, shape and byte range.
    public struct Entry: Sendable, Equatable {
        /// Element type.
        public var dtype: DType
        /// Shape (row-major).
        public var shape: [Int]
        /// Byte range in the file.
        public var bytes: Range<Int>
    }

    /// Parses the header of a safetensors file held in memory (possibly memory-mapped) and
    /// checks every entry against the file's size, without copying any tensor. `path` names
    /// it in errors.
    public static func entries(_ data: Data, path: String) throws -> (entries: [String: Entry], metadata: [String: String]) {
        func fail(_ reason: String) -> FormatError { FormatError(path: path, reason: reason) }
        guard data.count >= 8 else { throw fail("it has \(data.count) bytes, fewer than the 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength > 1, headerLength <= 100_000_000, 8 + Int(headerLength) <= data.count else {
            throw fail("header length \(headerLength) does not fit a file of \(data.count) bytes (truncated or not safetensors)")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        let body = 8 + Int(headerLength)
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int],
                  let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw fail("tensor '\(name)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw fail("tensor '\(name)' has unsupported dtype \(dtypeName) (supported: F32, F16, BF16, F64, I32, I64, U8)")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)' has a negative dimension in its shape \(shape)")
            }
            var expected = dtype.size
            for dim in shape {
                let (product, overflow) = expected.multipliedReportingOverflow(by: dim)
                guard !overflow, product <= data.count else {
                    throw fail("tensor '\(name)' has shape \(shape), larger than the whole file (\(data.count) bytes)")
                }
                expected = product
            }
            guard offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] <= data.count - body, offsets[1] - offsets[0] == expected else {
                throw fail("tensor '\(name)' claims bytes \(offsets[0])..<\(offsets[1]) (shape \(shape)) but the file has \(data.count - body) data bytes")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, bytes: (body + offsets[0])..<(body + offsets[1]))
        }
        return (entries, metadata)
    }

    /// Parses a safetensors file held in memory. `path` names it in errors.
    public static func decode(_ data: Data, path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let (entries, metadata) = try entries(data, path: path)
        var tensors: [String: Tensor] = [:]
        for (name, entry) in entries {
            tensors[name] = Tensor(dtype: entry.dtype, shape: entry.shape, bytes: [UInt8](data[entry.bytes]))
        }
        return (tensors, metadata)
    }

    /// Reads a safetensors file.
    public static func read(from url: URL) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw FormatError(path: url.path, reason: "it cannot be read (\(error.localizedDescription))")
        }
        return try decode(data, path: url.path)
    }
}

/// IEEE 754 half-precision bits to `Float`, portable (no `Float16` type needed).
@usableFromInline
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa · 2^-24.
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 31 {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
}
