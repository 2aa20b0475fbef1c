import BulwarkCore
import Foundation
import Hummingbird
import NIOCore

/// `GET /metrics` on the API listener: Prometheus text format. Scrapers on the collector's own
/// host need no token; from elsewhere a bearer token of role `metrics` (which can read nothing
/// else) or `admin`. Every scrape is audited like any API request.
public struct MetricsRoute: Sendable {
    let store: any CollectorStore
    let metrics: CollectorMetrics
    let health: AgentHealth

    init(store: any CollectorStore, metrics: CollectorMetrics, health: AgentHealth) {
        self.store = store
        self.metrics = metrics
        self.health = health
    }

    public func register(on router: Router<ConsoleRequestContext>) {
        router.group("metrics").add(middleware: LoopbackOrBearer(store: store)).get { _, context in
            if context.token != nil { try context.require([.admin, .metrics]) }
            metrics.refresh(agents: try await store.agents(), health: health, now: Date())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
    }

    /// Lets loopback clients through as `loopback` (audited), and sends everyone else through
    /// the bearer-token check.
    struct LoopbackOrBearer: RouterMiddleware {
        typealias Context = ConsoleRequestContext
        let store: any CollectorStore

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            guard ListenAddress.isLoopback(context.clientAddress) else {
                return try await BearerAuthenticator(store: store).handle(request, context: context, next: next)
            }
            let response = try await next(request, context)
            try? await store.audit(AuditEntry(actor: "loopback", source: context.clientAddress, action: "\(request.method) \(request.uri.path)", target: "", outcome: "ok"))
            return response
        }
    }
}
