import ArgumentParser
import BulwarkAgent
import Foundation

struct NativeHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "native-host",
        abstract: "The browser extension's native messaging host (browsers start it): relays to this user's session helper.",
        discussion: "Installed for Chrome, Chromium, Brave, Edge and Firefox by the agent package (docs/BROWSER.md). Browsers pass the extension's origin or id as arguments; they are not needed.")
    @Option(help: "The session helper's browser socket (default $XDG_RUNTIME_DIR/bulwark/browser.sock).") var socket: String?
    @Argument(parsing: .allUnrecognized, help: .hidden) var browserArguments: [String] = []

    func run() throws {
        NativeHost(socketPath: socket ?? BrowserBridge.defaultPath()).run()
    }
}
