import BulwarkCore
import Foundation

/// The collector's `agent.gap` event: an agent heard from again after a silence longer than
/// `stale_after`, with when it went quiet (an `agent.stopped` as its last event explains a
/// gap; nothing, or `agent.tamper`, does not). Both stores record it in the ingest transaction.
enum AgentGap {
    /// The event's data for a silence from `from` to `to` (milliseconds), without `last_event`.
    static func data(agentID: String, from: Int64, to: Int64) -> [String: JSONValue] {
        [
            "agent_id": .string(agentID), "from": .string(WireCoding.string(from: Date(millis: from))),
            "to": .string(WireCoding.string(from: Date(millis: to))), "seconds": .number(Double((to - from) / 1000)),
        ]
    }
}
