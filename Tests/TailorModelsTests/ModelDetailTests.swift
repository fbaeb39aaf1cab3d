import Foundation
import Testing
import TailorData
import TailorLinalg
@testable import TailorModels

@Suite("Model details")
struct ModelDetailTests {
    func parse(_ text: String) throws -> Interactions { try InteractionReader.read(text: text).0 }

    @Test("EASE refuses a catalogue too large for memory, saying how large and what to do")
    func easeMemory() throws {
        let data = TrainingData(try parse("u,i\na,x\nb,y\nc,z\na,y\n"))
        var c = EASE.Configuration()
        c.memoryLimitBytes = 20  // 3 items need 36 bytes
        #expect {
            try EASE.fit(data, configuration: c)
        } throws: { error in
            let text = "\(error)"
            return text.contains("dense 3 × 3 item matrix") && text.contains("itemknn")
        }
    }

    @Test("EASE weights solve the closed form on a tiny case")
    func easeClosedForm() throws {
        let data = TrainingData(try parse("u,i\na,x\na,y\nb,y\nb,z\nc,x\nc,z\nd,x\n"))
        let model = try EASE.fit(data, configuration: .init(l2: 1))
        // B = I − P·diag(1/diag(P)) with P = (XᵀX + I)⁻¹, computed densely.
        let x = InteractionMatrix(data.interactions!).userItems
        var g = Matrix(rows: 3, columns: 3)
        for u in 0..<x.rows { for i in x.columns(inRow: u) { for j in x.columns(inRow: u) { g[Int(i), Int(j)] += 1 } } }
        for i in 0..<3 { g[i, i] += 1 }
        let p = try #require(Reference.inverse(g))
        for i in 0..<3 { for j in 0..<3 {
            let expected: Float = i == j ? 0 : -p[i, j] / p[j, j]
            #expect(abs(model.weights[i, j] - expected) < 1e-5)
        } }
    }

    @Test("trending popularity halves an interaction's weight every half-life")
    func trending() throws {
        let day: Int64 = 86_400
        let data = TrainingData(try parse("u,i,r,t\na,old,1,0\nb,old,1,0\nc,new,1,\(10 * day)\n"))
        let model = try Popularity.fit(data, configuration: .init(halfLifeDays: 5))
        let old = Int(data.interactions!.itemIDs.position(of: "old")!), new = Int(data.interactions!.itemIDs.position(of: "new")!)
        #expect(abs(model.itemScores[old] - 0.5) < 1e-6)  // two interactions, each 10 days (two half-lives) old
        #expect(model.itemScores[new] == 1)
        #expect { try Popularity.fit(TrainingData(try parse("u,i\na,x\n")), configuration: .init(halfLifeDays: 5)) }
            throws: { "\($0)".contains("needs timestamps") }
    }

    @Test("ItemKNN TF-IDF and BM25 weights follow implicit's formulas")
    func weighting() throws {
        // item×user: item 0 has users {0: r=4, 1: r=1}; item 1 has user {0: r=9}.
        let itemUsers = CSRMatrix(rows: 2, columns: 2, rowPointers: [0, 2, 3], columnIndices: [0, 1, 0], values: [4, 1, 9])
        var c = ItemKNN.Configuration()
        c.weighting = .tfidf
        let tfidf = ItemKNN.weighted(itemUsers, c).values
        let idf0 = log(Float(2)) - log1p(Float(2)), idf1 = log(Float(2)) - log1p(Float(1))
        #expect(abs(tfidf[0] - 2 * idf0) < 1e-6 && abs(tfidf[1] - 1 * idf1) < 1e-6 && abs(tfidf[2] - 3 * idf0) < 1e-6)
        c.weighting = .bm25
        let bm25 = ItemKNN.weighted(itemUsers, c).values
        let average: Float = (5 + 9) / 2
        let norm0 = (1 - c.bm25B) + c.bm25B * 5 / average
        #expect(abs(bm25[0] - 4 * (c.bm25K1 + 1) / (c.bm25K1 * norm0 + 4) * idf0) < 1e-5)
    }

    @Test("ItemKNN keeps at most K neighbours per item, most similar ones, never itself")
    func neighbours() throws {
        var c = SyntheticLog.Configuration()
        c.users = 200; c.items = 60; c.interactions = 3_000
        let data = TrainingData(SyntheticLog.generate(c).interactions)
        let model = try ItemKNN.fit(data, configuration: .init(neighbors: 5))
        for i in 0..<model.itemCount {
            let neighbours = model.similarity.columns(inRow: i)
            #expect(neighbours.count <= 5 && !neighbours.contains(Int32(i)))
        }
    }

    @Test("Item2Vec sessions need timestamps; recency weights halve per half-life")
    func item2vecDetails() throws {
        var c = Item2Vec.Configuration(factors: 4, epochs: 1)
        c.sessionGapSeconds = 1800
        #expect { try Item2Vec.fit(TrainingData(try parse("u,i\na,x\na,y\n")), configuration: c) } throws: { "\($0)".contains("sessions need timestamps") }
        c.aggregation = .recency
        c.halfLifeDays = 1
        let model = Item2Vec(configuration: c, itemVectors: Matrix(rows: 2, columns: 4), histories: [])
        let weights = model.recencyWeights(UserHistory(items: [0, 1], times: [0, 86_400]))
        #expect(abs(weights[0] - 0.5) < 1e-6 && weights[1] == 1)
    }

    @Test("explicit MF predicts μ + bᵤ + bᵢ + pᵤ·qᵢ")
    func mfPrediction() {
        let model = ExplicitMF(configuration: .init(factors: 2), globalMean: 3, userBias: [0.5],
                               userFactors: Matrix([[1, 2, 1]]), itemFactors: Matrix([[0.5, -1, 0.25]]))
        #expect(model.predictRating(user: 0, item: 0) == 3 + 0.5 + 0.25 + (0.5 - 2))
    }
}
