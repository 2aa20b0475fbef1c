import Foundation

/// A real PostgreSQL server for the tests: the one `BULWARK_TEST_POSTGRES` names (an admin URL,
/// `postgres://USER:PASSWORD@HOST:PORT/postgres`), or else a private cluster from Debian's
/// `postgresql` package that this test process creates (initdb, password authentication over
/// loopback TCP) and stops when it exits. Each test takes a database of its own.
public enum TestPostgres {
    public struct Server: Sendable {
        /// `postgres://bulwark:PASSWORD@127.0.0.1:PORT`, without a database.
        public let base: String
        /// The cluster's directory, when this process started it.
        public let directory: String?
        public let binaries: String

        /// The URL of database `name` on this server.
        public func url(_ name: String) -> String { "\(base)/\(name)" }
    }

    public enum Failure: Error, CustomStringConvertible {
        case missing(String)
        case command(String, String)

        public var description: String {
            switch self {
            case .missing(let what): "PostgreSQL for the tests: \(what)"
            case .command(let command, let output): "PostgreSQL for the tests: \(command) failed:\n\(output)"
            }
        }
    }

    /// Started once per test process, on first use.
    public static let server: Result<Server, any Error> = Result { try start() }

    /// A new, empty database; returns its URL.
    public static func database(_ label: String = "t") throws -> String {
        let server = try server.get()
        let name = "\(label)_\(UUID().uuidString.prefix(8).lowercased())"
        try psql(server, database: "postgres", "CREATE DATABASE \(name)")
        return server.url(name)
    }

    /// Runs one SQL statement with `psql` (another client than the store under test); returns
    /// its exit status, output and errors.
    @discardableResult
    public static func psql(_ server: Server, database: String, _ statement: String, check: Bool = true) throws -> (status: Int32, output: String) {
        let result = try run(server.binaries.isEmpty ? "/usr/bin/psql" : server.binaries + "/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", server.url(database), "-c", statement])
        if check, result.status != 0 { throw Failure.command("psql -c \(statement)", result.output) }
        return result
    }

    private static func start() throws -> Server {
        let binaries = try (FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))
            .compactMap(Int.init).max().map { "/usr/lib/postgresql/\($0)/bin" }
        if let url = ProcessInfo.processInfo.environment["BULWARK_TEST_POSTGRES"] {
            let base = url.hasSuffix("/postgres") ? String(url.dropLast("/postgres".count)) : url
            return Server(base: base, directory: nil, binaries: binaries ?? "")
        }
        guard let binaries, FileManager.default.isExecutableFile(atPath: binaries + "/initdb") else {
            throw Failure.missing("no /usr/lib/postgresql/*/bin/initdb; install Debian's postgresql package (make test-deps does)")
        }
        let directory = "/tmp/bulwark-test-pg-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let password = UUID().uuidString
        try Data(password.utf8).write(to: URL(fileURLWithPath: directory + "/pw"))
        // The server refuses to run as root: as root, the cluster belongs to the postgres user.
        let asUser: [String] = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
        if getuid() == 0 { _ = try run("/bin/chown", ["-R", "postgres:postgres", directory]) }
        let data = directory + "/data"
        let initdb = try run(asUser.first ?? binaries + "/initdb", Array(asUser.dropFirst()) + (asUser.isEmpty ? [] : [binaries + "/initdb"]) + [
            "-D", data, "-U", "bulwark", "--auth=scram-sha-256", "--pwfile=\(directory)/pw", "-E", "UTF8", "--no-instructions",
        ])
        guard initdb.status == 0 else { throw Failure.command("initdb", initdb.output) }
        let port = freePort()
        let options = "-c listen_addresses=127.0.0.1 -p \(port) -c unix_socket_directories=\(directory) -c max_connections=200"
        let started = try run(asUser.first ?? binaries + "/pg_ctl", Array(asUser.dropFirst()) + (asUser.isEmpty ? [] : [binaries + "/pg_ctl"]) + [
            "-D", data, "-o", options, "-l", directory + "/server.log", "-w", "-t", "60", "start",
        ])
        guard started.status == 0 else {
            throw Failure.command("pg_ctl start", started.output + ((try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""))
        }
        atexit {
            guard case .success(let server) = TestPostgres.server, let directory = server.directory else { return }
            let asUser: [String] = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
            _ = try? TestPostgres.run(asUser.first ?? server.binaries + "/pg_ctl", Array(asUser.dropFirst()) + (asUser.isEmpty ? [] : [server.binaries + "/pg_ctl"]) + [
                "-D", directory + "/data", "-m", "immediate", "stop",
            ])
            try? FileManager.default.removeItem(atPath: directory)
        }
        return Server(base: "postgres://bulwark:\(password)@127.0.0.1:\(port)", directory: directory, binaries: binaries)
    }

    /// Runs a command to its end, its output and errors in a file. posix_spawn and waitpid, not
    /// Foundation's Process: pg_ctl leaves a daemon behind, and Process's wait for its
    /// parent's exit could hang with the child already a zombie.
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("pg-run-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw Failure.command(executable, "cannot start: \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // Exited normally: its exit code; killed by a signal: 128 + the signal, as a shell says.
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, output)
    }
}

/// A TCP port that is free right now on loopback (the kernel's pick).
public func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
