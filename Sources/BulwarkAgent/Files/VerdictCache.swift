import BulwarkCore
import Foundation
import Synchronization

/// What a file was found to hold, by the file's identity: the same inode with the same size,
/// modification and change time is the same content, so a verdict is reused until the file is
/// written (close-after-write rescans it) or replaced.
final class VerdictCache: Sendable {
    typealias Key = FileStamp

    private let entries = Mutex<[Key: ScanResult]>([:])
    let capacity: Int

    init(capacity: Int = 50_000) {
        self.capacity = capacity
    }

    /// The identity of an open regular file; nil for anything else (directories, devices).
    static func key(descriptor: Int32) -> Key? {
        guard let stamp = FileStamp(descriptor: descriptor), stamp.isRegularFile else { return nil }
        return stamp
    }

    func verdict(_ key: Key) -> ScanResult? { entries.withLock { $0[key] } }

    func store(_ result: ScanResult, for key: Key) {
        entries.withLock { entries in
            // Full: forget everything rather than keep a recency list on the hot path; the
            // files in use are rescanned once.
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = result
        }
    }

    var count: Int { entries.withLock { $0.count } }
}
