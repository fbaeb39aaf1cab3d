import Foundation

/// Locates `../shared/data` next to the package (or `$TAILOR_SHARED_DATA`). Tests that need it
/// are disabled with a message when it is absent, never failed.
enum SharedData {
    static let directory: String? = {
        if let env = ProcessInfo.processInfo.environment["TAILOR_SHARED_DATA"] { return env }
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/TailorDataTests/SharedData.swift → package root
        let candidate = url.deletingLastPathComponent().appendingPathComponent("shared/data").path
        return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
    }()

    static func path(_ relative: String) -> String? {
        guard let directory else { return nil }
        let p = directory + "/" + relative
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }

    static let skipMessage: Comment = "../shared/data is absent (set TAILOR_SHARED_DATA to run this test)"
}

import Testing
