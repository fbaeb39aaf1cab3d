import ArgumentParser
import Foundation
import TailorModels

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the model kinds this Tailor can train, with their configuration keys and defaults.",
        discussion: """
        Every key can be set in a run file's "configuration", with `tailor train --set KEY=VALUE`,
        or, for the common ones, with a flag (--factors, --iterations…). A null default keeps the
        behaviour the model documents for it (two-tower's userFeatures null: every attribute the
        profiles have; patience null: no early stopping).

        Examples:
          tailor models
          tailor models --json
        """
    )

    @Flag(help: "Print the registry as JSON (kind, summary, defaults).")
    var json = false

    func run() throws {
        _ = neuralModelsRegistered
        let entries = ModelRegistry.shared.all
        if json {
            let object: [String: Any] = Dictionary(uniqueKeysWithValues: entries.map { e in
                (e.kind, ["summary": e.summary, "defaults": (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(e.defaults))) ?? [:]] as [String: Any])
            })
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        for e in entries {
            print("\(e.kind): \(e.summary)")
            guard case .object(let defaults) = e.defaults else { continue }
            let flags = Dictionary(ModelOptions.keys.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
            for key in e.keys.sorted() {
                let value = defaults[key].map { v -> String in
                    switch v {
                    case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
                    case .string(let s): return s
                    case .bool(let b): return String(b)
                    case .null: return "null"
                    default: return String(decoding: (try? JSONEncoder().encode(v)) ?? Data(), as: UTF8.self)
                    }
                } ?? "null"
                let flag = flags[key].map { " (\($0))" } ?? (key == "seed" ? " (--seed)" : key == "threads" ? " (--threads)" : "")
                print("  \(key.padding(toLength: 24, withPad: " ", startingAt: 0)) \(flag.isEmpty ? value : value.padding(toLength: 10, withPad: " ", startingAt: 0) + flag)")
            }
        }
    }
}
