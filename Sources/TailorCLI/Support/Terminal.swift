import Foundation
import TailorModels

/// Writing to the terminal: notes on standard error, results on standard output or a file.
enum Terminal {
    static let standardErrorIsTerminal = isatty(2) == 1

    /// `text` padded with spaces to `width` characters (Foundation's `%-12@` ignores the width
    /// on Linux).
    static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// A line for people on standard error.
    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Writes `text` to `path`, or standard output for `-`/nil.
    static func write(_ text: String, to path: String?) throws {
        if path == nil || path == "-" {
            FileHandle.standardOutput.write(Data(text.utf8))
        } else {
            do { try text.write(toFile: path!, atomically: true, encoding: .utf8) } catch {
                throw ModelError(path: path, reason: "cannot be written (\(error.localizedDescription))", hint: "check that its folder exists")
            }
        }
    }

    /// Writes an `Encodable` value as pretty JSON to `path`.
    static func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try Terminal.write(String(decoding: try encoder.encode(value), as: UTF8.self) + "\n", to: path)
    }
}

/// Wall-clock seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
