import BulwarkCore
import Foundation

/// What one event says about an AI app: which app, seen how, by whom, when, and what DLP did.
/// Derived at ingest so the inventory is kept up to date as events are stored, never computed
/// at query time.
public struct InventorySighting: Sendable, Equatable {
    public var app: String
    public var category: String?
    public var user: String?
    /// `process`, `listener`, `model_file`, `paste`, `clipboard_source`, `dlp`...
    public var evidence: String
    /// For DLP events: `allowed`, `audited`, `warned`, `overridden`, `blocked` (pastes) or the
    /// decision's action.
    public var action: String?
    public var time: Int64

    /// Nil for events that name no AI app.
    public init?(_ event: Event) {
        let data = event.data
        var action: String?
        var evidence = data["evidence"]?.stringValue
        var app = data["app"]?.stringValue
        if event.type.hasPrefix("paste.") {
            action = String(event.type.dropFirst("paste.".count))
            evidence = "paste"
        } else if event.type.hasPrefix("upload.") {
            action = String(event.type.dropFirst("upload.".count))
            evidence = "upload"
        } else if event.type == EventType.dlpDecision {
            action = data["action"]?.stringValue
            evidence = "dlp"
        } else if event.type == EventType.clipboardCopy {
            app = data["source_app"]?.stringValue  // copied out of an AI site
            evidence = "clipboard_source"
        }
        guard let app, !app.isEmpty else { return nil }
        self.app = app
        category = data["category"]?.stringValue ?? AIAppCatalog.bundled.app(id: app)?.category
        user = data["user"]?.stringValue
        self.evidence = evidence ?? event.type
        self.action = action
        time = event.time.millis
    }

    /// UTC day of `time`, `2026-11-26`.
    var day: String { WireCoding.utcDay(unixSeconds: time / 1000) }
}

/// Where an app stands with the organisation, set by admins and analysts.
public struct AppStateChange: Sendable {
    public var state: SanctionState
    public var reason: String
    public var by: String
    public var at: Date

    public init(state: SanctionState, reason: String, by: String, at: Date) {
        self.state = state
        self.reason = reason
        self.by = by
        self.at = at
    }
}

/// One app in the inventory.
public struct InventoryApp: Sendable, Codable, Equatable {
    public var id: String
    public var name: String?
    public var vendor: String?
    public var category: String?
    /// 0–10 from the catalog's facts (``RiskScore``); apps the catalog lacks score as unknown.
    public var risk: Double
    public var firstSeen: Date
    public var lastSeen: Date
    public var devices: Int
    public var users: Int
    public var events: Int
    /// Evidence kind → events.
    public var evidence: [String: Int]
    /// DLP outcome → events.
    public var actions: [String: Int]
    public var state: SanctionState
    public var stateReason: String?

    enum CodingKeys: String, CodingKey {
        case id, name, vendor, category, risk, devices, users, events, evidence, actions, state
        case firstSeen = "first_seen", lastSeen = "last_seen", stateReason = "state_reason"
    }
}

/// One app in detail: on which devices and for which users, and its daily timeline.
public struct InventoryAppDetail: Sendable, Codable {
    public struct Seen: Sendable, Codable, Equatable {
        public var id: String
        public var firstSeen: Date
        public var lastSeen: Date
        public var events: Int

        enum CodingKeys: String, CodingKey {
            case id, events
            case firstSeen = "first_seen", lastSeen = "last_seen"
        }
    }

    public var app: InventoryApp
    /// Most recently seen first, one page (`app.devices` is the total).
    public var devices: [Seen]
    /// Most recently seen first, one page (`app.users` is the total).
    public var users: [Seen]
    /// Day (UTC) → events.
    public var timeline: [String: Int]
}

/// Which slice of an app's devices and users to return: an app on 10,000 devices should not
/// have to be sent whole to be looked at.
public struct InventoryPage: Sendable {
    public var limit: Int
    public var offset: Int

    public init(limit: Int = 500, offset: Int = 0) {
        self.limit = limit
        self.offset = offset
    }
}

/// An app as one device or one user saw it.
public struct InventorySeenApp: Sendable, Codable, Equatable {
    public var id: String
    public var name: String?
    public var category: String?
    public var risk: Double
    public var state: SanctionState
    public var firstSeen: Date
    public var lastSeen: Date
    public var events: Int

    enum CodingKeys: String, CodingKey {
        case id, name, category, risk, state, events
        case firstSeen = "first_seen", lastSeen = "last_seen"
    }
}

/// One device's view: the apps seen on it.
public struct InventoryDevice: Sendable, Codable {
    public var agent: AgentRecord
    public var apps: [InventorySeenApp]
}

/// One user's view: the apps they used, on any device.
public struct InventoryUser: Sendable, Codable {
    public var user: String
    public var apps: [InventorySeenApp]
}

/// Filters of `GET /api/v1/inventory/apps`.
public struct InventoryQuery: Sendable {
    public var category: String?
    public var state: SanctionState?
    public var since: Date?
    /// Only apps scoring at least this (0–10).
    public var minRisk: Double?

    public init(category: String? = nil, state: SanctionState? = nil, since: Date? = nil, minRisk: Double? = nil) {
        self.category = category
        self.state = state
        self.since = since
        self.minRisk = minRisk
    }
}

extension AIAppCatalog {
    /// An app's risk score as the inventory keeps it: the catalog's, or for an app it lacks,
    /// the score of an app nothing is known about.
    func riskScore(of app: String, category: String?) -> Double {
        (self.app(id: app) ?? AIApp(id: app, name: app, vendor: "", category: category ?? "consumer_ai")).riskScore
    }

    /// The category the inventory keeps for an app: the catalog's wins; otherwise what the
    /// latest event said (`seen`).
    func inventoryCategory(of app: String, seen: String?) -> String? {
        self.app(id: app)?.category ?? seen
    }
}

/// The inventory changes of some events, summed per row they touch, so each table takes one
/// upsert per row however many events there were (and, on PostgreSQL, no row twice in one
/// statement, which ON CONFLICT DO UPDATE refuses). Both stores write inventory this way.
///
/// Each batch's tally is summed on its request's task, in parallel (`IngestBatch`); the
/// store's single writer only merges them — per event, the tally cost it ~10 % of its time.
struct InventoryTally: Sendable {
    struct Seen: Sendable {
        var first = Int64.max
        var last = Int64.min
        var events: Int64 = 0

        /// Adds later events (a new row starts empty and takes them whole).
        mutating func add(_ later: Seen) {
            first = min(first, later.first)
            last = max(last, later.last)
            events += later.events
        }
    }

    struct App: Sendable {
        /// The latest category an event gave (the writer lets the catalog's win).
        var category: String?
        var seen = Seen()

        mutating func add(_ later: App) {
            category = later.category ?? category
            seen.add(later.seen)
        }
    }

    struct Pair: Hashable, Sendable {
        var app: String
        var id: String
    }

    struct Count: Hashable, Sendable {
        var app: String
        var kind: String
        var key: String
    }

    private(set) var apps: [String: App] = [:]
    private(set) var devices: [Pair: Seen] = [:]
    private(set) var users: [Pair: Seen] = [:]
    private(set) var counts: [Count: Int64] = [:]

    init() {}

    var isEmpty: Bool { apps.isEmpty }

    mutating func add(_ sighting: InventorySighting, agentID: String) {
        let once = Seen(first: sighting.time, last: sighting.time, events: 1)
        apps[sighting.app, default: App()].add(App(category: sighting.category, seen: once))
        devices[Pair(app: sighting.app, id: agentID), default: Seen()].add(once)
        if let user = sighting.user { users[Pair(app: sighting.app, id: user), default: Seen()].add(once) }
        counts[Count(app: sighting.app, kind: "evidence", key: sighting.evidence), default: 0] += 1
        counts[Count(app: sighting.app, kind: "day", key: sighting.day), default: 0] += 1
        if let action = sighting.action { counts[Count(app: sighting.app, kind: "action", key: action), default: 0] += 1 }
    }

    /// Adds a later tally's changes (its categories, being later, win).
    mutating func add(_ later: InventoryTally) {
        guard !isEmpty else { self = later; return }
        for (app, row) in later.apps { apps[app, default: App()].add(row) }
        for (pair, seen) in later.devices { devices[pair, default: Seen()].add(seen) }
        for (pair, seen) in later.users { users[pair, default: Seen()].add(seen) }
        counts.merge(later.counts, uniquingKeysWith: +)
    }
}
