import BulwarkCore
import Testing

@Suite("AI app catalog: executables, hosts, window titles")
struct CatalogTests {
    let catalog = AIAppCatalog()

    @Test("browser window titles name an AI site only by a whole title segment", arguments: [
        ("ChatGPT", "chatgpt"), ("ChatGPT - Chromium", "chatgpt"), ("Card question - ChatGPT — Mozilla Firefox", "chatgpt"),
        ("Claude", "claude"), ("New chat | Claude - Google Chrome", "claude"), ("Le Chat - Mistral AI", "mistral-le-chat"),
        ("Claude Monet - Wikipedia - Chromium", nil), ("chatgpt tips for teachers - Chromium", nil), ("Notes", nil), ("", nil),
    ] as [(String, String?)])
    func titles(_ title: String, _ expected: String?) {
        #expect(catalog.app(windowTitle: title)?.id == expected)
    }

    @Test("executables, browsers and terminals by basename; hosts by whole labels")
    func programs() {
        #expect(catalog.app(executable: "/home/u/.local/bin/claude")?.id == "claude-code")
        #expect(catalog.app(executable: "/usr/bin/claudette") == nil)
        #expect(AIAppCatalog.isBrowser(executable: "/usr/lib/chromium/chromium"))
        #expect(!AIAppCatalog.isBrowser(executable: "/usr/bin/xclip"))
        #expect(AIAppCatalog.isTerminal(executable: "/usr/libexec/gnome-terminal-server"))
        #expect(catalog.app(host: "chat.openai.com")?.id == "chatgpt")
        #expect(catalog.app(host: "notchatgpt.com") == nil)
    }
}
