import Foundation

/// Charts drawn as SVG text, for pages without a front-end build step. Each chart carries its
/// data size in `data-points` attributes, so tests (and a headless browser) can check that a
/// plot shows data, not only that it exists.
public enum SVG {
    /// One line of a line chart.
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
    static func color(_ i: Int) -> String { palette[i % palette.count] }

    /// `&`, `<`, `>`, `"` escaped for text and attributes.
    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    public static func number(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        if abs(v) >= 1000 { return String(format: "%.0f", v) }
        if abs(v) >= 1 { return String(format: "%.2f", v) }
        return String(format: "%.3g", v)
    }

    /// Maps a value range onto pixels.
    struct Scale {
        let lo: Double, hi: Double, from: Double, to: Double
        init(_ values: [Double], from: Double, to: Double, includeZero: Bool = false) {
            var lo = values.min() ?? 0, hi = values.max() ?? 1
            if includeZero { lo = min(lo, 0); hi = max(hi, 0) }
            if hi <= lo { hi = lo + 1 }
            self.lo = lo; self.hi = hi; self.from = from; self.to = to
        }
        func callAsFunction(_ v: Double) -> Double { from + (v - lo) / (hi - lo) * (to - from) }
        var ticks: [Double] { (0...4).map { lo + Double($0) / 4 * (hi - lo) } }
    }

    static let width = 640.0, height = 260.0, left = 56.0, right = 16.0, top = 16.0, bottom = 40.0

    static func frame(_ title: String, points: Int, body: String, x: Scale, y: Scale, xLabel: String, yLabel: String,
                      xFormat: (Double) -> String = number, yTicks: Bool = true) -> String {
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" aria-label=\"\(escape(title))\" data-points=\"\(points)\" "
        s += "viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        s += "<title>\(escape(title))</title>"
        s += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#fff\"/>"
        for t in y.ticks where yTicks {
            let py = y(t)
            s += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", left, width - right, py, py)
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" fill=\"#555\">%@</text>", left - 4, py + 3, number(t))
        }
        for t in x.ticks {
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\" fill=\"#555\">%@</text>", x(t), height - bottom + 14, escape(xFormat(t)))
        }
        s += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>", left, width - right, height - bottom, height - bottom)
        s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">%@</text>", (left + width - right) / 2, height - 6, escape(xLabel))
        s += String(format: "<text x=\"12\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\" transform=\"rotate(-90 12 %.1f)\">%@</text>",
                    (top + height - bottom) / 2, (top + height - bottom) / 2, escape(yLabel))
        return s + body + "</svg>"
    }

    /// Lines over a shared x axis, with a legend.
    public static func lines(_ title: String, series: [Series], xLabel: String, yLabel: String, xFormat: @escaping (Double) -> String = number) -> String {
        let all = series.flatMap(\.points)
        let x = Scale(all.map(\.x), from: left, to: width - right)
        let y = Scale(all.map(\.y), from: height - bottom, to: top, includeZero: true)
        var body = ""
        for (i, s) in series.enumerated() where !s.points.isEmpty {
            let d = s.points.enumerated().map { j, p in String(format: "%@%.1f,%.1f", j == 0 ? "M" : "L", x(p.x), y(p.y)) }.joined()
            body += "<path class=\"series\" data-series=\"\(escape(s.name))\" data-points=\"\(s.points.count)\" d=\"\(d)\" fill=\"none\" stroke=\"\(color(i))\" stroke-width=\"1.8\"/>"
            body += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"%@\">%@</text>", left + 8 + Double(i % 4) * 140, top + 10 + Double(i / 4) * 12, color(i), escape(s.name))
        }
        return frame(title, points: all.count, body: body, x: x, y: y, xLabel: xLabel, yLabel: yLabel, xFormat: xFormat)
    }

    /// Points coloured by group (a 2-D map), with a legend.
    public static func scatter(_ title: String, points: [(x: Double, y: Double, group: Int)], groups: [String], xLabel: String, yLabel: String) -> String {
        let x = Scale(points.map(\.x), from: left, to: width - right)
        let y = Scale(points.map(\.y), from: height - bottom, to: top)
        var body = ""
        for p in points {
            body += String(format: "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"%@\" fill-opacity=\"0.6\"/>", x(p.x), y(p.y), color(max(0, p.group)))
        }
        for (i, g) in groups.enumerated() {
            body += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"%@\">%@</text>", width - right - 110, top + 10 + Double(i) * 12, color(i), escape(g))
        }
        return frame(title, points: points.count, body: body, x: x, y: y, xLabel: xLabel, yLabel: yLabel)
    }

    /// One estimate per row with its interval (whiskers), e.g. each variant's CTR.
    public static func intervals(_ title: String, rows: [(name: String, value: Double, low: Double, high: Double)], xLabel: String) -> String {
        let x = Scale(rows.flatMap { [$0.low, $0.high, $0.value] }, from: left + 60, to: width - right, includeZero: true)
        let rowHeight = (height - top - bottom) / Double(max(1, rows.count))
        let y = Scale([0, 1], from: height - bottom, to: top)
        var body = ""
        for (i, r) in rows.enumerated() {
            let cy = top + rowHeight * (Double(i) + 0.5)
            body += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\" fill=\"#333\">%@</text>", left + 54, cy + 4, escape(r.name))
            body += String(format: "<line class=\"interval\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"2\"/>", x(r.low), x(r.high), cy, cy, color(i))
            body += String(format: "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%@\"/>", x(r.value), cy, color(i))
        }
        return frame(title, points: rows.count, body: body, x: x, y: y, xLabel: xLabel, yLabel: "", yTicks: false)
    }
}
