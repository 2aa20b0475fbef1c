import BulwarkCore
import Foundation
import Logging

/// Emits `agent.heartbeat` every interval with the agent's health, which the collector applies
/// to the agent's row (last seen, version, policy version, spool depth, drops).
public struct HeartbeatSensor: Sendable {
    let spool: SpoolStore
    let state: AgentState
    let interval: Double
    let started: Date
    let logger: Logger

    public init(spool: SpoolStore, state: AgentState, interval: Double, logger: Logger, started: Date = Date()) {
        self.spool = spool
        self.state = state
        self.interval = interval
        self.logger = logger
        self.started = started
    }

    /// The heartbeat for now.
    public func beat(now: Date = Date()) throws -> EventDraft {
        let status = try spool.status()
        var data: [String: JSONValue] = [
            "agent_version": .string(BulwarkVersion.current),
            "policy_version": .number(Double(PolicyStore.collectorVersion(in: state))),
            "spool_depth": .number(Double(status.depth)),
            "spool_bytes": .number(Double(status.bytes)),
            "dropped": .number(Double(status.dropped)),
            "uptime_s": .number(now.timeIntervalSince(started).rounded()),
        ]
        if let certificate = try? state.loadCertificate() {
            data["cert_expires"] = .string(WireCoding.string(from: certificate.notValidAfter))
        }
        return EventDraft(type: EventType.heartbeat, time: now, data: data)
    }

    /// Emits one heartbeat at once, then one per interval, until cancelled. A heartbeat that
    /// cannot be spooled (disk full) is logged and skipped; the next one reports the state then.
    public func run() async throws {
        while !Task.isCancelled {
            do {
                try spool.append([try beat()])
            } catch {
                logger.error("cannot spool heartbeat", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: .seconds(interval))
        }
    }
}
