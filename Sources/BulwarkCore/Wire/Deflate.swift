import CompressNIO
import NIOCore

/// zlib-wrapped deflate (RFC 1950, what HTTP calls `Content-Encoding: deflate`) with a hard
/// output limit, so a small hostile body cannot inflate without bound.
public enum Deflate {
    public enum InflateError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The body inflates past `limit` bytes.
        case limitExceeded(limit: Int)
        /// The body is not a complete zlib stream.
        case corrupt

        public var description: String {
            switch self {
            case .limitExceeded(let limit): "body inflates past the limit of \(limit) bytes"
            case .corrupt: "body is not valid zlib/deflate data"
            }
        }
    }

    /// Compresses `bytes` at the default level.
    public static func compress(_ bytes: ByteBuffer) throws -> ByteBuffer {
        var input = bytes
        return try input.compress(with: .zlib())
    }

    /// Inflates `bytes`, failing once the output would exceed `limit` bytes.
    public static func inflate(_ bytes: ByteBuffer, limit: Int) throws(InflateError) -> ByteBuffer {
        var input = bytes
        do {
            let output = try input.decompress(with: .zlib(), maxSize: limit)
            // Trailing bytes after the end of the zlib stream mean the body is not what it claims.
            guard input.readableBytes == 0 else { throw InflateError.corrupt }
            return output
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw .limitExceeded(limit: limit)
        } catch {
            throw .corrupt
        }
    }
}
