import Foundation

/// An AI app Bulwark knows: the identity that policy destinations and the inventory use.
public struct AIApp: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var vendor: String
    /// `consumer_ai`, `ai_coding`, `local_llm`, `ai_image`, `ai_media`, `ai_api`, `ai_browser_extension`.
    public var category: String
    public var domains: [String]
    /// Executable names (basename of /proc/PID/exe) of the app's desktop or command-line programs.
    public var executables: [String] = []
    /// Words a browser window title shows for the app's site (`ChatGPT`), matched against the
    /// title's segments when the pasting program is a browser.
    public var titles: [String] = []
    /// TCP ports the app's local server listens on by default (`ollama`: 11434).
    public var ports: [Int] = []
    /// An HTTP path that confirms the app on one of its ports and lists its models
    /// (`/api/tags` for Ollama; `/v1/models` for OpenAI-compatible servers).
    public var probe: String?

    public init(
        id: String, name: String, vendor: String, category: String, domains: [String], executables: [String] = [], titles: [String] = [],
        ports: [Int] = [], probe: String? = nil
    ) {
        self.id = id
        self.name = name
        self.vendor = vendor
        self.category = category
        self.domains = domains
        self.executables = executables
        self.titles = titles
        self.ports = ports
        self.probe = probe
    }
}

/// The catalog of AI apps. This is the seed set the policy engine needs to resolve
/// `--dest chatgpt` to a category; issue 5 grows it into the full bundled catalog with risk
/// attributes and deployment overrides.
public struct AIAppCatalog: Sendable {
    public var apps: [AIApp]

    public init(apps: [AIApp] = AIAppCatalog.seed) {
        self.apps = apps
    }

    public func app(id: String) -> AIApp? { apps.first { $0.id == id } }

    /// The app a program belongs to, by its executable's name.
    public func app(executable: String) -> AIApp? {
        let name = (executable as NSString).lastPathComponent
        return apps.first { $0.executables.contains(name) }
    }

    /// The app a web host belongs to (`chat.openai.com` → chatgpt), matching whole labels.
    public func app(host: String) -> AIApp? {
        let host = host.lowercased()
        return apps.first { app in app.domains.contains { host == $0 || host.hasSuffix("." + $0) } }
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

    public static let seed: [AIApp] = [
        AIApp(id: "chatgpt", name: "ChatGPT", vendor: "OpenAI", category: "consumer_ai", domains: ["chatgpt.com", "chat.openai.com"], titles: ["ChatGPT"]),
        AIApp(id: "claude", name: "Claude", vendor: "Anthropic", category: "consumer_ai", domains: ["claude.ai"], titles: ["Claude"]),
        AIApp(id: "gemini", name: "Gemini", vendor: "Google", category: "consumer_ai", domains: ["gemini.google.com"], titles: ["Gemini", "Google Gemini"]),
        AIApp(id: "microsoft-copilot", name: "Microsoft Copilot", vendor: "Microsoft", category: "consumer_ai", domains: ["copilot.microsoft.com"], titles: ["Microsoft Copilot", "Copilot"]),
        AIApp(id: "perplexity", name: "Perplexity", vendor: "Perplexity AI", category: "consumer_ai", domains: ["perplexity.ai"], titles: ["Perplexity"]),
        AIApp(id: "mistral-le-chat", name: "Le Chat", vendor: "Mistral AI", category: "consumer_ai", domains: ["chat.mistral.ai"], titles: ["Le Chat", "Le Chat Mistral"]),
        AIApp(id: "deepseek", name: "DeepSeek", vendor: "DeepSeek", category: "consumer_ai", domains: ["chat.deepseek.com"], titles: ["DeepSeek"]),
        AIApp(id: "poe", name: "Poe", vendor: "Quora", category: "consumer_ai", domains: ["poe.com"], titles: ["Poe"]),
        AIApp(id: "claude-code", name: "Claude Code", vendor: "Anthropic", category: "ai_coding", domains: [], executables: ["claude"]),
        AIApp(id: "codex-cli", name: "Codex CLI", vendor: "OpenAI", category: "ai_coding", domains: [], executables: ["codex"]),
        AIApp(id: "gemini-cli", name: "Gemini CLI", vendor: "Google", category: "ai_coding", domains: [], executables: ["gemini"]),
        AIApp(id: "aider", name: "aider", vendor: "Aider", category: "ai_coding", domains: [], executables: ["aider"]),
        AIApp(id: "cursor", name: "Cursor", vendor: "Anysphere", category: "ai_coding", domains: ["cursor.com"], executables: ["cursor"]),
        AIApp(id: "ollama", name: "Ollama", vendor: "Ollama", category: "local_llm", domains: [], executables: ["ollama"], ports: [11434], probe: "/api/tags"),
        AIApp(id: "lm-studio", name: "LM Studio", vendor: "Element Labs", category: "local_llm", domains: [], executables: ["lm-studio", "lms"], ports: [1234], probe: "/v1/models"),
        AIApp(id: "midjourney", name: "Midjourney", vendor: "Midjourney", category: "ai_image", domains: ["midjourney.com"], titles: ["Midjourney"]),
        AIApp(id: "openai-api", name: "OpenAI API", vendor: "OpenAI", category: "ai_api", domains: ["api.openai.com"]),
        AIApp(id: "anthropic-api", name: "Anthropic API", vendor: "Anthropic", category: "ai_api", domains: ["api.anthropic.com"]),
    ]
}
