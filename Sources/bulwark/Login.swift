import ArgumentParser
import AsyncHTTPClient
import BulwarkCore
import Foundation
import NIOCore
import NIOSSL
import X509

/// What `bulwark login` saved: the collector, its CA (pinned by fingerprint) and the token.
/// Lives in `$XDG_CONFIG_HOME/bulwark` (else `~/.config/bulwark`), directory 0700, files 0600.
struct SavedLogin: Codable {
    var api: String
    var caSHA256: String
    var token: String
    var name: String
    var role: String

    enum CodingKeys: String, CodingKey {
        case api, token, name, role
        case caSHA256 = "ca_sha256"
    }

    static var directory: String {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.config")
        return base + "/bulwark"
    }

    static var path: String { directory + "/login.json" }
    static var caPath: String { directory + "/ca.pem" }

    /// The saved login, nil when there is none; a file others can read is refused (the token
    /// is a password).
    static func load() throws -> SavedLogin? {
        guard let permissions = SecureFile.permissions(of: path) else { return nil }
        guard permissions & 0o077 == 0 else {
            throw Failure(description: "\(path) can be read by other users (mode \(String(permissions, radix: 8))); run 'chmod 600 \(path)' or log in again", status: nil, local: true)
        }
        do {
            return try WireCoding.decoder().decode(SavedLogin.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw Failure(description: "\(path) is not a saved login (\(error)); run 'bulwark login' again", status: nil, local: true)
        }
    }

    func save(caPEM: String) throws {
        try FileManager.default.createDirectory(atPath: Self.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(Self.directory, 0o700)
        try SecureFile.write(Data(caPEM.utf8), to: Self.caPath, mode: .publicReadable)
        try SecureFile.write(try WireCoding.encoder().encode(self), to: Self.path, mode: .secret)
    }
}

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Save the collector's address, its CA (checked against the fingerprint you were given) and your API token for the other commands.",
        discussion: """
            The CA is fetched from the collector and refused unless its SHA-256 fingerprint is the one \
            given (the one 'bulwark-collector init' printed), so a server in the middle is noticed. The \
            token is read from --token-file, else BULWARK_TOKEN, else standard input, and checked with \
            the collector before anything is saved. Options and BULWARK_* variables still override \
            the saved login per command.
            """)
    @Option(help: "API base URL, e.g. https://collector.example:9443.") var api: String
    @Option(name: .customLong("ca-sha256"), help: "The deployment CA's SHA-256 fingerprint (hex; case and colons do not matter).") var caSHA256: String
    @Option(help: "File holding the API token.") var tokenFile: String?

    func run() async throws {
        let token = try readToken()
        let caPEM = try await Self.fetchCA(api: api, pinned: caSHA256)
        let caFile = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-ca-\(getpid()).pem").path
        try Data(caPEM.utf8).write(to: URL(fileURLWithPath: caFile))
        defer { unlink(caFile) }
        let client = APIClient(api: api, token: token, caPath: caFile)
        let who = try WireCoding.decoder().decode([String: String].self, from: try await client.get("/api/v1/whoami"))
        let login = SavedLogin(
            api: api, caSHA256: AgentIdentity.normalizedFingerprint(caSHA256), token: token, name: who["name"] ?? "?", role: who["role"] ?? "?")
        try login.save(caPEM: caPEM)
        print("logged in to \(api) as \(login.name) (\(login.role)); saved in \(SavedLogin.path) (readable by you only)")
    }

    func readToken() throws -> String {
        let text: String?
        if let tokenFile {
            text = try String(contentsOfFile: tokenFile, encoding: .utf8)
        } else if let value = ProcessInfo.processInfo.environment["BULWARK_TOKEN"] {
            text = value
        } else {
            if isatty(STDIN_FILENO) == 1 { FileHandle.standardError.write(Data("API token: ".utf8)) }
            text = readLine(strippingNewline: true)
        }
        guard let token = text?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty else {
            throw ValidationError("no token: give --token-file, set BULWARK_TOKEN or type it (create one with 'bulwark-collector api-token create')")
        }
        return token
    }

    /// The CA from `GET /api/ca`, over TLS not yet verified (there is nothing to verify it with
    /// yet), accepted only when its fingerprint is `pinned`.
    static func fetchCA(api: String, pinned: String) async throws -> String {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .none
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
        defer { _ = client.shutdown() }
        let url = (api.hasSuffix("/") ? String(api.dropLast()) : api) + "/api/ca"
        let body: ByteBuffer
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
            guard response.status == .ok else { throw Failure(description: "\(url) answered \(response.status.code); is \(api) a Bulwark collector's API port?", status: nil) }
            body = try await response.body.collect(upTo: 64 * 1024)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "cannot reach the collector at \(api): \(error); check the URL and that the collector runs", status: nil)
        }
        let (match, seen) = AgentIdentity.pinnedCertificate(pinned, inPEMBundle: String(buffer: body))
        guard !seen.isEmpty else {
            throw Failure(description: "\(url) did not answer a PEM certificate; is \(api) a Bulwark collector's API port?", status: nil)
        }
        guard let match else {
            throw Failure(
                description: "the collector's CA has fingerprint \(seen.joined(separator: ", ")), not the \(AgentIdentity.normalizedFingerprint(pinned)) you gave: this may not be your collector (or the fingerprint is mistyped); nothing was saved",
                status: 403)
        }
        return try match.serializeAsPEM().pemString
    }
}

struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Forget the saved login (the token stays valid until an admin revokes it).")

    func run() throws {
        let removed = [SavedLogin.path, SavedLogin.caPath].filter { (path: String) in unlink(path) == 0 }
        print(removed.isEmpty ? "not logged in" : "logged out: removed \(removed.joined(separator: ", "))")
    }
}
