import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A minimal HTTP/1.1 server for `GET /metrics` on a loopback address: Prometheus on the same
/// host scrapes the agent; nothing is reachable from the network.
public final class MetricsServer: Sendable {
    let host: String
    let port: Int
    let render: @Sendable () -> String
    let logger: Logger
    private let channel = Mutex<(any Channel)?>(nil)

    public init(host: String, port: Int, logger: Logger, render: @escaping @Sendable () -> String) {
        self.host = host
        self.port = port
        self.logger = logger
        self.render = render
    }

    /// Binds and serves; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        let render = render
        let bound = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(Handler(render: render))
                }
            }
            .bind(host: host, port: port).get()
        channel.withLock { $0 = bound }
        let actual = bound.localAddress?.port ?? port
        logger.info("metrics listening", metadata: ["address": "\(host):\(actual)"])
        return actual
    }

    public func stop() async {
        let current = channel.withLock { value -> (any Channel)? in
            defer { value = nil }
            return value
        }
        try? await current?.close()
    }

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let render: @Sendable () -> String
        private var head: HTTPRequestHead?

        init(render: @escaping @Sendable () -> String) {
            self.render = render
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let request): head = request
            case .body: break
            case .end:
                guard let request = head else { return }
                head = nil
                let (status, body, type): (HTTPResponseStatus, String, String) = switch (request.method, request.uri.split(separator: "?").first) {
                case (.GET, "/metrics"): (.ok, render(), "text/plain; version=0.0.4; charset=utf-8")
                case (_, "/metrics"): (.methodNotAllowed, "only GET\n", "text/plain; charset=utf-8")
                default: (.notFound, "the agent serves /metrics only\n", "text/plain; charset=utf-8")
                }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: type)
                headers.add(name: "Content-Length", value: "\(body.utf8.count)")
                headers.add(name: "Connection", value: request.isKeepAlive ? "keep-alive" : "close")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
                let keepAlive = request.isKeepAlive
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                    if !keepAlive { context.close(promise: nil) }
                }
            }
        }
    }
}
