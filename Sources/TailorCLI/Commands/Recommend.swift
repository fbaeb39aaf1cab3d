import ArgumentParser
import Foundation
import TailorData
import TailorLinalg
import TailorModels

struct Recommend: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the top-K items for one user, a list of users, or every user, as CSV.",
        discussion: """
        The CSV has the header user,item,score,rank; each user's rows come in rank order (1 is
        best), with ids exactly as in the training log. Items the user already has are left out
        unless --include-seen is given.

        Examples:
          tailor recommend --model model --user 42 --k 10 --output -
          tailor recommend --model model --users test.csv --k 10 --output recs.csv
          tailor recommend --model model --all-users --k 20 --output all.csv --threads 2
          tailor recommend --model model --users new-users.txt --unknown-users popular --output recs.csv
          tailor recommend --model model --history today.csv --k 10 --output recs.csv

        --users reads the user column of a log (such as a test split) or a file with one user
        id per line. A user the model never saw is an error by default; --unknown-users popular
        gives them the most popular items instead, --unknown-users skip leaves them out.

        --history FILE folds users in: each user in FILE gets recommendations from their events
        there (added to their training events if the model knows them), new users included, with
        no retraining. ALS solves one least-squares problem per user; item-based models score the
        history directly; two-tower runs its user tower on the combined history.

        Users the model never saw, with attributes: a two-tower model computes their vectors from
        their attributes (age, gender, occupation… as in training) and their events, if any.
        --user-features FILE gives the attributes (a users CSV as for `tailor ingest --users`;
        alone, it is also the list of users), --store FILE.db reads them from a store.
          tailor recommend --model tt --user-features new-users.csv --k 10 --output recs.csv
          tailor recommend --model tt --history first-clicks.csv --user-features new-users.csv

        The request's context: a two-tower model trained with context features (--set
        'context=["device","hour"]') computes every user's vector for --context KEY=VALUE,…
        (device, platform, country, hour 0-23, weekday mon…sun, or time=UNIX_SECONDS for both):
          tailor recommend --model tt --user 42 --context device=mobile,hour=20 --output -

        --candidates FILE ranks only the listed items (one id per line, or a CSV with an item id
        column): a business filter, or a shortlist from another stage.

        Two stages: with a ranker (--model ranker) and --shortlist-from RETRIEVAL_DIR, the
        retrieval model proposes --shortlist items per user (300 by default) and the ranker
        orders them by click probability (the score column):
          tailor recommend --model ranker --shortlist-from tt --users today.txt --k 10 --output recs.csv
        """
    )

    @Option(help: "The model directory written by `tailor train`.")
    var model: String

    @Option(help: "One user id.")
    var user: String?

    @Option(help: ArgumentHelp("A file of users: a log (its user column is used) or one id per line.", valueName: "FILE"))
    var users: String?

    @Flag(name: .customLong("all-users"), help: "Every user the model knows.")
    var allUsers = false

    @Option(help: ArgumentHelp("A log of new events: recommend for its users from those events plus what the model knows of them, without retraining (fold-in).", valueName: "FILE"))
    var history: String?

    @Option(name: .customLong("user-features"), help: ArgumentHelp("Attributes of users the model never saw (a users CSV with a user id column); a two-tower model recommends for them from these. Alone, its users are the ones to recommend for.", valueName: "FILE"))
    var userFeatures: String?

    @Option(help: ArgumentHelp("Read the attributes of users the model never saw from this store.", valueName: "FILE.db|URL"))
    var store: String?

    @Option(help: ArgumentHelp("Rank only these items: one id per line, or a CSV with an item id column.", valueName: "FILE"))
    var candidates: String?

    @Option(name: .customLong("shortlist-from"), help: ArgumentHelp("Two stages: this retrieval model proposes the items that --model (a ranker) orders.", valueName: "DIR"))
    var shortlistFrom: String?

    @Option(help: "Two stages: items the retrieval model proposes per user.")
    var shortlist = 300

    @Option(help: ArgumentHelp("The request's context for a two-tower model trained with context features: KEY=VALUE pairs separated by commas (device, platform, country, hour, weekday, time).", valueName: "KEY=VALUE,…"))
    var context: String?

    @Option(help: "Items per user.")
    var k = 10

    @Flag(name: .customLong("include-seen"), help: "Allow items the user already interacted with (excluded by default; --exclude-seen says so explicitly).")
    var includeSeen = false

    @Flag(name: .customLong("exclude-seen"), help: .hidden)
    var excludeSeenFlag = false

    @Option(name: .customLong("unknown-users"), help: "What to do with users the model never saw: error, popular or skip.")
    var unknownUsers: UnknownUserPolicy = .error

    @Option(name: .shortAndLong, help: "Output CSV file, or - for standard output.")
    var output = "-"

    @Option(help: "Worker threads (0: all cores).")
    var threads = 0

    @Option(help: ArgumentHelp("Write a JSON report: users, seconds loading the model, recommending and writing.", valueName: "FILE.json"))
    var report: String?

    struct Report: Codable {
        var users: Int
        var k: Int
        var rows: Int
        var secondsLoading: Double
        var secondsRecommending: Double
        var secondsWriting: Double
    }

    @OptionGroup var read: ReadOptions

    func validate() throws {
        let chosen = [user != nil, users != nil, allUsers, history != nil].filter { $0 }.count
        guard chosen == 1 || (chosen == 0 && userFeatures != nil) else {
            throw ValidationError("give exactly one of --user ID, --users FILE, --all-users or --history FILE (or --user-features FILE alone)")
        }
        guard k >= 1 else { throw ValidationError("--k must be at least 1") }
        if includeSeen && excludeSeenFlag { throw ValidationError("--include-seen and --exclude-seen contradict each other") }
        if shortlistFrom != nil {
            guard history == nil && userFeatures == nil && store == nil else {
                throw ValidationError("--shortlist-from works with --user, --users or --all-users (not --history, --user-features or --store)")
            }
            guard shortlist >= 1 else { throw ValidationError("--shortlist must be at least 1") }
            guard context == nil else { throw ValidationError("--context works with one-stage recommendations (not with --shortlist-from)") }
        }
        _ = try contextValues()
    }

    /// `--context` as a dictionary.
    func contextValues() throws -> [String: String] {
        guard let context else { return [:] }
        var out: [String: String] = [:]
        for part in context.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty else {
                throw ValidationError("--context '\(part)' is not KEY=VALUE (for example --context device=mobile,hour=20)")
            }
            guard out.updateValue(pair[1], forKey: pair[0]) == nil else { throw ValidationError("--context gives '\(pair[0])' twice") }
        }
        return out
    }

    func run() throws {
        _ = neuralModelsRegistered
        let tLoad = now()
        let bundle = try ModelBundle.load(from: URL(fileURLWithPath: model))
        let t0 = now()
        let (profiles, profileOrder) = try readProfiles()
        let requestContext = try contextValues()
        var restriction: CandidateItems?
        if let candidates {
            restriction = try bundle.candidates(ItemList.read(candidates))
            if let unknown = restriction?.unknownIDs, !unknown.isEmpty {
                Terminal.note("\(unknown.count) candidate items are unknown to the model and were left out (the first is '\(unknown[0])')")
            }
        }
        // Every source gives (user, ranked items); one writer turns them into CSV.
        let results: [UserRecommendations]
        if let shortlistFrom {
            let retrieval = try ModelBundle.load(from: URL(fileURLWithPath: shortlistFrom))
            let ids = try user.map { [$0] } ?? users.map { try UserList.read($0, options: read) } ?? bundle.userIDs.ids
            results = try bundle.rerank(userIDs: ids, k: k, retrieval: retrieval, shortlist: shortlist, excludeSeen: !includeSeen,
                                        unknownUsers: unknownUsers, candidates: restriction, threads: threads)
            if results.count < ids.count { Terminal.note("skipped \(ids.count - results.count) unknown users") }
        } else if let history {
            let (log, _) = try read.read(history, quiet: true)
            results = try bundle.recommend(histories: log, k: k, excludeSeen: !includeSeen, profiles: profiles, candidates: restriction,
                                           context: requestContext, threads: threads)
        } else if allUsers && requestContext.isEmpty {
            let positions = Array(0..<Int32(bundle.userIDs.count))
            let top = bundle.recommend(positions: positions, k: k, excludeSeen: !includeSeen, candidates: restriction, threads: threads)
            results = positions.indices.map { q in
                UserRecommendations(user: bundle.userIDs[positions[q]], items: top.row(q).map { (bundle.itemIDs[$0.index], $0.score) }, basis: .model)
            }
        } else {
            let ids = try allUsers ? bundle.userIDs.ids : user.map { [$0] } ?? users.map { try UserList.read($0, options: read) } ?? profileOrder
            results = try bundle.recommend(userIDs: ids, k: k, excludeSeen: !includeSeen, unknownUsers: unknownUsers, profiles: profiles,
                                           candidates: restriction, context: requestContext, threads: threads)
            let fallbacks = results.filter(\.isFallback).count
            if fallbacks > 0 { Terminal.note("\(fallbacks) unknown users got popular items") }
            if results.count < ids.count { Terminal.note("skipped \(ids.count - results.count) unknown users") }
        }
        let fromProfiles = results.filter { $0.basis == .profile }.count
        if fromProfiles > 0 { Terminal.note("\(fromProfiles) users the model never saw got recommendations from their attributes") }
        let tRecommended = now()
        let userCount = results.count
        let rowCount = results.reduce(0) { $0 + $1.items.count }
        var csv = "user,item,score,rank\n"
        csv.reserveCapacity(rowCount * 24)
        for r in results {
            let id = InteractionWriter.quoted(r.user)
            for (rank, entry) in r.items.enumerated() {
                csv += "\(id),\(InteractionWriter.quoted(entry.item)),\(entry.score),\(rank + 1)\n"
            }
        }
        try Terminal.write(csv, to: output)
        let tWritten = now()
        if output != "-" {
            Terminal.note(String(format: "wrote %d recommendations for %d users to %@ (%.2fs recommending, %.2fs writing)",
                                 rowCount, userCount, output, tRecommended - t0, tWritten - tRecommended))
        }
        if let report {
            try Terminal.writeJSON(Report(users: userCount, k: k, rows: rowCount, secondsLoading: t0 - tLoad,
                                          secondsRecommending: tRecommended - t0, secondsWriting: tWritten - tRecommended), to: report)
        }
    }
}

extension Recommend {
    /// Attributes of new users, by id, from --user-features and --store (the file wins), and
    /// the file's users in order.
    func readProfiles() throws -> ([String: UserProfile], [String]) {
        var side = SideInformation()
        if let store {
            side.users = try SideInformation(users: StoreOptions.open(store).loadUsers()).users
        }
        var order: [String] = []
        if let userFeatures {
            let (users, report) = try CatalogReader.readUsers(path: userFeatures)
            if report.rowsSkipped > 0 { Terminal.note(report.summary) }
            side.merge(SideInformation(users: users))
            var seen = Set<String>()
            order = users.map(\.id).filter { seen.insert($0).inserted }
        }
        return (side.users, order)
    }
}

extension UnknownUserPolicy: ExpressibleByArgument {}

/// Reading a list of item ids: one per line, or a table with an item id column.
enum ItemList {
    static func read(_ path: String) throws -> [String] {
        try IDList.read(path, headers: ["item", "itemid", "item_id", "items", "id"]) { path in
            let (items, report) = try CatalogReader.readItems(path: path)
            if report.rowsSkipped > 0 { Terminal.note(report.summary) }
            return items.map(\.id)
        }
    }
}

/// Reading a list of user ids: the user column of a log, or one id per line.
enum UserList {
    static func read(_ path: String, options: ReadOptions) throws -> [String] {
        try IDList.read(path, headers: ["user", "userid", "user_id", "users"]) { path in
            var c = try options.configuration()
            c.allowEmpty = true
            let (log, report) = try InteractionReader.read(path: path, configuration: c)
            if report.rowsSkipped > 0 { Terminal.note(report.summary) }
            return log.userIDs.ids
        }
    }
}

/// A list of ids: one per line (a first line naming the column is skipped; repeats are
/// dropped), or, when a line holds a delimiter, a table read by `table`.
enum IDList {
    static func read(_ path: String, headers: Set<String>, table: (String) throws -> [String]) throws -> [String] {
        let text: String
        if let utf8 = try? String(contentsOfFile: path, encoding: .utf8) {
            text = utf8
        } else if let latin1 = try? String(contentsOfFile: path, encoding: .isoLatin1) {
            text = latin1
        } else {
            throw DataError(file: path, reason: FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file")
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let singleColumn = lines.allSatisfy { !$0.contains(",") && !$0.contains("\t") && !$0.contains("::") && !$0.contains(" ") && !$0.hasPrefix("{") }
        guard singleColumn else { return try table(path) }
        let body = headers.contains(lines.first?.lowercased() ?? "") ? Array(lines.dropFirst()) : lines
        var seen = Set<String>()
        return body.filter { seen.insert($0).inserted }
    }
}
