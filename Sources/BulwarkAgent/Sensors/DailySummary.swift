import BulwarkCore
import Foundation
import Logging
import Synchronization

/// What the discovery sensors see right now: each records what starts and stops under a key of
/// its own (`process:4242`, `listener:11434`, `model:/path`), so the daily summary can restate it.
public final class DiscoveryState: Sendable {
    /// One thing in use: an app, seen how, by whom.
    public struct Item: Hashable, Sendable {
        public var app: String
        public var category: String
        /// `process`, `listener` or `model_file`.
        public var evidence: String
        public var user: String?
    }

    private let items = Mutex<[String: Item]>([:])

    public init() {}

    /// Records that `key` is now `item`, or gone (nil).
    func set(_ key: String, _ item: Item?) {
        items.withLock { $0[key] = item }
    }

    /// How many of each item there are.
    func counts() -> [Item: Int] {
        items.withLock { items in items.values.reduce(into: [:]) { $0[$1, default: 0] += 1 } }
    }
}

/// Sensors send changes only; once a `interval` (a day) this restates what is still in use as
/// `ai.summary` events — one per app, evidence kind and user — so an Ollama that has run for
/// weeks stays current in the inventory (last seen, daily timeline) without a start event.
public struct DailySummary: Sendable {
    let state: DiscoveryState
    let spool: SpoolStore
    let logger: Logger
    let interval: Duration

    public init(state: DiscoveryState, spool: SpoolStore, logger: Logger, interval: Duration = .seconds(86_400)) {
        self.state = state
        self.spool = spool
        self.logger = logger
        self.interval = interval
    }

    public func run() async throws {
        // The first summary a period after start: at start the sensors' scans have just sent
        // everything as started or found.
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            summarize()
        }
    }

    func summarize() {
        let period = Int(interval.components.seconds)
        for (item, count) in state.counts().sorted(by: { ($0.key.app, $0.key.evidence) < ($1.key.app, $1.key.evidence) }) {
            var data: [String: JSONValue] = [
                "app": .string(item.app), "category": .string(item.category), "evidence": .string(item.evidence),
                "count": .number(Double(count)), "period_s": .number(Double(period)),
            ]
            if let user = item.user { data["user"] = .string(user) }
            spool.record(EventType.aiSummary, data, logger: logger)
        }
    }
}
