/// What is known about items and users besides their interactions: the item catalogue (titles,
/// text, categories, tags, numeric attributes, external feature vectors) and user profiles
/// (demographics), by external identifier. Hybrid and neural models read it; the others ignore it.
public struct SideInformation: Sendable, Equatable {
    /// Items by identifier.
    public var items: [String: CatalogItem]
    /// Users by identifier.
    public var users: [String: UserProfile]

    /// Side information from a catalogue and profiles (a later entry with the same identifier wins).
    public init(items: [CatalogItem] = [], users: [UserProfile] = []) {
        self.items = Dictionary(items.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        self.users = Dictionary(users.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// Whether nothing is known.
    public var isEmpty: Bool { items.isEmpty && users.isEmpty }

    /// The catalogue entries, sorted by identifier (deterministic for fitting encoders).
    public var sortedItems: [CatalogItem] { items.keys.sorted().map { items[$0]! } }
    /// The profiles, sorted by identifier.
    public var sortedUsers: [UserProfile] { users.keys.sorted().map { users[$0]! } }

    /// Adds `other`'s entries, replacing those with the same identifier.
    public mutating func merge(_ other: SideInformation) {
        items.merge(other.items) { _, new in new }
        users.merge(other.users) { _, new in new }
    }
}
