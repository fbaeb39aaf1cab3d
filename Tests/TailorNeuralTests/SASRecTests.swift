import Foundation
import Testing
import TailorAutodiff
import TailorData
import TailorLinalg
import TailorModels
@testable import TailorNeural

/// Users walk a ring of `items` items: after item i comes item i + 1 (mod items), nine times in
/// ten; otherwise a random item. Every item is equally popular, so only the order tells what
/// comes next. Item 0 follows the last item, so the first table row after padding must act as
/// a real item.
func ringSequences(users: Int = 240, items: Int = 30, seed: UInt64 = 4) -> (TrainingData, next: [Int32]) {
    var rng = TailorRandom(seed: seed)
    var us: [Int32] = [], its: [Int32] = [], times: [Int64] = [], next: [Int32] = []
    for u in 0..<users {
        var item = rng.nextInt(below: items)
        let length = 6 + rng.nextInt(below: 8)
        for t in 0..<length {
            us.append(Int32(u)); its.append(Int32(item)); times.append(Int64(t))
            item = rng.nextFloat() < 0.9 ? (item + 1) % items : rng.nextInt(below: items)
        }
        next.append(Int32(item))
    }
    let log = Interactions(users: us, items: its, values: us.map { _ in 1 }, timestamps: times,
                           userIDs: IDMap((0..<users).map { "u\($0)" }), itemIDs: IDMap((0..<items).map { "i\($0)" }))
    // Repeats of an item by the same user merge (the ring is long enough that few do).
    return (TrainingData(log.mergingDuplicates(.sum).0), next)
}

/// Share of the ring's users whose next item is in their top `k` by these factors (their own
/// items excluded, as in evaluation).
func ringHitRate(userFactors: Matrix, itemFactors: Matrix, k: Int) -> Double {
    let (data, next) = SASRecTests.data
    let seen = data.matrix.userItems
    var hits = 0
    for u in 0..<userFactors.rows {
        let row = userFactors.row(u), banned = Set(seen.columns(inRow: u))
        let scores = (0..<itemFactors.rows).map { i in zip(row, itemFactors.row(i)).map(*).reduce(0, +) }
        let top = scores.indices.filter { !banned.contains(Int32($0)) }.sorted { scores[$0] > scores[$1] }.prefix(k)
        if top.contains(Int(next[u])) { hits += 1 }
    }
    return Double(hits) / Double(userFactors.rows)
}

func smallSASRec(_ loss: SASRec.Loss = .softmax) -> SASRec.Configuration {
    var c = SASRec.Configuration()
    c.dimension = 16
    c.blocks = 1
    c.maxLength = 10
    c.dropout = 0.1
    c.epochs = 40
    c.batchSize = 32
    c.learningRate = 0.01
    c.validationUsers = 0
    c.loss = loss
    c.negatives = 20
    return c
}

@Suite("SASRec")
struct SASRecTests {
    static let data = ringSequences()
    static let model = try! SASRec.fit(data.0, configuration: smallSASRec(), progress: nil)

    func hitRate(_ model: SASRec, k: Int) -> Double { ringHitRate(userFactors: model.userFactors, itemFactors: model.itemFactors, k: k) }

    @Test("learns what comes next: the next ring item is in the top 3 for most users, where popularity is at chance")
    func learnsOrder() {
        // Chance (and popularity: every item is equally common) is about 3 of the ~20 unseen items.
        let rate = hitRate(Self.model, k: 3)
        #expect(rate >= 0.7, "hit rate@3 \(rate)")
        #expect(Self.model.summary.losses.last! < Self.model.summary.losses.first!)
    }

    @Test("sampled softmax and the paper's BCE learn the order too", arguments: [SASRec.Loss.sampledSoftmax, .bce])
    func otherLosses(loss: SASRec.Loss) throws {
        let model = try SASRec.fit(Self.data.0, configuration: smallSASRec(loss), progress: nil)
        let rate = hitRate(model, k: 3)
        #expect(rate >= 0.5, "\(loss): hit rate@3 \(rate)")
    }

    /// The top item for a live sequence.
    func top(_ model: SASRec, user: Int32?, recent: [Int32]) -> Int {
        var scores = [Float](repeating: 0, count: model.itemCount)
        scores.withUnsafeMutableBufferPointer { model.scores(users: [user], recent: [recent], into: $0) }
        #expect(scores.allSatisfy { $0.isFinite })
        return scores.indices.max { scores[$0] < scores[$1] }!
    }

    @Test("a live sequence gets a fresh prediction without retraining, item 0 included (padding is not item 0)")
    func liveSequences() {
        let model = Self.model
        #expect(top(model, user: nil, recent: [4, 5, 6]) == 7)
        #expect(top(model, user: nil, recent: [27, 28, 29]) == 0, "after the last item comes item 0")
        #expect(top(model, user: nil, recent: [29, 0, 1]) == 2)
        // A known user continues their stored sequence: the fresh events decide.
        #expect(top(model, user: 3, recent: [10, 11, 12]) == 13)
        // Through the history protocol, in time order whatever the input order.
        var scores = [Float](repeating: 0, count: model.itemCount)
        scores.withUnsafeMutableBufferPointer { model.scores(for: UserHistory(items: [21, 19, 20], values: [1, 1, 1], times: [30, 10, 20]), into: $0) }
        #expect(scores.indices.max { scores[$0] < scores[$1] } == 22)
    }

    @Test("bad live input: empty sequences, unknown items and long sequences are handled and counted")
    func badInput() {
        let model = Self.model
        var warnings = SequenceWarnings()
        let vectors = model.userVectors(users: [nil, nil, nil], recent: [[], [4, 999, -1, 5], Array(repeating: 7, count: 25) + [8]], warnings: &warnings)
        #expect(vectors.storage.allSatisfy { $0.isFinite })
        #expect(warnings.emptySequences == 1 && warnings.unknownItems == 2 && warnings.truncatedItems == 26 - model.configuration.maxLength)
        #expect(top(model, user: nil, recent: [4, 999, 5]) == 6, "the unknown item is skipped")
        #expect(top(model, user: nil, recent: Array(0..<30).map(Int32.init) + [14, 15]) == 16, "only the latest items count")
    }

    @Test("the model file round-trips: same factors, same scores for a live sequence")
    func archive() throws {
        let model = Self.model
        let back = try SASRec(archiveTensors: model.archiveTensors(), configuration: model.archiveConfiguration())
        #expect(back.userFactors == model.userFactors && back.itemFactors == model.itemFactors)
        var a = [Float](repeating: 0, count: 2 * model.itemCount), b = a
        a.withUnsafeMutableBufferPointer { model.scores(users: [2, nil], recent: [[5], [8, 9]], into: $0) }
        b.withUnsafeMutableBufferPointer { back.scores(users: [2, nil], recent: [[5], [8, 9]], into: $0) }
        #expect(a == b)
        var tensors = model.archiveTensors()
        tensors["sequences"] = .init([Int32(99)] + Array(tensors["sequences"]!.int32s().dropFirst()), shape: tensors["sequences"]!.shape)
        #expect { try SASRec(archiveTensors: tensors, configuration: model.archiveConfiguration()) } throws: { "\($0)".contains("'sequences'") }
    }

    /// A parameter's whole gradient: the dense part plus its sparse rows.
    static func fullGradient(_ p: Parameter) -> [Float] {
        var g = p.grad?.storage ?? [Float](repeating: 0, count: p.value.count)
        if let sparse = p.sparseGrad {
            for (k, row) in sparse.rows.enumerated() {
                for c in 0..<sparse.width { g[Int(row) * sparse.width + c] += sparse.values[k * sparse.width + c] }
            }
        }
        return g
    }

    @Test("packed windows give the padded network's outputs and every parameter's gradient (two heads, two blocks, a gap inside a window)")
    func packedMatchesPadded() {
        var c = SASRec.Configuration()
        c.dimension = 8
        c.heads = 2
        c.maxLength = 6
        c.dropout = 0    // masks differ between the layouts; the functions must not
        c.seed = 3
        // Four windows: full, short, empty, and one with padding inside (a live history never has
        // one, but the packed layout must read it as the padded one does).
        let rows: [Int32] = [3, 7, 1, 20, 5, 9,
                             0, 0, 0, 0, 4, 12,
                             0, 0, 0, 0, 0, 0,
                             0, 2, 0, 8, 8, 16]
        let real = rows.filter { $0 != 0 }.count
        let targets = (0..<real).map { Int32(($0 * 7) % 20) }
        var results: [(outputs: [Float], gradients: [[Float]], loss: Float)] = []
        var names: [String] = []
        for packed in [true, false] {
            c.packed = packed
            let network = SASRecNetwork(items: 20, configuration: c)   // the same seed: the same weights
            names = network.namedParameters().map(\.0)
            let tape = Tape(training: true, seed: 1)
            let out = network.outputs(rows, batch: 4, tape: tape)
            #expect(out.shape == [real, 8])
            let values = out.tensor.storage
            let loss = softmaxCrossEntropy(queries: out, table: tape.parameter(network.itemEmbedding.weight), first: 1, targets: targets)
            let lossValue = loss.tensor.storage[0]
            tape.backward(loss)
            results.append((values, network.namedParameters().map { Self.fullGradient($0.1) }, lossValue))
        }
        let (packed, padded) = (results[0], results[1])
        #expect(zip(packed.outputs, padded.outputs).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(abs(packed.loss - padded.loss) < 1e-5)
        for (n, name) in names.enumerated() {
            let worst = zip(packed.gradients[n], padded.gradients[n]).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-5, "\(name): gradients differ by \(worst)")
            #expect(packed.gradients[n].contains { $0 != 0 } || name.contains("bias"), "\(name) gets a gradient")
        }
    }

    @Test("no two layers start from the same weights (blocks seeded by offsets once shared a matrix)", arguments: [1, 2, 3, 4])
    func distinctInitialWeights(blocks: Int) {
        var c = SASRec.Configuration()
        c.blocks = blocks
        c.seed = 7
        let network = SASRecNetwork(items: 50, configuration: c)
        // Randomly drawn tensors only: layer norms start at ones and zeros, attention biases at zeros.
        let drawn = network.namedParameters().filter { Set($0.1.value.storage).count > 1 }
        #expect(drawn.count == 2 + 6 * blocks, "two embeddings; per block in_proj_weight, out_proj.weight, linear1 and linear2 weights and biases")
        for (i, a) in drawn.enumerated() {
            for b in drawn[(i + 1)...] where a.1.value.shape == b.1.value.shape {
                let same = a.1.value.storage == b.1.value.storage
                #expect(!same, "\(a.0) and \(b.0) start equal")
            }
        }
    }

    @Test("the same seed trains the same model; early stopping keeps the best validation epoch")
    func determinismAndValidation() throws {
        var c = smallSASRec()
        c.epochs = 6
        c.validationUsers = 80
        c.patience = 2
        let a = try SASRec.fit(Self.data.0, configuration: c, progress: nil)
        let b = try SASRec.fit(Self.data.0, configuration: c, progress: nil)
        #expect(a.userFactors == b.userFactors && a.summary == b.summary)
        let best = try #require(a.summary.bestEpoch)
        #expect(a.summary.validation[best - 1] == a.summary.validation.max())
    }

    @Test("short sequences: users with one item are served, a log of only such users is a clear error; bad settings name the key")
    func shortAndInvalid() throws {
        let log = Interactions(users: [0, 1, 1, 2], items: [0, 1, 2, 2], values: [1, 1, 1, 1], timestamps: [0, 0, 1, 0],
                               userIDs: IDMap(["a", "b", "c"]), itemIDs: IDMap(["x", "y", "z"]))
        var c = smallSASRec()
        c.epochs = 2
        let model = try SASRec.fit(TrainingData(log), configuration: c, progress: nil)
        #expect(model.summary.shortSequences == 2 && model.userFactors.storage.allSatisfy { $0.isFinite })
        let single = Interactions(users: [0, 1], items: [0, 1], values: [1, 1], timestamps: [0, 0], userIDs: IDMap(["a", "b"]), itemIDs: IDMap(["x", "y"]))
        #expect { try SASRec.fit(TrainingData(single), configuration: c, progress: nil) } throws: { "\($0)".contains("two or more items") }
        c.heads = 3
        #expect { try SASRec.fit(TrainingData(log), configuration: c, progress: nil) } throws: { "\($0)".contains("configuration.heads") }
    }

    @Test("registered by name, and a bundle recommends from a live history that continues a known user's sequence")
    func registryAndBundle() throws {
        TailorNeural.register()
        let data = Self.data.0
        let bundle = try ModelBundle(model: Self.model, training: data.interactions!)
        #expect(ModelRegistry.shared.kinds.contains("sasrec"))
        let fresh = Interactions(users: [0, 0, 1], items: [0, 1, 0], values: [1, 1, 1], timestamps: [200, 100, 5],
                                 userIDs: IDMap(["u5", "stranger"]), itemIDs: IDMap(["i17", "i16"]))
        let recs = try bundle.recommend(histories: fresh, k: 3, excludeSeen: false)
        // u5 continues their stored sequence with i16 then i17 (by time, not file order); the
        // stranger has only i17, and i18 comes next.
        var scores = [Float](repeating: 0, count: Self.model.itemCount)
        scores.withUnsafeMutableBufferPointer { Self.model.scores(users: [5], recent: [[16, 17]], into: $0) }
        let expected = scores.indices.sorted { scores[$0] > scores[$1] }.prefix(3).map { "i\($0)" }
        #expect(recs.map(\.user) == ["u5", "stranger"])
        #expect(recs[0].items.map(\.item) == expected && recs[1].items.first?.item == "i18", "\(recs.map { $0.items.map(\.item) }) vs \(expected)")
    }
}

@Suite("GRU4Rec")
struct GRU4RecTests {
    static func configuration() -> GRU4Rec.Configuration {
        var c = GRU4Rec.Configuration()
        c.dimension = 16
        c.hidden = 32
        c.maxLength = 10
        c.dropout = 0.1
        c.epochs = 40
        c.batchSize = 32
        c.learningRate = 0.01
        c.validationUsers = 0
        return c
    }

    static let model = try! GRU4Rec.fit(SASRecTests.data.0, configuration: configuration(), progress: nil)

    @Test("learns what comes next on the ring, serves live sequences, and round-trips its file")
    func learnsAndServes() throws {
        let model = Self.model
        let hitRate = ringHitRate(userFactors: model.userFactors, itemFactors: model.itemFactors, k: 3)
        #expect(hitRate >= 0.7, "hit rate@3 \(hitRate)")
        func top(_ m: GRU4Rec, _ recent: [Int32]) -> Int {
            var s = [Float](repeating: 0, count: m.itemCount)
            s.withUnsafeMutableBufferPointer { m.scores(users: [nil], recent: [recent], into: $0) }
            return s.indices.max { s[$0] < s[$1] }!
        }
        #expect(top(model, [4, 5, 6]) == 7 && top(model, [27, 28, 29]) == 0)
        let back = try GRU4Rec(archiveTensors: model.archiveTensors(), configuration: model.archiveConfiguration())
        #expect(back.userFactors == model.userFactors && top(back, [11, 12]) == top(model, [11, 12]))
        #expect(back.archiveTensors().keys.contains("net.gru.weight_hh_l0"))
    }

    @Test("session-parallel lanes hold every next-item pair once, each sequence whole and in order, starts marked, lanes balanced")
    func lanes() {
        var rng = TailorRandom(seed: 9)
        let sequences: [ArraySlice<Int32>] = (0..<40).map { s in
            ArraySlice((0..<rng.nextInt(below: 30)).map { _ in Int32(rng.nextInt(below: 50)) })
        }
        let order = Array((0..<40).reversed())
        let lanes = SessionLanes(sequences, order: order, lanes: 6, steps: 7)
        // Read the lanes back through their chunks: per lane, (owner, input item, target) in order.
        var read = [[(owner: Int32, input: Int32, target: Int32, start: Bool)]](repeating: [], count: 6)
        for c in 0..<lanes.chunks {
            let chunk = lanes.chunk(c)
            #expect(chunk.rows.count == 6 * 7)
            for lane in 0..<6 {
                for k in 0..<7 {
                    let i = lane * 7 + k
                    if chunk.rows[i] == 0 {
                        #expect(chunk.targets[i] == -1 && chunk.owners[i] == -1, "padding has no target")
                        continue
                    }
                    read[lane].append((chunk.owners[i], chunk.rows[i] - 1, chunk.targets[i], chunk.resets[i]))
                }
            }
        }
        var pairs: [Int32: [(Int32, Int32)]] = [:]
        for lane in read {
            for (k, step) in lane.enumerated() {
                #expect(step.start == (k == 0 || lane[k - 1].owner != step.owner), "a start exactly where a sequence begins")
                pairs[step.owner, default: []].append((step.input, step.target))
            }
        }
        for (s, sequence) in sequences.enumerated() {
            let expected = sequence.count >= 2 ? Array(zip(sequence.dropLast(), sequence.dropFirst())) : []
            let got = pairs[Int32(s)] ?? []
            #expect(got.count == expected.count && zip(got, expected).allSatisfy { $0 == $1 }, "sequence \(s) whole and in order")
        }
        let lengths = read.map(\.count), longest = sequences.map(\.count).max()!
        #expect(lengths.max()! - lengths.min()! <= longest, "lanes end within one sequence of each other: \(lengths)")
        #expect(lanes.chunks == (lengths.max()! + 6) / 7)
    }

    @Test("session-parallel training (state carried across chunks) learns the ring and is deterministic")
    func sessionParallel() throws {
        var c = Self.configuration()
        c.batching = .sessionParallel
        c.batchSize = 8      // lanes
        c.maxLength = 6      // steps per chunk: sequences of 6–13 items cross chunk borders
        let data = SASRecTests.data.0
        let model = try GRU4Rec.fit(data, configuration: c, progress: nil)
        let hitRate = ringHitRate(userFactors: model.userFactors, itemFactors: model.itemFactors, k: 3)
        #expect(hitRate >= 0.7, "hit rate@3 \(hitRate)")
        let again = try GRU4Rec.fit(data, configuration: c, progress: nil)
        #expect(again.userFactors == model.userFactors)
        let back = try GRU4Rec(archiveTensors: model.archiveTensors(), configuration: model.archiveConfiguration())
        #expect(back.configuration.batching == .sessionParallel)
        // A lane read in two chunks, the state carried, gives what one long chunk gives (a reset
        // and a lane ending early included).
        let network = model.encoder.run { $0 }
        let rows: [Int32] = [3, 4, 5, 9, 10, 11, 12, 13,
                             7, 8, 9, 10, 0, 0, 0, 0]
        var resets = [Bool](repeating: false, count: 16)
        resets[0] = true; resets[3] = true; resets[8] = true
        let whole = network.continuing(rows, lanes: 2, initial: nil, resets: resets, tape: Tape(training: false)).outputs.tensor.storage
        func half(_ r: [Int32], _ k: Int) -> [Int32] { [Int32](r[k..<(k + 4)] + r[(8 + k)..<(8 + k + 4)]) }
        func halfResets(_ k: Int) -> [Bool] { [Bool](resets[k..<(k + 4)] + resets[(8 + k)..<(8 + k + 4)]) }
        let first = network.continuing(half(rows, 0), lanes: 2, initial: nil, resets: halfResets(0), tape: Tape(training: false))
        let second = network.continuing(half(rows, 4), lanes: 2, initial: first.state, resets: halfResets(4), tape: Tape(training: false))
        let d = c.dimension
        // Real rows in order: lane 0's 8 then lane 1's 4 (whole); lane 0's 4, lane 1's 4, then lane 0's 4 (halves).
        let a = first.outputs.tensor.storage, b = second.outputs.tensor.storage
        let split = Array(a[0..<(4 * d)]) + Array(b[0..<(4 * d)]) + Array(a[(4 * d)...])
        #expect(whole.count == 12 * d && split.count == whole.count)
        #expect(zip(whole, split).allSatisfy { abs($0 - $1) < 1e-5 }, "carrying the state equals reading on")
        let fresh = network.continuing(half(rows, 4), lanes: 2, initial: nil, resets: halfResets(4), tape: Tape(training: false))
        #expect(zip(fresh.outputs.tensor.storage, b).contains { abs($0 - $1) > 1e-3 }, "the carried state matters")
    }
}
