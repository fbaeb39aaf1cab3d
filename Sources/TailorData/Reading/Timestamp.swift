/// Parsing times the way the log reader does, for flags and other text.
public enum Timestamp {
    /// Unix seconds (UTC) from Unix seconds (`1704067200`, fractions floored) or a date/time text:
    /// `YYYY-MM-DD`, `YYYY-MM-DD[T ]HH:MM[:SS[.fff]][Z|±HH[:MM]]`, or `M/D/YYYY[ h:mm[:ss][ AM|PM]]`.
    /// Times without an offset are UTC. `nil` for anything else.
    public static func parse(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { ValueParsing.timestamp($0) }
    }
}
