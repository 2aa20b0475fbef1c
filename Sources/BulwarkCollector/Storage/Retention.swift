import Foundation

/// How long the collector keeps what it stores: events by type (a default for the rest), and
/// closed incidents. Open incidents are kept until someone handles them; the audit log is never
/// deleted (it is append-only); the inventory's counts are aggregates and stay.
public struct RetentionPolicy: Sendable, Equatable {
    /// Days an event is kept, unless its type has its own.
    public var eventDays: Int
    /// Per event type, e.g. `agent.heartbeat: 7`.
    public var eventDaysByType: [String: Int]
    /// Days a resolved or false-positive incident is kept (from its time).
    public var incidentDays: Int

    public init(eventDays: Int = 180, eventDaysByType: [String: Int] = [:], incidentDays: Int = 365) {
        self.eventDays = eventDays
        self.eventDaysByType = eventDaysByType
        self.incidentDays = incidentDays
    }

    /// `TYPE=DAYS`, as `serve --retention` takes it.
    public static func parseTypeDays(_ text: String) -> (type: String, days: Int)? {
        let parts = text.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, let days = Int(parts[1]), days >= 1, !parts[0].isEmpty else { return nil }
        return (String(parts[0]), days)
    }
}

/// What one retention pass deleted.
public struct RetentionResult: Sendable, Equatable {
    public var events: Int
    public var incidents: Int

    public init(events: Int = 0, incidents: Int = 0) {
        self.events = events
        self.incidents = incidents
    }
}
