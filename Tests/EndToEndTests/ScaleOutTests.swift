import BulwarkCollector
import BulwarkCore
import BulwarkTestSupport
import Foundation
import Testing

/// Several collector processes on one PostgreSQL database (the test cluster of TestPostgres),
/// behind HAProxy in TCP mode — a real load balancer passing the agents' mutual TLS through —
/// and a SQLite deployment moved onto PostgreSQL with `migrate-store`.
@Suite("End to end: several collectors on PostgreSQL", .serialized)
struct ScaleOutTests {
    /// Another `serve` of the same deployment and database on ports of its own.
    func startCollector(_ cluster: Cluster, name: String) throws -> (process: ChildProcess, agentPort: Int, apiPort: Int) {
        let (agentPort, apiPort) = (freePort(), freePort())
        let process = try ChildProcess(
            Binaries.path("bulwark-collector"),
            ["serve"] + cluster.dataArguments + ["--agent-listen", "127.0.0.1:\(agentPort)", "--api-listen", "127.0.0.1:\(apiPort)"],
            logPath: "\(cluster.root)/collector-\(name).log")
        try process.waitForLog("agent listener ready")
        try process.waitForLog("api listener ready")
        return (process, agentPort, apiPort)
    }

    /// HAProxy forwarding TCP to the agent listeners; a server that stops answering is taken out
    /// within a third of a second.
    func startBalancer(_ cluster: Cluster, backends: [Int]) throws -> (process: ChildProcess, port: Int) {
        let port = freePort()
        let servers = backends.enumerated().map { "    server c\($0.offset) 127.0.0.1:\($0.element) check inter 300 fall 1 rise 1" }.joined(separator: "\n")
        let configuration = """
            global
                maxconn 2000
            defaults
                mode tcp
                timeout connect 2s
                timeout client 60s
                timeout server 60s
                retries 3
                option redispatch
            frontend agents
                bind 127.0.0.1:\(port)
                default_backend collectors
            backend collectors
                balance roundrobin
            \(servers)

            """
        let path = cluster.root + "/haproxy.cfg"
        try configuration.write(toFile: path, atomically: true, encoding: .utf8)
        let process = try ChildProcess("/usr/sbin/haproxy", ["-f", path, "-db"], logPath: cluster.root + "/haproxy.log")
        // curl's exit code 7: nothing listens yet.
        try eventuallySync("HAProxy listening on \(port)") {
            process.isRunning && ((try? run("curl", ["-sk", "-o", "/dev/null", "https://127.0.0.1:\(port)/"]))?.status ?? 7) != 7
        }
        return (process, port)
    }

    func eventuallySync(_ what: String, timeout: Double = 20, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            if Date() > deadline { throw TestFailure.timeout(what) }
            usleep(100_000)
        }
    }

    @Test("two collectors behind HAProxy share one PostgreSQL database: agents enroll and send through either; one collector killed mid-stream, every event still arrives exactly once through the other; tokens and agents are the same on both")
    func twoCollectors() async throws {
        let url = try TestPostgres.database("scaleout")
        let cluster = try Cluster(database: url)
        try cluster.startCollector()
        let second = try startCollector(cluster, name: "second")
        defer { second.process.kill9() }
        let balancer = try startBalancer(cluster, backends: [cluster.agentPort, second.agentPort])
        defer { balancer.process.kill9() }
        cluster.collectorURL = "https://127.0.0.1:\(balancer.port)"

        let token = try cluster.enrollToken(uses: 2)
        let agents = try (1...2).map { try cluster.enrollAgent(name: "agent\($0)", token: token) }
        for agent in agents { try agent.startAndSelftest() }
        let count = 3000
        for agent in agents {
            let spooled = try agent.cli(["selftest", "--count", "\(count)", "--no-wait"])
            #expect(spooled.status == 0, "\(spooled.output)")
        }
        // The first collector dies without warning while batches are in flight.
        usleep(300_000)
        cluster.collector?.kill9()

        let store = try await PostgresStore(location: try PostgresLocation(url: url))
        for agent in agents {
            let id = try agent.agentID
            try await eventually("\(count + 1) selftests of \(id)", timeout: 90) {
                try await store.events(EventQuery(type: EventType.selftest, agent: id, limit: 10_000)).count >= count + 1
            }
            try await eventually("\(id)'s spool drained", timeout: 30) { try agent.spoolDepth() == 0 }
            let selftests = try await store.events(EventQuery(type: EventType.selftest, agent: id, limit: 10_000))
            #expect(selftests.count == count + 1, "exactly once each")
            #expect(Set(selftests.map(\.seq)).count == selftests.count, "no sequence number twice")
        }
        #expect(try await store.agents().count == 2, "both agents, enrolled through either collector")
        #expect(second.process.isRunning)
        // The API of the surviving collector answers for everything, with a token made by the CLI.
        let answer = try cluster.curl(["-H", "Authorization: Bearer \(try cluster.apiToken(role: "analyst"))", "https://127.0.0.1:\(second.apiPort)/api/v1/agents"])
        #expect(answer.status == 200)
        let listed = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
        #expect((listed?["agents"] as? [Any])?.count == 2)

        // A console session made on one collector is good on the other (sessions are in the
        // store), and logging out on that other ends it everywhere.
        let restarted = try startCollector(cluster, name: "first-again")
        defer { restarted.process.kill9() }
        let jar = cluster.root + "/cookies"
        let consoleA = "https://127.0.0.1:\(restarted.apiPort)/console", consoleB = "https://127.0.0.1:\(second.apiPort)/console"
        let login = try cluster.curl(["-c", jar, "\(consoleA)/login"])
        let csrf = try #require(login.body.firstMatch(of: /name="csrf" value="([^"]+)"/)?.1)
        let helpdesk = try cluster.apiToken(role: "helpdesk")
        let signedIn = try cluster.curl(["-b", jar, "-c", jar, "--data-urlencode", "token=\(helpdesk)", "--data-urlencode", "csrf=\(csrf)", "\(consoleA)/login"])
        #expect(signedIn.status == 303, "\(signedIn.body)")
        let dashboard = try cluster.curl(["-b", jar, consoleB])
        #expect(dashboard.status == 200 && dashboard.body.contains("logout"), "the other collector knows the session")
        let sessionCSRF = try #require(dashboard.body.firstMatch(of: /name="csrf" value="([^"]+)"/)?.1)
        _ = try cluster.curl(["-b", jar, "--data-urlencode", "csrf=\(sessionCSRF)", "\(consoleB)/logout"])
        #expect(try cluster.curl(["-b", jar, consoleA]).status == 303, "logged out on one collector, out on both")
        try await store.close()
    }

    @Test("policy long-poll: a request waiting at one collector gets a sanction change made through the other within seconds; an unchanged bundle answers 304 when its wait ends; stopping a collector ends the requests waiting there at once")
    func policyLongPoll() async throws {
        let cluster = try Cluster(database: try TestPostgres.database("longpoll"))
        try cluster.startCollector()
        let second = try startCollector(cluster, name: "second")
        defer { second.process.kill9() }
        let agent = try cluster.enrollAgent()
        let admin = try cluster.apiToken(role: "admin")
        let headers = cluster.root + "/policy-headers"
        /// GET /v1/policy as the agent (curl, its certificate) on the collector at `port`.
        @Sendable func policy(port: Int, wait: Int, etag: String?) throws -> (status: Int, body: String, etag: String, seconds: Double) {
            let started = Date()
            let answer = try cluster.curl(
                ["--cert", agent.certificatePath, "--key", agent.keyPath, "-D", headers + "-\(port)-\(wait)"] + (etag.map { ["-H", "If-None-Match: \($0)"] } ?? [])
                    + ["https://127.0.0.1:\(port)/v1/policy?wait=\(wait)"])
            let header = (try? String(contentsOfFile: headers + "-\(port)-\(wait)", encoding: .utf8)) ?? ""
            let tag = header.split(separator: "\r\n").first { $0.lowercased().hasPrefix("etag:") }.map { String($0.dropFirst(5)).trimmingCharacters(in: .whitespaces) } ?? ""
            return (answer.status, answer.body, tag, Date().timeIntervalSince(started))
        }

        let first = try policy(port: cluster.agentPort, wait: 0, etag: nil)
        #expect(first.status == 200)
        #expect(first.etag.count == 34, "a quoted 32-digit ETag: \(first.etag)")
        let unchanged = try policy(port: cluster.agentPort, wait: 2, etag: first.etag)
        #expect(unchanged.status == 304)
        #expect(unchanged.seconds >= 1.8 && unchanged.seconds < 10, "answered after \(unchanged.seconds) s")
        #expect(try policy(port: second.agentPort, wait: 2, etag: first.etag).status == 304, "both collectors cut the same bundle")

        // A change through the second collector's API wakes the request waiting at the first.
        let waiting = Task.detached { try policy(port: cluster.agentPort, wait: 60, etag: first.etag) }
        try await Task.sleep(for: .seconds(1))
        let changedAt = Date()
        let put = try cluster.curl([
            "-X", "PUT", "-H", "Authorization: Bearer \(admin)", "-H", "Content-Type: application/json", "--data", #"{"state":"unsanctioned","reason":"long-poll test"}"#,
            "https://127.0.0.1:\(second.apiPort)/api/v1/apps/chatgpt/state",
        ])
        #expect(put.status == 200, "\(put.body)")
        let woken = try await waiting.value
        #expect(woken.status == 200)
        let bundle = try WireCoding.decoder().decode(PolicyBundle.self, from: Data(woken.body.utf8))
        #expect(bundle.appStates["chatgpt"] == .unsanctioned, "\(woken.body)")
        #expect(woken.etag != first.etag)
        #expect(Date().timeIntervalSince(changedAt) < 5, "the change took \(Date().timeIntervalSince(changedAt)) s to arrive")

        // SIGTERM: the waiting request is answered (304) at once and the collector exits 0.
        let held = Task.detached { try policy(port: second.agentPort, wait: 60, etag: woken.etag) }
        try await Task.sleep(for: .seconds(1))
        let stopping = Date()
        #expect(second.process.stop() == 0)
        let ended = try await held.value
        #expect(ended.status == 304)
        #expect(Date().timeIntervalSince(stopping) < 10, "stopping took \(Date().timeIntervalSince(stopping)) s")
    }

    @Test("a second collector on a SQLite deployment is refused with what to do (SQLite is one collector's); CLI commands still work beside the running one")
    func secondCollectorOnSQLiteRefused() async throws {
        let cluster = try Cluster()
        try cluster.startCollector()
        let (agentPort, apiPort) = (freePort(), freePort())
        let second = try run(
            Binaries.path("bulwark-collector"),
            ["serve"] + cluster.dataArguments + ["--agent-listen", "127.0.0.1:\(agentPort)", "--api-listen", "127.0.0.1:\(apiPort)"], timeout: 30)
        #expect(second.status != 0)
        #expect(second.output.contains("another bulwark-collector already serves"), "\(second.output)")
        #expect(second.output.contains("migrate-store"), "\(second.output)")
        #expect(try cluster.enrollToken().hasPrefix("bwe_"))
        // The first one serves on.
        #expect(try cluster.curl(["\(cluster.collectorURL)/v1/ca"]).status == 200)
    }

    @Test("migrate-store moves a SQLite deployment into PostgreSQL, every table's count checked; the collector then serves from it: the same agent keeps sending, the same API token works, nothing is counted twice; a non-empty target is refused")
    func migrateStore() async throws {
        let cluster = try Cluster.started()
        let agent = try cluster.enrollAgent()
        try agent.startAndSelftest()
        #expect(try agent.cli(["selftest", "--count", "40"]).status == 0)
        let token = try cluster.apiToken(role: "analyst")
        cluster.stopCollector()

        let url = try TestPostgres.database("moved")
        // An empty database is refused by serve until migrated, with the command that does it.
        cluster.collectorArguments = ["--database", url]
        #expect(throws: (any Error).self) { try cluster.startCollector() }
        let refused = (try? String(contentsOfFile: cluster.root + "/collector-2.log", encoding: .utf8)) ?? ""
        #expect(refused.contains("bulwark-collector migrate"), "\(refused)")

        let moved = try cluster.collectorCLI(["migrate-store", "--data", cluster.dataDir, "--to", url])
        #expect(moved.status == 0, "\(moved.stdout)\n\(moved.stderr)")
        #expect(moved.stdout.contains("events") && moved.stdout.contains("every count matching"), "\(moved.stdout)")
        let again = try cluster.collectorCLI(["migrate-store", "--data", cluster.dataDir, "--to", url])
        #expect(again.status != 0 && again.output.contains("already holds data"), "\(again.output)")
        let migrate = try cluster.collectorCLI(["migrate", "--data", cluster.dataDir, "--database", url])
        #expect(migrate.status == 0 && migrate.stdout.contains("nothing to do"), "\(migrate.output)")

        try cluster.startCollector()
        #expect(try agent.cli(["selftest", "--count", "5"]).status == 0, "the agent's certificate and id are known to the new store")
        let store = try await PostgresStore(location: try PostgresLocation(url: url))
        let id = try agent.agentID
        let selftests = try await store.events(EventQuery(type: EventType.selftest, agent: id, limit: 1000))
        #expect(selftests.count == 46)
        #expect(Set(selftests.map(\.seq)).count == 46)
        #expect(zip(selftests, selftests.dropFirst()).allSatisfy { $0.id < $1.id }, "new events continue after the copied ids")
        let events = try cluster.curl(["-H", "Authorization: Bearer \(token)", "\(cluster.apiURL)/api/v1/events?type=agent.selftest&limit=1000"])
        #expect(events.status == 200, "the token made before the move still works")
        #expect(try await store.auditEntries(AuditQuery(actionPrefix: "store.migrate_store")).count == 1)
        try await store.close()
    }
}
