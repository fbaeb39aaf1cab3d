import Foundation

/// Reads item catalogues and user profiles (CSV/TSV with a header, or JSON Lines).
///
/// Items: `id`/`item_id`…, `title`/`name`, `text`/`description`/`abstract`, `categories`/`category`/
/// `genres`, `tags`/`keywords`, `published`/`release_date`…, `features`/`embedding` (numbers
/// separated by spaces, commas or `|`, or a JSON array); other columns whose values are numbers
/// become numeric attributes, other text columns become categories. Multi-valued fields split
/// on `|`, `;` or `,`.
///
/// Users: `id`/`user_id`…, `signup`/`registered`/`created_at`…; every other column is an attribute.
public enum CatalogReader {
    static let itemRoles: [String: [String]] = [
        "id": ["item_id", "itemid", "item", "id", "movieid", "movie_id", "product_id", "productid", "news_id", "newsid", "article_id", "asin", "sku"],
        "title": ["title", "name", "headline"],
        "text": ["text", "description", "abstract", "body", "summary", "content", "overview"],
        "categories": ["categories", "category", "genres", "genre"],
        "tags": ["tags", "tag", "keywords", "labels"],
        "published": ["published", "published_at", "publish_time", "release_date", "released", "date", "created_at", "timestamp"],
        "features": ["features", "embedding", "vector", "feature_vector"],
    ]

    /// Reads items from `path`.
    public static func readItems(path: String, strict: Bool = false) throws -> ([CatalogItem], TableReadReport) {
        let data = try readFile(path)
        return try data.withUnsafeBytes { try readItems(bytes: $0.bindMemory(to: UInt8.self), name: path, strict: strict) }
    }

    /// Reads items from text.
    public static func readItems(text: String, name: String = "<text>", strict: Bool = false) throws -> ([CatalogItem], TableReadReport) {
        var copy = text
        return try copy.withUTF8 { try readItems(bytes: $0, name: name, strict: strict) }
    }

    static func readItems(bytes: UnsafeBufferPointer<UInt8>, name: String, strict: Bool) throws -> ([CatalogItem], TableReadReport) {
        var report = TableReadReport(file: name)
        var column: [String: Int] = [:]
        var others: [(Int, String)] = []
        var rows: [(line: Int, item: CatalogItem, rest: [(String, String)])] = []
        try TableReader.read(bytes: bytes, name: name, prepare: { columns in
            for (role, names) in itemRoles { if let i = TableReader.find(names, in: columns) { column[role] = i } }
            guard column["id"] != nil else {
                throw DataError(file: name, field: "header", reason: "no item id column; the columns are \(columns.joined(separator: ", "))",
                                hint: "name it item_id or id")
            }
            let used = Set(column.values)
            others = columns.enumerated().filter { !used.contains($0.offset) }.map { ($0.offset, $0.element) }
            for (role, i) in column { report.columns[role] = columns[i] }
        }, body: { record in
            report.rowsRead += 1
            guard let id = record.text(column["id"]) else { try report.problem(record.line, "empty item id", strict: strict); return }
            var item = CatalogItem(id: id, title: record.text(column["title"]), text: record.text(column["text"]),
                                   categories: splitMultiValued(record.text(column["categories"])),
                                   tags: splitMultiValued(record.text(column["tags"])))
            if let text = record.text(column["published"]) {
                guard let ms = EventReader.parseMilliseconds(text) else {
                    try report.problem(record.line, "published time '\(text)' is not a Unix time or a date", strict: strict); return
                }
                item.publishedMilliseconds = ms
            }
            if let text = record.text(column["features"]) {
                let parts = text.trimmingCharacters(in: CharacterSet(charactersIn: "[] ")).split(whereSeparator: { $0 == "," || $0 == " " || $0 == "|" })
                let values = parts.compactMap { Float($0) }
                guard values.count == parts.count, !values.isEmpty else {
                    try report.problem(record.line, "features are not a list of numbers", strict: strict); return
                }
                item.features = values
            }
            let rest = others.compactMap { i, key in record.text(i).map { (key, $0) } }
            rows.append((record.line, item, rest))
            report.rowsAccepted += 1
        }, malformed: { line, reason in
            report.rowsRead += 1
            try report.problem(line, reason, strict: strict)
        })
        // Other columns: numeric attributes when every value is a number, categories otherwise.
        var numericKeys = Set(others.map(\.1))
        for row in rows { for (key, value) in row.rest where Double(value) == nil { numericKeys.remove(key) } }
        var items: [CatalogItem] = []
        items.reserveCapacity(rows.count)
        for var row in rows {
            for (key, value) in row.rest {
                if numericKeys.contains(key) { row.item.numeric[key] = Double(value)! } else { row.item.categories += splitMultiValued(value) }
            }
            items.append(row.item)
        }
        // Vectors must all have the same length.
        if let first = items.first(where: { $0.features != nil })?.features?.count,
           let bad = rows.first(where: { $0.item.features != nil && $0.item.features!.count != first }) {
            throw DataError(file: name, line: bad.line, field: "features", reason: "has \(bad.item.features!.count) numbers but earlier rows have \(first)",
                            hint: "every item's feature vector must have the same length")
        }
        return (items, report)
    }

    /// Reads user profiles from `path`.
    public static func readUsers(path: String, strict: Bool = false) throws -> ([UserProfile], TableReadReport) {
        let data = try readFile(path)
        return try data.withUnsafeBytes { try readUsers(bytes: $0.bindMemory(to: UInt8.self), name: path, strict: strict) }
    }

    /// Reads user profiles from text.
    public static func readUsers(text: String, name: String = "<text>", strict: Bool = false) throws -> ([UserProfile], TableReadReport) {
        var copy = text
        return try copy.withUTF8 { try readUsers(bytes: $0, name: name, strict: strict) }
    }

    static func readUsers(bytes: UnsafeBufferPointer<UInt8>, name: String, strict: Bool) throws -> ([UserProfile], TableReadReport) {
        var report = TableReadReport(file: name)
        var idColumn = 0, signupColumn: Int?
        var attributeColumns: [(Int, String)] = []
        var users: [UserProfile] = []
        try TableReader.read(bytes: bytes, name: name, prepare: { columns in
            guard let id = TableReader.find(["user_id", "userid", "user", "id", "uid", "customer_id", "visitorid"], in: columns) else {
                throw DataError(file: name, field: "header", reason: "no user id column; the columns are \(columns.joined(separator: ", "))",
                                hint: "name it user_id or id")
            }
            idColumn = id
            signupColumn = TableReader.find(["signup", "signup_time", "signed_up", "registered", "registration", "created_at", "joined"], in: columns)
            attributeColumns = columns.enumerated().filter { $0.offset != id && $0.offset != signupColumn }.map { ($0.offset, $0.element) }
            report.columns["id"] = columns[id]
            if let s = signupColumn { report.columns["signup"] = columns[s] }
        }, body: { record in
            report.rowsRead += 1
            guard let id = record.text(idColumn) else { try report.problem(record.line, "empty user id", strict: strict); return }
            var user = UserProfile(id: id)
            if let text = record.text(signupColumn) {
                guard let ms = EventReader.parseMilliseconds(text) else {
                    try report.problem(record.line, "signup time '\(text)' is not a Unix time or a date", strict: strict); return
                }
                user.signupMilliseconds = ms
            }
            for (i, key) in attributeColumns { if let v = record.text(i) { user.attributes[key] = v } }
            users.append(user)
            report.rowsAccepted += 1
        }, malformed: { line, reason in
            report.rowsRead += 1
            try report.problem(line, reason, strict: strict)
        })
        return (users, report)
    }
}
