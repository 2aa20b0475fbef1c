import BulwarkCore
import Foundation
import GRDB
import Logging

/// AI web apps people visit, from their browsers' own history: Chromium-family `History`
/// databases and Firefox's `places.sqlite`, in every home directory (and configured roots). The
/// browser may be running and holding its database locked, so the sensor reads a private copy
/// (with its journal or WAL), read-only, and only visits newer than the last one it counted
/// per profile. Emits `ai.web.visits` per user, app, browser and day (visit counts, never URLs).
public final class BrowserHistorySensor: @unchecked Sendable {
    // `cursors` is touched only by `run`'s task.

    public struct Profile: Sendable, Hashable {
        public var path: String
        /// `chromium` (Chrome, Chromium, Brave, Edge, Vivaldi) or `firefox`.
        public var kind: String
        public var browser: String
    }

    /// Browser data directories relative to a home, with the browser's name.
    static let chromiumFamilies: [(String, String)] = [
        (".config/chromium", "chromium"), (".config/google-chrome", "chrome"), (".config/BraveSoftware/Brave-Browser", "brave"),
        (".config/microsoft-edge", "edge"), (".config/vivaldi", "vivaldi"),
    ]
    static let firefoxRoots = [".mozilla/firefox", "snap/firefox/common/.mozilla/firefox"]

    let catalogSource: CatalogSource
    var catalog: AIAppCatalog { catalogSource.current }
    let spool: SpoolStore
    let logger: Logger
    let interval: Duration
    let extraRoots: [String]
    let cursorPath: String
    /// Per profile: the newest visit time already counted (the browser's own time unit).
    private var cursors: [String: Int64] = [:]
    /// Per profile: size and modification time of the database and its journal or WAL when last
    /// read; unchanged files are not copied and read again.
    private var stamps: [String: [Int64]] = [:]

    /// - Parameters:
    ///   - extraRoots: more browser data directories (a Chromium `--user-data-dir`, a Firefox profiles directory).
    ///   - cursorPath: where the per-profile cursors are kept across restarts.
    public init(catalog: CatalogSource = CatalogSource(), extraRoots: [String] = [], cursorPath: String, spool: SpoolStore, logger: Logger,
                interval: Duration = .seconds(300)) {
        catalogSource = catalog
        self.extraRoots = extraRoots
        self.cursorPath = cursorPath
        self.spool = spool
        self.logger = logger
        self.interval = interval
        if let data = FileManager.default.contents(atPath: cursorPath), let stored = try? JSONDecoder().decode([String: Int64].self, from: data) {
            cursors = stored
        }
    }

    public func run() async throws {
        while !Task.isCancelled {
            cycle()
            try await Task.sleep(for: interval)
        }
    }

    /// Every profile there is now.
    func profiles() -> [Profile] {
        let homes = ["/root"] + ((try? FileManager.default.contentsOfDirectory(atPath: "/home")) ?? []).map { "/home/\($0)" }
        var roots: [(String, String?)] = extraRoots.map { ($0, nil) }
        for home in homes {
            roots += Self.chromiumFamilies.map { ("\(home)/\($0.0)", $0.1) }
            roots += Self.firefoxRoots.map { ("\(home)/\($0)", "firefox") }
        }
        var found: [Profile] = []
        for (root, browser) in roots {
            // A Chromium data directory holds profiles (Default, Profile 1...); a Firefox one holds
            // profile directories with places.sqlite. Either may also be a profile itself.
            let candidates = [root] + ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).map { "\(root)/\($0)" }
            for directory in candidates {
                if FileManager.default.fileExists(atPath: directory + "/History") {
                    found.append(Profile(path: directory + "/History", kind: "chromium", browser: browser ?? "chromium"))
                } else if FileManager.default.fileExists(atPath: directory + "/places.sqlite") {
                    found.append(Profile(path: directory + "/places.sqlite", kind: "firefox", browser: browser ?? "firefox"))
                }
            }
        }
        return found
    }

    /// One periodic look at every profile (public for `bulwark-bench discovery`).
    public func cycle() {
        var changed = false
        for profile in profiles() {
            let stamp = Self.stamp(profile.path)
            if stamps[profile.path] == stamp { continue }  // nothing written since the last read
            do {
                let (visits, newest) = try read(profile, after: cursors[profile.path])
                stamps[profile.path] = stamp
                guard let newest else { continue }
                cursors[profile.path] = newest
                changed = true
                var owner = stat()
                let uid = stat(profile.path, &owner) == 0 ? owner.st_uid : 0
                for (key, count) in visits.sorted(by: { ($0.key.day, $0.key.app) < ($1.key.day, $1.key.app) }) {
                    guard let app = catalog.app(id: key.app) else { continue }
                    let day = key.day
                    var data: [String: JSONValue] = [
                        "app": .string(app.id), "category": .string(app.category), "day": .string(day), "visits": .number(Double(count)),
                        "browser": .string(profile.browser), "evidence": .string("browser_history"), "uid": .number(Double(uid)),
                    ]
                    if let user = SessionServer.userName(uid) { data["user"] = .string(user) }
                    spool.record(EventType.aiWebVisits, data, logger: logger)
                }
            } catch {
                logger.debug("cannot read browser history", metadata: ["profile": "\(profile.path)", "error": "\(error)"])
            }
        }
        if changed, let data = try? JSONEncoder().encode(cursors) { try? SecureFile.write(data, to: cursorPath, mode: .secret) }
    }

    /// Size and modification time (ns) of a database and its journal and WAL.
    static func stamp(_ path: String) -> [Int64] {
        ["", "-journal", "-wal"].flatMap { suffix -> [Int64] in
            var status = stat()
            guard stat(path + suffix, &status) == 0 else { return [-1, -1] }
            return [Int64(status.st_size), Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)]
        }
    }

    struct VisitKey: Hashable {
        var app: String
        var day: String
    }

    /// AI-app visits newer than `after`, per app and UTC day, and the newest visit time seen
    /// (nil when there is nothing new). The first read of a profile counts its whole history.
    func read(_ profile: Profile, after: Int64?) throws -> (visits: [VisitKey: Int], newest: Int64?) {
        // A private copy: the running browser keeps its database locked, and must never be disturbed.
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-history-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let name = (profile.path as NSString).lastPathComponent
        for suffix in ["", "-journal", "-wal"] where FileManager.default.fileExists(atPath: profile.path + suffix) {
            try FileManager.default.copyItem(atPath: profile.path + suffix, toPath: "\(copy)/\(name)\(suffix)")
        }
        var configuration = Configuration()
        configuration.readonly = false  // a copied WAL must be replayed into the copy
        let queue = try DatabaseQueue(path: "\(copy)/\(name)", configuration: configuration)
        let sql = profile.kind == "chromium"
            ? "SELECT urls.url AS url, visits.visit_time AS time FROM visits JOIN urls ON urls.id = visits.url WHERE visits.visit_time > ? ORDER BY visits.visit_time"
            : "SELECT moz_places.url AS url, moz_historyvisits.visit_date AS time FROM moz_historyvisits JOIN moz_places ON moz_places.id = moz_historyvisits.place_id WHERE moz_historyvisits.visit_date > ? ORDER BY moz_historyvisits.visit_date"
        var visits: [VisitKey: Int] = [:]
        var newest: Int64?
        try queue.read { db in
            let rows = try Row.fetchCursor(db, sql: sql, arguments: [after ?? 0])
            while let row = try rows.next() {
                let time: Int64 = row["time"]
                newest = max(newest ?? time, time)
                guard let url: String = row["url"], let host = URLComponents(string: url)?.host, let app = catalog.app(host: host) else { continue }
                visits[VisitKey(app: app.id, day: Self.day(time, kind: profile.kind)), default: 0] += 1
            }
        }
        return (visits, newest)
    }

    /// Chromium counts microseconds since 1601-01-01, Firefox since 1970-01-01.
    static func day(_ time: Int64, kind: String) -> String {
        let unixMicroseconds = kind == "chromium" ? time - 11_644_473_600_000_000 : time
        return WireCoding.utcDay(unixSeconds: unixMicroseconds / 1_000_000)
    }
}
