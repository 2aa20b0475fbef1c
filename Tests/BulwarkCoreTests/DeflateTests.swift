import BulwarkCore
import NIOCore
import Testing

@Suite("Deflate")
struct DeflateTests {
    @Test("round trip")
    func roundTrip() throws {
        let text = String(repeating: "bulwark telemetry ", count: 1000)
        let compressed = try Deflate.compress(ByteBuffer(string: text))
        #expect(compressed.readableBytes < text.utf8.count / 10)
        let inflated = try Deflate.inflate(compressed, limit: 1 << 20)
        #expect(String(buffer: inflated) == text)
    }

    @Test("output exactly at the limit is accepted, one byte over is refused")
    func limitBoundary() throws {
        let body = ByteBuffer(repeating: 7, count: 100_000)
        let compressed = try Deflate.compress(body)
        #expect(try Deflate.inflate(compressed, limit: 100_000).readableBytes == 100_000)
        #expect(throws: Deflate.InflateError.limitExceeded(limit: 99_999)) {
            try Deflate.inflate(compressed, limit: 99_999)
        }
    }

    @Test("a bomb stops at the limit")
    func bomb() throws {
        let compressed = try Deflate.compress(ByteBuffer(repeating: 0, count: 64 << 20))
        #expect(compressed.readableBytes < 128 << 10)
        #expect(throws: Deflate.InflateError.limitExceeded(limit: 1 << 20)) {
            try Deflate.inflate(compressed, limit: 1 << 20)
        }
    }

    @Test("truncated, garbage, trailing bytes and empty input are corrupt")
    func corrupt() throws {
        let compressed = try Deflate.compress(ByteBuffer(string: "hello, hello, hello"))
        var truncated = compressed
        truncated.moveWriterIndex(to: compressed.writerIndex - 3)
        var trailing = compressed
        trailing.writeString("extra")
        for input in [truncated, ByteBuffer(string: "not zlib at all"), trailing, ByteBuffer()] {
            #expect {
                try Deflate.inflate(input, limit: 1 << 20)
            } throws: { error in
                if case .corrupt = error as? Deflate.InflateError { return true }
                return false
            }
        }
    }
}
