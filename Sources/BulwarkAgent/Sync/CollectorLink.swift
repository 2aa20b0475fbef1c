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
        /// The files `credentials` were read from, as they were then: while they stay so, a
        /// request costs three `stat`s, not three reads.
        var stamps: [FileStamp?] = []
        var retired: [CollectorClient] = []
        var closed = false

        /// The client in use if it was made from `credentials` (any, when nil).
        func usable(matching credentials: Credentials?) throws -> CollectorClient? {
            guard !closed else { throw CollectorError.unreachable("the agent is stopping; no new requests to the collector") }
            guard credentials == nil || credentials == self.credentials else { return nil }
            return client
        }
    }

    private let current = Mutex(Current())

    public init(state: AgentState, connectTimeout: Double) {
        self.state = state
        self.connectTimeout = connectTimeout
    }

    /// The client for the agent's enrollment as it is on disk now. When those files cannot be
    /// read (deleted under the running agent: tampering, which the agent reports) the client in
    /// use stays: the agent keeps reporting with what it loaded.
    /// - Throws: when there is no client yet and the files cannot be read, or once shut down.
    public func client() throws -> CollectorClient {
        let stamps = [state.enrollmentPath, state.certificatePath, state.caPath].map(FileStamp.init(path:))
        if let client = try current.withLock({ current in
            !stamps.contains(nil) && current.stamps == stamps ? try current.usable(matching: nil) : nil
        }) { return client }
        let made: (client: CollectorClient, credentials: Credentials)
        do {
            let enrollment = try state.loadEnrollment()
            let credentials = Credentials(
                collector: enrollment.collector,
                certificate: try Data(contentsOf: URL(fileURLWithPath: state.certificatePath)),
                authorities: try Data(contentsOf: URL(fileURLWithPath: state.caPath)))
            if let client = try current.withLock({ current -> CollectorClient? in
                guard let client = try current.usable(matching: credentials) else { return nil }
                current.stamps = stamps  // rewritten with the same content
                return client
            }) { return client }
            made = (
                try CollectorClient(
                    baseURL: enrollment.collector, trustedCA: try state.loadCA(), clientCertificate: try state.loadCertificate(), clientKey: try state.loadKey(),
                    connectTimeout: connectTimeout),
                credentials
            )
        } catch {
            if let client = try current.withLock({ try $0.usable(matching: nil) }) { return client }
            throw error
        }
        do {
            return try current.withLock { current in
                // Another caller may have made one for the same files meanwhile: ours is unused.
                if let client = try current.usable(matching: made.credentials) {
                    current.retired.append(made.client)
                    return client
                }
                if let old = current.client { current.retired.append(old) }
                current.client = made.client
                current.credentials = made.credentials
                current.stamps = stamps
                return made.client
            }
        } catch {
            // Shut down while this one was being made.
            Task { await made.client.shutdown() }
            throw error
        }
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
