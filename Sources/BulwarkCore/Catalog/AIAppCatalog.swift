import Foundation

/// The catalog of AI apps: the bundled one (`ai-apps.json`, compiled in) merged with a
/// deployment's ``CatalogOverride``. Lookups by executable and host are indexed, since the
/// process and connection sensors ask on every exec and socket.
public struct AIAppCatalog: Sendable {
    public private(set) var apps: [AIApp]
    private var byID: [String: Int] = [:]
    private var byExecutable: [String: Int] = [:]
    private var byDomain: [String: Int] = [:]

    /// The bundled catalog, or `apps` when given (tests, session helpers given the agent's).
    public init(apps: [AIApp] = AIAppCatalog.bundled.apps) {
        self.apps = apps
        // First entry wins, so an override placed first shadows the bundled entry.
        for (index, app) in apps.enumerated() {
            if byID[app.id] == nil { byID[app.id] = index }
            for name in app.executables where byExecutable[name] == nil { byExecutable[name] = index }
            for domain in app.domains where byDomain[domain.lowercased()] == nil { byDomain[domain.lowercased()] = index }
        }
    }

    /// The bundled catalog as shipped with this build.
    public static let bundled: AIAppCatalog = {
        // The resource is checked by the test suite; a build that cannot read it falls back to
        // no apps rather than crash the agent (discovery then reports nothing, DLP still runs).
        let file = try? JSONDecoder().decode(CatalogFile.self, from: Data(PackageResources.ai_apps_json))
        return AIAppCatalog(apps: file?.apps ?? [], version: file?.version ?? "unreadable")
    }()

    /// Version of the bundled catalog (`2026.11.27`).
    public private(set) var version: String = ""

    init(apps: [AIApp], version: String) {
        self.init(apps: apps)
        self.version = version
    }

    /// This catalog with a deployment's additions, replacements and removals applied.
    public func applying(_ override: CatalogOverride) -> AIAppCatalog {
        let replaced = Set(override.apps.map(\.id)).union(override.remove)
        var merged = AIAppCatalog(apps: override.apps + apps.filter { !replaced.contains($0.id) })
        merged.version = override.isEmpty ? version : "\(version)+\(override.digest)"
        return merged
    }

    public func app(id: String) -> AIApp? { byID[id].map { apps[$0] } }

    /// The app a program belongs to, by its executable's name.
    public func app(executable: String) -> AIApp? {
        byExecutable[(executable as NSString).lastPathComponent].map { apps[$0] }
    }

    /// The app a web host belongs to (`chat.openai.com` → chatgpt), matching whole labels.
    public func app(host: String) -> AIApp? {
        var candidate = Substring(host.lowercased())
        while true {
            if let index = byDomain[String(candidate)] { return apps[index] }
            guard let dot = candidate.firstIndex(of: ".") else { return nil }
            candidate = candidate[candidate.index(after: dot)...]
        }
    }

    /// The app an interpreter process runs, by its command line (`python -m vllm.entrypoints…`).
    /// - Parameter commandLine: the arguments joined by spaces, the script path made absolute.
    public func app(commandLine: String) -> AIApp? {
        apps.first { app in app.commandLines.contains { commandLine.contains($0) } }
    }

    /// The app a browser window shows, by the window title: each segment of the title (split at
    /// " - ", " | ", " — ", " · ") is compared, ignoring case, with the apps' title words, whole
    /// segment to whole word (`Card question - ChatGPT` is ChatGPT; `Claude Monet - Wikipedia` is
    /// not Claude). Titles are page-controlled, so this only ever names a destination.
    public func app(windowTitle: String) -> AIApp? {
        var segments = [Substring(windowTitle)]
        for separator in [" - ", " | ", " — ", " – ", " · "] {
            segments = segments.flatMap { $0.split(separator: separator, omittingEmptySubsequences: true) }
        }
        for segment in segments {
            let words = segment.trimmingCharacters(in: .whitespaces).lowercased()
            if let app = apps.first(where: { app in app.titles.contains { $0.lowercased() == words } }) {
                return app
            }
        }
        return nil
    }

    /// Executable names of web browsers: a paste into one is attributed by its window title.
    public static let browsers: Set<String> = [
        "chromium", "chrome", "google-chrome", "google-chrome-stable", "chrome-sandbox", "firefox", "firefox-esr", "firefox-bin", "brave",
        "brave-browser", "msedge", "microsoft-edge", "opera", "vivaldi-bin", "epiphany", "librewolf", "falkon", "qutebrowser",
    ]

    public static func isBrowser(executable: String) -> Bool {
        browsers.contains((executable as NSString).lastPathComponent)
    }

    /// Executable names of terminal emulators: a paste into one goes to whatever runs in it,
    /// so an AI tool running in the terminal is the destination.
    public static let terminals: Set<String> = [
        "xterm", "uxterm", "gnome-terminal-server", "kgx", "ptyxis", "konsole", "yakuake", "alacritty", "kitty", "foot", "footclient",
        "wezterm-gui", "terminator", "tilix", "xfce4-terminal", "urxvt", "rxvt", "st", "lxterminal", "mate-terminal", "qterminal",
        "terminology", "sakura", "guake", "tilda", "cool-retro-term", "contour", "rio", "warp", "ghostty",
    ]

    public static func isTerminal(executable: String) -> Bool {
        terminals.contains((executable as NSString).lastPathComponent)
    }

    public static let categories: Set<String> = ["consumer_ai", "ai_coding", "local_llm", "ai_image", "ai_media", "ai_api", "ai_browser_extension"]
}

/// The layout of `ai-apps.json`.
struct CatalogFile: Codable {
    var version: String
    var apps: [AIApp]
}
