import NIOCore
import PostgresNIO

/// A column of values bound as one PostgreSQL array parameter in the binary format, NULL
/// elements included (postgres-nio's own array encoding has no optional elements): a batch of
/// events becomes fourteen parameters of `INSERT … SELECT FROM unnest(…)` instead of one
/// placeholder per value.
///
/// Binary array layout: dimensions (1), has-nulls flag, element type OID, length, lower bound
/// (1), then per element its byte length (-1 for NULL) and bytes.
struct ArrayColumn: PostgresNonThrowingEncodable, PostgresDynamicTypeEncodable {
    enum Element { case text, bigint, float8 }

    static var psqlType: PostgresDataType { .textArray }  // the instance's type is what binds (psqlType below)
    static var psqlFormat: PostgresFormat { .binary }

    let element: Element
    private(set) var body = ByteBuffer()
    private(set) var count = 0
    private(set) var hasNulls = false

    init(_ element: Element, capacity: Int) {
        self.element = element
        body.reserveCapacity(capacity * (element == .text ? 16 : 12))
    }

    var psqlType: PostgresDataType {
        switch element {
        case .text: .textArray
        case .bigint: .int8Array
        case .float8: .float8Array
        }
    }

    var psqlFormat: PostgresFormat { .binary }

    mutating func append(_ value: String?) {
        precondition(element == .text)
        count += 1
        guard let value else { body.writeInteger(Int32(-1)); hasNulls = true; return }
        let length = value.utf8.count
        body.writeInteger(Int32(length))
        body.writeString(value)
    }

    mutating func append(_ value: Int64) {
        precondition(element == .bigint)
        count += 1
        body.writeInteger(Int32(8))
        body.writeInteger(value)
    }

    mutating func append(_ value: Double?) {
        precondition(element == .float8)
        count += 1
        guard let value else { body.writeInteger(Int32(-1)); hasNulls = true; return }
        body.writeInteger(Int32(8))
        body.writeInteger(value.bitPattern)
    }

    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        let oid: UInt32 = switch element {
        case .text: 25
        case .bigint: 20
        case .float8: 701
        }
        byteBuffer.writeInteger(Int32(1))
        byteBuffer.writeInteger(Int32(hasNulls ? 1 : 0))
        byteBuffer.writeInteger(oid)
        byteBuffer.writeInteger(Int32(count))
        byteBuffer.writeInteger(Int32(1))
        var b = body
        byteBuffer.writeBuffer(&b)
    }
}
