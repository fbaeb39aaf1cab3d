import Foundation

/// Ready-made renderers for ``TrainerEvent``s: a progress bar for a person at a terminal, JSON
/// lines for scripts.
///
/// The trainer itself never prints; it calls `Configuration.progress`. Pass one of these, or
/// your own closure:
///
///     var configuration = Trainer.Configuration()
///     configuration.reportEveryBatches = 10
///     configuration.progress = TrainerProgress.standardError()   // a bar on a terminal, JSON lines otherwise
public enum TrainerProgress {
    /// How events are shown.
    public enum Style: String, Sendable, CaseIterable {
        /// A bar when standard error is a terminal, JSON lines otherwise.
        case auto
        /// A bar redrawn in place; each finished epoch keeps its own line.
        case bar
        /// One JSON object per event.
        case json
    }

    /// The event as one JSON object on one line, keys sorted:
    /// `{"batch":40,"batches":40,"epoch":3,"epochs":10,"improved":true,"kind":"epoch","loss":0.1234,"metric":0.41,"seconds":12.5}`.
    /// It decodes back into a ``TrainerEvent``.
    public static func jsonLine(_ event: TrainerEvent) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(event) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// A one-line summary with a bar over the whole run:
    /// `epoch 3/10 ███████░░░░░░░░░░░░░░░░░░░░░░░ batch 40/40 loss 0.1234 val 0.4100 (best) 12.5s eta 29.2s`.
    public static func barLine(_ event: TrainerEvent, width: Int = 30) -> String {
        let total = max(1, event.epochs * max(1, event.batches))
        let done = min(total, (event.epoch - 1) * max(1, event.batches) + event.batch)
        let filled = width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        var line = "epoch \(event.epoch)/\(event.epochs) \(bar) batch \(event.batch)/\(event.batches) loss \(String(format: "%.4f", event.loss))"
        if let metric = event.metric { line += " val \(String(format: "%.4f", metric))" + (event.improved ? " (best)" : "") }
        line += " \(String(format: "%.1f", event.seconds))s"
        if done > 0 && done < total {
            line += " eta \(String(format: "%.1f", event.seconds / Double(done) * Double(total - done)))s"
        }
        return line
    }

    /// A handler writing `style` to standard error.
    public static func standardError(style: Style = .auto) -> @Sendable (TrainerEvent) -> Void {
        let bar: Bool
        switch style {
        case .auto: bar = isatty(STDERR_FILENO) == 1
        case .bar: bar = true
        case .json: bar = false
        }
        return { event in
            let text = bar ? "\r" + barLine(event) + "  " + (event.kind == "epoch" ? "\n" : "") : jsonLine(event) + "\n"
            FileHandle.standardError.write(Data(text.utf8))
        }
    }
}
