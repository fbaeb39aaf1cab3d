import Foundation

/// Writes ``Interactions`` as CSV with the header `user,item,rating[,timestamp]`, identifiers
/// as in the original input. ``InteractionReader`` reads the result back without options.
public enum InteractionWriter {
    /// The CSV text of `interactions`.
    public static func csv(_ interactions: Interactions) -> String {
        var out = header(interactions)
        out.reserveCapacity(interactions.count * 28)
        for i in 0..<interactions.count { appendRow(i, of: interactions, to: &out) }
        return out
    }

    private static func header(_ interactions: Interactions) -> String {
        interactions.timestamps == nil ? "user,item,rating\n" : "user,item,rating,timestamp\n"
    }

    private static func appendRow(_ i: Int, of interactions: Interactions, to out: inout String) {
        out += quoted(interactions.userIDs[interactions.users[i]])
        out += ","
        out += quoted(interactions.itemIDs[interactions.items[i]])
        out += ","
        out += formatValue(interactions.values[i])
        if let t = interactions.timestamps { out += ","; out += String(t[i]) }
        out += "\n"
    }

    /// Writes `interactions` to `path` atomically, streaming the rows (the text is never whole
    /// in memory).
    public static func write(_ interactions: Interactions, to path: String) throws {
        let writer = try TextFileWriter(path: path)
        try writer.append(header(interactions))
        var line = ""
        for i in 0..<interactions.count {
            line.removeAll(keepingCapacity: true)
            appendRow(i, of: interactions, to: &line)
            try writer.append(line)
        }
        try writer.finish()
    }

    /// A CSV field, quoted when it contains a comma, quote or line break.
    public static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `4` for whole numbers, else the shortest round-tripping decimal (`3.5`).
    public static func formatValue(_ v: Float) -> String {
        v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : "\(v)"
    }
}
