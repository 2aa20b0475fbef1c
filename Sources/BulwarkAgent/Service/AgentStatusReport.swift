import BulwarkCore
import Foundation

/// What `bulwark-agent status` reports.
public struct AgentStatusReport: Sendable, Codable {
    public var enrolled: Bool
    public var agentID: String?
    public var collector: String?
    public var collectorReachable: Bool?
    public var collectorError: String?
    public var certificateNotAfter: Date?
    public var spool: SpoolStatus?
    public var running: Bool

    enum CodingKeys: String, CodingKey {
        case enrolled, collector, spool, running
        case agentID = "agent_id"
        case collectorReachable = "collector_reachable"
        case collectorError = "collector_error"
        case certificateNotAfter = "certificate_not_after"
    }

    public static func gather(state: AgentState) async throws -> AgentStatusReport {
        guard let enrollment = try? state.loadEnrollment() else {
            return AgentStatusReport(enrolled: false, running: false)
        }
        var report = AgentStatusReport(enrolled: true, agentID: enrollment.agentID, collector: enrollment.collector, running: false)
        report.certificateNotAfter = try? state.loadCertificate().notValidAfter
        if FileManager.default.fileExists(atPath: state.spoolPath) {
            report.spool = try SpoolStore(path: state.spoolPath).status()
            if let pid = report.spool?.runnerPID { report.running = kill(pid, 0) == 0 }
        }
        do {
            let client = try CollectorClient(
                baseURL: enrollment.collector, trustedCA: try state.loadCA(),
                clientCertificate: try state.loadCertificate(), clientKey: try state.loadKey(), connectTimeout: 3)
            do {
                _ = try await client.fetchPinnedCA(pinnedSHA256: enrollment.caSHA256)
                report.collectorReachable = true
            } catch {
                report.collectorReachable = false
                report.collectorError = "\(error)"
            }
            await client.shutdown()
        } catch {
            report.collectorReachable = false
            report.collectorError = "\(error)"
        }
        return report
    }

    /// Human-readable form.
    public var text: String {
        guard enrolled, let agentID, let collector else {
            return "not enrolled: run 'bulwark-agent enroll --collector https://HOST:8443 --token TOKEN --ca-sha256 FINGERPRINT'"
        }
        func time(_ date: Date?) -> String { date.map(WireCoding.string(from:)) ?? "never" }
        var lines = [
            "agent:        \(agentID)",
            "collector:    \(collector) (\(collectorReachable == true ? "reachable" : "UNREACHABLE: \(collectorError ?? "?")"))",
            "certificate:  valid until \(time(certificateNotAfter))\(certificateNotAfter.map { $0 < Date() ? " (EXPIRED: re-enroll)" : "" } ?? "")",
            "service:      \(running ? "running (pid \(spool?.runnerPID ?? 0))" : "not running")",
        ]
        if let spool {
            lines.append("spool:        \(spool.depth) event(s), \(spool.bytes) bytes, \(spool.dropped) dropped, \(spool.quarantined) quarantined")
            lines.append("last ack:     seq \(spool.lastAckedSeq) at \(time(spool.lastAckAt))")
            if let error = spool.lastError { lines.append("last error:   \(error)") }
        }
        return lines.joined(separator: "\n")
    }
}
