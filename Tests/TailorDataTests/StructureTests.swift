import Foundation
import Testing
import TailorLinalg
@testable import TailorData

@Suite("IDs, interactions and matrices")
struct DataStructureTests {
    @Test("IDMap assigns dense positions in first-seen order; numeric and text IDs do not collide")
    func idMap() {
        var map = IDMap()
        #expect(map.insert("42") == 0)
        #expect(map.insert("042") == 1)  // not canonical: a different ID from "42"
        #expect(map.insert("abc") == 2)
        #expect(map.insert("42") == 0)
        #expect(map.insert(canonicalInteger: 7) { "7" } == 3)
        #expect(map.position(of: "7") == 3)
        #expect(map.position(of: "042") == 1)
        #expect(map.position(of: "missing") == nil)
        #expect(map.ids == ["42", "042", "abc", "7"])
        #expect(map[2] == "abc")
    }

    @Test("the interaction matrix and its transpose hold the same pairs")
    func matrix() throws {
        let (log, _) = try InteractionReader.read(text: "u,i,r\na,x,1\nb,y,2\na,z,3\nc,x,4\n")
        let m = InteractionMatrix(log)
        #expect(m.userCount == 3 && m.itemCount == 3 && m.nonZeroCount == 4)
        #expect(m.itemUsers == m.userItems.transposed())
        let a = log.userIDs.position(of: "a")!, z = log.itemIDs.position(of: "z")!
        #expect(m.userItems.value(row: Int(a), column: z) == 3)
        #expect(abs(m.sparsity - (1 - 4.0 / 9)) < 1e-12)
    }

    @Test("rows by user come out in time order")
    func rowsByUser() throws {
        let (log, _) = try InteractionReader.read(text: "u,i,r,t\na,x,1,30\nb,y,1,5\na,y,1,10\na,z,1,20\n")
        let (order, offsets) = log.rowsByUser()
        let a = Int(log.userIDs.position(of: "a")!)
        let times = order[offsets[a]..<offsets[a + 1]].map { log.timestamps![$0] }
        #expect(times == [10, 20, 30])
    }

    @Test("written CSV reads back identically, quoting where needed")
    func writerRoundTrip() throws {
        let (log, _) = try InteractionReader.read(text: "user,item,rating,timestamp\n\"a,1\",x,1.5,10\nb,\"q\"\"uote\",2,20\n")
        let text = InteractionWriter.csv(log)
        #expect(text.hasPrefix("user,item,rating,timestamp\n"))
        let (back, _) = try InteractionReader.read(text: text)
        #expect(triples(back) == triples(log))
        #expect(back.timestamps?.sorted() == [10, 20])
    }

    @Test("the synthetic log is seeded, near its target size, with a long tail")
    func synthetic() {
        var c = SyntheticLog.Configuration()
        c.users = 500; c.items = 300; c.interactions = 10_000
        let a = SyntheticLog.generate(c), b = SyntheticLog.generate(c)
        #expect(a.interactions == b.interactions)
        #expect(abs(a.interactions.count - 10_000) < 1_500)
        var counts = [Int](repeating: 0, count: 300)
        for i in a.interactions.items { counts[Int(i)] += 1 }
        counts.sort(by: >)
        let top10 = counts.prefix(30).reduce(0, +)
        #expect(Double(top10) / Double(a.interactions.count) > 0.2, "the top 10% of items hold a large share")
        #expect(a.interactions.mergingDuplicates().merged == 0, "no repeated (user, item) pairs")
        c.seed = 2
        #expect(SyntheticLog.generate(c).interactions != a.interactions)
    }
}
