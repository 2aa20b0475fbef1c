import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOSSL

/// The agent listener's connections: HTTP/2 with HTTP/1.1 by ALPN (Hummingbird's
/// ``HTTP2UpgradeChannel``), with a ``TLSReadCompactor`` right after the TLS handler.
///
/// Memory per held connection is what a collector with ten thousand idle agents spends (heaptrack,
/// docs/BENCHMARKS.md "HTTP/2 for agents"): without the compactor each one kept two 32 KiB TLS
/// read buffers alive instead of one.
struct AgentListenerChannel: HTTPChannelHandler {
    typealias Value = HTTP2UpgradeChannel.Value
    let upgrade: HTTP2UpgradeChannel

    var responder: Responder { upgrade.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let value = upgrade.setup(channel: channel, logger: logger)
        do {
            let tls = try channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            try channel.pipeline.syncOperations.addHandler(TLSReadCompactor(), position: .after(tls))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return value
    }

    func handle(value: Value, logger: Logger) async {
        await upgrade.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// The agent listener: see ``AgentListenerChannel``.
    static func agentListener(tlsConfiguration: TLSConfiguration) throws -> HTTPServerBuilder {
        .init { responder in
            AgentListenerChannel(upgrade: try HTTP2UpgradeChannel(tlsConfiguration: tlsConfiguration, responder: responder))
        }
    }
}

/// Copies small reads out of the TLS handler's read buffer before passing them on.
///
/// NIOSSL decrypts into one 32 KiB buffer per connection and hands that buffer up; when a handler
/// above keeps a slice of it (HTTP/2's frame decoder keeps what it received), NIOSSL's next read
/// copies it to a new 32 KiB buffer, and the old one stays alive for the few bytes kept. A read
/// that fills less than a quarter of its buffer is copied into one of its own size instead, so the
/// big buffer is never kept. Large reads (uploads) pass as they are.
final class TLSReadCompactor: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard buffer.readableBytes * 4 < buffer.storageCapacity else {
            context.fireChannelRead(data)
            return
        }
        var copy = context.channel.allocator.buffer(capacity: buffer.readableBytes)
        copy.writeBuffer(&buffer)
        context.fireChannelRead(wrapInboundOut(copy))
    }
}
