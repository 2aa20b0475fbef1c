import ArgumentParser
import BulwarkCollector
import BulwarkCore
import Foundation
import Logging

@main
struct CollectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark-collector",
        abstract: "Bulwark collector: enrollment CA, telemetry ingest, inventory and API.",
        subcommands: [Init.self, Serve.self, EnrollToken.self, APIToken.self, Agent.self, Catalog.self])
}

struct DataOption: ParsableArguments {
    @Option(name: .long, help: "Deployment data directory.")
    var data: String

    func store() throws -> SQLiteStore {
        try Deployment.load(directory: data).openStore()
    }

    /// Revokes one thing by ID, audits the attempt, and fails clearly when the ID is unknown.
    func revoke(_ id: String, action: String, unknown: String, revoke: (SQLiteStore) async throws -> Bool) async throws {
        let store = try store()
        let found = try await revoke(store)
        try await store.audit(AuditEntry(actor: "cli", action: action, target: id, outcome: found ? "ok" : "not found"))
        try await store.close()
        guard found else { throw ValidationError(unknown) }
    }
}

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a deployment: CA, server certificate, HMAC key, database.")
    @OptionGroup var data: DataOption
    @Option(name: .customLong("hostname"), help: "DNS name or IP address agents use to reach the collector (repeatable).")
    var hostnames: [String] = []

    func run() async throws {
        let names = hostnames.isEmpty ? ["localhost", "127.0.0.1", "::1", ProcessInfo.processInfo.hostName] : hostnames
        let deployment = try Deployment.initialize(directory: data.data, hostnames: names)
        print("created deployment in \(data.data)")
        print("server certificate names: \(names.joined(separator: ", "))")
        print("CA SHA-256 fingerprint (give agents --ca-sha256 with this):")
        print(try deployment.authority.fingerprint)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the agent and API listeners until SIGTERM.")
    @OptionGroup var data: DataOption
    @Option(help: "Agent listener (mTLS), HOST:PORT.") var agentListen = "0.0.0.0:8443"
    @Option(help: "Console/API listener (TLS + bearer tokens), HOST:PORT.") var apiListen = "0.0.0.0:9443"
    @Option(help: "Largest compressed request body, bytes.") var maxCompressedBytes = CollectorLimits().maxCompressedBytes
    @Option(help: "Largest inflated batch, bytes.") var maxInflatedBytes = CollectorLimits().maxInflatedBytes
    @Option(help: "Most events in one batch.") var maxEventsPerBatch = CollectorLimits().maxEventsPerBatch
    @Option(help: "Lifetime of agent certificates, days.") var agentCertDays = CollectorLimits().agentCertificateDays
    @Option(help: "Days events are kept (types without their own --retention).") var retentionDays = RetentionPolicy().eventDays
    @Option(name: .customLong("retention"), help: "TYPE=DAYS: a type's own retention, e.g. agent.heartbeat=7 (repeatable).") var typeRetention: [String] = []
    @Option(help: "Days resolved and false-positive incidents are kept (open ones until handled).") var incidentRetentionDays = RetentionPolicy().incidentDays
    @Option(help: "Seconds between retention passes.") var retentionInterval = 3600.0
    @Option(help: "Forward every event to this syslog receiver over TLS (RFC 5424/5425), HOST:PORT.") var siemSyslog: String?
    @Option(help: "CA certificate the syslog receiver's certificate is checked against.") var siemSyslogCa: String?
    @Option(help: "Forward every event to this Splunk HEC endpoint, e.g. https://splunk:8088/services/collector/event.") var siemHec: String?
    @Option(help: "File holding the HEC token.") var siemHecTokenFile: String?
    @Option(help: "CA certificate for the HEC endpoint (default: the system's).") var siemHecCa: String?
    @Option(help: "Seconds without a heartbeat after which an agent is stale (bulwark agents --stale, the console).") var staleAfter = 3600.0
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    /// The SIEMs configured; errors say which option is missing.
    func siemDestinations() throws -> [SIEMDestination] {
        var destinations: [SIEMDestination] = []
        if let siemSyslog {
            guard let ca = siemSyslogCa else { throw ValidationError("--siem-syslog needs --siem-syslog-ca (the receiver's certificate is always checked)") }
            let (host, port) = try ListenAddress.parse(siemSyslog)
            destinations.append(.syslog(host: host, port: port, caPath: ca))
        }
        if let siemHec {
            guard let tokenFile = siemHecTokenFile else { throw ValidationError("--siem-hec needs --siem-hec-token-file") }
            let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw ValidationError("\(tokenFile) holds no HEC token") }
            destinations.append(.hec(url: siemHec, token: token, caPath: siemHecCa))
        }
        return destinations
    }

    func validate() throws {
        guard retentionDays >= 1, incidentRetentionDays >= 1 else { throw ValidationError("retention is at least 1 day") }
        for entry in typeRetention where RetentionPolicy.parseTypeDays(entry) == nil {
            throw ValidationError("--retention takes TYPE=DAYS with DAYS ≥ 1, e.g. agent.heartbeat=7; got '\(entry)'")
        }
        guard retentionInterval >= 1 else { throw ValidationError("--retention-interval is at least 1 second") }
        guard staleAfter >= 10 else { throw ValidationError("--stale-after is at least 10 seconds") }
    }

    func run() async throws {
        var logger = Logger(label: "bulwark-collector")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var limits = CollectorLimits()
        limits.maxCompressedBytes = maxCompressedBytes
        limits.maxInflatedBytes = maxInflatedBytes
        limits.maxEventsPerBatch = maxEventsPerBatch
        limits.agentCertificateDays = agentCertDays
        var configuration = CollectorServer.Configuration(
                agentListen: try ListenAddress.parse(agentListen), apiListen: try ListenAddress.parse(apiListen), limits: limits,
                retention: RetentionPolicy(
                    eventDays: retentionDays, eventDaysByType: Dictionary(typeRetention.compactMap(RetentionPolicy.parseTypeDays), uniquingKeysWith: { $1 }),
                    incidentDays: incidentRetentionDays),
                retentionInterval: .milliseconds(Int(retentionInterval * 1000)), siem: try siemDestinations())
        configuration.staleAfter = staleAfter
        let server = CollectorServer(deployment: try Deployment.load(directory: data.data), configuration: configuration, logger: logger)
        try await server.run { name, address in
            // One parseable line per listener: tests and scripts read the bound port from it.
            let line = "bulwark-collector: \(name) listener ready on \(address.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?")\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
    }
}

enum ListenAddress {
    static func parse(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
            throw ValidationError("'\(text)' is not HOST:PORT")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }
}

struct EnrollToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll-token", abstract: "Create, list and revoke enrollment tokens.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        @OptionGroup var data: DataOption
        @Option(help: "How many agents may enroll with it.") var uses = 1
        @Option(help: "Lifetime, e.g. 24h, 7d.") var ttl = "24h"
        @Option(help: "Free text to recognise it by.") var label = ""

        func run() async throws {
            guard uses >= 1 else { throw ValidationError("--uses must be at least 1") }
            let seconds = try DurationText.seconds(ttl)
            let store = try data.store()
            let secret = SecretToken.generate(prefix: "bwe")
            let now = Date()
            let token = try await store.createEnrollmentToken(
                hash: SecretToken.hash(secret), label: label, maxUses: uses, expiresAt: now.addingTimeInterval(seconds), now: now)
            try await store.audit(AuditEntry(actor: "cli", action: "enroll_token.create", target: token.id, outcome: "ok"))
            try await store.close()
            print(secret)
            FileHandle.standardError.write(Data("token \(token.id): \(uses) use(s), expires \(WireCoding.string(from: token.expiresAt)); shown once, store it now\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var data: DataOption
        func run() async throws {
            let store = try data.store()
            let tokens = try await store.enrollmentTokens()
            try await store.close()
            print("ID            USES  EXPIRES                   STATE     LABEL")
            let now = Date()
            for token in tokens {
                let state = token.revokedAt != nil ? "revoked" : token.expiresAt <= now ? "expired" : token.uses >= token.maxUses ? "used-up" : "active"
                print("\(token.id)  \("\(token.uses)/\(token.maxUses)".padding(toLength: 5, withPad: " ", startingAt: 0)) \(WireCoding.string(from: token.expiresAt))  \(state.padding(toLength: 8, withPad: " ", startingAt: 0))  \(token.label)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        @OptionGroup var data: DataOption
        @Argument(help: "Token ID from 'enroll-token list'.") var id: String
        func run() async throws {
            try await data.revoke(id, action: "enroll_token.revoke", unknown: "no enrollment token with ID \(id); see 'enroll-token list'") {
                try await $0.revokeEnrollmentToken(id: id, now: Date())
            }
            print("revoked enrollment token \(id)")
        }
    }
}

struct APIToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-token", abstract: "Create, list and revoke bearer tokens for the API listener.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        @OptionGroup var data: DataOption
        @Option(help: "admin, analyst or helpdesk.") var role: String
        @Option(help: "Who or what uses it.") var name: String

        func run() async throws {
            guard let role = Role(rawValue: role) else { throw ValidationError("--role must be admin, analyst or helpdesk") }
            let store = try data.store()
            let secret = SecretToken.generate(prefix: "bwa")
            let token = try await store.createAPIToken(hash: SecretToken.hash(secret), name: name, role: role, now: Date())
            try await store.audit(AuditEntry(actor: "cli", action: "api_token.create", target: "\(token.id) \(name) \(role.rawValue)", outcome: "ok"))
            try await store.close()
            print(secret)
            FileHandle.standardError.write(Data("API token \(token.id) for \(name) (\(role.rawValue)); shown once, store it now\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var data: DataOption
        func run() async throws {
            let store = try data.store()
            let tokens = try await store.apiTokens()
            try await store.close()
            print("ID            ROLE      STATE    CREATED                   NAME")
            for token in tokens {
                print("\(token.id)  \(token.role.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0))  \(token.revokedAt == nil ? "active " : "revoked")  \(WireCoding.string(from: token.createdAt))  \(token.name)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        @OptionGroup var data: DataOption
        @Argument(help: "Token ID from 'api-token list'.") var id: String
        func run() async throws {
            try await data.revoke(id, action: "api_token.revoke", unknown: "no API token with ID \(id); see 'api-token list'") {
                try await $0.revokeAPIToken(id: id, now: Date())
            }
            print("revoked API token \(id); it is refused from the next request on")
        }
    }
}

struct Agent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List and revoke agents.", subcommands: [List.self, Revoke.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var data: DataOption
        func run() async throws {
            let store = try data.store()
            let agents = try await store.agents()
            try await store.close()
            for agent in agents {
                print("\(agent.id)  \(agent.hostname)  v\(agent.agentVersion)  last seen \(agent.lastSeen.map(WireCoding.string(from:)) ?? "never")\(agent.revokedAt != nil ? "  REVOKED" : "")")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        @OptionGroup var data: DataOption
        @Argument(help: "Agent ID.") var id: String
        func run() async throws {
            try await data.revoke(id, action: "agent.revoke", unknown: "no agent with ID \(id); see 'bulwark-collector agent list'") {
                try await $0.revokeAgent(id: id, now: Date())
            }
            print("revoked agent \(id); its certificate is refused within a second, on open connections too")
        }
    }
}

struct Catalog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a deployment's AI app catalog override (catalog.yaml) before the collector loads it.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate catalog.yaml (of --data, or --file) and print what it changes; exits non-zero with the fault otherwise.")
        @Option(help: "Deployment data directory whose catalog.yaml to check.")
        var data: String?
        @Option(help: "An override file to check before installing it.")
        var file: String?

        func validate() throws {
            guard (data == nil) != (file == nil) else { throw ValidationError("give exactly one of --data or --file") }
        }

        func run() async throws {
            let path = file ?? ((data ?? ".") as NSString).appendingPathComponent("catalog.yaml")
            let bundled = AIAppCatalog.bundled
            guard FileManager.default.fileExists(atPath: path) else {
                print("no override at \(path): the bundled catalog \(bundled.version) (\(bundled.apps.count) apps) applies")
                return
            }
            let override = try CatalogOverride.load(path: path)
            let merged = bundled.applying(override)
            let replaced = override.apps.filter { bundled.app(id: $0.id) != nil }.map(\.id)
            let added = override.apps.filter { bundled.app(id: $0.id) == nil }.map(\.id)
            print("catalog \(merged.version): \(merged.apps.count) apps")
            print("  added:    \(added.isEmpty ? "-" : added.joined(separator: ", "))")
            print("  replaced: \(replaced.isEmpty ? "-" : replaced.joined(separator: ", "))")
            print("  removed:  \(override.remove.isEmpty ? "-" : override.remove.joined(separator: ", "))")
            for app in override.apps { print("  \(app.id): risk \(app.riskScore) (\(app.category))") }
        }
    }
}
