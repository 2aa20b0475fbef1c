import BulwarkCore
import Foundation

/// Everything `bulwark-collector serve` runs with: collector.yaml (docs/CONFIGURATION.md), then
/// command-line options over it. Keys are the options' names with `_` for `-`.
public struct CollectorSettings: Sendable, Equatable {
    public var data = "/var/lib/bulwark-collector"
    public var agentListen = "0.0.0.0:8443"
    public var apiListen = "0.0.0.0:9443"
    public var maxCompressedBytes = CollectorLimits().maxCompressedBytes
    public var maxInflatedBytes = CollectorLimits().maxInflatedBytes
    public var maxEventsPerBatch = CollectorLimits().maxEventsPerBatch
    public var agentCertDays = CollectorLimits().agentCertificateDays
    public var retentionDays = RetentionPolicy().eventDays
    /// Per event type, e.g. `agent.heartbeat: 7`.
    public var retention: [String: Int] = [:]
    public var incidentRetentionDays = RetentionPolicy().incidentDays
    public var retentionInterval = 3600.0
    public var siemSyslog = ""
    public var siemSyslogCa = ""
    public var siemHec = ""
    public var siemHecTokenFile = ""
    public var siemHecCa = ""
    public var staleAfter = 3600.0
    public var tlsCert = ""
    public var tlsKey = ""
    public var tlsCa = ""
    /// The organisation's CA(s) whose agent certificates are accepted besides the deployment's.
    public var tlsClientCa = ""
    public var logLevel = "info"
    /// Empty: `journal` under systemd, `text` otherwise.
    public var logFormat = ""
    /// The store: empty for the deployment's SQLite file; `postgres://USER@HOST/DB?sslmode=…`
    /// for PostgreSQL, which several collectors can share.
    public var database = ""
    /// A file holding the PostgreSQL password (not in the URL, not on a command line).
    public var databasePasswordFile = ""

    public init() {}

    /// The keys collector.yaml may hold.
    public static let keys: Set<String> = [
        "data", "agent_listen", "api_listen", "max_compressed_bytes", "max_inflated_bytes", "max_events_per_batch", "agent_cert_days",
        "retention_days", "retention", "incident_retention_days", "retention_interval", "siem_syslog", "siem_syslog_ca", "siem_hec",
        "siem_hec_token_file", "siem_hec_ca", "stale_after", "tls_cert", "tls_key", "tls_ca", "tls_client_ca", "log_level", "log_format",
        "database", "database_password_file",
    ]

    /// Parses collector.yaml strictly; faults carry line and column.
    public init(yaml text: String, source: String = "collector.yaml") throws(YAMLFault) {
        self.init()
        let yaml = YAMLSource(source: source)
        guard let root = try yaml.compose(text), root.scalar?.string != "" else { return }
        let map = try yaml.map(root, "collector.yaml")
        try map.allow(Self.keys)
        data = try map.string("data") ?? data
        agentListen = try map.string("agent_listen") ?? agentListen
        apiListen = try map.string("api_listen") ?? apiListen
        maxCompressedBytes = try map.int("max_compressed_bytes") ?? maxCompressedBytes
        maxInflatedBytes = try map.int("max_inflated_bytes") ?? maxInflatedBytes
        maxEventsPerBatch = try map.int("max_events_per_batch") ?? maxEventsPerBatch
        agentCertDays = try map.double("agent_cert_days") ?? agentCertDays
        retentionDays = try map.int("retention_days") ?? retentionDays
        if let node = map["retention"], node.scalar?.string != "" {
            let types = try yaml.map(node, "retention")
            for (type, _, _) in types.pairs {
                guard let days = try types.int(type), days >= 1 else { throw yaml.fail(types[type] ?? node, "retention of \(type) must be a whole number of days ≥ 1") }
                retention[type] = days
            }
        }
        incidentRetentionDays = try map.int("incident_retention_days") ?? incidentRetentionDays
        retentionInterval = try map.double("retention_interval") ?? retentionInterval
        siemSyslog = try map.string("siem_syslog") ?? ""
        siemSyslogCa = try map.string("siem_syslog_ca") ?? ""
        siemHec = try map.string("siem_hec") ?? ""
        siemHecTokenFile = try map.string("siem_hec_token_file") ?? ""
        siemHecCa = try map.string("siem_hec_ca") ?? ""
        staleAfter = try map.double("stale_after") ?? staleAfter
        tlsCert = try map.string("tls_cert") ?? ""
        tlsKey = try map.string("tls_key") ?? ""
        tlsCa = try map.string("tls_ca") ?? ""
        tlsClientCa = try map.string("tls_client_ca") ?? ""
        logLevel = try map.string("log_level") ?? logLevel
        logFormat = try map.string("log_format") ?? logFormat
        database = try map.string("database") ?? ""
        databasePasswordFile = try map.string("database_password_file") ?? ""
        for (key, holds, message) in violations() { try map.require(key, holds, "\(key) \(message)") }
    }

    /// Reads and checks collector.yaml.
    public static func load(path: String) throws(YAMLFault) -> CollectorSettings {
        try CollectorSettings(yaml: try YAMLSource.read(path: path, what: "collector configuration"), source: path)
    }

    /// Each rule a value must keep: (key, whether it holds, what is expected).
    public func violations() -> [(key: String, holds: Bool, message: String)] {
        let tls = [tlsCert, tlsKey, tlsCa]
        return [
            ("data", !data.isEmpty, "must name the deployment directory"),
            ("agent_listen", ListenAddress.parse(agentListen) != nil, "must be HOST:PORT, e.g. 0.0.0.0:8443"),
            ("api_listen", ListenAddress.parse(apiListen) != nil, "must be HOST:PORT, e.g. 0.0.0.0:9443"),
            ("max_compressed_bytes", maxCompressedBytes >= 1024, "must be at least 1024"),
            ("max_inflated_bytes", maxInflatedBytes >= maxCompressedBytes, "must be at least max_compressed_bytes"),
            ("max_events_per_batch", maxEventsPerBatch >= 1, "must be at least 1"),
            ("agent_cert_days", agentCertDays > 0 && agentCertDays <= 825, "must be more than 0 and at most 825 days"),
            ("retention_days", retentionDays >= 1, "must be at least 1 day"),
            ("incident_retention_days", incidentRetentionDays >= 1, "must be at least 1 day"),
            ("retention_interval", retentionInterval >= 1, "must be at least 1 second"),
            ("stale_after", staleAfter >= 10, "must be at least 10 seconds"),
            ("siem_syslog", siemSyslog.isEmpty || ListenAddress.parse(siemSyslog) != nil, "must be HOST:PORT of a syslog-over-TLS receiver"),
            ("siem_syslog_ca", siemSyslog.isEmpty || !siemSyslogCa.isEmpty, "is required with siem_syslog (the receiver's certificate is always checked)"),
            ("siem_hec", siemHec.isEmpty || siemHec.hasPrefix("https://") || siemHec.hasPrefix("http://"), "must be the HEC endpoint's URL"),
            ("siem_hec_token_file", siemHec.isEmpty || !siemHecTokenFile.isEmpty, "is required with siem_hec"),
            ("tls_cert", tls.allSatisfy(\.isEmpty) || tls.allSatisfy { !$0.isEmpty }, "tls_cert, tls_key and tls_ca go together (the organisation's server certificate, its key, and the CA agents pin)"),
            ("log_level", LogOutput.level(logLevel) != nil, "must be trace, debug, info, notice, warning, error or critical"),
            ("log_format", logFormat.isEmpty || LogFormat(rawValue: logFormat) != nil, "must be text, journal or json"),
            ("database", database.isEmpty || database.hasPrefix("sqlite:") || (try? PostgresLocation(url: database)) != nil,
             "must be sqlite:PATH or postgres://USER@HOST[:PORT]/DATABASE[?sslmode=disable|require|verify-full&sslrootcert=CA.pem]"),
            ("database_password_file", databasePasswordFile.isEmpty || PostgresLocation.isPostgresURL(database), "goes with a postgres:// database"),
        ]
    }

    /// What the server runs with. Reads the HEC token file, the only secret not in the data directory.
    public func serverConfiguration() throws -> CollectorServer.Configuration {
        var limits = CollectorLimits()
        limits.maxCompressedBytes = maxCompressedBytes
        limits.maxInflatedBytes = maxInflatedBytes
        limits.maxEventsPerBatch = maxEventsPerBatch
        limits.agentCertificateDays = agentCertDays
        guard let agent = ListenAddress.parse(agentListen), let api = ListenAddress.parse(apiListen) else {
            throw Invalid(reason: "agent_listen and api_listen must be HOST:PORT")
        }
        var configuration = CollectorServer.Configuration(
            agentListen: agent, apiListen: api, limits: limits,
            retention: RetentionPolicy(eventDays: retentionDays, eventDaysByType: retention, incidentDays: incidentRetentionDays),
            retentionInterval: .milliseconds(Int(retentionInterval * 1000)), siem: try siemDestinations())
        configuration.staleAfter = staleAfter
        if !tlsCert.isEmpty {
            configuration.tlsFiles = ServerTLSIdentity.Files(certificate: tlsCert, key: tlsKey, authority: tlsCa)
        }
        if !tlsClientCa.isEmpty { configuration.clientCAFile = tlsClientCa }
        configuration.database = database
        configuration.databasePasswordFile = databasePasswordFile.isEmpty ? nil : databasePasswordFile
        return configuration
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }

        public init(reason: String) {
            self.reason = reason
        }
    }

    func siemDestinations() throws -> [SIEMDestination] {
        var destinations: [SIEMDestination] = []
        if !siemSyslog.isEmpty, let (host, port) = ListenAddress.parse(siemSyslog) {
            destinations.append(.syslog(host: host, port: port, caPath: siemSyslogCa))
        }
        if !siemHec.isEmpty {
            let token: String
            do { token = try SecureFile.readText(siemHecTokenFile).trimmingCharacters(in: .whitespacesAndNewlines) } catch {
                throw Invalid(reason: "cannot read the HEC token file \(siemHecTokenFile): \(error)")
            }
            guard !token.isEmpty else { throw Invalid(reason: "\(siemHecTokenFile) holds no HEC token") }
            destinations.append(.hec(url: siemHec, token: token, caPath: siemHecCa.isEmpty ? nil : siemHecCa))
        }
        return destinations
    }
}
