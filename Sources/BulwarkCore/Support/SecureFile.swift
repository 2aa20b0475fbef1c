import Foundation

/// Writes files that hold secrets with owner-only permissions from the moment they exist, and
/// replaces them atomically so a crash never leaves a half-written key.
public enum SecureFile {
    public enum Mode: Sendable {
        /// 0600: private keys, token hashes, HMAC keys.
        case secret
        /// 0644: certificates and other public material.
        case publicReadable

        var permissions: mode_t { self == .secret ? 0o600 : 0o644 }
    }

    public struct WriteError: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    /// Writes `data` to `path` via a temporary file in the same directory and `rename(2)`.
    public static func write(_ data: some DataProtocol, to path: String, mode: Mode) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode.permissions)
        guard fd >= 0 else { throw WriteError(path: path, reason: String(cString: strerror(errno))) }
        // open(2) honours the umask; set the mode explicitly so 0600 is never widened or narrowed.
        fchmod(fd, mode.permissions)
        let bytes = Array(data)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if result < 0 {
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw WriteError(path: path, reason: reason)
            }
            written += result
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw WriteError(path: path, reason: reason)
        }
    }

    /// Reads a whole file as UTF-8 text.
    public static func readText(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    /// The permission bits of `path`, or nil when it does not exist.
    public static func permissions(of path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o777
    }
}
