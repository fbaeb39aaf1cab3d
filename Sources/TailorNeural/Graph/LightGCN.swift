import Foundation
import TailorAutodiff
import TailorData
import TailorLinalg
import TailorModels
import TailorNN

/// LightGCN (He et al. 2020): user and item embeddings propagated over the normalized
/// user–item graph `Â = D^-½ A D^-½` with no weights and no non-linearity, the layers averaged,
/// trained by BPR with an L2 penalty on the batch's layer-0 rows. The averaged embeddings are
/// exported as a factor model.
public struct LightGCN: FactorModel, TrainableRecommender {
    public static let kind = "lightgcn"

    /// Hyperparameters: the paper's (64 dimensions, 3 layers, λ = 10⁻⁴, batch 2048) but a
    /// learning rate of 10⁻²: at the paper's 10⁻³ early stopping ended MovieLens 100K runs
    /// at epoch 6, below popularity (NDCG@10 0.147 against 0.152); 10⁻² reached 0.282
    /// (Docs/Benchmarks.md).
    public struct Configuration: Sendable, Codable, Equatable {
        /// Width of the embeddings.
        public var dimension = 64
        /// Propagation layers.
        public var layers = 3
        /// L2 penalty on the layer-0 embeddings of each batch's users and items.
        public var l2: Float = 1e-4
        /// Most passes over the training interactions.
        public var epochs = 200
        /// (user, positive, negative) triples per batch.
        public var batchSize = 2048
        /// Adam learning rate.
        public var learningRate: Float = 0.01
        /// Stop after this many epochs without a better validation NDCG (`nil`: never).
        public var patience: Int? = 10
        /// Users whose latest item is held out (from the graph too) to validate each epoch.
        public var validationUsers = 2000
        /// Seed for initialization, shuffling, negatives and the validation users.
        public var seed: UInt64 = 42

        /// The defaults.
        public init() {}
    }

    /// What training did.
    public typealias TrainingSummary = EpochSummary

    public let configuration: Configuration
    public let userFactors: Matrix
    public let itemFactors: Matrix
    public let summary: TrainingSummary

    public static func fit(_ data: TrainingData, configuration c: Configuration, progress: ProgressHandler?) throws -> LightGCN {
        try validate(c)
        let seen = data.matrix.userItems
        guard seen.nonZeroCount > 0 else {
            throw ModelError(.emptyData, reason: "the training data has no interactions", hint: "check the log or the store with `tailor stats`")
        }
        let users = data.userCount, items = data.itemCount, d = c.dimension
        var bags = (0..<users).map { Array(seen.columns(inRow: $0)) }
        let latest = data.userSequences().map { $0.items.last }
        let validation = TrainingSupport.validationUsers((0..<users).filter { bags[$0].count >= 3 && latest[$0] != nil },
                                                         count: c.validationUsers, seed: c.seed)
        var heldOut: [Int32] = []
        for u in validation {
            heldOut.append(latest[u]!)
            bags[u].removeAll { $0 == latest[u]! }
        }
        let graph = normalizedGraph(bags, users: users, items: items)
        let pairs = bags.enumerated().flatMap { u, bag in bag.map { (Int32(u), $0) } }
        let members = bags.map { Set($0) }
        let table = Parameter(Tensor.normal(shape: [users + items, d], std: 0.1, seed: c.seed, stream: 5))
        let network = LightGCNNetwork(table: table)
        let optimizer = Adam([ParameterGroup(network.namedParameters(), learningRate: c.learningRate)])
        let loop = TrainingSupport.loop(kind: kind, epochs: c.epochs, batchSize: c.batchSize, seed: c.seed, patience: c.patience,
                                        validating: !validation.isEmpty, progress: progress)
        let layers = c.layers
        /// The layer-averaged embeddings over `graph` (symmetric, so it is its own transpose).
        func propagate(_ tape: Tape, over graph: CSRMatrix = graph) -> Value {
            var x = tape.parameter(table), total = x
            for _ in 0..<layers {
                x = sparseMatmul(graph, x, transpose: graph)
                total = total + x
            }
            return total * (1 / Float(layers + 1))
        }
        func final(over graph: CSRMatrix = graph) -> Matrix {
            Matrix(rows: users + items, columns: d, storage: propagate(Tape(training: false), over: graph).tensor.storage)
        }
        let trainer = Trainer(model: network, optimizer: optimizer, configuration: loop)
        let run = try trainer.fit(examples: pairs.count, loss: { tape, batch in
            let chosen = batch.map { pairs[$0] }
            let us = chosen.map(\.0), pos = chosen.map { Int32(users) + $0.1 }
            let neg = chosen.map { p -> Int32 in
                var n = Int32(tape.rng.nextInt(below: items))
                for _ in 0..<10 where members[Int(p.0)].contains(n) { n = Int32(tape.rng.nextInt(below: items)) }
                return Int32(users) + n
            }
            let e = propagate(tape)
            let eu = gather(e, indices: us), ei = gather(e, indices: pos), ej = gather(e, indices: neg)
            let bpr = TailorNN.Loss.bpr(positive: sum(eu * ei, axis: 1), negative: sum(eu * ej, axis: 1))
            let base = tape.parameter(table)
            let rows = gather(base, indices: us + pos + neg)
            return bpr + sum(rows * rows) * (c.l2 / 2 / Float(chosen.count))
        }, validate: validation.isEmpty ? nil : {
            let f = final()
            let queries = Matrix(rows: validation.count, columns: d, storage: validation.flatMap { f.row($0) })
            let itemRows = Matrix(rows: items, columns: d, storage: Array(f.storage[(users * d)...]))
            return fullRankNDCG(queries: queries, items: itemRows, exclude: validation.map { bags[$0] }, heldOut: heldOut)
        })
        // Served embeddings: the full graph, validation items included.
        let averaged = final(over: normalizedGraph((0..<users).map { Array(seen.columns(inRow: $0)) }, users: users, items: items)).storage
        return LightGCN(configuration: c, userFactors: Matrix(rows: users, columns: d, storage: Array(averaged[..<(users * d)])),
                        itemFactors: Matrix(rows: items, columns: d, storage: Array(averaged[(users * d)...])),
                        summary: TrainingSummary(run))
    }

    /// `D^-½ A D^-½` over users then items, from each user's items.
    static func normalizedGraph(_ bags: [[Int32]], users: Int, items: Int) -> CSRMatrix {
        var itemDegree = [Float](repeating: 0, count: items)
        for bag in bags { for i in bag { itemDegree[Int(i)] += 1 } }
        var rows: [Int32] = [], columns: [Int32] = [], values: [Float] = []
        for (u, bag) in bags.enumerated() where !bag.isEmpty {
            let du = Float(bag.count)
            for i in bag {
                let w = 1 / (du * itemDegree[Int(i)]).squareRoot()
                rows.append(Int32(u)); columns.append(Int32(users) + i); values.append(w)
                rows.append(Int32(users) + i); columns.append(Int32(u)); values.append(w)
            }
        }
        return CSRMatrix(rows: users + items, columns: users + items, rowIndices: rows, columnIndices: columns, values: values)
    }

    static func validate(_ c: Configuration) throws {
        func fail(_ key: String, _ why: String) -> ModelError { ModelError(.invalidConfiguration, reason: "configuration.\(key) \(why)") }
        if c.dimension < 1 || c.dimension > 4096 { throw fail("dimension", "must be between 1 and 4096, got \(c.dimension)") }
        if c.layers < 0 || c.layers > 16 { throw fail("layers", "must be between 0 and 16, got \(c.layers)") }
        if !(c.l2 >= 0 && c.l2.isFinite) { throw fail("l2", "must be 0 or more, got \(c.l2)") }
        try TrainingSupport.validate(epochs: c.epochs, batchSize: c.batchSize, learningRate: c.learningRate, patience: c.patience,
                                     validationUsers: c.validationUsers)
    }

    init(configuration: Configuration, userFactors: Matrix, itemFactors: Matrix, summary: TrainingSummary) {
        self.configuration = configuration
        self.userFactors = userFactors
        self.itemFactors = itemFactors
        self.summary = summary
    }
}

extension LightGCN {
    /// `user_factors` and `item_factors` (the layer-averaged embeddings).
    public func archiveTensors() -> [String: SafeTensors.Tensor] { ["user_factors": .init(userFactors), "item_factors": .init(itemFactors)] }

    public func archiveConfiguration() throws -> JSONValue {
        .object(["configuration": try ConfigurationPatch.encode(configuration), "summary": try JSONValue(encoding: summary)])
    }

    public init(archiveTensors tensors: [String: SafeTensors.Tensor], configuration json: JSONValue) throws {
        let reader = NeuralArchive.Reader(tensors: tensors, model: Self.kind)
        guard case .object(let fields) = json, let c = fields["configuration"] else { throw reader.fail("lacks its configuration") }
        let configuration = try ConfigurationPatch.apply(c, to: Configuration(), context: "model.configuration")
        try Self.validate(configuration)
        guard let users = tensors["user_factors"]?.matrix(), let items = tensors["item_factors"]?.matrix(),
              users.columns == configuration.dimension, items.columns == configuration.dimension else {
            throw reader.fail("lacks user_factors or item_factors of width \(configuration.dimension)")
        }
        try ArchiveChecks.finite(users, name: "user_factors", model: Self.kind)
        try ArchiveChecks.finite(items, name: "item_factors", model: Self.kind)
        self.init(configuration: configuration, userFactors: users, itemFactors: items,
                  summary: try fields["summary"]?.decode(TrainingSummary.self) ?? TrainingSummary())
    }
}

/// The one parameter, as a module (`embedding.weight`: users then items).
final class LightGCNNetwork: Module {
    let table: Parameter
    init(table: Parameter) { self.table = table }
    override var localParameters: [(String, Parameter)] { [("embedding.weight", table)] }
}
