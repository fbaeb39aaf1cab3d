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
        case .json: return { Terminal.note(ProgressRendering.jsonLine($0)) }
        case .bar:
            return { event in
                let finished = event.kind == .step && event.step == event.totalSteps
                FileHandle.standardError.write(Data(("\r" + ProgressRendering.barLine(event) + "  " + (finished ? "\n" : "")).utf8))
            }
        }
    }
}

/// How training progress looks on a terminal and to scripts, for classic and neural models alike.
enum ProgressRendering {
    /// One JSON object on one line, keys sorted:
    /// `{"elapsed_seconds":12.5,"event":"step","loss":0.1234,"model":"als","step":3,"total":10}`
    /// (batch events add `batch` and `batches`, validating runs `validation` and `improved`).
    static func jsonLine(_ event: TrainingEvent) -> String {
        var fields: [String: Any] = ["event": event.kind.rawValue, "model": event.model, "step": event.step, "total": event.totalSteps,
                                     "elapsed_seconds": (event.elapsedSeconds * 1000).rounded() / 1000]
        if let b = event.batch { fields["batch"] = b }
        if let b = event.batches { fields["batches"] = b }
        if let i = event.improved { fields["improved"] = i }
        for (k, v) in event.metrics { fields[k] = v }
        guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// A bar over the whole run:
    /// `als ███████░░░░░░░░░░░░░░░░░░░░░░░ 3/10 loss 0.1234  12.5s eta 29.2s`; minibatch runs
    /// count batches and show `batch 40/40`, validating runs `val 0.4100 (best)`.
    static func barLine(_ event: TrainingEvent, width: Int = 30) -> String {
        let perStep = max(1, event.batches ?? 1)
        let total = max(1, event.totalSteps * perStep)
        let done = event.batches == nil ? min(total, event.step) : min(total, (event.step - 1) * perStep + (event.batch ?? perStep))
        let filled = width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        var line = "\(event.model) \(bar) \(event.step)/\(event.totalSteps)"
        if let b = event.batch, let n = event.batches { line += " batch \(b)/\(n)" }
        if let loss = event.metrics["loss"] { line += " loss \(String(format: "%.4f", loss))" }
        if let v = event.metrics["validation"] { line += " val \(String(format: "%.4f", v))" + (event.improved == true ? " (best)" : "") }
        for (k, v) in event.metrics.sorted(by: { $0.key < $1.key }) where k != "loss" && k != "validation" {
            line += " \(k) \(String(format: "%.5g", v))"
        }
        line += "  \(String(format: "%.1f", event.elapsedSeconds))s"
        if done > 0 && done < total {
            line += " eta \(String(format: "%.1f", event.elapsedSeconds / Double(done) * Double(total - done)))s"
        }
        return line
    }
}
