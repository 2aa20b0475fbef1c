import Hummingbird
import Logging
import NIOCore
import NIOSSL

/// Request context of the agent listener. It keeps the channel so the peer certificate can be
/// read from the TLS handler, and carries the agent that certificate authenticated.
public struct AgentRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    /// Set by ``AgentAuthenticator`` for every route except enrollment.
    public var agent: AgentRecord?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// Bodies are read explicitly with the configured limits, never through this default.
    public var maxUploadSize: Int { 64 * 1024 }

    /// The client's address, for rate limiting and audit.
    public var clientAddress: String {
        channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Whether the request is a stream of an HTTP/2 connection. A stream's channel is the child
    /// of the connection's, itself the child of the listener's; an HTTP/1.1 request's channel is
    /// the connection's.
    public var isHTTP2Stream: Bool { channel.parent?.parent != nil }

    /// The client certificate the TLS handshake verified, if one was presented. TLS belongs to
    /// the connection: under HTTP/2 that is the stream's parent.
    public func peerCertificate() async throws -> NIOSSLCertificate? {
        try await (isHTTP2Stream ? channel.parent ?? channel : channel).nioSSL_peerCertificate().get()
    }
}

/// Request context of the console/API listener, carrying the authenticated bearer token.
public struct ConsoleRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var token: APIToken?
    /// The client's IP address, for the audit log.
    public let clientAddress: String

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}
