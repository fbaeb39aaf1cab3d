import Foundation
import TailorData
import TailorLinalg

/// What each segment is like and what it lacks: profiles (size, activity, top items, categories
/// and attribute values, each with its lift over all users) and content gaps (categories or tags
/// whose share of the segment's engagement exceeds their share of the catalogue, with the items
/// that would fill each gap best).
public struct SegmentReport: Sendable, Codable, Equatable {
    /// A name's share within a segment and its lift: that share over its share among all users.
    public struct Share: Sendable, Codable, Equatable {
        public var name: String
        public var share: Double
        public var lift: Double
    }

    /// One segment.
    public struct Profile: Sendable, Codable, Equatable {
        public var segment: Int
        public var users: Int
        /// Share of the users with a segment.
        public var share: Double
        /// Interactions per user, mean and median.
        public var meanInteractions: Double
        public var medianInteractions: Double
        /// The segment's most engaged items (share of its interactions).
        public var topItems: [Share]
        /// The segment's categories (share of its engagement with categorized items).
        public var topCategories: [Share]
        /// For each user attribute, its most common values in the segment.
        public var attributes: [String: [Share]]
    }

    /// A category or tag the segment engages with more than the catalogue offers.
    public struct Gap: Sendable, Codable, Equatable {
        public var segment: Int
        /// `category` or `tag`.
        public var dimension: String
        public var name: String
        /// Share of the segment's engagement (with items that have this dimension).
        public var demand: Double
        /// Share of the catalogue's items.
        public var supply: Double
        /// Share of the fresh items (nil when no item is fresh).
        public var freshSupply: Double?
        /// `demand − supply`; the list is ordered by it.
        public var gap: Double
        /// Items of this category or tag that suit the segment best (by the segment centroid's
        /// score when the model has item vectors, else by the segment's engagement), fresh
        /// ones first among equals.
        public var fillers: [String]
    }

    /// Whether gaps are measured by category or by tag.
    public enum Dimension: String, Sendable, Codable, CaseIterable {
        case category, tag
    }

    public var k: Int
    public var silhouette: Double
    public var candidates: [UserSegments.Candidate]
    /// Users without a direction (no segment).
    public var unassigned: Int
    public var profiles: [Profile]
    /// Positive gaps, largest first within each segment.
    public var gaps: [Gap]

    /// Profiles and gaps of `segments` (one assignment per row of `seen`).
    ///
    /// - Parameters:
    ///   - seen: users × items interactions (the model's training matrix); each stored pair
    ///     counts as one interaction.
    ///   - catalog: the items with categories, tags and publication times (may be empty: no
    ///     category profiles or gaps).
    ///   - profiles: user attributes (may be empty).
    ///   - itemVectors: the model's item vectors (rows in `itemIDs` order), to rank fillers.
    ///   - freshDays: items published within this many days of the newest publication are fresh;
    ///     without publication times, catalogue items the model never saw are.
    /// - Throws: ``ExperimentError`` when the assignments do not match the users.
    public static func make(segments: UserSegments, seen: CSRMatrix, userIDs: IDMap, itemIDs: IDMap,
                            catalog: [CatalogItem] = [], profiles userProfiles: [UserProfile] = [], itemVectors: Matrix? = nil,
                            dimension: Dimension = .category, top: Int = 10, gapsPerSegment: Int = 5, fillers: Int = 5,
                            freshDays: Double = 30) throws -> SegmentReport {
        let k = segments.k
        guard segments.assignments.count == seen.rows, seen.rows == userIDs.count else {
            throw ExperimentError(field: "segments", "\(segments.assignments.count) assignments for \(seen.rows) users", hint: "segment the same model's users")
        }
        let labels = segments.assignments
        let assigned = labels.filter { $0 >= 0 }.count
        // Item counts per segment and overall.
        var itemCounts = [[Int32: Int]](repeating: [:], count: k), allItems: [Int32: Int] = [:]
        var activity = [[Int]](repeating: [], count: k)
        var totals = [Int](repeating: 0, count: k), total = 0
        for u in 0..<seen.rows where labels[u] >= 0 {
            let s = Int(labels[u])
            let items = seen.columns(inRow: u)
            activity[s].append(items.count)
            for i in items { itemCounts[s][i, default: 0] += 1; allItems[i, default: 0] += 1 }
            totals[s] += items.count; total += items.count
        }
        // Catalogue: names per item (categories or tags), by model position and by id.
        var namesByPosition: [Int32: [String]] = [:]
        var catalogNames: [(id: String, names: [String], published: Int64?)] = []
        for item in catalog {
            let names = dimension == .category ? item.categories : item.tags
            catalogNames.append((item.id, names, item.publishedMilliseconds))
            if let p = itemIDs.position(of: item.id), !names.isEmpty { namesByPosition[p] = names }
        }
        func nameShares(_ counts: [Int32: Int]) -> [String: Double] {
            var byName: [String: Double] = [:], sum = 0.0
            for (i, n) in counts { for name in namesByPosition[i] ?? [] { byName[name, default: 0] += Double(n); sum += Double(n) } }
            return sum > 0 ? byName.mapValues { $0 / sum } : [:]
        }
        let overallNames = nameShares(allItems)
        // Attributes.
        var attributesByUser: [Int: [String: String]] = [:]
        for p in userProfiles { if let u = userIDs.position(of: p.id) { attributesByUser[Int(u)] = p.attributes } }
        func attributeShares(_ users: [Int]) -> [String: [String: Double]] {
            var counts: [String: [String: Double]] = [:], present: [String: Double] = [:]
            for u in users { for (name, value) in attributesByUser[u] ?? [:] { counts[name, default: [:]][value, default: 0] += 1; present[name, default: 0] += 1 } }
            var shares: [String: [String: Double]] = [:]
            for (name, values) in counts { shares[name] = values.mapValues { $0 / present[name]! } }
            return shares
        }
        let allUsers = (0..<seen.rows).filter { labels[$0] >= 0 }
        let overallAttributes = attributeShares(allUsers)
        func ranked(_ shares: [String: Double], _ overall: [String: Double], _ n: Int) -> [Share] {
            shares.map { name, share in
                let base = overall[name] ?? 0
                return Share(name: name, share: share, lift: base > 0 ? share / base : 0)
            }.sorted { ($0.share, $1.name) > ($1.share, $0.name) }.prefix(n).map { $0 }
        }
        var profiles: [Profile] = []
        for s in 0..<k {
            let users = allUsers.filter { labels[$0] == s }
            let counts = activity[s].sorted()
            let segmentItems = itemCounts[s].map { (itemIDs[$0.key], Double($0.value) / Double(max(1, totals[s]))) }
            let overallItems = Dictionary(uniqueKeysWithValues: allItems.map { (itemIDs[$0.key], Double($0.value) / Double(max(1, total))) })
            var attributes: [String: [Share]] = [:]
            for (name, shares) in attributeShares(users) { attributes[name] = ranked(shares, overallAttributes[name] ?? [:], 3) }
            profiles.append(Profile(segment: s, users: users.count, share: Double(users.count) / Double(max(1, assigned)),
                                    meanInteractions: counts.isEmpty ? 0 : Double(counts.reduce(0, +)) / Double(counts.count),
                                    medianInteractions: counts.isEmpty ? 0 : counts.count % 2 == 1 ? Double(counts[counts.count / 2])
                                        : Double(counts[counts.count / 2 - 1] + counts[counts.count / 2]) / 2,
                                    topItems: ranked(Dictionary(uniqueKeysWithValues: segmentItems), overallItems, top),
                                    topCategories: ranked(nameShares(itemCounts[s]), overallNames, top),
                                    attributes: attributes))
        }
        // Supply: shares of the catalogue's items, and of the fresh ones.
        var supply: [String: Double] = [:], fresh: [String: Double] = [:]
        var supplySum = 0.0, freshSum = 0.0
        let newest = catalogNames.compactMap(\.published).max()
        var isFresh: [String: Bool] = [:]
        for entry in catalogNames where !entry.names.isEmpty {
            let recent: Bool
            if let newest { recent = entry.published.map { Double(newest - $0) <= freshDays * 86_400_000 } ?? false } else { recent = itemIDs.position(of: entry.id) == nil }
            isFresh[entry.id] = recent
            for name in entry.names {
                supply[name, default: 0] += 1; supplySum += 1
                if recent { fresh[name, default: 0] += 1; freshSum += 1 }
            }
        }
        var gaps: [Gap] = []
        if supplySum > 0 {
            for s in 0..<k {
                let demand = nameShares(itemCounts[s])
                var found: [Gap] = []
                for (name, d) in demand {
                    let offered = (supply[name] ?? 0) / supplySum
                    guard d > offered else { continue }
                    found.append(Gap(segment: s, dimension: dimension.rawValue, name: name, demand: d, supply: offered,
                                     freshSupply: freshSum > 0 ? (fresh[name] ?? 0) / freshSum : nil, gap: d - offered, fillers: []))
                }
                found.sort { ($0.gap, $1.name) > ($1.gap, $0.name) }
                for var gap in found.prefix(gapsPerSegment) {
                    let members = catalogNames.filter { $0.names.contains(gap.name) }.map(\.id)
                    let scored: [(id: String, score: Double, fresh: Bool)] = members.map { id in
                        let p = itemIDs.position(of: id)
                        let score: Double
                        if let p, let v = itemVectors, v.columns == segments.centroids.columns {
                            score = (0..<v.columns).reduce(0.0) { $0 + Double(v[Int(p), $1]) * Double(segments.centroids[s, $1]) }
                        } else if let p {
                            score = Double(itemCounts[s][p] ?? 0)
                        } else {
                            score = -.infinity  // unknown to the model: after the scored ones
                        }
                        return (id, score, isFresh[id] ?? false)
                    }
                    gap.fillers = scored.sorted { ($0.score, $0.fresh ? 1 : 0, $1.id) > ($1.score, $1.fresh ? 1 : 0, $0.id) }.prefix(fillers).map(\.id)
                    gaps.append(gap)
                }
            }
        }
        return SegmentReport(k: k, silhouette: segments.silhouette, candidates: segments.candidates,
                             unassigned: labels.count - assigned, profiles: profiles, gaps: gaps)
    }
}
