#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Writes a large text file in buffered pieces, atomically: the text goes to a temporary file
/// beside `path` (`path.partial-PID`), renamed over `path` by ``finish()``; a writer dropped
/// without finishing removes the temporary file, so a failed or interrupted write never leaves
/// half a file under the name asked for. For logs too large to build as one string. The path
/// `-` writes to standard output.
public final class TextFileWriter {
    /// The file written.
    public let path: String
    private let temporary: String
    private var file: UnsafeMutablePointer<FILE>?
    private let toStandardOutput: Bool
    private var buffer: [UInt8] = []
    private let bufferSize: Int
    /// Bytes appended so far (buffered or written).
    public private(set) var bytesWritten = 0

    /// Opens the temporary file; throws ``DataError`` naming `path` when its folder is missing or
    /// not writable.
    public init(path: String, bufferSize: Int = 1 << 20) throws {
        self.path = path
        self.bufferSize = max(1, bufferSize)
        toStandardOutput = path == "-"
        temporary = path + ".partial-\(getpid())"
        guard let f = toStandardOutput ? fdopen(1, "wb") : fopen(temporary, "wb") else {
            throw DataError(file: path, reason: "cannot be written (\(String(cString: strerror(errno))))",
                            hint: "check that the folder exists and is writable")
        }
        file = f
        buffer.reserveCapacity(self.bufferSize)
    }

    deinit {
        if let file, !toStandardOutput {
            fclose(file)
            unlink(temporary)
        }
    }

    /// Appends `text` (UTF-8).
    public func append(_ text: String) throws {
        var text = text
        text.withUTF8 { buffer.append(contentsOf: $0) }
        bytesWritten += text.utf8.count
        if buffer.count >= bufferSize { try flush() }
    }

    private func flush() throws {
        guard let file else { throw DataError(file: path, reason: "was already finished", hint: "append before finish()") }
        let n = buffer.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard n == buffer.count else {
            throw DataError(file: path, reason: "could not be written (\(String(cString: strerror(errno))))",
                            hint: "check the free disk space")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes what is buffered, closes the file and renames it to ``path``.
    public func finish() throws {
        try flush()
        guard let f = file else { return }
        file = nil
        if toStandardOutput {
            guard fflush(f) == 0 else { throw DataError(file: path, reason: "standard output could not be written", hint: "check where it goes") }
            return
        }
        let closed = fclose(f)
        guard closed == 0, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw DataError(file: path, reason: "could not be written (\(reason))", hint: "check the free disk space and the folder's permissions")
        }
    }
}
