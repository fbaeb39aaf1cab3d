import Foundation
import TailorData
import TailorLinalg

/// The hyperparameters a tuner may choose and their ranges, read from JSON:
///
/// ```json
/// {"factors": {"int": [8, 128], "log": true},
///  "regularization": {"float": [0.01, 100], "log": true},
///  "alpha": {"float": [0.1, 20], "log": true},
///  "solver": {"choice": ["cg", "cholesky"]}}
/// ```
///
/// A range may list `"grid": [...]`, the values grid search tries; otherwise the grid takes
/// `gridPoints` evenly spaced values (on the log scale for `"log": true`).
public struct SearchSpace: Sendable, Equatable {
    public enum Parameter: Sendable, Equatable {
        case int(low: Int, high: Int, log: Bool, grid: [Int]?)
        case float(low: Double, high: Double, log: Bool, grid: [Double]?)
        case choice([JSONValue])
    }

    /// Parameters by name, in name order.
    public var parameters: [(name: String, parameter: Parameter)]

    public static func == (a: SearchSpace, b: SearchSpace) -> Bool {
        a.parameters.map(\.name) == b.parameters.map(\.name) && zip(a.parameters, b.parameters).allSatisfy { $0.parameter == $1.parameter }
    }

    init(parameters: [(name: String, parameter: Parameter)]) { self.parameters = parameters }

    public init(_ parameters: [String: Parameter]) {
        self.parameters = parameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Reads a search space file; errors name the file and the parameter.
    public static func load(path: String) throws -> SearchSpace {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ExperimentError(field: path, "the search space file cannot be read (\(error.localizedDescription))")
        }
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw ExperimentError(field: path, "is not valid JSON (\(error.localizedDescription))")
        }
        return try parse(value, source: path)
    }

    /// Parses a search space; `source` names it in errors.
    public static func parse(_ value: JSONValue, source: String = "search space") throws -> SearchSpace {
        guard case .object(let fields) = value, !fields.isEmpty else {
            throw ExperimentError(field: source, "a search space is a JSON object of parameters, e.g. {\"factors\": {\"int\": [16, 256], \"log\": true}}")
        }
        var out: [String: Parameter] = [:]
        for (name, spec) in fields {
            let at = "\(source): \(name)"
            guard case .object(let o) = spec else { throw ExperimentError(field: at, "each parameter is an object with int, float or choice") }
            let log: Bool
            switch o["log"] {
            case nil: log = false
            case .bool(let b)?: log = b
            default: throw ExperimentError(field: at + ".log", "log is true or false")
            }
            let known: Set<String> = ["int", "float", "choice", "log", "grid"]
            if let stray = o.keys.first(where: { !known.contains($0) }) {
                throw ExperimentError(field: at, "unknown key '\(stray)'", hint: "a parameter has one of int, float, choice, and optionally log and grid")
            }
            func numbers(_ key: String) throws -> [Double]? {
                guard let v = o[key] else { return nil }
                guard case .array(let a) = v else { throw ExperimentError(field: "\(at).\(key)", "\(key) is a list of numbers") }
                return try a.map {
                    guard case .number(let n) = $0, n.isFinite else { throw ExperimentError(field: "\(at).\(key)", "\(key) holds numbers only") }
                    return n
                }
            }
            if let range = try numbers("int") {
                guard range.count == 2, range.allSatisfy({ $0 == $0.rounded() }) else { throw ExperimentError(field: at + ".int", "int is [low, high] with whole numbers") }
                let low = Int(range[0]), high = Int(range[1])
                guard low < high else { throw ExperimentError(field: at + ".int", "the range [\(low), \(high)] is empty", hint: "give low < high") }
                guard !log || low > 0 else { throw ExperimentError(field: at + ".log", "a log scale needs a positive low end, got \(low)") }
                let grid = try numbers("grid").map { $0.map { Int($0) } }
                if let grid, grid.isEmpty || grid.contains(where: { $0 < low || $0 > high }) {
                    throw ExperimentError(field: at + ".grid", "grid values must lie in [\(low), \(high)]")
                }
                out[name] = .int(low: low, high: high, log: log, grid: grid)
            } else if let range = try numbers("float") {
                guard range.count == 2 else { throw ExperimentError(field: at + ".float", "float is [low, high]") }
                guard range[0] < range[1] else { throw ExperimentError(field: at + ".float", "the range [\(range[0]), \(range[1])] is empty", hint: "give low < high") }
                guard !log || range[0] > 0 else { throw ExperimentError(field: at + ".log", "a log scale needs a positive low end, got \(range[0])") }
                let grid = try numbers("grid")
                if let grid, grid.isEmpty || grid.contains(where: { $0 < range[0] || $0 > range[1] }) {
                    throw ExperimentError(field: at + ".grid", "grid values must lie in [\(range[0]), \(range[1])]")
                }
                out[name] = .float(low: range[0], high: range[1], log: log, grid: grid)
            } else if let choices = o["choice"] {
                guard case .array(let a) = choices, !a.isEmpty else { throw ExperimentError(field: at + ".choice", "choice is a non-empty list") }
                out[name] = .choice(a)
            } else {
                throw ExperimentError(field: at, "has no int, float or choice")
            }
        }
        return SearchSpace(out)
    }

    /// Every combination of the grid values (`gridPoints` per range without a grid), in order.
    public func grid(points: Int = 3) -> [[String: JSONValue]] {
        var combos: [[String: JSONValue]] = [[:]]
        for (name, p) in parameters {
            let values = SearchSpace.gridValues(p, points: max(1, points))
            combos = combos.flatMap { c in values.map { v in var n = c; n[name] = v; return n } }
        }
        return combos
    }

    static func gridValues(_ p: Parameter, points: Int) -> [JSONValue] {
        switch p {
        case .choice(let values): return values
        case .int(let low, let high, let log, let grid):
            if let grid { return grid.map { .number(Double($0)) } }
            let xs = spaced(Double(low), Double(high), log: log, points: points).map { Int($0.rounded()) }
            var seen = Set<Int>()
            return xs.filter { seen.insert($0).inserted }.map { .number(Double($0)) }
        case .float(let low, let high, let log, let grid):
            return (grid ?? spaced(low, high, log: log, points: points)).map { .number($0) }
        }
    }

    static func spaced(_ low: Double, _ high: Double, log: Bool, points: Int) -> [Double] {
        guard points > 1 else { return [log ? (low * high).squareRoot() : (low + high) / 2] }
        return (0..<points).map { i in
            let t = Double(i) / Double(points - 1)
            return log ? exp(Foundation.log(low) + t * (Foundation.log(high) - Foundation.log(low))) : low + t * (high - low)
        }
    }

    /// A configuration drawn uniformly (log-uniformly for log ranges).
    public func sample(_ rng: inout TailorRandom) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for (name, p) in parameters {
            switch p {
            case .choice(let values): out[name] = values[rng.nextInt(below: values.count)]
            case .int(let low, let high, let log, _):
                let (a, b) = SearchSpace.internalRange(p)
                let x = a + rng.nextDouble() * (b - a)
                out[name] = .number(Double(SearchSpace.clampInt(log ? exp(x) : x, low, high)))
            case .float(let low, let high, let log, _):
                let (a, b) = SearchSpace.internalRange(p)
                let x = a + rng.nextDouble() * (b - a)
                out[name] = .number(min(high, max(low, log ? exp(x) : x)))
            }
        }
        return out
    }

    /// The range a numeric parameter is modelled on (log for log scales; ints widened by half a
    /// step so each value has its share).
    static func internalRange(_ p: Parameter) -> (Double, Double) {
        switch p {
        case .int(let low, let high, let log, _):
            return log ? (Foundation.log(Double(low) - 0.49), Foundation.log(Double(high) + 0.49)) : (Double(low) - 0.49, Double(high) + 0.49)
        case .float(let low, let high, let log, _):
            return log ? (Foundation.log(low), Foundation.log(high)) : (low, high)
        case .choice: return (0, 1)
        }
    }

    static func clampInt(_ x: Double, _ low: Int, _ high: Int) -> Int { min(high, max(low, Int(x.rounded()))) }
}
