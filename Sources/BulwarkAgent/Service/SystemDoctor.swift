import BulwarkCore
import CBulwarkLinux
import Foundation
import X509

/// `bulwark-agent doctor` on an endpoint (as root): each dependency of the system agent, one
/// line each with ok / warn / FAIL and the fix — enrollment and certificate, the collector (TLS
/// handshake with this agent's certificate, clock skew), the service, the spool, the policy in
/// force, fanotify, the kernel's process events and the connected session helpers.
public struct SystemDoctor: Sendable {
    let state: AgentState
    let configuration: AgentConfiguration
    let environment: [String: String]

    /// Certificates expiring sooner than this are a warning (the collector's rule too).
    static let certificateWarning: TimeInterval = 14 * 86_400
    /// Clock skew beyond these is a warning, a failure.
    static let skewWarning: TimeInterval = 120
    static let skewFailure: TimeInterval = 3_600

    public init(state: AgentState, configuration: AgentConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.state = state
        self.configuration = configuration
        self.environment = environment
    }

    public func run(now: Date = Date()) async -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        guard let enrollment = enrollmentCheck(into: &checks) else {
            return checks + [fanotify(), processEvents()]
        }
        checks.append(certificate(now: now))
        checks.append(await collector(enrollment, now: now))
        let status = try? SpoolStore(path: state.spoolPath).status()
        let running = status?.runnerPID.map { kill($0, 0) == 0 } ?? false
        checks.append(service(running: running, pid: status?.runnerPID))
        checks.append(spool(status, now: now))
        checks.append(await policy())
        checks.append(fanotify())
        checks.append(processEvents())
        checks.append(sessions(running: running))
        return checks
    }

    // MARK: Checks

    func enrollmentCheck(into checks: inout [DoctorCheck]) -> AgentState.Enrollment? {
        if FileManager.default.fileExists(atPath: state.enrollmentPath) {
            do {
                let enrollment = try state.loadEnrollment()
                checks.append(DoctorCheck(name: "enrollment", status: .ok, detail: "agent \(enrollment.agentID) of \(enrollment.collector), enrolled \(WireCoding.string(from: enrollment.enrolledAt))"))
                return enrollment
            } catch {
                checks.append(DoctorCheck(name: "enrollment", status: .failure, detail: "\(error); re-enroll with 'bulwark-agent enroll --new-key …'"))
                return nil
            }
        }
        let unattended = configuration.enrollment.overridden(by: environment)
        if unattended.isComplete {
            checks.append(DoctorCheck(
                name: "enrollment", status: .warning,
                detail: "not enrolled yet; the service enrolls with \(unattended.collector) when it runs (unattended settings); 'journalctl -u bulwark-agent' says why if it does not"))
        } else {
            checks.append(DoctorCheck(
                name: "enrollment", status: .failure,
                detail: "not enrolled: nothing is sent or enforced by the collector's policy; run 'bulwark-agent enroll --collector https://HOST:8443 --token TOKEN --ca-sha256 FINGERPRINT' or set collector, enroll_token and ca_sha256 in agent.yaml"))
        }
        return nil
    }

    func certificate(now: Date) -> DoctorCheck {
        guard let certificate = try? state.loadCertificate() else {
            return DoctorCheck(name: "certificate", status: .failure, detail: "\(state.certificatePath) is missing or unreadable; re-enroll")
        }
        let until = WireCoding.string(from: certificate.notValidAfter)
        if certificate.notValidAfter <= now {
            return DoctorCheck(name: "certificate", status: .failure, detail: "expired \(until): the collector refuses this agent; re-enroll with a new token ('bulwark-agent enroll')")
        }
        if certificate.notValidAfter.timeIntervalSince(now) < Self.certificateWarning {
            let days = Int(certificate.notValidAfter.timeIntervalSince(now) / 86_400)
            if (try? state.loadEnrollment())?.externalCertificate == true {
                return DoctorCheck(
                    name: "certificate", status: .warning,
                    detail: "expires \(until) (in \(days) day(s)); the organisation's CA issued it: have it renewed for 'bulwark-agent csr' and run 'bulwark-agent enroll --certificate' again")
            }
            return DoctorCheck(
                name: "certificate", status: .warning,
                detail: "expires \(until) (in \(days) day(s)); a running agent renews it when \(Int(configuration.renewFraction * 100))% of its life is left — if it has not, the collector was unreachable")
        }
        return DoctorCheck(name: "certificate", status: .ok, detail: "valid until \(until)")
    }

    func collector(_ enrollment: AgentState.Enrollment, now: Date) async -> DoctorCheck {
        let client: CollectorClient
        do {
            client = try CollectorClient(
                baseURL: enrollment.collector, trustedCA: try state.loadCA(), clientCertificate: try state.loadCertificate(),
                clientKey: try state.loadKey(), connectTimeout: 5)
        } catch {
            return DoctorCheck(name: "collector", status: .failure, detail: "cannot use this agent's credentials: \(error)")
        }
        defer { Task { await client.shutdown() } }
        do {
            let (roundTrip, serverDate) = try await client.probe()
            let milliseconds = Int(roundTrip.components.seconds * 1000 + roundTrip.components.attoseconds / 1_000_000_000_000_000)
            guard let serverDate else {
                return DoctorCheck(name: "collector", status: .ok, detail: "\(enrollment.collector): TLS and this agent's certificate accepted (\(milliseconds) ms); clock not compared (no Date header)")
            }
            let skew = now.timeIntervalSince(serverDate)
            let detail = "\(enrollment.collector): TLS and this agent's certificate accepted (\(milliseconds) ms); clock \(Self.describe(skew: skew))"
            if abs(skew) > Self.skewFailure {
                return DoctorCheck(name: "collector", status: .failure, detail: detail + ": certificate checks and event times go wrong; enable time sync ('timedatectl set-ntp true')")
            }
            if abs(skew) > Self.skewWarning {
                return DoctorCheck(name: "collector", status: .warning, detail: detail + "; enable time sync ('timedatectl set-ntp true')")
            }
            return DoctorCheck(name: "collector", status: .ok, detail: detail)
        } catch let error as CollectorError {
            let fix = switch error {
            case .rejected(let status, let body) where status == 401 || status == 403:
                "the collector refuses this agent (\(body.code)): it was revoked or its certificate is not from the collector's CA; re-enroll with a new token"
            case .rejected:
                "the collector answered with an error; see its log"
            case .unreachable:
                "check the network path and firewall to \(enrollment.collector), and that the collector runs; events wait in the spool meanwhile"
            case .caMismatch:
                "the collector's CA changed; re-enroll with the new fingerprint"
            }
            return DoctorCheck(name: "collector", status: .failure, detail: "\(error); \(fix)")
        } catch {
            return DoctorCheck(name: "collector", status: .failure, detail: "\(error)")
        }
    }

    static func describe(skew: TimeInterval) -> String {
        let seconds = Int(abs(skew).rounded())
        if seconds < 1 { return "in step with the collector's" }
        return "\(seconds) s \(skew > 0 ? "ahead of" : "behind") the collector's"
    }

    func service(running: Bool, pid: Int32?) -> DoctorCheck {
        running
            ? DoctorCheck(name: "service", status: .ok, detail: "bulwark-agent runs (pid \(pid ?? 0))")
            : DoctorCheck(name: "service", status: .failure, detail: "the agent is not running: nothing is watched or enforced; 'systemctl enable --now bulwark-agent'")
    }

    func spool(_ status: SpoolStatus?, now: Date) -> DoctorCheck {
        guard let status else {
            return DoctorCheck(name: "spool", status: .warning, detail: "\(state.spoolPath) is not there yet (created when the agent first runs)")
        }
        var detail = "\(status.depth) event(s) waiting, \(status.bytes) bytes of \(configuration.spoolMaxBytes)"
        if let ack = status.lastAckAt { detail += ", last delivered \(WireCoding.string(from: ack))" }
        if status.dropped > 0 {
            return DoctorCheck(name: "spool", status: .warning, detail: detail + "; \(status.dropped) telemetry event(s) dropped when it was full (never decisions): raise spool_max_bytes or restore the collector link")
        }
        if status.quarantined > 0 {
            return DoctorCheck(name: "spool", status: .warning, detail: detail + "; \(status.quarantined) event(s) the collector refused for good are quarantined (see 'bulwark-agent status')")
        }
        if status.depth > 0, let error = status.lastError {
            return DoctorCheck(name: "spool", status: .warning, detail: detail + "; last upload failed: \(error)")
        }
        return DoctorCheck(name: "spool", status: .ok, detail: detail)
    }

    func policy() async -> DoctorCheck {
        let store = PolicyStore(state: state, keyedHash: try? state.loadKeyedHash())
        let version = PolicyStore.collectorVersion(in: state)
        let active = await store.active
        let name = active.policy.name
        if let problem = await store.startupProblem {
            return DoctorCheck(name: "policy", status: .failure, detail: "\(problem); push a policy that loads here ('bulwark policy push')")
        }
        if version > 0 { return DoctorCheck(name: "policy", status: .ok, detail: "'\(name)', version \(version) from the collector") }
        return DoctorCheck(name: "policy", status: .ok, detail: "'\(name)' (\(active.source == "default" ? "the built-in default" : "installed on this machine")); the collector has pushed none")
    }

    func fanotify() -> DoctorCheck {
        guard configuration.fileGuard else {
            return DoctorCheck(name: "fanotify", status: .warning, detail: "file_guard is off in agent.yaml: AI tools' file reads and starts are not enforced")
        }
        do {
            let channel = try FanotifyChannel(paths: [])
            channel.close()
            return DoctorCheck(name: "fanotify", status: .ok, detail: "permission events available; the file guard watches \(configuration.filePaths.joined(separator: ", "))")
        } catch {
            return DoctorCheck(name: "fanotify", status: .failure, detail: "\(error)")
        }
    }

    func processEvents() -> DoctorCheck {
        guard configuration.processSensor else {
            return DoctorCheck(name: "process events", status: .warning, detail: "process_sensor is off in agent.yaml: AI programs are not discovered as they start")
        }
        let descriptor = cbulwark_proc_events_open()
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            return DoctorCheck(
                name: "process events", status: .warning,
                detail: "the kernel's process events (netlink proc connector) are unavailable (\(reason)); the agent scans /proc instead and may miss short-lived AI programs; it needs CAP_NET_ADMIN (run as root)")
        }
        close(descriptor)
        return DoctorCheck(name: "process events", status: .ok, detail: "netlink proc connector available")
    }

    func sessions(running: Bool) -> DoctorCheck {
        guard !configuration.sessionSocket.isEmpty else {
            return DoctorCheck(name: "session helpers", status: .warning, detail: "session_socket is off in agent.yaml: no clipboard guard for any user")
        }
        guard running, let helpers = SessionServer.connectedHelpers(statusPath: state.sessionsPath) else {
            return DoctorCheck(name: "session helpers", status: .warning, detail: "unknown while the agent is not running")
        }
        let guarding = helpers.filter { $0.clipboard != nil }
        guard !guarding.isEmpty else {
            return DoctorCheck(
                name: "session helpers", status: .warning,
                detail: "none connected: no graphical session is guarded now (normal on a server; on a desktop run 'bulwark-agent doctor --session' as the user)")
        }
        let list = guarding.map { "\($0.user) (pid \($0.pid)): \($0.clipboard ?? "?")" }.joined(separator: "; ")
        return DoctorCheck(name: "session helpers", status: .ok, detail: "\(guarding.count) connected — \(list)")
    }
}
