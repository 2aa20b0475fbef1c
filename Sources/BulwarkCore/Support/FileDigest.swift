import Crypto
import Foundation

/// SHA-256 of a file's content, read through an open descriptor with pread (the descriptor's
/// offset is left alone, and a file the kernel handed over — fanotify, /proc/PID/exe — is hashed
/// as it is, not whatever its path names now). Hex; nil when it cannot be read.
public enum FileDigest {
    public static func sha256(descriptor: Int32) -> String? {
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var offset: off_t = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, offset) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { break }
            hasher.update(data: buffer[0..<count])
            offset += off_t(count)
        }
        return AgentIdentity.hex(hasher.finalize())
    }
}
