import Foundation
import Synchronization

/// The agent's connection to the collector, shared by the uploader and the policy sync.
///
/// Over HTTP/2 one TLS connection carries the waiting policy request and every upload beside
/// it, so an idle agent holds one connection and opens none: a collector's cost for a fleet is
/// its held connections, and each connection opened and closed costs it time in proportion to
/// those (measured in docs/BENCHMARKS.md, "Scale-out").
///
/// The client follows the enrollment: a renewed certificate, a CA bundle changed by a rotation
/// or another collector address gets a new client on the next request. A replaced client is
/// shut down with the link, not at once, so a request still running on it (the policy wait)
/// ends normally.
public final class CollectorLink: Sendable {
    private let state: AgentState
    private let connectTimeout: Double

    /// What a client was made from: when any of it changes on disk, the client is replaced.
    private struct Credentials: Equatable {
        var collector: String
        var certificate: Data
        var authorities: Data
    }

    private struct Current {
        var client: CollectorClient?
        var credentials: Credentials?
        var retired: [CollectorClient] = []
        var closed = false
    }

    private let current = Mutex(Current())

    public init(state: AgentState, connectTimeout: Double) {
        self.state = state
        self.connectTimeout = connectTimeout
    }

    /// The client for the agent's enrollment as it is on disk now.
    /// - Throws: when the agent is not enrolled or its files cannot be read, or once shut down.
    public func client() throws -> CollectorClient {
        let enrollment = try state.loadEnrollment()
        let credentials = Credentials(
            collector: enrollment.collector,
            certificate: try Data(contentsOf: URL(fileURLWithPath: state.certificatePath)),
            authorities: try Data(contentsOf: URL(fileURLWithPath: state.caPath)))
        if let client = current.withLock({ $0.credentials == credentials ? $0.client : nil }) { return client }
        let (authorities, certificate, key) = (try state.loadCA(), try state.loadCertificate(), try state.loadKey())
        let chosen = try current.withLock { current -> CollectorClient? in
            guard !current.closed else { return nil }
            // Another caller may have made one for the same files meanwhile.
            if current.credentials == credentials, let client = current.client { return client }
            let made = try CollectorClient(
                baseURL: enrollment.collector, trustedCA: authorities, clientCertificate: certificate, clientKey: key, connectTimeout: connectTimeout)
            if let old = current.client { current.retired.append(old) }
            current.client = made
            current.credentials = credentials
            return made
        }
        guard let chosen else { throw CollectorError.unreachable("the agent is stopping; no new requests to the collector") }
        return chosen
    }

    /// Shuts every client down; requests still running fail, and `client()` throws from now on.
    public func shutdown() async {
        let clients = current.withLock { current -> [CollectorClient] in
            current.closed = true
            defer {
                current.client = nil
                current.retired = []
            }
            return current.retired + (current.client.map { [$0] } ?? [])
        }
        for client in clients { await client.shutdown() }
    }
}
