/// What a user did to an item. Known types have documented meanings and default weights
/// (see ``EventWeights``); any other name is a custom type.
public struct EventType: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The canonical name (lower case, `_` for separators).
    public let name: String

    /// A type by name; common spellings are canonicalized (`Favourite` → `favorite`,
    /// `add-to-cart` → `add_to_cart`, `buy` → `purchase`).
    public init(_ raw: String) {
        // Fast path: already lower-case letters, digits and underscores (Foundation's string
        // functions are slow on Linux and this runs once per ingested row).
        if raw.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }) {
            name = EventType.aliases[raw] ?? raw
            return
        }
        let lower = raw.trimmingCharacters(in: .whitespaces).lowercased()
            .replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: " ", with: "_")
        name = EventType.aliases[lower] ?? lower
    }

    /// The canonical name.
    public var description: String { name }
    /// Whether this is one of the built-in types.
    public var isKnown: Bool { EventType.known.contains(self) }

    public static func < (a: EventType, b: EventType) -> Bool { a.name < b.name }

    /// The item was shown or opened.
    public static let view = EventType("view")
    /// The item was clicked.
    public static let click = EventType("click")
    /// Time spent on the item; `value` is seconds.
    public static let dwell = EventType("dwell")
    /// Liked.
    public static let like = EventType("like")
    /// Favourited or bookmarked.
    public static let favorite = EventType("favorite")
    /// Shared.
    public static let share = EventType("share")
    /// Added to a cart.
    public static let addToCart = EventType("add_to_cart")
    /// Bought; `value` may be the amount.
    public static let purchase = EventType("purchase")
    /// Rated; `value` is the rating.
    public static let rating = EventType("rating")
    /// Reviewed; `value` may be a rating.
    public static let review = EventType("review")
    /// Shown but skipped (an impression without a click).
    public static let skip = EventType("skip")
    /// Explicitly disliked.
    public static let dislike = EventType("dislike")

    /// The built-in types.
    public static let known: Set<EventType> = [.view, .click, .dwell, .like, .favorite, .share, .addToCart, .purchase,
                                               .rating, .review, .skip, .dislike]

    static let aliases: [String: String] = [
        "favourite": "favorite", "fav": "favorite", "bookmark": "favorite", "save": "favorite",
        "addtocart": "add_to_cart", "cart": "add_to_cart", "add_cart": "add_to_cart",
        "buy": "purchase", "order": "purchase", "transaction": "purchase",
        "rate": "rating", "rated": "rating", "impression": "view", "open": "view", "read": "dwell",
        "thumbs_down": "dislike", "thumbsdown": "dislike", "hide": "dislike", "skipped": "skip",
        "liked": "like", "shared": "share", "clicked": "click", "viewed": "view",
    ]
}

/// Where and how an event happened.
public struct EventContext: Hashable, Sendable, Codable {
    /// Device kind (`mobile`, `desktop`…).
    public var device: String?
    /// Platform or app (`ios`, `web`…).
    public var platform: String?
    /// Country or location.
    public var country: String?
    /// Session identifier from the source, if it has one.
    public var session: String?
    /// Referrer (page, campaign, search).
    public var referrer: String?
    /// Any other key-values.
    public var extra: [String: String]

    /// A context; every field optional.
    public init(device: String? = nil, platform: String? = nil, country: String? = nil, session: String? = nil,
                referrer: String? = nil, extra: [String: String] = [:]) {
        self.device = device
        self.platform = platform
        self.country = country
        self.session = session
        self.referrer = referrer
        self.extra = extra
    }

    /// The ``extra`` key that marks an event whose time is only a placeholder (value `"1"`):
    /// for example a click history given without times, stamped with the time of the record it
    /// came with. Time-based cleaning rules skip such events.
    public static let untimedKey = "untimed"

    /// Whether the event's time is only a placeholder (see ``untimedKey``).
    public var isUntimed: Bool {
        get { extra[EventContext.untimedKey] == "1" }
        set { extra[EventContext.untimedKey] = newValue ? "1" : nil }
    }

    /// Whether no field is set.
    public var isEmpty: Bool {
        device == nil && platform == nil && country == nil && session == nil && referrer == nil && extra.isEmpty
    }
}

/// One event from an interaction log: a user, an item, what happened, when, and in what context.
public struct Event: Hashable, Sendable, Codable {
    /// The source's event identifier, if it has one (makes re-imports idempotent by id).
    public var id: String?
    /// External user identifier.
    public var user: String
    /// External item identifier.
    public var item: String
    /// What happened.
    public var type: EventType
    /// Dwell seconds, rating, amount… (`nil` when the type carries no value).
    public var value: Double?
    /// Unix time in milliseconds, UTC.
    public var timestampMilliseconds: Int64
    /// Context.
    public var context: EventContext

    /// An event.
    public init(id: String? = nil, user: String, item: String, type: EventType, value: Double? = nil,
                timestampMilliseconds: Int64, context: EventContext = .init()) {
        self.id = id
        self.user = user
        self.item = item
        self.type = type
        self.value = value
        self.timestampMilliseconds = timestampMilliseconds
        self.context = context
    }

    /// A stable 64-bit key: from the event id when there is one, else from the whole content.
    /// Importing the same event twice yields the same key, which is how imports stay idempotent.
    public var key: Int64 {
        var h = FNV1a64()
        if let id {
            h.combine("id")
            h.combine(id)
        } else {
            h.combine(user); h.combine(item); h.combine(type.name)
            h.combine(value.map { String($0) } ?? "-")
            h.combine(String(timestampMilliseconds))
            h.combine(context.device ?? "-"); h.combine(context.platform ?? "-"); h.combine(context.country ?? "-")
            h.combine(context.session ?? "-"); h.combine(context.referrer ?? "-")
            for (k, v) in context.extra.sorted(by: { $0.key < $1.key }) { h.combine(k); h.combine(v) }
        }
        return Int64(bitPattern: h.value)
    }
}

/// An item of the catalogue.
public struct CatalogItem: Hashable, Sendable, Codable {
    /// External identifier.
    public var id: String
    /// Title.
    public var title: String?
    /// Text or description.
    public var text: String?
    /// Categories (multi-valued).
    public var categories: [String]
    /// Tags (multi-valued).
    public var tags: [String]
    /// Publication time, Unix milliseconds.
    public var publishedMilliseconds: Int64?
    /// Numeric attributes (price, length, year…).
    public var numeric: [String: Double]
    /// An external feature vector (for example an image or text embedding computed elsewhere).
    public var features: [Float]?

    /// An item; only the id is required.
    public init(id: String, title: String? = nil, text: String? = nil, categories: [String] = [], tags: [String] = [],
                publishedMilliseconds: Int64? = nil, numeric: [String: Double] = [:], features: [Float]? = nil) {
        self.id = id
        self.title = title
        self.text = text
        self.categories = categories
        self.tags = tags
        self.publishedMilliseconds = publishedMilliseconds
        self.numeric = numeric
        self.features = features
    }
}

/// A user's profile.
public struct UserProfile: Hashable, Sendable, Codable {
    /// External identifier.
    public var id: String
    /// Attributes (age, gender, occupation, country…), as text.
    public var attributes: [String: String]
    /// Sign-up time, Unix milliseconds.
    public var signupMilliseconds: Int64?

    /// A profile.
    public init(id: String, attributes: [String: String] = [:], signupMilliseconds: Int64? = nil) {
        self.id = id
        self.attributes = attributes
        self.signupMilliseconds = signupMilliseconds
    }
}

import Foundation
