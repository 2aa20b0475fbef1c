import ArgumentParser
import BulwarkCollector
import BulwarkCore
import Foundation
import Logging
import Synchronization

@main
struct CollectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark-collector",
        abstract: "Bulwark collector: enrollment CA, telemetry ingest, inventory and API.",
        subcommands: [Init.self, Serve.self, Migrate.self, MigrateStore.self, Config.self, CA.self, EnrollToken.self, APIToken.self, Agent.self, Catalog.self])
}

struct DataOption: ParsableArguments {
    @Option(name: .long, help: "Deployment data directory.")
    var data: String
    @Option(help: "The store, when not the deployment's own SQLite file: postgres://USER@HOST[:PORT]/DATABASE[?sslmode=…] (docs/SCALING.md).")
    var database = ""
    @Option(help: "File holding the PostgreSQL password.") var databasePasswordFile: String?

    func store() async throws -> any CollectorStore {
        try await Deployment.load(directory: data).openStore(database: database, passwordFile: databasePasswordFile)
    }

    /// Revokes one thing by ID, audits the attempt, and fails clearly when the ID is unknown.
    func revoke(_ id: String, action: String, unknown: String, revoke: (any CollectorStore) async throws -> Bool) async throws {
        let store = try await store()
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
        if !data.database.isEmpty {
            // A shared database: its schema first (a database that cannot be used stops init
            // before any file is written), so every collector pointed at it can start.
            let location = try StoreLocation(data.database, passwordFile: data.databasePasswordFile, deploymentDirectory: data.data)
            try await location.open(migrate: true).close()
            print("database \(location) is ready")
        }
        let deployment = try Deployment.initialize(directory: data.data, hostnames: names, createDatabase: data.database.isEmpty)
        print("created deployment in \(data.data)")
        print("server certificate names: \(names.joined(separator: ", "))")
        print("CA SHA-256 fingerprint (give agents --ca-sha256 with this):")
        print(try deployment.authority.fingerprint)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the agent and API listeners until SIGTERM.",
        discussion: "Settings come from --config (collector.yaml, docs/CONFIGURATION.md); options given here win over it.")
    @Option(help: "collector.yaml to read settings from.") var config: String?
    @Option(help: "Deployment data directory (default /var/lib/bulwark-collector).") var data: String?
    @Option(help: "Agent listener (mTLS), HOST:PORT (default 0.0.0.0:8443).") var agentListen: String?
    @Option(help: "Console/API listener (TLS + bearer tokens), HOST:PORT (default 0.0.0.0:9443).") var apiListen: String?
    @Option(help: "Largest compressed request body, bytes.") var maxCompressedBytes: Int?
    @Option(help: "Largest inflated batch, bytes.") var maxInflatedBytes: Int?
    @Option(help: "Most events in one batch.") var maxEventsPerBatch: Int?
    @Option(help: "Lifetime of agent certificates, days.") var agentCertDays: Double?
    @Option(help: "Days events are kept (types without their own --retention).") var retentionDays: Int?
    @Option(name: .customLong("retention"), help: "TYPE=DAYS: a type's own retention, e.g. agent.heartbeat=7 (repeatable).") var typeRetention: [String] = []
    @Option(help: "Days resolved and false-positive incidents are kept (open ones until handled).") var incidentRetentionDays: Int?
    @Option(help: "Seconds between retention passes.") var retentionInterval: Double?
    @Option(help: "Forward every event to this syslog receiver over TLS (RFC 5424/5425), HOST:PORT.") var siemSyslog: String?
    @Option(help: "CA certificate the syslog receiver's certificate is checked against.") var siemSyslogCa: String?
    @Option(help: "Forward every event to this Splunk HEC endpoint, e.g. https://splunk:8088/services/collector/event.") var siemHec: String?
    @Option(help: "File holding the HEC token.") var siemHecTokenFile: String?
    @Option(help: "CA certificate for the HEC endpoint (default: the system's).") var siemHecCa: String?
    @Option(help: "Seconds without a heartbeat after which an agent is stale (bulwark agents --stale, the console).") var staleAfter: Double?
    @Option(help: "The organisation's server certificate chain (PEM, leaf first) instead of the deployment's own.") var tlsCert: String?
    @Option(help: "Its private key (PEM).") var tlsKey: String?
    @Option(help: "The CA certificate(s) it chains to, which agents pin with --ca-sha256.") var tlsCa: String?
    @Option(help: "The organisation's CA(s) whose agent certificates are accepted too (agents register with them).") var tlsClientCa: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String?
    @Option(help: "Log lines as text, journal or json (default: journal under systemd, text otherwise).") var logFormat: String?
    @Option(help: "The store: postgres://USER@HOST[:PORT]/DATABASE[?sslmode=…] for PostgreSQL (several collectors share it); default the deployment's SQLite file.")
    var database: String?
    @Option(help: "File holding the PostgreSQL password.") var databasePasswordFile: String?

    /// collector.yaml with the options given here over it, checked.
    func settings() throws -> CollectorSettings {
        var settings = try config.map(CollectorSettings.load(path:)) ?? CollectorSettings()
        func set<T>(_ value: T?, _ keyPath: WritableKeyPath<CollectorSettings, T>) { if let value { settings[keyPath: keyPath] = value } }
        set(data, \.data)
        set(agentListen, \.agentListen)
        set(apiListen, \.apiListen)
        set(maxCompressedBytes, \.maxCompressedBytes)
        set(maxInflatedBytes, \.maxInflatedBytes)
        set(maxEventsPerBatch, \.maxEventsPerBatch)
        set(agentCertDays, \.agentCertDays)
        set(retentionDays, \.retentionDays)
        for entry in typeRetention {
            guard let (type, days) = RetentionPolicy.parseTypeDays(entry) else {
                throw ValidationError("--retention takes TYPE=DAYS with DAYS ≥ 1, e.g. agent.heartbeat=7; got '\(entry)'")
            }
            settings.retention[type] = days
        }
        set(incidentRetentionDays, \.incidentRetentionDays)
        set(retentionInterval, \.retentionInterval)
        set(siemSyslog, \.siemSyslog)
        set(siemSyslogCa, \.siemSyslogCa)
        set(siemHec, \.siemHec)
        set(siemHecTokenFile, \.siemHecTokenFile)
        set(siemHecCa, \.siemHecCa)
        set(staleAfter, \.staleAfter)
        set(tlsCert, \.tlsCert)
        set(tlsKey, \.tlsKey)
        set(tlsCa, \.tlsCa)
        set(tlsClientCa, \.tlsClientCa)
        set(logLevel, \.logLevel)
        set(logFormat, \.logFormat)
        set(database, \.database)
        set(databasePasswordFile, \.databasePasswordFile)
        if let broken = settings.violations().first(where: { !$0.holds }) {
            throw ValidationError("--\(broken.key.replacingOccurrences(of: "_", with: "-")) \(broken.message)")
        }
        return settings
    }

    func run() async throws {
        var settings = try settings()
        // Logging is set up once: a reload applies every setting but log_level and log_format.
        LogOutput.bootstrap(format: LogFormat(rawValue: settings.logFormat) ?? LogFormat.automatic(), level: LogOutput.level(settings.logLevel) ?? .info)
        let logger = Logger(label: "bulwark-collector")
        let reloads = ReloadSignal()
        while true {
            let server = CollectorServer(deployment: try Deployment.load(directory: settings.data), configuration: try settings.serverConfiguration(), logger: logger)
            // SIGHUP: collector.yaml (with the options over it) is checked; a valid one restarts
            // the listeners with it after in-flight batches finish (agents retry and lose
            // nothing); an invalid one is logged with its line and column and changes nothing.
            let (stops, stop) = AsyncStream<Void>.makeStream()
            let next = Mutex<CollectorSettings?>(nil)
            let command = self
            let watcher = Task {
                for await _ in reloads.requests {
                    do {
                        let loaded = try command.settings()
                        _ = try loaded.serverConfiguration()
                        next.withLock { $0 = loaded }
                        stop.yield()
                        return
                    } catch {
                        logger.error("SIGHUP: \(error); keeping the configuration in force")
                    }
                }
            }
            try await server.run(stopRequests: stops) { name, address in
                // One parseable line per listener: tests and scripts read the bound port from it.
                let line = "bulwark-collector: \(name) listener ready on \(address.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?")\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
            watcher.cancel()
            guard let loaded = next.withLock({ $0 }) else { break }
            settings = loaded
            logger.notice("configuration reloaded", metadata: ["config": "\(config ?? "-")"])
        }
    }
}

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check collector.yaml before the collector loads it.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate collector.yaml: prints 'ok' or the fault as FILE:LINE:COLUMN: what is wrong, and exits 1.")
        @Argument(help: "The file to check.") var path = "/etc/bulwark/collector.yaml"

        func run() throws {
            do {
                let settings = try CollectorSettings.load(path: path)
                // The files it names must be there for serve to start.
                for (key, file) in [("tls_cert", settings.tlsCert), ("tls_key", settings.tlsKey), ("tls_ca", settings.tlsCa), ("tls_client_ca", settings.tlsClientCa),
                                    ("siem_syslog_ca", settings.siemSyslogCa), ("siem_hec_token_file", settings.siemHecTokenFile)]
                where !file.isEmpty && !FileManager.default.fileExists(atPath: file) {
                    throw CollectorSettings.Invalid(reason: "\(path): \(key) names \(file), which does not exist")
                }
                print("\(path): ok")
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}

struct CA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Rotate the deployment CA without re-enrolling agents (docs/DEPLOY.md \"CA rotation\").",
        discussion: "rotate → restart the collector; agents renew onto the new CA (bulwark agents shows when all have) → finish → restart → retire.",
        subcommands: [Status.self, Rotate.self, Finish.self, Retire.self])

    /// Runs one rotation step and audits it.
    static func step(_ data: DataOption, _ action: String, _ body: (Deployment) throws -> String) async throws {
        let deployment = try Deployment.load(directory: data.data)
        let store = try await data.store()
        do {
            let message = try body(deployment)
            try await store.audit(AuditEntry(actor: "cli", action: action, target: "", outcome: "ok"))
            try await store.close()
            print(message)
        } catch {
            try? await store.audit(AuditEntry(actor: "cli", action: action, target: "", outcome: "refused: \(error)"))
            try? await store.close()
            throw ValidationError("\(error)")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The CAs in use, with their fingerprints.")
        @OptionGroup var data: DataOption
        func run() async throws {
            let deployment = try Deployment.load(directory: data.data)
            print("current:  \(try deployment.authority.fingerprint)  (server certificate issuer)")
            if let next = deployment.nextAuthority {
                print("next:     \(try next.fingerprint)  (signs agent certificates; rotation under way)")
            }
            if let previous = deployment.previousCA {
                print("previous: \(try AgentIdentity.fingerprint(of: previous))  (still trusted for agent certificates)")
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a rotation: a new CA signs agent certificates; both are trusted.")
        @OptionGroup var data: DataOption
        func run() async throws {
            try await CA.step(data, "ca.rotate") { deployment in
                let next = try deployment.startRotation()
                return """
                    new CA \(try next.fingerprint)
                    restart the collector: from then on it signs agent certificates with the new CA and agents renew onto it
                    ('bulwark agents' shows each agent's certificate; new agents may pin either fingerprint)
                    """
            }
        }
    }

    struct Finish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make the new CA the deployment CA and issue the server certificate from it.")
        @OptionGroup var data: DataOption
        func run() async throws {
            try await CA.step(data, "ca.finish") { deployment in
                try deployment.finishRotation()
                return """
                    the new CA is the deployment CA and issued the server certificate; the old one stays trusted for agent certificates
                    restart the collector; agents that did not renew meanwhile must re-enroll (they do not trust the new server certificate)
                    """
            }
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop trusting the CA before the last rotation.")
        @OptionGroup var data: DataOption
        func run() async throws {
            try await CA.step(data, "ca.retire") { deployment in
                try deployment.retirePrevious()
                return "the previous CA is no longer trusted after the next collector restart: certificates it signed are refused"
            }
        }
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
            let store = try await data.store()
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
            let store = try await data.store()
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
        @Option(help: "admin, analyst, helpdesk, or metrics (GET /metrics only, for a Prometheus server).") var role: String
        @Option(help: "Who or what uses it.") var name: String

        func run() async throws {
            guard let role = Role(rawValue: role) else { throw ValidationError("--role must be admin, analyst, helpdesk or metrics") }
            let store = try await data.store()
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
            let store = try await data.store()
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
            let store = try await data.store()
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
