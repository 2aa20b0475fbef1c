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
