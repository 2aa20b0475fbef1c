import ArgumentParser
import BulwarkAgent
import BulwarkCore
import Foundation
import Logging
import ServiceLifecycle

@main
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark-agent",
        abstract: "Bulwark endpoint agent: sensors, DLP enforcement, durable telemetry.",
        subcommands: [Enroll.self, Run.self, SelfTestCommand.self, Status.self, Scan.self, PolicyCommand.self, EDMCommand.self, FingerprintCommand.self, ClipboardCommand.self, SessionCommand.self, DoctorCommand.self])
}

struct StateOption: ParsableArguments {
    @Option(name: .long, help: "Agent state directory.")
    var state: String = "/var/lib/bulwark-agent"

    var agentState: AgentState { AgentState(directory: state) }
}

struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Enroll this endpoint with a collector using a one-time token.")
    @OptionGroup var state: StateOption
    @Option(help: "Collector agent endpoint, e.g. https://collector.example:8443.") var collector: String
    @Option(help: "Enrollment token from 'bulwark-collector enroll-token create'.") var token: String
    @Option(name: .customLong("ca-sha256"), help: "SHA-256 fingerprint of the collector's CA, printed by 'bulwark-collector init'.") var caSHA256: String
    @Flag(help: "Generate a new key (and so a new agent ID) instead of reusing the existing one.") var newKey = false

    func run() async throws {
        guard AgentIdentity.normalizedFingerprint(caSHA256).count == 64 else {
            throw ValidationError("--ca-sha256 must be a SHA-256 fingerprint (64 hex digits, ':' allowed)")
        }
        do {
            let grant = try await Enroller(state: state.agentState).enroll(collector: collector, token: token, caSHA256: caSHA256, newKey: newKey)
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
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        var logger = Logger(label: "bulwark-agent")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let configuration = try config.map(AgentConfiguration.load(path:)) ?? AgentConfiguration()
        let service = AgentService(state: state.agentState, configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
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

/// A failure reported as one clear line on stderr with exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
