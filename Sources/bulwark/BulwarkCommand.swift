import ArgumentParser
import AsyncHTTPClient
import BulwarkCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOFoundationCompat
import NIOSSL

@main
struct BulwarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark",
        abstract: "Query a Bulwark collector's API: agents, events, incidents and the discovered-AI inventory.",
        discussion: """
            Exit status: 0 done; 1 a problem on this machine (the saved login); 2 not found; 3 not allowed (token missing, invalid or of a role that \
            may not do this); 4 the collector refused the request as invalid; 5 the collector could not \
            be reached or is unavailable (retry later); 64 wrong usage of this command.
            """,
        subcommands: [
            Login.self, Logout.self, Agents.self, Events.self, Incidents.self, Exceptions.self, Policies.self, Risk.self, Report.self, Inventory.self, Apps.self, Catalog.self, Audit.self,
        ])

    /// Runs the command; an API failure exits with the status its kind documents.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let failure as Failure {
            FileHandle.standardError.write(Data("Error: \(failure.description)\n".utf8))
            Foundation.exit(failure.exitCode)
        } catch {
            exit(withError: error)
        }
    }
}

/// Where the API is and how to authenticate: each option, else its environment variable, else
/// what `bulwark login` saved.
struct Connection: ParsableArguments {
    @Option(help: "API base URL (env BULWARK_API).") var api: String?
    @Option(help: "File holding the bearer token (env BULWARK_TOKEN holds the token itself).") var tokenFile: String?
    @Option(help: "CA certificate to trust for the API's TLS certificate (env BULWARK_CA).") var ca: String?

    func get(_ path: String, query: [(String, String?)] = []) async throws -> Data {
        try await send(.GET, path, query: query)
    }

    func send(_ method: HTTPMethod, _ path: String, query: [(String, String?)] = [], json body: Data? = nil, contentType: String = "application/json") async throws -> Data {
        try await client().send(method, path, query: query, json: body, contentType: contentType)
    }

    func client() throws -> APIClient {
        let environment = ProcessInfo.processInfo.environment
        let saved = try SavedLogin.load()
        guard let api = api ?? environment["BULWARK_API"] ?? saved?.api else {
            throw ValidationError("not logged in: run 'bulwark login --api https://collector:9443 --ca-sha256 …', or give --api / set BULWARK_API")
        }
        let token: String
        if let tokenFile {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let value = environment["BULWARK_TOKEN"] ?? saved?.token {
            token = value
        } else {
            throw ValidationError("give --token-file, set BULWARK_TOKEN or run 'bulwark login' (create a token with 'bulwark-collector api-token create')")
        }
        return APIClient(api: api, token: token, caPath: ca ?? environment["BULWARK_CA"] ?? saved.map { _ in SavedLogin.caPath })
    }
}

/// One collector API, one token.
struct APIClient {
    var api: String
    var token: String
    /// The CA to trust; nil trusts the system's roots.
    var caPath: String?

    func get(_ path: String, query: [(String, String?)] = []) async throws -> Data {
        try await send(.GET, path, query: query)
    }

    func send(_ method: HTTPMethod, _ path: String, query: [(String, String?)] = [], json body: Data? = nil, contentType: String = "application/json") async throws -> Data {
        try await exchange(method, path, query: query, json: body, contentType: contentType, timeout: .seconds(30)) { response in
            Data(buffer: try await response.body.collect(upTo: 64 << 20))
        }
    }

    /// Streams the answer's body into `output` as it arrives (exports): memory stays flat
    /// however long it is. A transfer cut off before its end is an error, never a short file
    /// taken for a whole one.
    func download(_ path: String, query: [(String, String?)] = [], to output: FileHandle) async throws {
        try await exchange(.GET, path, query: query, timeout: .hours(24)) { response in
            do {
                for try await chunk in response.body { try output.write(contentsOf: Data(buffer: chunk)) }
            } catch {
                throw Failure(description: "the transfer from \(api) broke off before its end (\(error)); what was written is incomplete, run it again", status: nil)
            }
        }
    }

    /// Sends the request; a 2xx answer goes to `handle`, anything else becomes a ``Failure``.
    private func exchange<Result>(
        _ method: HTTPMethod, _ path: String, query: [(String, String?)] = [], json body: Data? = nil, contentType: String = "application/json", timeout: TimeAmount,
        _ handle: (HTTPClientResponse) async throws -> Result
    ) async throws -> Result {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let caPath {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
        }
        var components = URLComponents(string: api.hasSuffix("/") ? String(api.dropLast()) + path : api + path)
        let items = query.compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
        if !items.isEmpty { components?.queryItems = items }
        guard let url = components?.string else { throw ValidationError("'\(api)' is not a URL") }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(data: body))
        }
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
        do {
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: timeout)
            } catch {
                throw Failure(description: "cannot reach the collector at \(api): \(error); check the URL, that the collector runs, and the CA (--ca)", status: nil)
            }
            guard (200..<300).contains(response.status.code) else {
                let body = try await response.body.collect(upTo: 1 << 20)
                let error = try? WireCoding.decoder().decode(ErrorBody.self, from: body)
                throw Failure(
                    description: "API answered \(response.status.code): \(error.map { "\($0.code): \($0.message)" } ?? String(buffer: body))",
                    status: Int(response.status.code))
            }
            let result = try await handle(response)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

/// A request that did not succeed: what went wrong and what to do, and the HTTP status when
/// the collector answered.
struct Failure: Error, CustomStringConvertible {
    var description: String
    var status: Int?
    /// A problem on this machine (the saved login), not with the collector.
    var local = false

    init(description: String, status: Int?, local: Bool = false) {
        self.description = description
        self.status = status
        self.local = local
    }

    /// The documented exit status (BulwarkCommand's discussion).
    var exitCode: Int32 {
        if local { return 1 }
        guard let status else { return 5 }
        switch status {
        case 404: return 2
        case 401, 403: return 3
        case 400, 409, 413, 422: return 4
        case 429, 500...599: return 5
        default: return 1
        }
    }
}

/// Minimal decoding of the API's JSON, independent of the collector's Swift types.
struct AgentRow: Decodable {
    var id: String
    var hostname: String
    var os: String
    var agentVersion: String
    var policyVersion: Int
    var health: String?
    var lastSeen: Date?
    var spoolDepth: Int
    var dropped: Int
    var revokedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, hostname, os, dropped, health
        case agentVersion = "agent_version"
        case policyVersion = "policy_version"
        case lastSeen = "last_seen"
        case spoolDepth = "spool_depth"
        case revokedAt = "revoked_at"
    }
}

struct EventRow: Decodable {
    var id: Int64
    var agent: String
    var seq: UInt64
    var time: Date
    var type: String
    var data: [String: JSONValue]
}

struct Agents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List enrolled agents with their health (ok, stale, certificate expires soon, ...).")
    @OptionGroup var connection: Connection
    @Flag(help: "Only agents not heard from within the collector's --stale-after window.") var stale = false
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let data = try await connection.get("/api/v1/agents", query: [("stale", stale ? "true" : nil)])
        try output.print(
            Table(
                ["AGENT", "HOST", "VERSION", "POLICY", "LAST SEEN", "SPOOL", "DROPPED", "HEALTH"],
                rows: (try WireCoding.decoder().decode([String: [AgentRow]].self, from: data)["agents"] ?? []).map { agent in
                    [
                        agent.id, agent.hostname, agent.agentVersion, agent.policyVersion == 0 ? "local" : "v\(agent.policyVersion)",
                        agent.lastSeen.map(WireCoding.string(from:)) ?? "never", String(agent.spoolDepth),
                        String(agent.dropped), agent.health ?? (agent.revokedAt == nil ? "ok" : "revoked"),
                    ]
                }, empty: stale ? "(no stale agents)" : "(no agents enrolled yet)"), json: data)
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List events, oldest first.")
    @OptionGroup var connection: Connection
    @Option(help: "Only this event type, e.g. agent.selftest.") var type: String?
    @Option(help: "Only this agent ID.") var agent: String?
    @Option(help: "Only agents with this hostname.") var host: String?
    @Option(help: "Only events at or after this RFC 3339 time.") var since: String?
    @Option(help: "Only events before this RFC 3339 time.") var until: String?
    @Option(help: "Only events naming this user.") var user: String?
    @Option(help: "Only events naming this app id.") var app: String?
    @Option(help: "Only events naming this app category.") var category: String?
    @Option(help: "Only events with a finding of this information type (credit_card, ...).") var infoType: String?
    @Option(help: "Only events with a match of this keyed hash (the same value elsewhere).") var hash: String?
    @Option(help: "Only DLP outcomes with this action: allow, audit, warn, block.") var action: String?
    @Option(help: "Only events after this event id (paging).") var after: Int64?
    @Option(help: "At most this many events (1…10000).") var limit = 50
    @Option(help: "Every matching event, streamed as ndjson or csv (admins, analysts; no --limit).") var export: String?
    @Option(name: .shortAndLong, help: "With --export: write here instead of standard output.") var outputFile: String?
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let filters: [(String, String?)] = [
            ("type", type), ("agent", agent), ("host", host), ("since", since), ("until", until), ("user", user), ("app", app), ("category", category),
            ("info_type", infoType), ("hash", hash), ("action", action), ("after", after.map(String.init)),
        ]
        if let export {
            guard ["ndjson", "csv"].contains(export) else { throw ValidationError("--export takes ndjson or csv") }
            let file: FileHandle
            if let outputFile {
                guard FileManager.default.createFile(atPath: outputFile, contents: nil), let handle = FileHandle(forWritingAtPath: outputFile) else {
                    throw ValidationError("cannot write \(outputFile)")
                }
                file = handle
            } else {
                file = FileHandle.standardOutput
            }
            try await connection.client().download("/api/v1/events/export", query: filters + [("format", export)], to: file)
            return
        }
        let data = try await connection.get("/api/v1/events", query: filters + [("limit", String(limit))])
        try output.print(
            {
                let page = try WireCoding.decoder().decode(Page.self, from: data)
                let events = page.events
                return Table(
                    ["ID", "TIME", "AGENT", "SEQ", "TYPE", "DATA"],
                    rows: events.map { event in
                        [String(event.id), WireCoding.string(from: event.time), event.agent, String(event.seq), event.type, Self.summary(event.data)]
                    }, empty: "(no events match)", footer: page.next.map { "more: --after \($0)" })
            }(), json: data)
    }

    struct Page: Decodable {
        var events: [EventRow]
        var next: Int64?
    }

    /// The first fields of an event's data, `key=value`, values cut at 40 characters (CSV
    /// readers get the same; --json has everything).
    static func summary(_ data: [String: JSONValue]) -> String {
        // Explicit String: with GRDB in scope an interpolation could otherwise be taken for SQL.
        data.keys.sorted().prefix(4).map { (key: String) -> String in
            let value = data[key].map { value -> String in
                if case .string(let text) = value { return text }
                return String(decoding: (try? WireCoding.encoder().encode(value)) ?? Data(), as: UTF8.self)
            } ?? ""
            return "\(key)=\(value.prefix(40))"
        }.joined(separator: " ")
    }
}

struct InventoryAppRow: Decodable {
    var id: String
    var name: String?
    var category: String?
    var risk: Double
    var first_seen: Date
    var last_seen: Date
    var devices: Int
    var users: Int
    var events: Int
    var evidence: [String: Int]
    var actions: [String: Int]
    var state: String
    var state_reason: String?
}

struct Inventory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The AI apps agents have discovered: devices, users, first and last seen, evidence, DLP outcomes, state.")
    @OptionGroup var connection: Connection
    @Option(help: "Only this category (consumer_ai, ai_coding, local_llm, ...).") var category: String?
    @Option(help: "Only apps in this state (unreviewed, sanctioned, monitored, unsanctioned).") var state: String?
    @Option(help: "Only apps seen since (RFC 3339).") var since: String?
    @Option(help: "Only apps with at least this risk score (0–10).") var minRisk: Double?
    @Option(help: "One device (agent id): the apps seen on it, as JSON.") var device: String?
    @Option(help: "One user: the apps they used on any device, as JSON.") var user: String?
    @OptionGroup var output: OutputOptions

    func run() async throws {
        if let device {
            print(String(decoding: try await connection.get("/api/v1/inventory/devices/\(device)"), as: UTF8.self))
            return
        }
        if let user {
            print(String(decoding: try await connection.get("/api/v1/inventory/users/\(user)"), as: UTF8.self))
            return
        }
        let data = try await connection.get(
            "/api/v1/inventory/apps", query: [("category", category), ("state", state), ("since", since), ("min_risk", minRisk.map { String($0) })])
        try output.print(
            {
                let apps = try WireCoding.decoder().decode([String: [InventoryAppRow]].self, from: data)["apps"] ?? []
                return Table(
                    ["APP", "NAME", "CATEGORY", "RISK", "STATE", "DEVICES", "USERS", "EVENTS", "FIRST SEEN", "LAST SEEN", "EVIDENCE", "DLP"],
                    rows: apps.map { app in
                        [
                            app.id, app.name ?? "", app.category ?? "", String(app.risk), app.state, String(app.devices), String(app.users), String(app.events),
                            WireCoding.string(from: app.first_seen), WireCoding.string(from: app.last_seen), app.evidence.keys.sorted().joined(separator: "+"),
                            app.actions.keys.sorted().map { "\($0):\(app.actions[$0] ?? 0)" }.joined(separator: " "),
                        ]
                    }, empty: "(no AI apps discovered yet)")
            }(), json: data)
    }
}

struct Apps: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One app of the inventory: show it, or set its sanction state.", subcommands: [Show.self, SetState.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What the catalog says about one app (facts with sources, how its risk score adds up) and where it was seen.")
        @OptionGroup var connection: Connection
        @Argument(help: "App id (chatgpt, claude-code, ollama, ...).") var id: String
        @Flag(help: "Print the API's JSON (catalog entry and inventory).") var json = false

        func run() async throws {
            let catalog = try await optional("/api/v1/catalog/\(id)")
            let inventory = try await optional("/api/v1/inventory/apps/\(id)")
            guard catalog != nil || inventory != nil else { throw Failure(description: "'\(id)' is neither in the catalog nor seen by any agent", status: 404) }
            if json {
                print(#"{"catalog": \#(catalog.map { String(decoding: $0, as: UTF8.self) } ?? "null"), "inventory": \#(inventory.map { String(decoding: $0, as: UTF8.self) } ?? "null")}"#)
                return
            }
            if let catalog, let entry = try? WireCoding.decoder().decode(CatalogEntryRow.self, from: catalog) {
                print(entry.text)
            } else {
                print("\(id): not in the catalog (scored as an app nothing is known about)")
            }
            guard let inventory else { print("\nnot seen by any agent yet"); return }
            print("\nseen:")
            print(String(decoding: inventory, as: UTF8.self))
        }

        /// The body, or nil when the API answers 404.
        func optional(_ path: String) async throws -> Data? {
            do { return try await connection.get(path) } catch let failure as Failure where failure.status == 404 { return nil }
        }
    }

    struct SetState: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-state", abstract: "Set an app's sanction state, with a reason (audited).")
        @OptionGroup var connection: Connection
        @Argument(help: "App id.") var id: String
        @Argument(help: "unreviewed, sanctioned, monitored or unsanctioned.") var state: String
        @Option(help: "Why (recorded with the change).") var reason: String

        func run() async throws {
            let body = try JSONSerialization.data(withJSONObject: ["state": state, "reason": reason])
            print(String(decoding: try await connection.send(.PUT, "/api/v1/apps/\(id)/state", json: body), as: UTF8.self))
        }
    }
}

/// `GET /api/v1/catalog/{id}`, for printing.
struct CatalogEntryRow: Decodable {
    struct Fact: Decodable {
        var value: JSONValue
        var source: String
    }

    struct App: Decodable {
        var id: String
        var name: String
        var vendor: String
        var category: String
        var domains: [String]?
        var executables: [String]?
        var risk: [String: Fact]?
    }

    struct Factor: Decodable {
        var name: String
        var points: Double
        var reason: String
    }

    var app: App
    var risk: Double
    var risk_factors: [Factor]

    var text: String {
        var lines = ["\(app.id) — \(app.name) (\(app.vendor)), \(app.category)", "risk \(risk)/10"]
        for factor in risk_factors {
            lines.append("  \(factor.name.padding(toLength: 20, withPad: " ", startingAt: 0)) +\(factor.points)  \(factor.reason)")
        }
        if let facts = app.risk, !facts.isEmpty {
            lines.append("facts:")
            for (name, fact) in facts.sorted(by: { $0.key < $1.key }) {
                let value = String(decoding: (try? WireCoding.encoder().encode(fact.value)) ?? Data(), as: UTF8.self)
                lines.append("  \(name) = \(value)  [\(fact.source)]")
            }
        } else {
            lines.append("facts: none assessed (unknown facts score between good and bad)")
        }
        if let domains = app.domains, !domains.isEmpty { lines.append("domains: \(domains.joined(separator: ", "))") }
        if let executables = app.executables, !executables.isEmpty { lines.append("executables: \(executables.joined(separator: ", "))") }
        return lines.joined(separator: "\n")
    }
}

struct Catalog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The AI app catalog the collector uses, with risk scores (bulwark apps show ID for one app).")
    @OptionGroup var connection: Connection
    @Option(help: "Only this category (consumer_ai, ai_coding, local_llm, ...).") var category: String?
    @Option(help: "Only apps with at least this risk score (0–10).") var minRisk: Double?
    @OptionGroup var output: OutputOptions

    struct Listing: Decodable {
        struct Entry: Decodable {
            var id: String
            var name: String
            var vendor: String
            var category: String
            var risk: Double
        }

        var version: String
        var apps: [Entry]
    }

    func run() async throws {
        let data = try await connection.get("/api/v1/catalog", query: [("category", category), ("min_risk", minRisk.map { String($0) })])
        try output.print(
            {
                let listing = try WireCoding.decoder().decode(Listing.self, from: data)
                return Table(
                    ["APP", "RISK", "CATEGORY", "NAME", "VENDOR"],
                    rows: listing.apps.sorted(by: { ($0.risk, $1.id) > ($1.risk, $0.id) }).map { [$0.id, String($0.risk), $0.category, $0.name, $0.vendor] },
                    empty: "(the catalog has no apps matching)", footer: "catalog \(listing.version): \(listing.apps.count) apps")
            }(), json: data)
    }
}
