import Foundation

/// The origin of the tab each browser has in front, as its extension reports it, by the
/// browser's processes (the native host's parent and its ancestors). The clipboard guard asks it
/// who is really pasting when the requestor is a browser: `https://chatgpt.com`, not a window
/// title that reads "Budget review".
public final class BrowserFocus: @unchecked Sendable {
    // `reports` is written by the bridge's connection threads and read by the display thread, behind `lock`.
    private let lock = NSLock()
    private var reports: [Int32: Report] = [:]  // bridge connection → report

    struct Report {
        var browserPIDs: Set<pid_t>
        var origin: String?
    }

    public init() {}

    func register(connection: Int32, browserPIDs: Set<pid_t>) {
        lock.withLock { reports[connection] = Report(browserPIDs: browserPIDs, origin: nil) }
    }

    func report(connection: Int32, origin: String?) {
        lock.withLock { reports[connection]?.origin = origin }
    }

    func forget(connection: Int32) {
        lock.withLock { _ = reports.removeValue(forKey: connection) }
    }

    /// `.some(origin)` when `pid` is a browser whose extension is connected (origin nil: no web
    /// page in front), nil when no extension speaks for it.
    public func origin(requestor pid: pid_t) -> String?? {
        lock.withLock {
            for report in reports.values where report.browserPIDs.contains(pid) { return .some(report.origin) }
            return nil
        }
    }

    /// The host part of an origin (`https://chatgpt.com:443` → `chatgpt.com`).
    public static func host(of origin: String) -> String? {
        URLComponents(string: origin)?.host?.lowercased()
    }
}
