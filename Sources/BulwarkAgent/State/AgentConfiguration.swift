import Foundation
import BulwarkCore

/// `agent.yaml`: tunables of the running agent. Every field is optional; see agent/agent.yaml.
public struct AgentConfiguration: Sendable {
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

    /// Unattended enrollment (`collector`, `enroll_token`, `ca_sha256`; the `BULWARK_COLLECTOR`,
    /// `BULWARK_ENROLL_TOKEN` and `BULWARK_CA_SHA256` environment variables win): `run` enrolls
    /// with these when the state directory is not enrolled yet.
    public var enrollment = EnrollmentSettings()
    /// Resource watchdog: resident memory limit in MB (0: none).
    public var watchdogMaxRSSMB: Double = 150
    /// Resource watchdog: average CPU limit, percent of one core (0: none).
    public var watchdogMaxCPUPercent: Double = 10
    /// Seconds usage must stay over (or back under) a limit before the watchdog acts.
    public var watchdogWindow: Double = 60
    /// Seconds between the watchdog's samples.
    public var watchdogInterval: Double = 5
    /// `HOST:PORT` on a loopback address for Prometheus (`GET /metrics`); empty: off.
    public var metricsListen = ""
    /// Log level: trace, debug, info, notice, warning, error.
    public var logLevel = "info"
    /// `text`, `journal` (syslog priority prefixes for journald) or `json`; empty picks `journal`
    /// under systemd and `text` otherwise.
    public var logFormat = ""

    public init() {}

    /// Where unattended enrollment goes and with what.
    public struct EnrollmentSettings: Sendable, Equatable {
        public var collector = ""
        public var token = ""
        public var caSHA256 = ""

        public init(collector: String = "", token: String = "", caSHA256: String = "") {
            self.collector = collector
            self.token = token
            self.caSHA256 = caSHA256
        }

        /// Whether enough is given to enroll without a person.
        public var isComplete: Bool { !collector.isEmpty && !token.isEmpty && !caSHA256.isEmpty }
        public var isEmpty: Bool { collector.isEmpty && token.isEmpty && caSHA256.isEmpty }

        /// These settings with the environment's `BULWARK_*` variables taking precedence.
        public func overridden(by environment: [String: String]) -> EnrollmentSettings {
            func value(_ name: String, _ fallback: String) -> String {
                let text = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                return text.isEmpty ? fallback : text
            }
            return EnrollmentSettings(
                collector: value("BULWARK_COLLECTOR", collector), token: value("BULWARK_ENROLL_TOKEN", token),
                caSHA256: value("BULWARK_CA_SHA256", caSHA256))
        }
    }

    /// The keys agent.yaml may hold.
    public static let keys: Set<String> = [
        "heartbeat_interval", "spool_max_bytes", "batch_max_events", "batch_max_bytes", "retry_cap", "retry_base", "poll_interval",
        "renew_fraction", "connect_timeout", "session_socket", "policy_check_interval", "process_sensor", "listener_interval",
        "model_sensor", "model_roots", "policy_sync_interval", "history_interval", "history_roots", "connection_interval",
        "summary_interval", "file_guard", "file_paths", "file_scan_budget_ms", "file_fail_mode", "credential_paths",
        "file_scan_max_bytes", "collector", "enroll_token", "ca_sha256", "watchdog_max_rss_mb", "watchdog_max_cpu_percent",
        "watchdog_window", "watchdog_interval", "metrics_listen", "log_level", "log_format",
    ]

    /// Parses agent.yaml text strictly: unknown keys, wrong kinds and out-of-range values are
    /// faults with line and column, because a typo would otherwise silently keep a default.
    public init(yaml text: String, source: String = "agent.yaml") throws(YAMLFault) {
        self.init()
        let yaml = YAMLSource(source: source)
        guard let root = try yaml.compose(text) else { return }
        // A file of comments only is an empty document: all defaults.
        if root.scalar?.string == "" { return }
        let map = try yaml.map(root, "agent.yaml")
        try map.allow(Self.keys)
        heartbeatInterval = try map.double("heartbeat_interval") ?? heartbeatInterval
        spoolMaxBytes = try map.int("spool_max_bytes") ?? spoolMaxBytes
        batchMaxEvents = try map.int("batch_max_events") ?? batchMaxEvents
        batchMaxBytes = try map.int("batch_max_bytes") ?? batchMaxBytes
        retryCap = try map.double("retry_cap") ?? retryCap
        retryBase = try map.double("retry_base") ?? retryBase
        pollInterval = try map.double("poll_interval") ?? pollInterval
        renewFraction = try map.double("renew_fraction") ?? renewFraction
        connectTimeout = try map.double("connect_timeout") ?? connectTimeout
        // `session_socket: ""` (or an empty value) turns the socket off.
        sessionSocket = try map.string("session_socket") ?? sessionSocket
        policyCheckInterval = try map.double("policy_check_interval") ?? policyCheckInterval
        processSensor = try map.bool("process_sensor") ?? processSensor
        listenerInterval = try map.double("listener_interval") ?? listenerInterval
        modelSensor = try map.bool("model_sensor") ?? modelSensor
        if map["model_roots"] != nil { modelRoots = try map.list("model_roots") }
        policySyncInterval = try map.double("policy_sync_interval") ?? policySyncInterval
        historyInterval = try map.double("history_interval") ?? historyInterval
        if map["history_roots"] != nil { historyRoots = try map.list("history_roots") }
        connectionInterval = try map.double("connection_interval") ?? connectionInterval
        summaryInterval = try map.double("summary_interval") ?? summaryInterval
        fileGuard = try map.bool("file_guard") ?? fileGuard
        if map["file_paths"] != nil { filePaths = try map.list("file_paths") }
        fileScanBudgetMs = try map.double("file_scan_budget_ms") ?? fileScanBudgetMs
        fileFailMode = try map.string("file_fail_mode") ?? fileFailMode
        if map["credential_paths"] != nil { credentialPaths = try map.list("credential_paths") }
        fileScanMaxBytes = try map.int("file_scan_max_bytes") ?? fileScanMaxBytes
        enrollment.collector = try map.string("collector") ?? ""
        enrollment.token = try map.string("enroll_token") ?? ""
        enrollment.caSHA256 = try map.string("ca_sha256") ?? ""
        watchdogMaxRSSMB = try map.double("watchdog_max_rss_mb") ?? watchdogMaxRSSMB
        watchdogMaxCPUPercent = try map.double("watchdog_max_cpu_percent") ?? watchdogMaxCPUPercent
        watchdogWindow = try map.double("watchdog_window") ?? watchdogWindow
        watchdogInterval = try map.double("watchdog_interval") ?? watchdogInterval
        metricsListen = try map.string("metrics_listen") ?? metricsListen
        logLevel = try map.string("log_level") ?? logLevel
        logFormat = try map.string("log_format") ?? logFormat
        for (key, holds, message) in violations() { try map.require(key, holds, "\(key) \(message)") }
    }

    /// Each rule a value must keep: (key, whether it holds, what is expected).
    func violations() -> [(String, Bool, String)] {
        [
            ("heartbeat_interval", heartbeatInterval >= 1, "must be at least 1 second"),
            ("spool_max_bytes", spoolMaxBytes >= 1024 * 1024, "must be at least 1 MiB (1048576)"),
            ("batch_max_events", (1...5_000).contains(batchMaxEvents), "must be 1…5000 (the collector's limit)"),
            ("batch_max_bytes", (1024...4 * 1024 * 1024).contains(batchMaxBytes), "must be 1 KiB…4 MiB"),
            ("retry_base", retryBase > 0, "must be > 0"),
            ("retry_cap", retryCap >= retryBase, "must be ≥ retry_base"),
            ("poll_interval", pollInterval > 0, "must be > 0"),
            ("policy_check_interval", policyCheckInterval >= 0.1, "must be at least 0.1 seconds"),
            ("policy_sync_interval", policySyncInterval >= 0.5, "must be at least 0.5 seconds"),
            ("history_interval", historyInterval == 0 || historyInterval >= 0.5, "must be 0 (off) or at least 0.5 seconds"),
            ("connection_interval", connectionInterval == 0 || connectionInterval >= 0.5, "must be 0 (off) or at least 0.5 seconds"),
            ("summary_interval", summaryInterval == 0 || summaryInterval >= 1, "must be 0 (off) or at least 1 second"),
            ("file_paths", filePaths.allSatisfy { $0.hasPrefix("/") }, "must be absolute paths"),
            ("model_roots", modelRoots.allSatisfy { $0.hasPrefix("/") }, "must be absolute paths"),
            ("history_roots", historyRoots.allSatisfy { $0.hasPrefix("/") }, "must be absolute paths"),
            ("file_scan_budget_ms", (1...5_000).contains(fileScanBudgetMs), "must be from 1 to 5000"),
            ("file_fail_mode", ["open", "closed"].contains(fileFailMode), "must be 'open' or 'closed'"),
            ("file_scan_max_bytes", fileScanMaxBytes >= 4096, "must be at least 4096"),
            ("listener_interval", listenerInterval == 0 || listenerInterval >= 0.5, "must be 0 (off) or at least 0.5 seconds"),
            ("connect_timeout", connectTimeout >= 0.1, "must be at least 0.1 seconds"),
            ("renew_fraction", renewFraction > 0 && renewFraction < 1, "must be between 0 and 1"),
            ("collector", enrollment.collector.isEmpty || enrollment.collector.hasPrefix("https://"), "must be an https:// URL such as https://collector.example.com:8443"),
            ("ca_sha256", enrollment.caSHA256.isEmpty || AgentIdentity.normalizedFingerprint(enrollment.caSHA256).count == 64,
             "must be the CA's SHA-256 fingerprint (64 hex digits, ':' allowed) printed by 'bulwark-collector init'"),
            ("watchdog_max_rss_mb", watchdogMaxRSSMB == 0 || watchdogMaxRSSMB >= 1, "must be 0 (no limit) or at least 1"),
            ("watchdog_max_cpu_percent", (0...400).contains(watchdogMaxCPUPercent), "must be 0 (no limit) to 400"),
            ("watchdog_window", watchdogWindow >= 0.5, "must be at least 0.5 seconds"),
            ("watchdog_interval", watchdogInterval >= 0.1 && watchdogInterval <= watchdogWindow, "must be at least 0.1 seconds and at most watchdog_window"),
            ("metrics_listen", metricsListen.isEmpty || metricsAddress != nil,
             "must be HOST:PORT on a loopback address (127.0.0.1:9464 or [::1]:9464): the agent's metrics are for this host only"),
            ("log_level", Self.logLevels.contains(logLevel), "must be one of \(Self.logLevels.joined(separator: ", "))"),
            ("log_format", logFormat.isEmpty || LogFormat(rawValue: logFormat) != nil, "must be text, journal or json"),
        ]
    }

    /// The watchdog's limits; nil when both are off.
    public var watchdogLimits: ResourceWatchdog.Limits? {
        guard watchdogMaxRSSMB > 0 || watchdogMaxCPUPercent > 0 else { return nil }
        return ResourceWatchdog.Limits(
            rssBytes: Int(watchdogMaxRSSMB * 1_048_576), cpuPercent: watchdogMaxCPUPercent,
            window: .milliseconds(Int(watchdogWindow * 1000)), interval: .milliseconds(Int(watchdogInterval * 1000)))
    }

    /// `metrics_listen` as host and port, when it is a loopback address.
    public var metricsAddress: (host: String, port: Int)? {
        guard let address = ListenAddress.parse(metricsListen), ListenAddress.isLoopback(address.host) else { return nil }
        return address
    }

    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Reads and checks a configuration file; faults carry the path, line and column.
    public static func load(path: String) throws(YAMLFault) -> AgentConfiguration {
        try AgentConfiguration(yaml: try YAMLSource.read(path: path, what: "agent configuration"), source: path)
    }
}
