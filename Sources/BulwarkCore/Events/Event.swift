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

extension EventBatch {
    /// Why a body is not a valid batch: the JSON is malformed, or a field is missing or mistyped.
    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses a batch body with ``JSONReader`` (the ingest path); field errors name their path,
    /// e.g. `events[3].time`.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(ParseError) -> EventBatch {
        let root: JSONValue
        do { root = try JSONReader.parse(bytes) } catch { throw ParseError(description: "\(error)") }
        guard case .object(let members) = root else { throw ParseError(description: "the batch must be a JSON object") }
        guard case .string(let agent)? = members["agent"] else { throw ParseError(description: "missing string field 'agent'") }
        guard case .string(let batch)? = members["batch"] else { throw ParseError(description: "missing string field 'batch'") }
        guard case .array(let items)? = members["events"] else { throw ParseError(description: "missing array field 'events'") }
        var events: [Event] = []
        events.reserveCapacity(items.count)
        for (position, item) in items.enumerated() {
            let path = "events[\(position)]"
            guard case .object(let fields) = item else { throw ParseError(description: "\(path) must be an object") }
            guard case .number(let seqValue)? = fields["seq"], seqValue >= 0, seqValue.rounded() == seqValue, seqValue < 9.0e15 else {
                throw ParseError(description: "\(path).seq must be a non-negative integer")
            }
            guard case .string(let timeText)? = fields["time"], let time = WireCoding.date(from: timeText) else {
                throw ParseError(description: "\(path).time must be an RFC 3339 timestamp")
            }
            guard case .string(let type)? = fields["type"] else { throw ParseError(description: "\(path).type must be a string") }
            guard case .number(let version)? = fields["v"], version.rounded() == version, abs(version) < 1e9 else {
                throw ParseError(description: "\(path).v must be an integer")
            }
            guard case .object(let data)? = fields["data"] else { throw ParseError(description: "\(path).data must be an object") }
            events.append(Event(seq: UInt64(seqValue), time: time, type: type, v: Int(version), data: data))
        }
        return EventBatch(agent: agent, batch: batch, events: events)
    }
}
