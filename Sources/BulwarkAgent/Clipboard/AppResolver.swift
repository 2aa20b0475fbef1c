import BulwarkCore
import Foundation

/// Which AI app a program is, by what `/proc` and the display server say about it: its
/// executable, a program up to four parents above it, an AI tool running inside it when it is a
/// terminal, or — for a browser — its window's title. Shared by the paste guard and the focus
/// tracker.
public struct AppResolver: Sendable {
    public let catalog: AIAppCatalog

    public init(catalog: AIAppCatalog) {
        self.catalog = catalog
    }

    /// A program (and its window), as far as it can be told apart.
    public struct Resolved: Sendable {
        public var app: AIApp?
        public var executable: String?
        /// `executable`, `parent_process`, `terminal_process`, `browser_extension`, `window_title` or `unknown`.
        public var identifiedBy: String
        /// What the user is told (`ChatGPT`, `xclip`).
        public var label: String
        /// What an override is bound to.
        public var key: String
        /// The front tab's origin (`https://chatgpt.com`), when a browser's extension reported it.
        public var origin: String? = nil
    }

    /// Which app `pid` (showing `window`) is. `focus` knows the front tab of browsers whose
    /// extension is connected.
    public func resolve(pid: pid_t?, window: WindowIdentity?, focus: BrowserFocus? = nil) -> Resolved {
        let executable = pid.flatMap(ProcessLineage.executablePath(of:))
        var app = executable.flatMap(catalog.app(executable:))
        var identifiedBy = app == nil ? "unknown" : "executable"
        if app == nil, let pid {
            for ancestor in ProcessLineage.ancestors(of: pid) {
                if let found = ProcessLineage.executablePath(of: ancestor).flatMap(catalog.app(executable:)) {
                    app = found
                    identifiedBy = "parent_process"
                    break
                }
            }
        }
        // A terminal pastes for what runs in it: an AI tool in any of its shells is the
        // destination (the terminal cannot tell which tab has the focus; the stricter reading wins).
        if app == nil, let pid, executable.map(AIAppCatalog.isTerminal(executable:)) == true {
            for child in ProcessLineage.descendants(of: pid) {
                if let found = ProcessLineage.executablePath(of: child).flatMap(catalog.app(executable:)) {
                    app = found
                    identifiedBy = "terminal_process"
                    break
                }
            }
        }
        // A browser whose extension is connected says which site is in front: that is exact.
        var site: String?
        var origin: String?
        if app == nil, let pid, let reported = focus?.origin(requestor: pid) {
            identifiedBy = "browser_extension"
            origin = reported
            site = reported.flatMap(BrowserFocus.host(of:))
            app = site.flatMap(catalog.app(host:))
        }
        // Otherwise a browser (or a requestor the server cannot name) is as good as its active tab's title.
        if app == nil, identifiedBy != "browser_extension", executable.map(AIAppCatalog.isBrowser(executable:)) ?? true, let title = window?.title,
            let titled = catalog.app(windowTitle: title)
        {
            app = titled
            identifiedBy = "window_title"
        }
        let program = executable.map { ($0 as NSString).lastPathComponent }
        let label = app?.name ?? site ?? program ?? "an unidentified app"
        return Resolved(
            app: app, executable: executable, identifiedBy: identifiedBy, label: label, key: app?.id ?? site ?? executable ?? "unknown", origin: origin)
    }
}
