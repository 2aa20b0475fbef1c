import Foundation
import Yams

/// `agent.yaml`: tunables of the running agent. Every field is optional; see agent/agent.yaml.
public struct AgentConfiguration: Sendable, Decodable {
    /// Seconds between heartbeat events.
    public var heartbeatInterval: Double = 60
    /// Upper bound of the spool on disk, in bytes.
    public var spoolMaxBytes: Int = 256 * 1024 * 1024
    /// Most events in one upload batch.
    public var batchMaxEvents: Int = 2_000
    /// Most bytes of events (before compression) in one upload batch.
    public var batchMaxBytes: Int = 1024 * 1024
    /// Cap of the retry backoff, in seconds.
    public var retryCap: Double = 300
    /// First retry delay, in seconds.
    public var retryBase: Double = 1
    /// How often the uploader looks for new events when idle, in seconds.
    public var pollInterval: Double = 0.5
    /// Renew the client certificate when less than this fraction of its lifetime remains.
    public var renewFraction: Double = 1.0 / 3.0
    /// Seconds to wait for a TCP+TLS connection to the collector before counting a failure.
    public var connectTimeout: Double = 10
    /// The Unix socket session helpers connect to ("" turns it off).
    public var sessionSocket: String = "/run/bulwark-agent/session.sock"
    /// How often the agent looks for a newly installed policy file, in seconds.
    public var policyCheckInterval: Double = 2
    /// Whether the agent discovers AI programs as they run (`ai.process.*` events).
    public var processSensor: Bool = true
    /// Seconds between looks for local AI servers (0 turns the listener sensor off).
    public var listenerInterval: Double = 30
    /// Whether the agent looks for AI model files (the apps' model locations in every home).
    public var modelSensor: Bool = true
    /// More directories to look for model files in.
    public var modelRoots: [String] = []
    /// Seconds between pulls of the collector's policy bundle (app sanction states).
    public var policySyncInterval: Double = 60
    /// Seconds between reads of browser history for AI web app visits (0 turns it off).
    public var historyInterval: Double = 300
    /// More browser data directories to read history from.
    public var historyRoots: [String] = []
    /// Seconds between looks at connections to AI API hosts (0 turns it off).
    public var connectionInterval: Double = 30
    /// Seconds between summaries restating the AI apps still in use (a day; 0 turns them off).
    public var summaryInterval: Double = 86_400
    /// Watch file opens with fanotify and enforce the policy on AI tools' reads and starts.
    public var fileGuard = true
    /// Where files are guarded (their mounts are marked; only paths under these are judged).
    public var filePaths = ["/home", "/srv", "/tmp", "/media"]
    /// Milliseconds an open may wait for a file's first scan before the fail mode answers.
    public var fileScanBudgetMs: Double = 50
    /// `open` (allow, recorded as unchecked) or `closed` (deny) when no verdict comes in time.
    public var fileFailMode = "open"
    /// More credential-file patterns besides the shipped ones (docs/FILES.md).
    public var credentialPaths: [String] = []
    /// Files larger than this are scanned up to it (and marked partial).
    public var fileScanMaxBytes = 8 * 1024 * 1024

    public init() {}

    enum CodingKeys: String, CodingKey {
        case heartbeatInterval = "heartbeat_interval"
        case spoolMaxBytes = "spool_max_bytes"
        case batchMaxEvents = "batch_max_events"
        case batchMaxBytes = "batch_max_bytes"
        case retryCap = "retry_cap"
        case retryBase = "retry_base"
        case pollInterval = "poll_interval"
        case renewFraction = "renew_fraction"
        case connectTimeout = "connect_timeout"
        case sessionSocket = "session_socket"
        case policyCheckInterval = "policy_check_interval"
        case processSensor = "process_sensor"
        case listenerInterval = "listener_interval"
        case modelSensor = "model_sensor"
        case modelRoots = "model_roots"
        case policySyncInterval = "policy_sync_interval"
        case historyInterval = "history_interval"
        case historyRoots = "history_roots"
        case connectionInterval = "connection_interval"
        case summaryInterval = "summary_interval"
        case fileGuard = "file_guard"
        case filePaths = "file_paths"
        case fileScanBudgetMs = "file_scan_budget_ms"
        case fileFailMode = "file_fail_mode"
        case credentialPaths = "credential_paths"
        case fileScanMaxBytes = "file_scan_max_bytes"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = AgentConfiguration()
        heartbeatInterval = try container.decodeIfPresent(Double.self, forKey: .heartbeatInterval) ?? defaults.heartbeatInterval
        spoolMaxBytes = try container.decodeIfPresent(Int.self, forKey: .spoolMaxBytes) ?? defaults.spoolMaxBytes
        batchMaxEvents = try container.decodeIfPresent(Int.self, forKey: .batchMaxEvents) ?? defaults.batchMaxEvents
        batchMaxBytes = try container.decodeIfPresent(Int.self, forKey: .batchMaxBytes) ?? defaults.batchMaxBytes
        retryCap = try container.decodeIfPresent(Double.self, forKey: .retryCap) ?? defaults.retryCap
        retryBase = try container.decodeIfPresent(Double.self, forKey: .retryBase) ?? defaults.retryBase
        pollInterval = try container.decodeIfPresent(Double.self, forKey: .pollInterval) ?? defaults.pollInterval
        renewFraction = try container.decodeIfPresent(Double.self, forKey: .renewFraction) ?? defaults.renewFraction
        connectTimeout = try container.decodeIfPresent(Double.self, forKey: .connectTimeout) ?? defaults.connectTimeout
        // `session_socket: ""` turns the socket off; Yams reads an empty scalar as null, so a key
        // that is present but null means off too, not "use the default".
        if container.contains(.sessionSocket) {
            sessionSocket = try container.decodeNil(forKey: .sessionSocket) ? "" : try container.decode(String.self, forKey: .sessionSocket)
        } else {
            sessionSocket = defaults.sessionSocket
        }
        policyCheckInterval = try container.decodeIfPresent(Double.self, forKey: .policyCheckInterval) ?? defaults.policyCheckInterval
        processSensor = try container.decodeIfPresent(Bool.self, forKey: .processSensor) ?? defaults.processSensor
        listenerInterval = try container.decodeIfPresent(Double.self, forKey: .listenerInterval) ?? defaults.listenerInterval
        modelSensor = try container.decodeIfPresent(Bool.self, forKey: .modelSensor) ?? defaults.modelSensor
        modelRoots = try container.decodeIfPresent([String].self, forKey: .modelRoots) ?? defaults.modelRoots
        policySyncInterval = try container.decodeIfPresent(Double.self, forKey: .policySyncInterval) ?? defaults.policySyncInterval
        historyInterval = try container.decodeIfPresent(Double.self, forKey: .historyInterval) ?? defaults.historyInterval
        historyRoots = try container.decodeIfPresent([String].self, forKey: .historyRoots) ?? defaults.historyRoots
        connectionInterval = try container.decodeIfPresent(Double.self, forKey: .connectionInterval) ?? defaults.connectionInterval
        summaryInterval = try container.decodeIfPresent(Double.self, forKey: .summaryInterval) ?? defaults.summaryInterval
        fileGuard = try container.decodeIfPresent(Bool.self, forKey: .fileGuard) ?? defaults.fileGuard
        filePaths = try container.decodeIfPresent([String].self, forKey: .filePaths) ?? defaults.filePaths
        fileScanBudgetMs = try container.decodeIfPresent(Double.self, forKey: .fileScanBudgetMs) ?? defaults.fileScanBudgetMs
        fileFailMode = try container.decodeIfPresent(String.self, forKey: .fileFailMode) ?? defaults.fileFailMode
        credentialPaths = try container.decodeIfPresent([String].self, forKey: .credentialPaths) ?? defaults.credentialPaths
        fileScanMaxBytes = try container.decodeIfPresent(Int.self, forKey: .fileScanMaxBytes) ?? defaults.fileScanMaxBytes
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "invalid agent configuration \(path): \(reason)" }
    }

    /// Loads and checks a YAML configuration file.
    public static func load(path: String) throws -> AgentConfiguration {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Invalid(path: path, reason: "cannot read it (\(error.localizedDescription))")
        }
        let configuration: AgentConfiguration
        do {
            configuration = text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
                ? AgentConfiguration() : try YAMLDecoder().decode(AgentConfiguration.self, from: text)
        } catch {
            throw Invalid(path: path, reason: "\(error)")
        }
        try configuration.check(path: path)
        return configuration
    }

    func check(path: String) throws {
        func require(_ condition: Bool, _ reason: String) throws {
            if !condition { throw Invalid(path: path, reason: reason) }
        }
        try require(heartbeatInterval >= 1, "heartbeat_interval must be at least 1 second")
        try require(spoolMaxBytes >= 1024 * 1024, "spool_max_bytes must be at least 1 MiB")
        try require((1...5_000).contains(batchMaxEvents), "batch_max_events must be 1…5000 (the collector's limit)")
        try require((1024...4 * 1024 * 1024).contains(batchMaxBytes), "batch_max_bytes must be 1 KiB…4 MiB")
        try require(retryBase > 0 && retryCap >= retryBase, "retry_base must be > 0 and retry_cap ≥ retry_base")
        try require(pollInterval > 0, "poll_interval must be > 0")
        try require(policyCheckInterval >= 0.1, "policy_check_interval must be at least 0.1 seconds")
        try require(policySyncInterval >= 0.5, "policy_sync_interval must be at least 0.5 seconds")
        try require(historyInterval == 0 || historyInterval >= 0.5, "history_interval must be 0 (off) or at least 0.5 seconds")
        try require(connectionInterval == 0 || connectionInterval >= 0.5, "connection_interval must be 0 (off) or at least 0.5 seconds")
        try require(summaryInterval == 0 || summaryInterval >= 1, "summary_interval must be 0 (off) or at least 1 second")
        try require(filePaths.allSatisfy { $0.hasPrefix("/") }, "file_paths must be absolute paths")
        try require((1...5_000).contains(fileScanBudgetMs), "file_scan_budget_ms must be from 1 to 5000")
        try require(["open", "closed"].contains(fileFailMode), "file_fail_mode must be 'open' or 'closed'")
        try require(fileScanMaxBytes >= 4096, "file_scan_max_bytes must be at least 4096")
        try require(listenerInterval == 0 || listenerInterval >= 0.5, "listener_interval must be 0 (off) or at least 0.5 seconds")
        try require(connectTimeout >= 0.1, "connect_timeout must be at least 0.1 seconds")
        try require(renewFraction > 0 && renewFraction < 1, "renew_fraction must be between 0 and 1")
    }
}
