import Foundation

/// Browser native messaging's framing (also used between `bulwark-agent native-host` and the
/// session helper): a 32-bit length in native byte order (little-endian here), then that many
/// bytes of UTF-8 JSON.
enum NativeMessageFrame {
    /// Chrome's own limit for a message from the extension; nothing larger is read.
    static let maxBytes = 64 * 1024 * 1024

    enum Failure: Error, CustomStringConvertible {
        case closed
        case tooLarge(Int)
        case truncated

        var description: String {
            switch self {
            case .closed: "the other end closed the connection"
            case .tooLarge(let size): "a message of \(size) bytes is over the \(NativeMessageFrame.maxBytes)-byte limit"
            case .truncated: "the connection closed in the middle of a message"
            }
        }
    }

    /// The next message from `descriptor` (blocking).
    static func read(from descriptor: Int32) throws(Failure) -> Data {
        var header = [UInt8](repeating: 0, count: 4)
        guard try fill(&header, from: descriptor, allowEOF: true) else { throw .closed }
        let size = Int(UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24)
        guard size <= maxBytes else { throw .tooLarge(size) }
        var body = [UInt8](repeating: 0, count: size)
        _ = try fill(&body, from: descriptor, allowEOF: false)
        return Data(body)
    }

    /// Reads exactly `buffer.count` bytes; false at a clean end of input before the first byte.
    private static func fill(_ buffer: inout [UInt8], from descriptor: Int32, allowEOF: Bool) throws(Failure) -> Bool {
        var offset = 0
        while offset < buffer.count {
            let count = buffer.withUnsafeMutableBytes { raw in Glibc.read(descriptor, raw.baseAddress.map { $0 + offset }, raw.count - offset) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 {
                if offset == 0, allowEOF { return false }
                throw .truncated
            }
            offset += count
        }
        return true
    }

    static func encode(_ body: Data) -> Data {
        let size = UInt32(body.count)
        var frame = Data([UInt8(size & 0xff), UInt8(size >> 8 & 0xff), UInt8(size >> 16 & 0xff), UInt8(size >> 24 & 0xff)])
        frame.append(body)
        return frame
    }

    /// Writes one framed message with write(2) (a pipe or a socket); false when the other end is gone.
    static func write(_ body: Data, to descriptor: Int32) -> Bool {
        let frame = encode(body)
        return frame.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(descriptor, raw.baseAddress.map { $0 + offset }, raw.count - offset)
                if written < 0, errno == EINTR { continue }
                if written <= 0 { return false }
                offset += written
            }
            return true
        }
    }
}
