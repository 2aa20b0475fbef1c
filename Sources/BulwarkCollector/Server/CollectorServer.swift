import BulwarkCore
import Foundation
import Hummingbird
import HummingbirdHTTP2
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// The `serve` process: the agent listener (mTLS) and the console/API listener (TLS + bearer
/// tokens) over one store, shut down gracefully together.
public struct CollectorServer: Sendable {
    public struct Configuration: Sendable {
        public var agentListen: (host: String, port: Int)
        public var apiListen: (host: String, port: Int)
        public var limits: CollectorLimits
        public var retention: RetentionPolicy
        /// How often expired data is looked for.
        public var retentionInterval: Duration
        /// SIEMs every stored event is forwarded to.
        public var siem: [SIEMDestination]
        /// An agent not heard from for this long is stale.
        public var staleAfter: TimeInterval = 3600
        /// The organisation's server certificate, key and CA instead of the deployment's own.
        public var tlsFiles: ServerTLSIdentity.Files?
        /// CAs of the organisation whose agent certificates the agent listener accepts too.
        public var clientCAFile: String?
        /// The store: empty for the deployment's SQLite file, else `sqlite:PATH` or `postgres://…`.
        public var database = ""
        /// Where the PostgreSQL password is, when not in `database`.
        public var databasePasswordFile: String?

        public init(
            agentListen: (host: String, port: Int), apiListen: (host: String, port: Int), limits: CollectorLimits = CollectorLimits(),
            retention: RetentionPolicy = RetentionPolicy(), retentionInterval: Duration = .seconds(3600), siem: [SIEMDestination] = []
        ) {
            self.siem = siem
            self.agentListen = agentListen
            self.apiListen = apiListen
            self.limits = limits
            self.retention = retention
            self.retentionInterval = retentionInterval
        }
    }

    let deployment: Deployment
    let configuration: Configuration
    let logger: Logger

    public init(deployment: Deployment, configuration: Configuration, logger: Logger) {
        self.deployment = deployment
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs until SIGTERM or SIGINT (or the first of `stopRequests`: a reload), then stops
    /// accepting, lets in-flight requests finish and closes the store.
    public func run(
        stopRequests: AsyncStream<Void>? = nil, onListening: @escaping @Sendable (String, SocketAddress?) -> Void = { _, _ in }
    ) async throws {
        let location = try deployment.storeLocation(database: configuration.database, passwordFile: configuration.databasePasswordFile)
        let serveLock: SQLiteServeLock? = if case .sqlite(let path) = location { try SQLiteServeLock(database: path) } else { nil }
        defer { withExtendedLifetime(serveLock) {} }
        let store = try await location.open(catalogOverride: try deployment.catalogOverride(), gapAfter: configuration.staleAfter, logger: logger)
        logger.notice("store", metadata: ["database": "\(location)"])
        try await store.refreshRiskScores()
        logger.info("AI app catalog", metadata: ["version": "\(store.catalog.version)", "apps": "\(store.catalog.apps.count)"])
        let limits = configuration.limits
        let enrollment = EnrollmentService(store: store, authority: deployment.signingAuthority, hashKey: deployment.hmacKey, limits: limits, logger: logger)
        let metrics = CollectorMetrics()
        let ingest = IngestService(store: store, limits: limits, logger: logger, metrics: metrics)
        let policyFeed = PolicyFeed(store: store, logger: logger)

        var identity = ServerTLSIdentity.deployment(deployment)
        if let files = configuration.tlsFiles {
            identity = try await ServerTLSIdentity.external(files, deployment: deployment)
            logger.notice("serving the organisation's certificate", metadata: ["certificate": "\(files.certificate)", "ca": "\(files.authority)"])
        }
        if let clientCAFile = configuration.clientCAFile {
            identity.clientAuthorities += try ServerTLSIdentity.certificates(in: clientCAFile)
            logger.notice("accepting agent certificates of the organisation's CA", metadata: ["ca": "\(clientCAFile)"])
        }
        let caPEM = try identity.anchorsPEM
        let agentRouter = Router(context: AgentRequestContext.self)
        AgentRoutes(
            store: store, enrollment: enrollment, ingest: ingest, limits: limits, caPEM: caPEM,
            issuingCAPEM: try deployment.signingAuthority.certificate.serializeAsPEM().pemString, metrics: metrics, policyFeed: policyFeed
        ).register(on: agentRouter)
        let agentApp = Application(
            router: agentRouter,
            // HTTP/2 (ALPN h2, HTTP/1.1 for older agents): an agent's waiting policy request and
            // its uploads share one connection, so an idle fleet opens no connections; each
            // connection opened and closed costs the server time in proportion to those held.
            server: try .agentListener(tlsConfiguration: identity.tlsConfiguration(requestClientCertificate: true)),
            configuration: .init(address: .hostname(configuration.agentListen.host, port: configuration.agentListen.port), serverName: "bulwark-collector"),
            onServerRunning: { channel in onListening("agent", channel.localAddress) },
            logger: logger)

        let consoleRouter = Router(context: ConsoleRequestContext.self)
        ConsoleRoutes(store: store, caPEM: caPEM, staleAfter: configuration.staleAfter).register(on: consoleRouter)
        MetricsRoute(store: store, metrics: metrics, health: AgentHealth(staleAfter: configuration.staleAfter)).register(on: consoleRouter)
        WebConsole(store: store, sessions: ConsoleSessions(store: store), health: AgentHealth(staleAfter: configuration.staleAfter)).register(on: consoleRouter)
        let consoleApp = Application(
            router: consoleRouter,
            server: try .tls(.http1(), tlsConfiguration: identity.tlsConfiguration(requestClientCertificate: false)),
            configuration: .init(address: .hostname(configuration.apiListen.host, port: configuration.apiListen.port), serverName: "bulwark-collector"),
            onServerRunning: { channel in onListening("api", channel.localAddress) },
            logger: logger)

        let group = ServiceGroup(
            configuration: .init(
                services: [
                    agentApp, consoleApp, policyFeed,
                    RetentionService(store: store, policy: configuration.retention, interval: configuration.retentionInterval, logger: logger),
                ] + (try configuration.siem.map { SIEMForwarder(store: store, transport: try $0.transport(), logger: logger) as any Service }),
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let stopper = Task {
            guard let stopRequests else { return }
            for await _ in stopRequests {
                await group.triggerGracefulShutdown()
                return
            }
        }
        defer { stopper.cancel() }
        do {
            try await group.run()
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
        logger.info("collector stopped; database closed")
    }
}
