import ArgumentParser
import Foundation
import Testing
@testable import TailorCLI

/// Docs/CLI.md is every command's help, generated. This test fails when a command's options
/// change and the reference was not regenerated; regenerate with
/// `TAILOR_WRITE_CLI_DOCS=1 swift test --filter CLIReference`.
@Suite("CLI reference")
struct CLIReferenceTests {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Docs/CLI.md")

    static func reference() -> String {
        var text = """
        # The `tailor` command

        Generated from the commands' own help (`tailor help COMMAND` prints the same); a test keeps
        it current. The README shows the common paths; this is every option.

        """
        let commands: [any ParsableCommand.Type] = [Tailor.self] + Tailor.configuration.subcommands
        for command in commands {
            let name = command == Tailor.self ? "tailor" : "tailor \(command.configuration.commandName ?? String(describing: command).lowercased())"
            text += "\n## `\(name)`\n\n```text\n\(command.helpMessage(columns: 100).trimmingCharacters(in: .whitespacesAndNewlines))\n```\n"
        }
        return text
    }

    @Test("Docs/CLI.md matches every command's help")
    func current() throws {
        let expected = Self.reference()
        if ProcessInfo.processInfo.environment["TAILOR_WRITE_CLI_DOCS"] == "1" {
            try expected.write(to: Self.path, atomically: true, encoding: .utf8)
        }
        let actual = try String(contentsOf: Self.path, encoding: .utf8)
        #expect(actual == expected, "Docs/CLI.md is stale: run TAILOR_WRITE_CLI_DOCS=1 swift test --filter CLIReference")
    }
}
