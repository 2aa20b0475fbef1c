import BulwarkCore
import Foundation
import Logging

/// Enrolls a freshly installed agent without a person: `bulwark-agent run` with the collector,
/// token and CA fingerprint from agent.yaml or `BULWARK_*` variables (docs/DEPLOY.md).
///
/// Fails safe towards keeping trying: an unreachable collector is retried with backoff, and a
/// refused token or a CA that does not match the pin is logged as an error and retried after
/// `retry_cap`, so a fixed token (more uses, a new one in the config) is picked up without
/// hammering the collector's enrollment rate limit.
public struct UnattendedEnrollment: Sendable {
    let state: AgentState
    let settings: AgentConfiguration.EnrollmentSettings
    let backoff: Backoff
    let logger: Logger

    public init(state: AgentState, settings: AgentConfiguration.EnrollmentSettings, backoff: Backoff, logger: Logger) {
        self.state = state
        self.settings = settings
        self.backoff = backoff
        self.logger = logger
    }

    public enum Failure: Error, CustomStringConvertible {
        case notConfigured(directory: String, missing: [String])

        public var description: String {
            switch self {
            case .notConfigured(let directory, let missing):
                "agent state in \(directory) is not enrolled and unattended enrollment lacks \(missing.joined(separator: ", ")); set collector, enroll_token and ca_sha256 in agent.yaml (or BULWARK_COLLECTOR, BULWARK_ENROLL_TOKEN, BULWARK_CA_SHA256), or run 'bulwark-agent enroll'"
            }
        }
    }

    /// The enrollment in force: the existing one, or a new one once the collector grants it.
    /// Returns nil when cancelled before that.
    public func ensureEnrolled() async throws -> AgentState.Enrollment? {
        // A damaged enrollment record is an error to fix, not a reason to enroll anew.
        if FileManager.default.fileExists(atPath: state.enrollmentPath) { return try state.loadEnrollment() }
        guard settings.isComplete else {
            var missing: [String] = []
            if settings.collector.isEmpty { missing.append("the collector URL") }
            if settings.token.isEmpty { missing.append("the enrollment token") }
            if settings.caSHA256.isEmpty { missing.append("the CA fingerprint") }
            throw Failure.notConfigured(directory: state.directory, missing: missing)
        }
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            do {
                let grant = try await Enroller(state: state).enroll(collector: settings.collector, token: settings.token, caSHA256: settings.caSHA256)
                logger.notice("enrolled unattended", metadata: [
                    "agent": "\(grant.agentID)", "collector": "\(settings.collector)", "valid_until": "\(WireCoding.string(from: grant.notAfter))",
                ])
                return try state.loadEnrollment()
            } catch let error as CollectorError where error.isTransient {
                let delay = backoff.delay(attempt: attempt)
                logger.warning("enrollment waits for the collector", metadata: ["reason": "\(error)", "retry_in_s": "\(Int(delay.rounded()))"])
                try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            } catch {
                logger.error("enrollment refused; fix the token or CA fingerprint in agent.yaml (or BULWARK_* variables) — retrying in \(Int(backoff.cap)) s", metadata: ["reason": "\(error)"])
                try? await Task.sleep(for: .milliseconds(Int(backoff.cap * 1000)))
            }
        }
        return nil
    }
}
