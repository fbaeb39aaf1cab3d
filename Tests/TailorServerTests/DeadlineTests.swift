import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import TailorServer

@Suite("Request deadlines")
struct DeadlineTests {
    @Test("work that waits past the limit is cancelled and reported as expired, not awaited to its end")
    func expires() async throws {
        let started = ContinuousClock.now
        await #expect(throws: Deadline.Expired.self) {
            try await Deadline.run(seconds: 0.1) { try await Task.sleep(for: .seconds(3_600)); return 1 }
        }
        // Normally a fraction of a second; the bound is loose because the whole suite shares two
        // cores and the timer waits for a free thread of the cooperative pool.
        #expect(ContinuousClock.now - started < .seconds(600))
    }

    @Test("work within the limit returns its value; its own errors pass through")
    func withinLimit() async throws {
        #expect(try await Deadline.run(seconds: 5) { 42 } == 42)
        await #expect(throws: RequestError.self) {
            try await Deadline.run(seconds: 5) { () async throws -> Int in throw RequestError(.invalid, field: "k", "bad") }
        }
        #expect(try await Deadline.run(seconds: 0) { 7 } == 7, "0: no limit")
    }

    @Test("work that ignores cancellation and finishes anyway keeps its result (a store write is not lost)")
    func finishesAnyway() async throws {
        let value = try await Deadline.run(seconds: 0.05) { () -> Int in
            let end = ContinuousClock.now + .milliseconds(300)
            var spins = 0
            while ContinuousClock.now < end { spins += 1 }
            return spins > 0 ? 9 : 0
        }
        #expect(value == 9)
    }
}

/// A bare TCP exchange with the server on 127.0.0.1, for what an HTTP client will not send (a
/// body that stops short) and for live tests that must not time out on a busy machine.
///
/// The blocking socket calls run on a thread of their own, never on the cooperative pool: the
/// test suite keeps that pool's two threads busy with synchronous tests, and a blocked pool thread
/// is one the server under test cannot use to answer.
enum RawSocket {
    /// ``exchange(port:send:readFor:)`` on a thread of its own.
    static func exchange(port: Int, send text: String, readFor seconds: Int) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try exchange(port: port, send: text, readFor: seconds) })
            }
            thread.start()
        }
    }

    /// One request on a fresh connection that the server closes after replying: the status code
    /// and the body (status 0 when nothing came back).
    static func request(port: Int, _ method: String, _ path: String, key: String, body: String? = nil,
                        readFor seconds: Int = 600) async throws -> (status: Int, body: String) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(key)\r\nConnection: close\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        let reply = try await exchange(port: port, send: head + "\r\n" + (body ?? ""), readFor: seconds)
        guard let end = reply.range(of: "\r\n\r\n") else { return (0, reply) }
        let status = reply.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, String(reply[end.upperBound...]))
    }


    /// Connects, sends `text`, and reads until the peer closes or `seconds` pass.
    static func exchange(port: Int, send text: String, readFor seconds: Int) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var reply = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            reply += buffer[0..<n]
            if let text = String(bytes: reply, encoding: .utf8), let end = text.range(of: "\r\n\r\n"),
               let length = text[..<end.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") })
                .flatMap({ Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }),
               text.utf8.count - text[..<end.upperBound].utf8.count >= length {
                break
            }
        }
        return String(decoding: reply, as: UTF8.self)
    }
}
