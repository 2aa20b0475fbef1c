import BulwarkAgent
import BulwarkCollector
import BulwarkCore
import Foundation
import BulwarkTestSupport

/// A real collector deployment and agents on loopback, in a temporary directory.
final class Cluster: @unchecked Sendable {
    let root: String
    let dataDir: String
    let agentPort: Int
    let apiPort: Int
    /// The CA agents pin and clients trust: the deployment's, or the organisation's with bring-your-own PKI.
    var fingerprint = ""
    private(set) var collector: ChildProcess?
    private var collectorStarts = 0
    var collectorArguments: [String] = []

    /// Where agents reach the collector: its agent listener, or a load balancer in front of several.
    lazy var collectorURL = "https://127.0.0.1:\(agentPort)"
    var apiURL: String { "https://127.0.0.1:\(apiPort)" }
    lazy var caPath: String = dataDir + "/ca.pem"

    /// A tmpfs mounted for the collector's data, when the test needs to fill its disk.
    let filesystem: String?
    /// The PostgreSQL database the collectors share (nil: the deployment's SQLite file).
    let database: String?
    /// `--data DIR`, with `--database URL` when the store is PostgreSQL: what every collector command takes.
    var dataArguments: [String] { ["--data", dataDir] + (database.map { ["--database", $0] } ?? []) }

    /// - Parameter tmpfsMegabytes: put the collector's data on a tmpfs of this size (needs root).
    /// - Parameter database: a PostgreSQL URL for the store (`init` migrates it).
    init(name: String = #function, tmpfsMegabytes: Int? = nil, database: String? = nil) throws {
        self.database = database
        let base = FileManager.default.temporaryDirectory.path
        root = "\(base)/bulwark-e2e-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        if let tmpfsMegabytes {
            let mountPoint = root + "/fs"
            try Self.mountTmpfs(at: mountPoint, megabytes: tmpfsMegabytes)
            filesystem = mountPoint
            dataDir = mountPoint + "/collector"
        } else {
            filesystem = nil
            dataDir = root + "/collector"
        }
        agentPort = freePort()
        apiPort = freePort()
        let result = try collectorCLI(["init"] + dataArguments + ["--hostname", "localhost", "--hostname", "127.0.0.1"])
        guard result.status == 0, let last = result.stdout.split(separator: "\n").last else {
            throw TestFailure.command("init failed: \(result.output)")
        }
        fingerprint = String(last)
    }

    /// Mounts a tmpfs of the given size (needs root); `unmount` or the cluster's deinit removes it.
    static func mountTmpfs(at mountPoint: String, megabytes: Int) throws {
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mounted = try run("mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", mountPoint])
        guard mounted.status == 0 else { throw TestFailure.command("mount tmpfs (needs root): \(mounted.output)") }
    }

    /// Extra mounts to remove at the end.
    var mounts: [String] = []

    /// A new deployment with its collector already serving.
    static func started(name: String = #function, tmpfsMegabytes: Int? = nil) throws -> Cluster {
        let cluster = try Cluster(name: name, tmpfsMegabytes: tmpfsMegabytes)
        try cluster.startCollector()
        return cluster
    }

    @discardableResult
    func collectorCLI(_ arguments: [String]) throws -> CommandResult {
        try run(Binaries.path("bulwark-collector"), arguments)
    }

    @discardableResult
    func agentCLI(_ arguments: [String], timeout: Double = 120) throws -> CommandResult {
        try run(Binaries.path("bulwark-agent"), arguments, timeout: timeout)
    }

    func startCollector() throws {
        collectorStarts += 1
        let process = try ChildProcess(
            Binaries.path("bulwark-collector"),
            ["serve"] + dataArguments + ["--agent-listen", "127.0.0.1:\(agentPort)", "--api-listen", "127.0.0.1:\(apiPort)"] + collectorArguments,
            logPath: "\(root)/collector-\(collectorStarts).log")
        try process.waitForLog("agent listener ready")
        try process.waitForLog("api listener ready")
        collector = process
    }

    func stopCollector() {
        collector?.stop()
        collector = nil
    }

    /// A new enrollment token.
    func enrollToken(uses: Int = 1, ttl: String = "1h") throws -> String {
        let result = try collectorCLI(["enroll-token", "create"] + dataArguments + ["--uses", "\(uses)", "--ttl", ttl])
        guard result.status == 0 else { throw TestFailure.command("token: \(result.output)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What the `bulwark` CLI runs with in tests: this collector, its CA, a new token of `role`,
    /// and nothing from the runner's own environment or saved login.
    func cliEnvironment(role: String) throws -> [String: String] {
        ["PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": root + "/none", "BULWARK_API": apiURL, "BULWARK_CA": caPath, "BULWARK_TOKEN": try apiToken(role: role)]
    }

    func apiToken(role: String = "analyst") throws -> String {
        let result = try collectorCLI(["api-token", "create"] + dataArguments + ["--role", role, "--name", "test-\(role)"])
        guard result.status == 0 else { throw TestFailure.command("api token: \(result.output)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Enrolls a new agent and returns its handle (not yet running).
    func enrollAgent(name: String = "agent", token: String? = nil, configuration: String = Cluster.fastAgentConfig) throws -> AgentHandle {
        let agent = AgentHandle(cluster: self, directory: "\(root)/\(name)")
        let result = try agentCLI(["enroll", "--state", agent.directory, "--collector", collectorURL, "--token", try token ?? enrollToken(), "--ca-sha256", fingerprint])
        guard result.status == 0 else { throw TestFailure.command("enroll failed: \(result.output)") }
        try configuration.write(toFile: agent.configPath, atomically: true, encoding: .utf8)
        return agent
    }

    /// Short retry and poll times so tests do not wait on production backoff.
    static let fastAgentConfig = """
        heartbeat_interval: 5
        retry_base: 0.2
        retry_cap: 1
        poll_interval: 0.1
        connect_timeout: 1
        session_socket: ""
        process_sensor: false
        listener_interval: 0
        model_sensor: false
        policy_sync_interval: 0.5
        history_interval: 0
        connection_interval: 0
        file_guard: false
        """

    /// Opens the collector's SQLite file directly (WAL allows reading while it serves).
    func store() throws -> SQLiteStore {
        try SQLiteStore(path: dataDir + "/collector.db")
    }

    /// `curl` as an independent HTTPS client; returns (HTTP status, body). Status 0 means no
    /// HTTP answer (TLS refused, connection failed) and the body then holds curl's error.
    func curl(_ arguments: [String]) throws -> (status: Int, body: String, result: CommandResult) {
        let result = try run("curl", ["-sS", "--cacert", caPath, "-o", "-", "-w", "\n%{http_code}"] + arguments)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "0") ?? 0
        return (status, lines.dropLast().joined(separator: "\n") + result.stderr, result)
    }

    func shutdown() {
        stopCollector()
    }

    deinit {
        collector?.kill9()
        // Lazy: a log file handle the test process still holds must not leave the mount behind.
        for mount in mounts.reversed() { _ = try? run("umount", ["-l", mount]) }
        if let filesystem { _ = try? run("umount", ["-l", filesystem]) }
        if ProcessInfo.processInfo.environment["BULWARK_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(atPath: root)
        }
    }
}

/// One enrolled agent's state directory and its `run` process.
final class AgentHandle: @unchecked Sendable {
    unowned let cluster: Cluster
    let directory: String
    private(set) var process: ChildProcess?
    private var starts = 0
    /// A command `bulwark-agent run` is started under, e.g. `unshare --mount` (empty: none).
    var launcher: [String] = []

    init(cluster: Cluster, directory: String) {
        self.cluster = cluster
        self.directory = directory
    }

    var configPath: String { directory + "/agent.yaml" }
    var certificatePath: String { directory + "/agent.pem" }
    var keyPath: String { directory + "/agent-key.pem" }

    var agentID: String {
        get throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/enrollment.json"))
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            return object?["agent_id"] as? String ?? ""
        }
    }

    func start() throws {
        starts += 1
        let command = launcher + [Binaries.path("bulwark-agent"), "run", "--state", directory, "--config", configPath]
        process = try ChildProcess(command[0], Array(command.dropFirst()), logPath: "\(directory)/run-\(starts).log")
    }

    /// Starts `bulwark-agent run` and proves the pipeline with one acknowledged selftest.
    func startAndSelftest() throws {
        try start()
        let result = try cli(["selftest"])
        guard result.status == 0 else { throw TestFailure.command("selftest failed: \(result.output)") }
    }

    func stop() {
        process?.stop()
        process = nil
    }

    func kill9() {
        process?.kill9()
        process = nil
    }

    func cli(_ arguments: [String], timeout: Double = 120) throws -> CommandResult {
        try cluster.agentCLI(arguments + ["--state", directory], timeout: timeout)
    }

    /// Events waiting in the agent's spool, read from its SQLite file.
    func spoolDepth() throws -> Int {
        try SpoolStore(path: directory + "/spool.db").status().depth
    }

    deinit {
        process?.kill9()
    }
}
