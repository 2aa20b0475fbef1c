@testable import BulwarkCollector
import NIOCore
import NIOEmbedded
import Testing

@Suite("TLS read compactor")
struct TLSReadCompactorTests {
    @Test("a small read is passed on in a buffer of its own size, the same bytes; a large read passes as it is (its storage shared)")
    func compacts() throws {
        let channel = EmbeddedChannel(handler: TLSReadCompactor())
        // What NIOSSL hands up: its 32 KiB read buffer holding a few bytes.
        var big = channel.allocator.buffer(capacity: 32 * 1024)
        big.writeString("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        try channel.writeInbound(big)
        let small = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(small == big)
        #expect(small.storageCapacity < 1024, "copied into a buffer of its own: \(small.storageCapacity)")

        var full = channel.allocator.buffer(capacity: 32 * 1024)
        full.writeBytes([UInt8](repeating: 7, count: 20 * 1024))
        try channel.writeInbound(full)
        let passed = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(passed == full)
        #expect(passed.storageCapacity == full.storageCapacity)
        _ = try channel.finish()
    }
}
