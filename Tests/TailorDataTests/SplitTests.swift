import Testing
import TailorLinalg
@testable import TailorData

@Suite("Splits")
struct SplitTests {
    var log: Interactions {
        var c = SyntheticLog.Configuration()
        c.users = 300; c.items = 200; c.interactions = 6_000
        return SyntheticLog.generate(c).interactions
    }

    func pairs(_ x: Interactions) -> Set<String> {
        Set((0..<x.count).map { "\(x.users[$0])-\(x.items[$0])" })
    }

    @Test("every method partitions the log and is reproducible for a seed", arguments: [
        SplitMethod.random(testFraction: 0.2), .temporalFraction(testFraction: 0.25), .temporalCount(count: 3),
        .leaveLastOut, .globalTime(cutoff: 1_720_000_000), .globalTimeFraction(testFraction: 0.1),
    ])
    func partition(method: SplitMethod) throws {
        let log = self.log
        let a = try Split.make(log, method: method, seed: 7), b = try Split.make(log, method: method, seed: 7)
        #expect(a.train == b.train && a.test == b.test)
        #expect(a.train.count + a.test.count == log.count)
        #expect(pairs(a.train).isDisjoint(with: pairs(a.test)))
        #expect(pairs(a.train).union(pairs(a.test)) == pairs(log))
        #expect(a.test.count > 0)
    }

    @Test("random split: different seeds differ, each user keeps train rows and gets ~20% test")
    func random() throws {
        let log = self.log
        let a = try Split.make(log, method: .random(testFraction: 0.2), seed: 1)
        let b = try Split.make(log, method: .random(testFraction: 0.2), seed: 2)
        #expect(pairs(a.test) != pairs(b.test))
        #expect(abs(Double(a.test.count) / Double(log.count) - 0.2) < 0.03)
        #expect(Set(a.train.users).count == log.userIDs.count)
        #expect(a.report.coldTestUsers == 0)
    }

    @Test("temporal splits put each user's latest interactions in test")
    func temporal() throws {
        let log = self.log
        for method in [SplitMethod.leaveLastOut, .temporalCount(count: 2), .temporalFraction(testFraction: 0.3)] {
            let s = try Split.make(log, method: method)
            var latestTrain = [Int64](repeating: .min, count: log.userIDs.count)
            var earliestTest = [Int64](repeating: .max, count: log.userIDs.count)
            for i in 0..<s.train.count { latestTrain[Int(s.train.users[i])] = max(latestTrain[Int(s.train.users[i])], s.train.timestamps![i]) }
            for i in 0..<s.test.count { earliestTest[Int(s.test.users[i])] = min(earliestTest[Int(s.test.users[i])], s.test.timestamps![i]) }
            #expect((0..<log.userIDs.count).allSatisfy { earliestTest[$0] == .max || latestTrain[$0] <= earliestTest[$0] }, "\(method)")
        }
        let loo = try Split.make(log, method: .leaveLastOut)
        #expect(loo.test.count == loo.report.testUsers)
    }

    @Test("a global time cut sends everything after the cutoff to test")
    func globalCut() throws {
        let log = self.log
        let s = try Split.make(log, method: .globalTime(cutoff: 1_720_000_000))
        #expect(s.train.timestamps!.allSatisfy { $0 < 1_720_000_000 })
        #expect(s.test.timestamps!.allSatisfy { $0 >= 1_720_000_000 })
    }

    @Test("users with one interaction stay in train; bad options and missing time are clear errors")
    func edges() throws {
        let (log, _) = try InteractionReader.read(text: "u,i,r\na,x,1\nb,x,1\nb,y,1\n")
        let s = try Split.make(log, method: .random(testFraction: 0.5))
        #expect(s.train.users.contains(log.userIDs.position(of: "a")!))
        #expect(s.test.count == 1)
        #expect { try Split.make(log, method: .leaveLastOut) } throws: { "\($0)".contains("needs timestamps") }
        #expect { try Split.make(log, method: .random(testFraction: 1.5)) } throws: { "\($0)".contains("between 0 and 1") }
    }
}
