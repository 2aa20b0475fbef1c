import Foundation

/// One telemetry event as it travels from agent to collector.
///
/// The envelope (`seq`, `time`, `type`, `v`) is common to every event; `data` holds the
/// type-specific fields described by ``EventSchema``. See docs/EVENTS.md.
public struct Event: Sendable, Hashable, Codable {
    /// Per-agent sequence number: strictly increasing, never reused, persisted across restarts.
    public var seq: UInt64
    /// When the event happened on the endpoint (RFC 3339, UTC, millisecond precision on the wire).
    public var time: Date
    /// Dotted event type, e.g. `agent.heartbeat`.
    public var type: String
    /// Schema version of this event type's `data`.
    public var v: Int
    /// Type-specific fields.
    public var data: [String: JSONValue]

    public init(seq: UInt64, time: Date, type: String, v: Int, data: [String: JSONValue]) {
        self.seq = seq
        self.time = time
        self.type = type
        self.v = v
        self.data = data
    }
}

/// The body of `POST /v1/events` before compression.
public struct EventBatch: Sendable, Codable {
    /// The sending agent's ID; must match the client certificate.
    public var agent: String
    /// Agent-chosen batch identifier, for logs and tracing only.
    public var batch: String
    public var events: [Event]

    public init(agent: String, batch: String, events: [Event]) {
        self.agent = agent
        self.batch = batch
        self.events = events
    }
}

/// The collector's answer to an accepted batch.
public struct EventAck: Sendable, Codable, Equatable {
    /// Highest sequence number of the batch that is now durably stored (newly or before).
    public var acked: UInt64
    /// Events newly stored from this batch.
    public var stored: Int
    /// Events of this batch the collector already had.
    public var duplicates: Int

    public init(acked: UInt64, stored: Int, duplicates: Int) {
        self.acked = acked
        self.stored = stored
        self.duplicates = duplicates
    }
}
