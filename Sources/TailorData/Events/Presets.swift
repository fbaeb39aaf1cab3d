import Foundation

/// Readers for public datasets as their users download them, one call each: the events, the
/// item catalogue and the user profiles, ready to ingest.
public enum DatasetPreset: String, Sendable, Codable, CaseIterable {
    /// MovieLens 100K: `u.data` (ratings), `u.item` (titles, release dates, 19 genre flags;
    /// Latin-1), `u.user` (age, gender, occupation, zip).
    case movielens100k = "movielens-100k"
    /// MovieLens latest-small: `ratings.csv`, `movies.csv` (titles, `|`-separated genres),
    /// `tags.csv` (free-text tags, as `tag` events and as item tags).
    case movielensLatestSmall = "movielens-latest-small"
    /// MIND news: `behaviors.tsv` (impressions: clicked items become `click` events, shown but not
    /// clicked become `skip` events, one session per impression; the click history becomes
    /// `click` events dated one second before the user's first impression in the file, since
    /// MIND gives no time for it) and `news.tsv` (title, abstract, category and subcategory,
    /// entity labels as tags).
    case mind

    /// What a preset read.
    public struct Content: Sendable {
        /// Events, in file order.
        public var events: [Event] = []
        /// Items.
        public var items: [CatalogItem] = []
        /// Users.
        public var users: [UserProfile] = []
        /// Per-file counts and problems.
        public var reports: [TableReadReport] = []
    }

    /// The files the preset needs in its directory.
    public var requiredFiles: [String] {
        switch self {
        case .movielens100k: ["u.data", "u.item", "u.user"]
        case .movielensLatestSmall: ["ratings.csv", "movies.csv"]
        case .mind: ["behaviors.tsv", "news.tsv"]
        }
    }

    /// Reads the dataset in `directory`.
    public func read(directory: String) throws -> Content {
        let missing = requiredFiles.filter { !FileManager.default.fileExists(atPath: directory + "/" + $0) }
        guard missing.isEmpty else {
            throw DataError(file: directory, reason: "is not a \(rawValue) directory: \(missing.joined(separator: ", ")) missing",
                            hint: "point --preset \(rawValue) at the unpacked download (it holds \(requiredFiles.joined(separator: ", ")))")
        }
        switch self {
        case .movielens100k: return try readML100K(directory)
        case .movielensLatestSmall: return try readLatestSmall(directory)
        case .mind: return try readMIND(directory)
        }
    }

    /// Lines of a file as text (UTF-8, or Latin-1 when not valid UTF-8), with 1-based numbers.
    static func lines(_ path: String) throws -> [(Int, String)] {
        let data = try readFile(path)
        let decoded = String(data: data, encoding: .utf8) ?? String(decoding: data, as: UTF8.self)
        let text = String(data: data, encoding: .utf8) == nil ? (String(data: data, encoding: .isoLatin1) ?? decoded) : decoded
        return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            .map { ($0.offset + 1, String($0.element).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))) }
            .filter { !$0.1.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    func readML100K(_ dir: String) throws -> Content {
        var content = Content()
        var ratings = TableReadReport(file: dir + "/u.data")
        for (line, text) in try Self.lines(dir + "/u.data") {
            ratings.rowsRead += 1
            let f = text.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count >= 4, let r = Double(f[2]), let t = Int64(f[3]) else {
                try ratings.problem(line, "expected user, item, rating and time separated by tabs", strict: false); continue
            }
            content.events.append(Event(user: String(f[0]), item: String(f[1]), type: .rating, value: r, timestampMilliseconds: t * 1000))
            ratings.rowsAccepted += 1
        }
        let genres = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
                      "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
        var items = TableReadReport(file: dir + "/u.item")
        let months = ["jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12]
        for (line, text) in try Self.lines(dir + "/u.item") {
            items.rowsRead += 1
            let f = text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 24 else { try items.problem(line, "expected 24 '|'-separated fields, found \(f.count)", strict: false); continue }
            var item = CatalogItem(id: f[0], title: f[1])
            item.categories = (0..<19).filter { f[5 + $0] == "1" }.map { genres[$0] }
            let date = f[2].split(separator: "-")  // 01-Jan-1995
            if date.count == 3, let d = Int(date[0]), let m = months[date[1].lowercased()], let y = Int(date[2]) {
                item.publishedMilliseconds = Int64(ValueParsing.daysFromCivil(y, m, d)) * 86_400_000
                item.numeric["year"] = Double(y)
            }
            content.items.append(item)
            items.rowsAccepted += 1
        }
        var users = TableReadReport(file: dir + "/u.user")
        for (line, text) in try Self.lines(dir + "/u.user") {
            users.rowsRead += 1
            let f = text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 5 else { try users.problem(line, "expected id|age|gender|occupation|zip", strict: false); continue }
            content.users.append(UserProfile(id: f[0], attributes: ["age": f[1], "gender": f[2], "occupation": f[3], "zip": f[4]]))
            users.rowsAccepted += 1
        }
        content.reports = [ratings, items, users]
        return content
    }

    func readLatestSmall(_ dir: String) throws -> Content {
        var content = Content()
        let ratingsReport = try EventReader.read(path: dir + "/ratings.csv") { content.events += $0 }
        var (items, itemsReport) = try CatalogReader.readItems(path: dir + "/movies.csv")
        for i in items.indices {
            items[i].categories = items[i].categories.filter { $0 != "(no genres listed)" }
            // "Toy Story (1995)" → year 1995.
            if let title = items[i].title, let open = title.lastIndex(of: "("), let year = Double(title[title.index(after: open)...].prefix(4)) {
                items[i].numeric["year"] = year
            }
        }
        var reports = [ratingsReport, itemsReport]
        let tagsPath = dir + "/tags.csv"
        if FileManager.default.fileExists(atPath: tagsPath) {
            var tagsByItem: [String: Set<String>] = [:]
            var config = EventReader.Configuration()
            config.defaultType = EventType("tag")
            let tagsReport = try EventReader.read(path: tagsPath, configuration: config) { batch in
                for e in batch {
                    content.events.append(e)
                    if let tag = e.context.extra["tag"] { tagsByItem[e.item, default: []].insert(tag.lowercased()) }
                }
            }
            for i in items.indices { items[i].tags = (tagsByItem[items[i].id] ?? []).sorted() }
            reports.append(tagsReport)
        }
        content.items = items
        content.reports = reports
        return content
    }

    func readMIND(_ dir: String) throws -> Content {
        var content = Content()
        var behaviors = TableReadReport(file: dir + "/behaviors.tsv")
        var historyDone = Set<String>()
        for (line, text) in try Self.lines(dir + "/behaviors.tsv") {
            behaviors.rowsRead += 1
            let f = text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 5 else { try behaviors.problem(line, "expected 5 tab-separated fields, found \(f.count)", strict: false); continue }
            guard let seconds = Timestamp.parse(f[2]) else {
                try behaviors.problem(line, "time '\(f[2])' is not a date like 11/12/2019 2:14:46 PM", strict: false); continue
            }
            let impression = f[0], user = f[1], ms = seconds * 1000
            if historyDone.insert(user).inserted {
                for news in f[3].split(separator: " ") where !news.isEmpty {
                    content.events.append(Event(id: "history:\(user):\(news)", user: user, item: String(news), type: .click,
                                                timestampMilliseconds: ms - 1000, context: EventContext(extra: ["source": "history", EventContext.untimedKey: "1"])))
                }
            }
            for candidate in f[4].split(separator: " ") {
                let parts = candidate.split(separator: "-")
                guard parts.count == 2, parts[1] == "0" || parts[1] == "1" else {
                    try behaviors.problem(line, "impression '\(candidate)' is not NEWSID-0 or NEWSID-1", strict: false); continue
                }
                content.events.append(Event(id: "\(impression):\(parts[0])", user: user, item: String(parts[0]),
                                            type: parts[1] == "1" ? .click : .skip, timestampMilliseconds: ms,
                                            context: EventContext(session: "impression-\(impression)")))
            }
            behaviors.rowsAccepted += 1
        }
        var news = TableReadReport(file: dir + "/news.tsv")
        for (line, text) in try Self.lines(dir + "/news.tsv") {
            news.rowsRead += 1
            let f = text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 5 else { try news.problem(line, "expected at least 5 tab-separated fields, found \(f.count)", strict: false); continue }
            var item = CatalogItem(id: f[0], title: f[3].isEmpty ? nil : f[3], text: f[4].isEmpty ? nil : f[4],
                                   categories: [f[1], f[2]].filter { !$0.isEmpty })
            // Entity labels from the title and abstract entity lists.
            var labels = Set<String>()
            for column in [6, 7] where column < f.count {
                if let data = f[column].data(using: .utf8), let entities = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] {
                    for e in entities { if let label = e["Label"] as? String { labels.insert(label) } }
                }
            }
            item.tags = labels.sorted()
            content.items.append(item)
            news.rowsAccepted += 1
        }
        content.reports = [behaviors, news]
        return content
    }
}
