import Foundation
import Testing
import TailorData
import TailorLinalg
@testable import TailorExperiments

/// `groups` planted directions in `d` dimensions; each user is one direction (by their index
/// modulo `groups`), scaled at random, plus noise. Rows listed in `zero` are all zeros.
func plantedVectors(users: Int, groups: Int, d: Int = 16, noise: Float = 0.25, zero: Set<Int> = [], seed: UInt64 = 5) -> Matrix {
    var rng = TailorRandom(seed: seed)
    let directions = (0..<groups).map { _ in (0..<d).map { _ in Float(rng.nextGaussian()) } }
    var m = Matrix(rows: users, columns: d)
    for u in 0..<users where !zero.contains(u) {
        let scale = 0.5 + rng.nextFloat() * 2
        for j in 0..<d { m[u, j] = scale * (directions[u % groups][j] + noise * Float(rng.nextGaussian())) }
    }
    return m
}

/// Share of rows whose segment's majority planted group is their own group (1: a perfect match
/// up to renaming).
func purity(_ labels: [Int32], groups: Int) -> Double {
    var counts: [Int32: [Int: Int]] = [:]
    for (u, l) in labels.enumerated() where l >= 0 { counts[l, default: [:]][u % groups, default: 0] += 1 }
    let majority = counts.values.map { $0.values.max()! }.reduce(0, +)
    return Double(majority) / Double(labels.filter { $0 >= 0 }.count)
}

@Suite("User segments")
struct SegmentTests {
    @Test("planted groups are found: k chosen by silhouette is the planted one, and the segments match the groups", arguments: [3, 5, 8])
    func findsPlantedGroups(groups: Int) throws {
        let vectors = plantedVectors(users: 1_200, groups: groups)
        var c = UserSegments.Configuration()
        c.minK = 2; c.maxK = 10
        let s = try UserSegments.fit(vectors, configuration: c)
        #expect(s.k == groups, "chose \(s.k): \(s.candidates.map { "\($0.k): \($0.silhouette)" })")
        #expect(purity(s.assignments, groups: groups) > 0.97)
        #expect(s.sizes.reduce(0, +) == 1_200 && s.sizes.allSatisfy { $0 > 0 })
        // The chosen k's silhouette is the best tried, and clearly positive for separated groups.
        #expect(s.silhouette == s.candidates.map(\.silhouette).max())
        #expect(s.silhouette > 0.5)
        // Centroids are unit vectors; each row's segment is its most similar centroid.
        for r in 0..<s.k { #expect(abs(s.centroids.row(r).reduce(0) { $0 + $1 * $1 } - 1) < 1e-4) }
        #expect(s.assign(vectors) == s.assignments)
    }

    @Test("scaling a user's vector does not change their segment (cosine), and zero rows get none")
    func cosineAndZeros() throws {
        let vectors = plantedVectors(users: 400, groups: 4, zero: [7, 100])
        var c = UserSegments.Configuration()
        c.k = 4
        let s = try UserSegments.fit(vectors, configuration: c)
        #expect(s.assignments[7] == -1 && s.assignments[100] == -1)
        #expect(s.candidates.count == 1 && s.k == 4)
        var scaled = vectors
        for j in 0..<scaled.columns { scaled[3, j] *= 40; scaled[9, j] *= 0.01 }
        #expect(s.assign(scaled) == s.assignments)
    }

    @Test("the silhouette from one distance matrix matches the definition computed pair by pair")
    func silhouetteMatchesReference() {
        let vectors = plantedVectors(users: 150, groups: 3, noise: 0.9)
        let (unit, _) = UserSegments.unitRows(vectors)
        var rng = TailorRandom(seed: 2)
        // Labels from the planted groups, a few flipped at random so some rows sit badly.
        let labels = (0..<150).map { u in rng.nextInt(below: 5) == 0 ? Int32(rng.nextInt(below: 3)) : Int32(u % 3) }
        let fast = UserSegments.silhouette(UserSegments.cosineDistances(unit), labels: labels, k: 3)
        let reference = UserSegments.referenceSilhouette(vectors, labels: labels)
        #expect(abs(fast - reference) < 1e-4, "\(fast) vs \(reference)")
        let planted = UserSegments.silhouette(UserSegments.cosineDistances(unit), labels: (0..<150).map { Int32($0 % 3) }, k: 3)
        #expect(planted > fast, "the planted labels fit better than the flipped ones")
    }

    @Test("bad requests are clear errors naming the field")
    func badInput() {
        let vectors = plantedVectors(users: 30, groups: 3)
        var c = UserSegments.Configuration()
        c.k = 50
        #expect { try UserSegments.fit(vectors, configuration: c) } throws: { ($0 as? ExperimentError)?.field == "k" && "\($0)".contains("only 30 users") }
        c.k = nil; c.minK = 6; c.maxK = 4
        #expect { try UserSegments.fit(vectors, configuration: c) } throws: { ($0 as? ExperimentError)?.field == "k-max" }
        var broken = vectors
        broken[12, 3] = .nan
        #expect { try UserSegments.fit(broken) } throws: { "\($0)".contains("row 12") }
        #expect { try UserSegments.fit(Matrix(rows: 2, columns: 4, repeating: 1)) } throws: { ($0 as? ExperimentError)?.field == "users" }
    }
}

@Suite("Segment profiles and content gaps")
struct SegmentReportTests {
    /// 200 users in two planted groups: each of group 0 (country fr) has the 5 jazz items (5 % of
    /// a 100-item catalogue) and 2 rock items; each of group 1 (country de) has 7 rock items.
    struct World {
        let segments: UserSegments
        let matrix: InteractionMatrix
        let log: Interactions
        let catalog: [CatalogItem]
        let profiles: [UserProfile]
        init() throws {
            var rng = TailorRandom(seed: 9)
            var users: [String] = [], items: [String] = []
            for u in 0..<200 {
                var chosen: Set<Int> = u % 2 == 0 ? Set(0..<5) : []
                while chosen.count < 7 { chosen.insert(5 + rng.nextInt(below: 95)) }
                for i in chosen.sorted() { users.append("u\(u)"); items.append("i\(i)") }
            }
            var userIDs = IDMap(), itemIDs = IDMap()
            for u in 0..<200 { _ = userIDs.insert("u\(u)") }
            for i in 0..<100 { _ = itemIDs.insert("i\(i)") }
            log = Interactions(users: users.map { userIDs.position(of: $0)! }, items: items.map { itemIDs.position(of: $0)! },
                               values: [Float](repeating: 1, count: users.count), userIDs: userIDs, itemIDs: itemIDs).compacted()
            matrix = InteractionMatrix(log)
            catalog = (0..<100).map { CatalogItem(id: "i\($0)", categories: [$0 < 5 ? "jazz" : "rock"]) }
            profiles = (0..<200).map { UserProfile(id: "u\($0)", attributes: ["country": $0 % 2 == 0 ? "fr" : "de"]) }
            var c = UserSegments.Configuration()
            c.k = 2
            segments = try UserSegments.fit(plantedVectors(users: 200, groups: 2), configuration: c)
        }
    }

    @Test("profiles show each segment's users, categories and attributes with their lift; the under-supplied category is the gap")
    func profilesAndGaps() throws {
        let w = try World()
        // The fit has the groups by index parity, like the interactions.
        #expect(purity(w.segments.assignments, groups: 2) == 1)
        let jazzSegment = Int(w.segments.assignments[0])
        let itemVectors = Matrix(rows: 100, columns: 16, storage: (0..<1600).map { Float($0 % 7) })
        let r = try SegmentReport.make(segments: w.segments, seen: w.matrix.userItems, userIDs: w.log.userIDs, itemIDs: w.log.itemIDs,
                                       catalog: w.catalog, profiles: w.profiles, itemVectors: itemVectors, top: 5, gapsPerSegment: 3, fillers: 3)
        let jazz = r.profiles[jazzSegment]
        #expect(jazz.users == 100 && abs(jazz.share - 0.5) < 1e-9)
        #expect(jazz.topCategories.first?.name == "jazz")
        let share = try #require(jazz.topCategories.first?.share)
        #expect(abs(share - 5.0 / 7) < 1e-9, "5 of each user's 7 interactions are jazz: \(share)")
        #expect(abs(jazz.meanInteractions - 7) < 1e-9 && jazz.medianInteractions == 7)
        #expect(jazz.attributes["country"]?.first?.name == "fr" && abs((jazz.attributes["country"]?.first?.lift ?? 0) - 2) < 1e-9)
        #expect(jazz.topItems.allSatisfy { ["i0", "i1", "i2", "i3", "i4"].contains($0.name) } && jazz.topItems.first!.lift > 1.5)
        // The jazz segment's gap: 5/7 of demand against 5 % of supply (rock, 2/7 against 95 %, is
        // none). The rock segment's only gap is rock itself, all its demand against 95 %.
        let gaps = r.gaps.filter { $0.segment == jazzSegment }
        #expect(gaps.count == 1 && gaps[0].name == "jazz" && abs(gaps[0].supply - 0.05) < 1e-9 && abs(gaps[0].demand - 5.0 / 7) < 1e-9)
        #expect(abs(gaps[0].gap - (gaps[0].demand - gaps[0].supply)) < 1e-12)
        #expect(gaps[0].fillers.count == 3 && gaps[0].fillers.allSatisfy { ["i0", "i1", "i2", "i3", "i4"].contains($0) })
        let rockGaps = r.gaps.filter { $0.segment != jazzSegment }
        #expect(rockGaps.map(\.name) == ["rock"] && abs(rockGaps[0].gap - 0.05) < 1e-9)
        // Round trip as JSON (the CLI's --report).
        let decoded = try JSONDecoder().decode(SegmentReport.self, from: JSONEncoder().encode(r))
        #expect(decoded == r)
    }

    @Test("assignments that do not match the users are refused")
    func mismatch() throws {
        let w = try World()
        let other = try UserSegments.fit(plantedVectors(users: 50, groups: 2))
        #expect(throws: ExperimentError.self) {
            try SegmentReport.make(segments: other, seen: w.matrix.userItems, userIDs: w.log.userIDs, itemIDs: w.log.itemIDs)
        }
    }
}
