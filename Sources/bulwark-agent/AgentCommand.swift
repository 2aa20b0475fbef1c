import ArgumentParser
import BulwarkAgent
import BulwarkCore
import Foundation
import Logging
import ServiceLifecycle
import X509
import Synchronization

@main
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark-agent",
        abstract: "Bulwark endpoint agent: sensors, DLP enforcement, durable telemetry.",
        subcommands: [Enroll.self, Run.self, SelfTestCommand.self, Status.self, Scan.self, PolicyCommand.self, EDMCommand.self, FingerprintCommand.self, ClipboardCommand.self, SessionCommand.self, NativeHostCommand.self, DoctorCommand.self, ConfigCommand.self, TamperCommand.self, CSRCommand.self])
}

struct StateOption: ParsableArguments {
    @Option(name: .long, help: "Agent state directory.")
    var state: String = "/var/lib/bulwark-agent"

    var agentState: AgentState { AgentState(directory: state) }
}

struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Enroll this endpoint with a collector using a one-time token.",
        discussion: "Options not given come from --config (collector, enroll_token, ca_sha256), then BULWARK_COLLECTOR, BULWARK_ENROLL_TOKEN, BULWARK_CA_SHA256.")
    @OptionGroup var state: StateOption
    @Option(help: "Collector agent endpoint, e.g. https://collector.example:8443.") var collector: String?
    @Option(help: "Enrollment token from 'bulwark-collector enroll-token create'.") var token: String?
    @Option(help: "Instead of a token: a certificate the organisation's CA issued for this agent's key ('bulwark-agent csr'); the collector must trust that CA (tls_client_ca).") var certificate: String?
    @Option(name: .customLong("ca-sha256"), help: "SHA-256 fingerprint of the collector's CA, printed by 'bulwark-collector init'.") var caSHA256: String?
    @Option(help: "agent.yaml to take unattended enrollment settings from.") var config: String?
    @Flag(help: "Generate a new key (and so a new agent ID) instead of reusing the existing one.") var newKey = false

    func run() async throws {
        var settings = try (config.map(AgentConfiguration.load(path:)) ?? AgentConfiguration()).enrollment
            .overridden(by: ProcessInfo.processInfo.environment)
        if let collector { settings.collector = collector }
        if let token { settings.token = token }
        if let caSHA256 { settings.caSHA256 = caSHA256 }
        if let certificate {
            guard !settings.collector.isEmpty, AgentIdentity.normalizedFingerprint(settings.caSHA256).count == 64 else {
                throw ValidationError("--certificate needs --collector and --ca-sha256")
            }
            let pem: String
            do { pem = try String(contentsOfFile: certificate, encoding: .utf8) } catch { throw ValidationError("cannot read \(certificate): \(error.localizedDescription)") }
            do {
                let grant = try await Enroller(state: state.agentState).enroll(collector: settings.collector, certificatePEM: pem, caSHA256: settings.caSHA256)
                print("registered as agent \(grant.agentID) with the organisation's certificate, valid until \(WireCoding.string(from: grant.notAfter))")
                return
            } catch let error as CollectorError {
                throw CommandFailure("enrollment failed: \(error)")
            }
        }
        guard settings.isComplete else {
            throw ValidationError("give --collector, --token and --ca-sha256 (or set them in --config / BULWARK_COLLECTOR, BULWARK_ENROLL_TOKEN, BULWARK_CA_SHA256)")
        }
        guard AgentIdentity.normalizedFingerprint(settings.caSHA256).count == 64 else {
            throw ValidationError("--ca-sha256 must be a SHA-256 fingerprint (64 hex digits, ':' allowed)")
        }
        do {
            let grant = try await Enroller(state: state.agentState).enroll(
                collector: settings.collector, token: settings.token, caSHA256: settings.caSHA256, newKey: newKey)
            print("enrolled as agent \(grant.agentID); certificate valid until \(WireCoding.string(from: grant.notAfter))")
        } catch let error as CollectorError {
            throw CommandFailure("enrollment failed: \(error)")
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the agent service until SIGTERM.")
    @OptionGroup var state: StateOption
    @Option(help: "agent.yaml with tunables.") var config: String?
    @Option(help: "Log level (overrides log_level): trace, debug, info, notice, warning, error.") var logLevel: String?
    @Option(help: "Log lines as text, journal or json (overrides log_format; default: journal under systemd, text otherwise).") var logFormat: String?

    func validate() throws {
        if let logLevel, LogOutput.level(logLevel) == nil { throw ValidationError("--log-level must be trace, debug, info, notice, warning or error") }
        if let logFormat, LogFormat(rawValue: logFormat) == nil { throw ValidationError("--log-format must be text, journal or json") }
    }

    func run() async throws {
        var configuration = try config.map(AgentConfiguration.load(path:)) ?? AgentConfiguration()
        // Logging is set up once: a reload applies every setting but log_level and log_format.
        let format = LogFormat(rawValue: logFormat ?? configuration.logFormat) ?? LogFormat.automatic()
        LogOutput.bootstrap(format: format, level: LogOutput.level(logLevel ?? configuration.logLevel) ?? .info)
        let logger = Logger(label: "bulwark-agent")
        let reloads = ReloadSignal()
        while true {
            let lifecycle = AgentLifecycle()
            let service = AgentService(state: state.agentState, configuration: configuration, logger: logger, lifecycle: lifecycle)
            let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            let next = Mutex<AgentConfiguration?>(nil)
            let path = config
            // SIGHUP: a configuration that checks out replaces the running one; one that does not
            // is logged with its line and column, and the agent carries on as it was.
            let watcher = Task {
                for await _ in reloads.requests {
                    guard let path else {
                        logger.warning("SIGHUP: the agent runs without --config; nothing to reload")
                        continue
                    }
                    do {
                        let loaded = try AgentConfiguration.load(path: path)
                        next.withLock { $0 = loaded }
                        lifecycle.markReloading()
                        await group.triggerGracefulShutdown()
                        return
                    } catch {
                        logger.error("SIGHUP: \(error); keeping the configuration in force")
                    }
                }
            }
            try await group.run()
            watcher.cancel()
            guard lifecycle.isReloading, let loaded = next.withLock({ $0 }) else { break }
            configuration = loaded
            logger.notice("configuration reloaded", metadata: ["path": "\(path ?? "")"])
        }
    }
}

struct SelfTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Send agent.selftest events through the real pipeline and wait for the collector's acknowledgement.")
    @OptionGroup var state: StateOption
    @Option(help: "How many self-test events to send.") var count = 1
    @Option(help: "Seconds to wait for the acknowledgement.") var timeout = 30
    @Flag(help: "Spool the events and return without waiting.") var noWait = false

    func run() async throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        let selfTest = SelfTest(state: state.agentState)
        let seqs = try selfTest.emit(count: count)
        print("spooled \(count) agent.selftest event(s), seq \(seqs.lowerBound)…\(seqs.upperBound)")
        if noWait { return }
        switch try await selfTest.wait(for: seqs, timeout: .seconds(timeout)) {
        case .acknowledged(_, let after):
            print("acknowledged by the collector after \(after.formatted(.units(allowed: [.seconds, .milliseconds], width: .abbreviated)))")
        case .stuck(let reason):
            throw CommandFailure("selftest failed: \(reason)")
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show enrollment, collector reachability, spool and certificate state.")
    @OptionGroup var state: StateOption
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let report = try await AgentStatusReport.gather(state: state.agentState)
        if json {
            print(String(decoding: try WireCoding.encoder().encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
    }
}

struct CSRCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csr",
        abstract: "Print a certificate signing request for this agent's key (made if missing), for the organisation's CA.",
        discussion: "Have it signed (certs/issue-agent.sh), then 'bulwark-agent enroll --certificate agent.pem --collector … --ca-sha256 …'.")
    @OptionGroup var state: StateOption

    func run() throws {
        let agentState = state.agentState
        try agentState.prepare()
        let key = try agentState.loadOrCreateKey()
        print(try Enroller.csrPEM(for: key), terminator: "")
        FileHandle.standardError.write(Data("agent \(try AgentIdentity.agentID(for: Certificate.PublicKey(key.publicKey))) (key \(agentState.keyPath))\n".utf8))
    }
}

struct TamperCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tamper",
        abstract: "Record that the agent is being switched off (agent.tamper) and deliver it now.",
        discussion: "The package's prerm runs 'tamper --action uninstalling' before the agent is removed. Events that cannot be delivered in time stay in the spool.")
    @OptionGroup var state: StateOption
    @Option(help: "agent.yaml (batch sizes, timeouts).") var config = "/etc/bulwark/agent.yaml"
    @Option(help: "What is happening, e.g. uninstalling.") var action: String
    @Option(help: "Said with it.") var detail = "the bulwark-agent package is being removed: the agent stops watching and enforcing"
    @Option(help: "Seconds to try delivering.") var timeout = 5.0

    func run() async throws {
        let agentState = state.agentState
        guard FileManager.default.fileExists(atPath: agentState.enrollmentPath) else {
            print("not enrolled: nothing to report to")
            return
        }
        let configuration = FileManager.default.fileExists(atPath: config) ? try AgentConfiguration.load(path: config) : AgentConfiguration()
        let spool = try SpoolStore(path: agentState.spoolPath, maxBytes: configuration.spoolMaxBytes)
        // Who ran it, when sudo says (the package manager runs as root).
        var data: [String: JSONValue] = ["action": .string(action), "detail": .string(detail)]
        if let uid = ProcessInfo.processInfo.environment["SUDO_UID"].flatMap(Int.init) { data["uid"] = .number(Double(uid)) }
        try spool.append([EventDraft(type: EventType.tamper, data: data, priority: .decision)])
        let logger = Logger(label: "bulwark-agent")
        let delivered = await Uploader(state: agentState, spool: spool, configuration: configuration, logger: logger).flush(within: .milliseconds(Int(timeout * 1000)))
        let depth = (try? spool.status().depth) ?? -1
        print("recorded agent.tamper (\(action)); delivered \(delivered) event(s), \(depth) left in the spool")
    }
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check agent.yaml before the agent loads it.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate agent.yaml: prints 'ok' or each fault as FILE:LINE:COLUMN: what is wrong, and exits 1.")
        @Argument(help: "The file to check.") var path = "/etc/bulwark/agent.yaml"

        func run() throws {
            do {
                let configuration = try AgentConfiguration.load(path: path)
                let enrollment = configuration.enrollment.overridden(by: ProcessInfo.processInfo.environment)
                print("\(path): ok")
                if !enrollment.isEmpty && !enrollment.isComplete {
                    print("note: unattended enrollment needs collector, enroll_token and ca_sha256 together; it is off until all three are set")
                }
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}

/// A failure reported as one clear line on stderr with exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
