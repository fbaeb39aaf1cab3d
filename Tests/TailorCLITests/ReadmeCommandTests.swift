import ArgumentParser
import Foundation
import Testing
@testable import TailorCLI

/// Every `tailor …` line in the README's code blocks must parse with the real command-line
/// definitions, values included (a wrong option name, a flag given a value, a bad enum value or a
/// number that is not one all fail here), so the README runs as written.
@Suite("README commands")
struct ReadmeCommandTests {
    static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("README.md")

    /// The `tailor` command lines of the README's shell code blocks, split into arguments.
    static func commands() throws -> [[String]] {
        let text = try String(contentsOf: readme, encoding: .utf8)
        var commands: [[String]] = []
        var inShell = false
        var pending = ""
        for line in text.components(separatedBy: "\n") {
            if line.hasPrefix("```") { inShell = !inShell && (line == "```sh" || line == "```bash"); continue }
            guard inShell else { continue }
            var l = line
            if let hash = l.range(of: " #") ?? (l.hasPrefix("#") ? l.range(of: "#") : nil) { l = String(l[..<hash.lowerBound]) }
            if l.hasSuffix("\\") { pending += l.dropLast() + " "; continue }
            l = pending + l
            pending = ""
            let trimmed = l.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("tailor ") else { continue }
            commands.append(shellWords(String(trimmed.dropFirst("tailor ".count))))
        }
        return commands
    }

    /// Splits like a shell: spaces separate words, quotes group them.
    static func shellWords(_ s: String) -> [String] {
        var words: [String] = [], current = "", quote: Character?
        var started = false
        for c in s {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c; started = true
            } else if c == " " {
                if started || !current.isEmpty { words.append(current); current = ""; started = false }
            } else {
                current.append(c)
            }
        }
        if started || !current.isEmpty { words.append(current) }
        return words
    }

    @Test("the README has tailor commands, and each parses with the real CLI")
    func parse() throws {
        let commands = try Self.commands()
        #expect(commands.count >= 20, "found only \(commands.count) commands")
        for words in commands {
            do {
                var command = try Tailor.parseAsRoot(words)
                // Parsing runs each command's validate(); that is part of "runs as written".
                try command.validate()
            } catch {
                Issue.record("tailor \(words.joined(separator: " ")): \(Tailor.message(for: error))")
            }
        }
    }

    @Test("the shell splitter keeps quoted words together and drops nothing")
    func splitter() {
        #expect(Self.shellWords(#"train a.csv --columns "user=a b" --k 5"#) == ["train", "a.csv", "--columns", "user=a b", "--k", "5"])
        #expect(Self.shellWords("x  y") == ["x", "y"])
    }
}
