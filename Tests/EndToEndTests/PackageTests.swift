import BulwarkCore
import Foundation
import Testing
import BulwarkTestSupport

/// The .deb packages `make deb` builds (make test passes their directory in BULWARK_DEB_DIR),
/// installed with dpkg on this machine itself, as IT would: files, modes, conffiles, the
/// service user, `systemd-analyze verify`, unattended enrollment from BULWARK_* given to dpkg,
/// a real upgrade, removal and purge. No systemd runs here as PID 1, so the services are
/// started the way their installed units say (ExecStart, User, EnvironmentFile).
@Suite(
    "Packages: install, enroll unattended, upgrade, remove", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["BULWARK_DEB_DIR"] != nil, "BULWARK_DEB_DIR names the packages 'make deb' built; 'make test' sets it"))
struct PackageTests {
    static let agentState = "/var/lib/bulwark-agent"
    static let collectorData = "/var/lib/bulwark-collector"

    struct Packages {
        var agent: String
        var collector: String
        var version: String
    }

    static func packages() throws -> Packages {
        let directory = try #require(ProcessInfo.processInfo.environment["BULWARK_DEB_DIR"])
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".deb") }.sorted()
        let agent = try #require(files.last { $0.hasPrefix("bulwark-agent_") }, "no bulwark-agent .deb in \(directory)")
        let collector = try #require(files.last { $0.hasPrefix("bulwark-collector_") }, "no bulwark-collector .deb in \(directory)")
        let version = String(agent.split(separator: "_")[1])
        return Packages(agent: directory + "/" + agent, collector: directory + "/" + collector, version: version)
    }

    /// Removes what an earlier run may have left, so every run starts from a machine without Bulwark.
    static func purgeEverything() throws {
        _ = try run("dpkg", ["--purge", "bulwark-agent", "bulwark-collector"])
        try? FileManager.default.removeItem(atPath: collectorData)
        try? FileManager.default.removeItem(atPath: agentState)
        try? FileManager.default.removeItem(atPath: "/etc/bulwark")
    }

    static func mode(_ path: String) throws -> (mode: Int, owner: String, group: String) {
        let result = try run("stat", ["-c", "%a %U %G", path])
        let fields = result.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard result.status == 0, fields.count == 3, let mode = Int(fields[0], radix: 8) else { throw TestFailure.command("stat \(path): \(result.output)") }
        return (mode, fields[1], fields[2])
    }

    /// `systemd-analyze verify` prints problems and still exits 0: any line naming the unit fails.
    static func verify(_ unit: String, user: Bool = false) throws {
        var arguments = ["verify", "--man=no", unit]
        var environment = ProcessInfo.processInfo.environment
        if user {
            arguments.insert("--user", at: 1)
            let runtime = FileManager.default.temporaryDirectory.path + "/xdg-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            environment["XDG_RUNTIME_DIR"] = runtime
        }
        let result = try run("systemd-analyze", arguments, environment: environment)
        let name = (unit as NSString).lastPathComponent
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains(name), "systemd-analyze verify found problems:\n\(result.output)")
    }

    /// The unit's `Key=` values.
    static func unitValues(_ unit: String, _ key: String) throws -> [String] {
        try String(contentsOfFile: unit, encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    /// KEY=VALUE lines of an EnvironmentFile, as systemd reads them.
    static func environmentFile(_ path: String) throws -> [String: String] {
        var values: [String: String] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }

    static func sha256(_ path: String) throws -> String {
        try run("sha256sum", [path]).stdout.split(separator: " ").first.map(String.init) ?? ""
    }

    @Test("each package holds its binaries (stripped), units, conffiles and docs with the documented modes and dependencies")
    func contents() throws {
        let packages = try Self.packages()
        let agentFiles = try run("dpkg-deb", ["--contents", packages.agent]).stdout
        for (mode, path) in [
            ("-rwxr-xr-x", "./usr/bin/bulwark-agent"), ("-rw-r--r--", "./lib/systemd/system/bulwark-agent.service"),
            ("-rw-r--r--", "./usr/lib/systemd/user/bulwark-session.service"), ("-rw-r--r--", "./etc/xdg/autostart/bulwark-session.desktop"),
            ("-rw-------", "./etc/bulwark/agent.yaml"), ("-rw-r--r--", "./usr/share/doc/bulwark-agent/DEPLOY.md"),
            ("-rwxr-xr-x", "./usr/lib/bulwark-agent/native-host"), ("-rw-r--r--", "./usr/share/bulwark-agent/browser-extension/manifest.json"),
            ("-rw-r--r--", "./usr/share/bulwark-agent/browser-extension/content.js"), ("-rw-r--r--", "./usr/lib/mozilla/native-messaging-hosts/dev.bulwark.agent.json"),
            ("-rw-r--r--", "./etc/chromium/native-messaging-hosts/dev.bulwark.agent.json"), ("-rw-r--r--", "./usr/share/doc/bulwark-agent/BROWSER.md"),
            ("-rw-r--r--", "./usr/share/doc/bulwark-agent/examples/chromium-policy.json"),
        ] {
            #expect(agentFiles.split(separator: "\n").contains { $0.hasPrefix(mode + " root/root") && $0.hasSuffix(" " + path) }, "\(mode) \(path) in:\n\(agentFiles)")
        }
        let collectorFiles = try run("dpkg-deb", ["--contents", packages.collector]).stdout
        for (mode, path) in [
            ("-rwxr-xr-x", "./usr/bin/bulwark-collector"), ("-rwxr-xr-x", "./usr/bin/bulwark"),
            ("-rw-r--r--", "./lib/systemd/system/bulwark-collector.service"), ("-rw-r-----", "./etc/bulwark/collector.yaml"),
        ] {
            #expect(collectorFiles.split(separator: "\n").contains { $0.hasPrefix(mode + " root/root") && $0.hasSuffix(" " + path) }, "\(mode) \(path) in:\n\(collectorFiles)")
        }
        #expect(try run("dpkg-deb", ["--info", packages.agent, "conffiles"]).stdout == """
            /etc/bulwark/agent.yaml
            /etc/chromium/native-messaging-hosts/dev.bulwark.agent.json
            /etc/opt/brave/native-messaging-hosts/dev.bulwark.agent.json
            /etc/opt/chrome/native-messaging-hosts/dev.bulwark.agent.json
            /etc/opt/edge/native-messaging-hosts/dev.bulwark.agent.json
            /etc/xdg/autostart/bulwark-session.desktop

            """)
        #expect(try run("dpkg-deb", ["--info", packages.collector, "conffiles"]).stdout == "/etc/bulwark/collector.yaml\n")
        let depends = try run("dpkg-deb", ["--field", packages.collector, "Depends"]).stdout
        #expect(depends.contains("adduser") && depends.contains("libsqlite3-0"), "\(depends)")
        // Stripped, and with the Swift runtime linked in: nothing from a Swift toolchain is needed.
        let unpacked = FileManager.default.temporaryDirectory.path + "/deb-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: unpacked) }
        #expect(try run("dpkg-deb", ["--extract", packages.agent, unpacked]).status == 0)
        let binary = unpacked + "/usr/bin/bulwark-agent"
        #expect(try run("file", ["-b", binary]).stdout.contains("stripped") && !(try run("file", ["-b", binary]).stdout.contains("not stripped")))
        let libraries = try run("ldd", [binary]).stdout
        #expect(!libraries.contains("libswift") && !libraries.contains("libFoundation"), "\(libraries)")
    }

    @Test("install as IT does: the collector creates its user and deployment; the agent, given BULWARK_* in dpkg's environment, enrolls on its first start and sends; units pass systemd-analyze verify; an upgrade keeps state and the admin's config; remove keeps state, purge deletes the agent's")
    func lifecycle() async throws {
        let packages = try Self.packages()
        try Self.purgeEverything()
        defer { try? Self.purgeEverything() }

        // The collector package: user, deployment (owner-only), config readable by the service.
        var environment = ProcessInfo.processInfo.environment
        environment["BULWARK_COLLECTOR_HOSTNAMES"] = "localhost 127.0.0.1"
        let installed = try run("dpkg", ["--install", packages.collector], environment: environment)
        #expect(installed.status == 0, "\(installed.output)")
        let fingerprint = try #require(installed.stdout.split(separator: "\n").first { $0.count == 64 && $0.allSatisfy(\.isHexDigit) }.map(String.init),
                                       "init printed the CA fingerprint:\n\(installed.output)")
        #expect(try run("getent", ["passwd", "bulwark"]).stdout.hasSuffix(":/usr/sbin/nologin\n"), "a system user without a login shell")
        #expect(try Self.mode(Self.collectorData) == (0o700, "bulwark", "bulwark"))
        for secret in ["ca-key.pem", "server-key.pem", "hmac.key", "collector.db"] {
            #expect(try Self.mode(Self.collectorData + "/" + secret) == (0o600, "bulwark", "bulwark"), "\(secret)")
        }
        #expect(try Self.mode("/etc/bulwark/collector.yaml") == (0o640, "root", "bulwark"))
        #expect(FileManager.default.fileExists(atPath: "/etc/systemd/system/multi-user.target.wants/bulwark-collector.service"), "enabled")
        try Self.verify("/lib/systemd/system/bulwark-collector.service")
        #expect(try run("/usr/bin/bulwark-collector", ["config", "check", "/etc/bulwark/collector.yaml"]).stdout.contains("ok"))

        // Run it as its unit says (User=, ExecStart=), on free loopback ports (options win over collector.yaml).
        let unit = "/lib/systemd/system/bulwark-collector.service"
        let user = try #require(try Self.unitValues(unit, "User").first)
        let execStart = try #require(try Self.unitValues(unit, "ExecStart").first).split(separator: " ").map(String.init)
        let agentPort = freePort()
        let logDirectory = FileManager.default.temporaryDirectory.path + "/packages-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: logDirectory) }
        let collector = try ChildProcess(
            "/usr/sbin/runuser", ["-u", user, "--"] + execStart + ["--agent-listen", "127.0.0.1:\(agentPort)", "--api-listen", "127.0.0.1:\(freePort())"],
            logPath: logDirectory + "/collector.log")
        defer { collector.stop() }
        try collector.waitForLog("agent listener ready")
        let token = try run("/usr/sbin/runuser", ["-u", user, "--", "/usr/bin/bulwark-collector", "enroll-token", "create", "--data", Self.collectorData])
        #expect(token.status == 0, "\(token.output)")

        // The agent package with the enrollment settings in dpkg's environment (as `apt install` passes them).
        environment["BULWARK_COLLECTOR"] = "https://127.0.0.1:\(agentPort)"
        environment["BULWARK_ENROLL_TOKEN"] = token.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        environment["BULWARK_CA_SHA256"] = fingerprint
        let agentInstalled = try run("dpkg", ["--install", packages.agent], environment: environment)
        #expect(agentInstalled.status == 0, "\(agentInstalled.output)")
        #expect(try Self.mode(Self.agentState) == (0o700, "root", "root"))
        #expect(try Self.mode("/etc/bulwark/agent.yaml") == (0o600, "root", "root"))
        #expect(try Self.mode("/etc/bulwark/enroll.env") == (0o600, "root", "root"))
        #expect(FileManager.default.fileExists(atPath: "/etc/systemd/system/multi-user.target.wants/bulwark-agent.service"))
        #expect(FileManager.default.fileExists(atPath: "/etc/systemd/user/graphical-session.target.wants/bulwark-session.service"))
        try Self.verify("/lib/systemd/system/bulwark-agent.service")
        try Self.verify("/usr/lib/systemd/user/bulwark-session.service", user: true)
        // The native host as a browser starts it (the manifest's path, the extension's origin as
        // argument): no session helper here, so it says so in a native messaging frame, and ends
        // when the browser closes the pipe.
        for manifestPath in ["/etc/chromium/native-messaging-hosts/dev.bulwark.agent.json", "/usr/lib/mozilla/native-messaging-hosts/dev.bulwark.agent.json"] {
            guard case .object(let manifest)? = try? JSONReader.parse(String(contentsOfFile: manifestPath, encoding: .utf8)),
                  let hostPath = manifest["path"]?.stringValue
            else {
                Issue.record("\(manifestPath) is not a native messaging manifest")
                continue
            }
            // The browser's end of the pipe stays open for a second, then closes.
            let host = try run("/bin/sh", ["-c", "sleep 1 | '\(hostPath)' chrome-extension://gbjfkmfmmaheijbapiinpghlpfialnjn/"],
                               environment: ["XDG_RUNTIME_DIR": "/nonexistent", "PATH": "/usr/bin:/bin"], timeout: 20)
            #expect(host.status == 0, "\(host.output)")
            #expect(host.stdout.contains(#""connected":false"#) && host.stdout.contains("the session helper is not running"), "\(host.output)")
        }

        // The admin changes the conffile (here: no file guard, so this test does not hold every
        // open on the machine); an upgrade must keep that.
        let agentYAML = try String(contentsOfFile: "/etc/bulwark/agent.yaml", encoding: .utf8)
            .replacingOccurrences(of: "file_guard: true", with: "file_guard: false")
            .replacingOccurrences(of: "heartbeat_interval: 60", with: "heartbeat_interval: 5")
        try agentYAML.write(toFile: "/etc/bulwark/agent.yaml", atomically: true, encoding: .utf8)
        #expect(try run("/usr/bin/bulwark-agent", ["config", "check", "/etc/bulwark/agent.yaml"]).status == 0)

        // First start, as the unit runs it: ExecStart with EnvironmentFile's variables.
        let agentUnit = "/lib/systemd/system/bulwark-agent.service"
        let agentCommand = try #require(try Self.unitValues(agentUnit, "ExecStart").first).split(separator: " ").map(String.init)
        let envFile = try #require(try Self.unitValues(agentUnit, "EnvironmentFile").first)
        var agentEnvironment = ProcessInfo.processInfo.environment
        agentEnvironment.merge(try Self.environmentFile(String(envFile.drop { $0 == "-" }))) { $1 }
        var agent = try ChildProcess(agentCommand[0], Array(agentCommand.dropFirst()), logPath: logDirectory + "/agent-1.log", environment: agentEnvironment)
        try agent.waitForLog("enrolled unattended")
        let selftest = try run("/usr/bin/bulwark-agent", ["selftest", "--state", Self.agentState])
        #expect(selftest.status == 0 && selftest.stdout.contains("acknowledged"), "\(selftest.output)")
        agent.stop()
        let key = try Self.sha256(Self.agentState + "/agent-key.pem")
        let enrollment = try String(contentsOfFile: Self.agentState + "/enrollment.json", encoding: .utf8)
        let caKey = try Self.sha256(Self.collectorData + "/ca-key.pem")

        // A real upgrade: the same package as version <v>+1 (prerm upgrade, postinst configure <v>).
        let upgraded = try Self.repack(packages.agent, version: packages.version + "+1", into: logDirectory)
        let upgrade = try run("dpkg", ["--install", upgraded])
        #expect(upgrade.status == 0, "\(upgrade.output)")
        #expect(try run("dpkg-query", ["-W", "-f=${Version}", "bulwark-agent"]).stdout == packages.version + "+1")
        #expect(try Self.sha256(Self.agentState + "/agent-key.pem") == key, "the agent keeps its key")
        #expect(try String(contentsOfFile: Self.agentState + "/enrollment.json", encoding: .utf8) == enrollment, "and its enrollment")
        #expect(try String(contentsOfFile: "/etc/bulwark/agent.yaml", encoding: .utf8) == agentYAML, "the admin's agent.yaml is kept")
        let collectorAgain = try run("dpkg", ["--install", packages.collector])
        #expect(collectorAgain.status == 0 && !collectorAgain.stdout.contains("created deployment"), "\(collectorAgain.output)")
        #expect(try Self.sha256(Self.collectorData + "/ca-key.pem") == caKey, "the collector keeps its CA")
        // The upgraded agent carries on as the same agent, without the token.
        agent = try ChildProcess(agentCommand[0], Array(agentCommand.dropFirst()), logPath: logDirectory + "/agent-2.log")
        try agent.waitForLog("agent running")
        #expect(!agent.log.contains("enrolled unattended"))
        #expect(try run("/usr/bin/bulwark-agent", ["selftest", "--state", Self.agentState]).status == 0)
        agent.stop()

        // Disabling the unit under the running agent is reported (agent.tamper unit_disabled).
        agent = try ChildProcess(agentCommand[0], Array(agentCommand.dropFirst()), logPath: logDirectory + "/agent-3.log")
        try agent.waitForLog("agent running")
        #expect(try run("systemctl", ["disable", "bulwark-agent.service"]).status == 0)  // offline: it edits the links
        try agent.waitForLog("unit_disabled")
        agent.stop()
        #expect(try run("systemctl", ["enable", "bulwark-agent.service"]).status == 0)

        // Remove: the agent reports it first (agent.tamper uninstalling, delivered by prerm);
        // program gone, state and conffiles kept, the unit masked. Purge: all gone.
        let removed = try run("dpkg", ["--remove", "bulwark-agent"])
        #expect(removed.status == 0 && removed.stdout.contains("recorded agent.tamper (uninstalling)"), "\(removed.output)")
        let tamper = try run("/usr/sbin/runuser", ["-u", user, "--", "sqlite3", Self.collectorData + "/collector.db",
                                                     "SELECT json_extract(data, '$.action') FROM events WHERE type = 'agent.tamper' ORDER BY id"])
        #expect(tamper.stdout.split(separator: "\n").map(String.init) == ["service_stopped", "service_stopped", "unit_disabled", "service_stopped", "uninstalling"], "\(tamper.output)")
        #expect(!FileManager.default.fileExists(atPath: "/usr/bin/bulwark-agent"))
        #expect(FileManager.default.fileExists(atPath: Self.agentState + "/agent-key.pem"))
        #expect(FileManager.default.fileExists(atPath: "/etc/bulwark/agent.yaml"))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "/etc/systemd/system/bulwark-agent.service")) == "/dev/null")
        #expect(try run("dpkg", ["--purge", "bulwark-agent"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: Self.agentState))
        #expect(!FileManager.default.fileExists(atPath: "/etc/bulwark/agent.yaml") && !FileManager.default.fileExists(atPath: "/etc/bulwark/enroll.env"))
        // The collector's deployment outlives even a purge: losing the CA means re-enrolling the fleet.
        collector.stop()
        let purged = try run("dpkg", ["--purge", "bulwark-collector"])
        #expect(purged.status == 0 && purged.stdout.contains("kept /var/lib/bulwark-collector"), "\(purged.output)")
        #expect(FileManager.default.fileExists(atPath: Self.collectorData + "/ca-key.pem"))
    }

    /// The package with another version in its control file.
    static func repack(_ package: String, version: String, into directory: String) throws -> String {
        let tree = directory + "/repack"
        #expect(try run("dpkg-deb", ["--raw-extract", package, tree]).status == 0)
        let control = tree + "/DEBIAN/control"
        let text = try String(contentsOfFile: control, encoding: .utf8)
            .split(separator: "\n").map { $0.hasPrefix("Version: ") ? "Version: \(version)" : String($0) }.joined(separator: "\n") + "\n"
        try text.write(toFile: control, atomically: true, encoding: .utf8)
        let output = directory + "/upgraded.deb"
        let built = try run("dpkg-deb", ["--root-owner-group", "-Znone", "--build", tree, output])
        guard built.status == 0 else { throw TestFailure.command("dpkg-deb --build: \(built.output)") }
        return output
    }
}
