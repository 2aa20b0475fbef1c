import Foundation

/// Keeps a second `bulwark-collector serve` off a SQLite file another one serves. SQLite is one
/// collector's store — several collectors share PostgreSQL (docs/SCALING.md) — and two serving
/// one file would each keep the retention, risk and gap bookkeeping a single owner expects.
/// An advisory lock (`flock`) on a file beside the database: the kernel releases it when the
/// process ends, however it ends. CLI commands (tokens, queries) do not take it and keep working
/// beside the running collector.
final class SQLiteServeLock: Sendable {
    private let descriptor: Int32

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(database path: String) throws {
        let lockPath = path + ".serve-lock"
        descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw Failure(description: "cannot open \(lockPath): \(String(cString: strerror(errno))); the collector needs to write beside its database")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            close(descriptor)
            if reason == EWOULDBLOCK {
                throw Failure(description: "another bulwark-collector already serves \(path); a SQLite store is one collector's — stop that one, or move to PostgreSQL to run several (bulwark-collector migrate-store, docs/SCALING.md)")
            }
            throw Failure(description: "cannot lock \(lockPath): \(String(cString: strerror(reason)))")
        }
    }

    deinit { close(descriptor) }
}
