import ArgumentParser
import Foundation
import TailorData
import TailorExperiments
import TailorLinalg
import TailorModels
import TailorStore

struct Segments: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Group users into segments by their embeddings, profile each segment, and find its content gaps.",
        discussion: """
        Clusters a model's user vectors by cosine (spherical mini-batch k-means, k-means++
        seeding); without --k, tries --k-min to --k-max and keeps the k with the best mean
        silhouette (the table shows each). Each segment is profiled: size, activity, its most
        engaged items and categories and its users' attribute values, each with its lift over
        all users. A content gap is a category (or tag, --by tag) whose share of a segment's
        engagement exceeds its share of the catalogue; gaps come largest first with the items
        that would fill them best (the segment centroid's top-scored items of that category).

        Examples:
          tailor segments --model model --store tailor.db
          tailor segments --model model --items items.csv --users users.csv --k 6 --output segments.csv --report segments.json

        The catalogue and profiles come from --store, --items/--users files, or the store the
        model was trained from. --output writes user,segment for campaigns (-1: a user without
        a vector direction).
        """
    )

    @Option(help: ArgumentHelp("A model directory with user vectors (als, bpr, two-tower, …).", valueName: "DIR"))
    var model: String

    @Option(help: "Segments (default: chosen by silhouette between --k-min and --k-max).")
    var k: Int?

    @Option(name: .customLong("k-min"), help: "Smallest k tried.")
    var kMin = 2

    @Option(name: .customLong("k-max"), help: "Largest k tried.")
    var kMax = 12

    @Option(help: ArgumentHelp("Read the catalogue and user profiles from this store (default: the model's training store, if any).", valueName: "FILE.db|URL"))
    var store: String?

    @Option(help: ArgumentHelp("Item catalogue (id, title, categories, tags, published…).", valueName: "FILE"))
    var items: String?

    @Option(help: ArgumentHelp("User profiles (id and attributes).", valueName: "FILE"))
    var users: String?

    @Option(help: "Measure content gaps by category or tag.")
    var by: SegmentReport.Dimension = .category

    @Option(help: "Items, categories and gaps listed per segment.")
    var top = 5

    @Option(name: .customLong("fresh-days"), help: "Items published within this many days of the newest are fresh (their supply is shown apart).")
    var freshDays = 30.0

    @Option(help: "Seed of the sampling.")
    var seed: UInt64 = 1

    @Option(name: .shortAndLong, help: ArgumentHelp("Write user,segment CSV here.", valueName: "FILE"))
    var output: String?

    @Option(help: ArgumentHelp("Write the whole report (profiles, gaps, silhouettes) as JSON here.", valueName: "FILE.json"))
    var report: String?

    func validate() throws {
        if let k, k < 2 { throw ValidationError("--k must be at least 2, got \(k)") }
        guard kMin >= 2 else { throw ValidationError("--k-min must be at least 2, got \(kMin)") }
        guard kMax >= kMin else { throw ValidationError("--k-max (\(kMax)) must be at least --k-min (\(kMin))") }
        guard kMax <= 200 else { throw ValidationError("--k-max must be at most 200, got \(kMax)") }
        guard top >= 1 && top <= 1_000 else { throw ValidationError("--top must be 1 to 1000, got \(top)") }
        guard freshDays >= 0 && freshDays.isFinite else { throw ValidationError("--fresh-days must be 0 or more") }
        if store != nil && (items != nil || users != nil) { throw ValidationError("give --store or --items/--users files, not both") }
    }

    func run() throws {
        let bundle = try ModelBundle.load(from: URL(fileURLWithPath: model))
        guard let factors = bundle.model as? any FactorModel else {
            throw ValidationError("the \(bundle.manifest.kind) model in \(model) has no user vectors to cluster; segment an als, bpr or two-tower model")
        }
        var catalog: [CatalogItem] = [], profiles: [UserProfile] = []
        var storePath = store
        if storePath == nil, items == nil, users == nil, case .store(let path)? = bundle.manifest.data.recipe?.source,
           FileManager.default.fileExists(atPath: path) {
            storePath = path
        }
        if let storePath {
            let db = try StoreOptions.store(at: storePath, create: false)
            catalog = try db.loadItems()
            profiles = try db.loadUsers()
        }
        if let items {
            let (read, summary) = try CatalogReader.readItems(path: items)
            if summary.rowsSkipped > 0 { Terminal.note(summary.summary) }
            catalog = read
        }
        if let users {
            let (read, summary) = try CatalogReader.readUsers(path: users)
            if summary.rowsSkipped > 0 { Terminal.note(summary.summary) }
            profiles = read
        }
        var c = UserSegments.Configuration()
        c.k = k; c.minK = kMin; c.maxK = kMax; c.seed = seed
        let t0 = now()
        let segments: UserSegments
        do {
            segments = try UserSegments.fit(factors.userFactors, configuration: c) { if Terminal.standardErrorIsTerminal { Terminal.note($0) } }
        } catch let error as ExperimentError {
            throw ValidationError(error.field.map { "--\($0): " } .map { $0 + error.reason } ?? error.reason)
        }
        let result = try SegmentReport.make(segments: segments, seen: bundle.seen, userIDs: bundle.userIDs, itemIDs: bundle.itemIDs,
                                            catalog: catalog, profiles: profiles, itemVectors: factors.itemFactors,
                                            dimension: by, top: top, gapsPerSegment: top, fillers: top, freshDays: freshDays)
        Terminal.note(String(format: "%d segments of %d users in %.1fs (silhouette %.3f)%@", result.k, bundle.userIDs.count, now() - t0,
                             result.silhouette, result.unassigned > 0 ? " ; \(result.unassigned) users without a direction have none" : ""))
        print(Segments.render(result, choosing: k == nil))
        if let output {
            var csv = "user,segment\n"
            for (u, s) in segments.assignments.enumerated() { csv += "\(InteractionWriter.quoted(bundle.userIDs[Int32(u)])),\(s)\n" }
            try Terminal.write(csv, to: output)
        }
        if let report { try Terminal.writeJSON(result, to: report) }
    }

    /// The report as text for people.
    static func render(_ r: SegmentReport, choosing: Bool) -> String {
        var out = ""
        if choosing {
            out += "k    silhouette  mean distance\n"
            for c in r.candidates {
                out += String(format: "%-4d %10.3f  %13.3f%@\n", c.k, c.silhouette, c.meanDistance, c.k == r.k ? "  ← chosen" : "")
            }
            out += "\n"
        }
        func shares(_ list: [SegmentReport.Share]) -> String {
            list.map { String(format: "%@ %.0f%% (×%.1f)", $0.name, 100 * $0.share, $0.lift) }.joined(separator: ", ")
        }
        for p in r.profiles {
            out += String(format: "segment %d: %d users (%.0f%%), %.1f interactions each (median %.0f)\n", p.segment, p.users, 100 * p.share,
                          p.meanInteractions, p.medianInteractions)
            if !p.topCategories.isEmpty { out += "  categories: \(shares(p.topCategories))\n" }
            out += "  items: \(shares(p.topItems))\n"
            for name in p.attributes.keys.sorted() { out += "  \(name): \(shares(p.attributes[name]!))\n" }
            let gaps = r.gaps.filter { $0.segment == p.segment }
            for g in gaps {
                out += String(format: "  gap %@: %.0f%% of engagement, %.0f%% of the catalogue%@; fill with %@\n", g.name, 100 * g.demand, 100 * g.supply,
                              g.freshSupply.map { String(format: ", %.0f%% of fresh items", 100 * $0) } ?? "", g.fillers.joined(separator: ", "))
            }
        }
        return out
    }
}

extension SegmentReport.Dimension: ExpressibleByArgument {}
