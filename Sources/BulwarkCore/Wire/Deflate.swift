import CBulwarkZlib
import NIOCore

/// zlib-wrapped deflate (RFC 1950, what HTTP calls `Content-Encoding: deflate`) with a hard
/// output limit, so a small hostile body cannot inflate without bound, and strict framing: a
/// truncated stream or bytes after its end are errors, never a silently shorter batch.
public enum Deflate {
    public enum InflateError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The body inflates past `limit` bytes.
        case limitExceeded(limit: Int)
        /// The body is not one complete zlib stream.
        case corrupt(String)

        public var description: String {
            switch self {
            case .limitExceeded(let limit): "body inflates past the limit of \(limit) bytes"
            case .corrupt(let reason): "body is not valid zlib/deflate data: \(reason)"
            }
        }
    }

    public struct CompressError: Error, CustomStringConvertible {
        public var code: Int32
        public var description: String { "zlib deflate failed with code \(code)" }
    }

    /// Compresses `bytes` at the default level.
    public static func compress(_ bytes: ByteBuffer) throws -> ByteBuffer {
        var stream = z_stream()
        guard deflateInit_(&stream, Z_DEFAULT_COMPRESSION, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CompressError(code: Z_STREAM_ERROR)
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(bytes.readableBytes)))
        var output = ByteBuffer()
        var result: Int32 = Z_OK
        bytes.withUnsafeReadableBytes { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = UInt32(input.count)
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { out in
                stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = UInt32(out.count)
                result = deflate(&stream, Z_FINISH)
                return out.count - Int(stream.avail_out)
            }
        }
        // deflateBound guarantees one Z_FINISH call suffices.
        guard result == Z_STREAM_END else { throw CompressError(code: result) }
        return output
    }

    /// Inflates `bytes`, failing once the output would exceed `limit` bytes.
    public static func inflate(_ bytes: ByteBuffer, limit: Int) throws(InflateError) -> ByteBuffer {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corrupt("zlib could not start")
        }
        defer { inflateEnd(&stream) }
        let chunk = 64 * 1024
        var output = ByteBuffer()
        output.reserveCapacity(min(limit, max(chunk, bytes.readableBytes * 4)))
        var failure: InflateError?
        bytes.withUnsafeReadableBytes { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = UInt32(input.count)
            while true {
                // One byte of room past the limit tells "exactly at the limit" from "over it".
                let room = min(chunk, limit + 1 - output.readableBytes)
                var result: Int32 = Z_OK
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { out in
                    stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = UInt32(room)
                    result = CBulwarkZlib.inflate(&stream, Z_NO_FLUSH)
                    return room - Int(stream.avail_out)
                }
                if output.readableBytes > limit {
                    failure = .limitExceeded(limit: limit)
                    return
                }
                switch result {
                case Z_STREAM_END:
                    if stream.avail_in != 0 { failure = .corrupt("\(stream.avail_in) bytes follow the end of the stream") }
                    return
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    failure = .corrupt("the stream is truncated")
                    return
                case Z_BUF_ERROR:
                    continue
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "code \(result)"
                    failure = .corrupt(message)
                    return
                }
            }
        }
        if let failure { throw failure }
        return output
    }
}
