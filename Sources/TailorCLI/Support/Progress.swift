import ArgumentParser
import Foundation
import TailorModels

/// How long-running commands show progress, on standard error.
enum ProgressStyle: String, ExpressibleByArgument, CaseIterable {
    /// A bar when standard error is a terminal, nothing otherwise.
    case auto
    /// Always a bar (redrawn in place).
    case bar
    /// One JSON object per step, for scripts.
    case json
    /// Nothing.
    case none
}

struct ProgressOptions: ParsableArguments {
    @Option(help: "Progress on standard error: auto (a bar on a terminal), bar, json (one JSON object per step) or none.")
    var progress: ProgressStyle = .auto

    /// A handler drawing `style`, or nil when nothing should be shown.
    func handler() -> ProgressHandler? {
        let style = progress == .auto ? (Terminal.standardErrorIsTerminal ? .bar : .none) : progress
        switch style {
        case .none, .auto: return nil
        case .json:
            return { event in
                var fields: [String: Any] = ["event": "step", "model": event.model, "step": event.step, "total": event.totalSteps,
                                             "elapsed_seconds": (event.elapsedSeconds * 1000).rounded() / 1000]
                for (k, v) in event.metrics { fields[k] = v }
                if let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) {
                    Terminal.note(String(decoding: data, as: UTF8.self))
                }
            }
        case .bar:
            return { event in
                let width = 30
                let done = event.totalSteps > 0 ? width * event.step / event.totalSteps : width
                let bar = String(repeating: "█", count: done) + String(repeating: "░", count: width - done)
                let metrics = event.metrics.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.5g", $0.value))" }.joined(separator: " ")
                let eta = event.step > 0 ? event.elapsedSeconds / Double(event.step) * Double(event.totalSteps - event.step) : 0
                let line = "\r\(event.model) \(bar) \(event.step)/\(event.totalSteps) \(metrics)  \(String(format: "%.1fs", event.elapsedSeconds)) eta \(String(format: "%.1fs", eta))  "
                FileHandle.standardError.write(Data((line + (event.step == event.totalSteps ? "\n" : "")).utf8))
            }
        }
    }
}
