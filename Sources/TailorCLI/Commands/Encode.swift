import ArgumentParser
import Foundation
import TailorData
import TailorLinalg
import TailorStore
import TailorSQLite

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit feature encoders on the store's items and users, save them in the store, and optionally export encoded features.",
        discussion: """
        Items: categories and tags get vocabularies (values seen at least --min-count times; the
        rest share an out-of-vocabulary index 0), numeric attributes a z-score (or --numeric
        min-max or log) transform. Users: numeric attributes are transformed, others get
        vocabularies. The fitted statistics are stored in the store (table encoders, name
        "features"), so training and serving apply the same transform.

        With --output, writes item features as safetensors: item_categories and item_tags
        (multi-hot, items × vocabulary), item_numeric (items × attributes), item_vectors (the
        external feature vectors, when every item has one).

        Examples:
          tailor encode --store tailor.db
          tailor encode --store tailor.db --min-count 5 --numeric log --output item-features.safetensors
        """
    )

    @Option(help: "The store.")
    var store: String

    @Option(name: .customLong("min-count"), help: "Minimum occurrences for a categorical value to get its own index.")
    var minCount = 2

    @Option(help: "Numeric transform: z-score, min-max or log.")
    var numeric: NumericEncoder.Method = .zScore

    @Option(name: .shortAndLong, help: ArgumentHelp("Write encoded item features here.", valueName: "FILE.safetensors"))
    var output: String?

    func run() throws {
        let db = try StoreOptions.store(at: store, create: false)
        let items = try db.loadItems(), users = try db.loadUsers()
        let encoders = FeatureEncoders(items: items, users: users, minimumCount: minCount, numericMethod: numeric)
        try db.saveEncoder(encoders, name: "features")
        print("items: \(items.count); categories \(encoders.itemCategories.size - 1) values, tags \(encoders.itemTags.size - 1) values, numeric \(encoders.itemNumeric.keys.sorted().joined(separator: ", "))")
        print("users: \(users.count); categorical \(encoders.userCategorical.keys.sorted().joined(separator: ", ")); numeric \(encoders.userNumeric.keys.sorted().joined(separator: ", "))")
        print("saved in \(store) (encoders table, name \"features\")")
        guard let output else { return }
        func multiHot(_ encoder: CategoricalEncoder, _ values: (CatalogItem) -> [String]) -> SafeTensors.Tensor {
            var m = [Float](repeating: 0, count: items.count * encoder.size)
            for (r, item) in items.enumerated() { for i in encoder.encode(values(item)) { m[r * encoder.size + Int(i)] = 1 } }
            return .init(m, shape: [items.count, encoder.size])
        }
        let names = encoders.itemNumeric.keys.sorted()
        var numericValues = [Float]()
        for item in items { for n in names { numericValues.append(Float(encoders.itemNumeric[n]!.encode(item.numeric[n] ?? .nan))) } }
        var tensors: [String: SafeTensors.Tensor] = [
            "item_categories": multiHot(encoders.itemCategories, \.categories),
            "item_tags": multiHot(encoders.itemTags, \.tags),
            "item_numeric": .init(numericValues, shape: [items.count, names.count]),
        ]
        if let width = items.first?.features?.count, items.allSatisfy({ $0.features?.count == width }) {
            tensors["item_vectors"] = .init(items.flatMap { $0.features! }, shape: [items.count, width])
        }
        try SafeTensors.write(tensors, metadata: ["items": items.map(\.id).joined(separator: "\n"), "numeric": names.joined(separator: ",")],
                              to: URL(fileURLWithPath: output))
        print("wrote \(output)")
    }
}

extension NumericEncoder.Method: ExpressibleByArgument {}
