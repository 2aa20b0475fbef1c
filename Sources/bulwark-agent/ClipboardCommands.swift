import ArgumentParser
import BulwarkAgent
import BulwarkCore
import Foundation

extension ClipboardBackend: ExpressibleByArgument {}

/// Which display server, and which display of it.
struct DisplayOptions: ParsableArguments {
    @Option(help: "Display server: auto (Wayland when the session has one, else X11), x11 or wayland.") var backend: ClipboardBackend = .auto
    @Option(help: "X display (default: $DISPLAY).") var display: String?
    @Option(help: "Wayland display (default: $WAYLAND_DISPLAY).") var waylandDisplay: String?

    func open(guarding: (any ClipboardGuarding)?, focus: (any FocusObserving)? = nil) throws -> (watcher: any ClipboardWatching, description: String) {
        do {
            return try backend.open(x11Display: display, waylandDisplay: waylandDisplay, guarding: guarding, focus: focus) { notice in
                FileHandle.standardError.write(Data("\(notice)\n".utf8))
            }
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

struct ClipboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipboard", abstract: "The clipboard guard: watch copies, or guard pastes of sensitive content.",
        subcommands: [Watch.self, Guard.self])

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Watch the clipboard and primary selection (X11 or Wayland) and print what each copy holds (types and counts, never the content).")
        @OptionGroup var displayOptions: DisplayOptions
        @Option(help: "Stop after this many copies (0: run until interrupted).") var count = 0
        @Flag(help: "Print each copy as a clipboard.copy event data object (JSON).") var json = false
        @OptionGroup var keyOption: KeyOption

        func run() async throws {
            let (watcher, described) = try displayOptions.open(guarding: nil)
            let classifier = ContentClassifier(keyedHash: try keyOption.keyedHash())
            let scanner = ContentScanner(classifier: classifier)
            let keyedHash = try keyOption.keyedHash()
            // Unbuffered lines: a reader (a person, a test) sees each copy as it happens.
            func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
            emit("watching CLIPBOARD and PRIMARY on \(described)")
            var seen = 0
            for await content in watcher.contents() {
                let scan = scanner.scan(content)
                let data = ClipboardCopyRecord.data(content, scan: scan, keyedHash: keyedHash)
                if json {
                    emit(String(decoding: try WireCoding.encoder().encode(data), as: UTF8.self))
                } else {
                    let types = scan.findings.map { "\($0.type) ×\($0.count) (\($0.confidence))" }.joined(separator: ", ")
                    emit("\(content.selection.rawValue): \(content.text.count) bytes from pid \(content.ownerPID.map(String.init) ?? "?")"
                        + (types.isEmpty ? ", nothing sensitive" : ": \(types)"))
                }
                seen += 1
                if count > 0, seen >= count { break }
            }
            watcher.stop()
        }
    }

    struct Guard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Guard the clipboard and primary selection (X11 or Wayland): take over sensitive selections and decide every paste by policy; print events as JSON lines.")
        @OptionGroup var displayOptions: DisplayOptions
        @Option(help: "Policy YAML file (default: the built-in default policy).") var policy: String?
        @OptionGroup var keyOption: KeyOption
        @Flag(inversion: .prefixedNo, help: "Notify the user of refused pastes on the session bus (warnings get \"Paste anyway\").")
        var notify = true

        func run() async throws {
            let loaded = try loadPolicy(policy)
            let keyedHash = try keyOption.keyedHash()
            let custom: CustomClassifiers
            do { custom = try CustomClassifiers.load(loaded.policy.classifiers, directory: loaded.directory, keyedHash: keyedHash) } catch {
                throw CommandFailure("invalid policy \(loaded.path): \(error)")
            }
            let user = ProcessInfo.processInfo.environment["USER"]
            let printEvent: FocusTracker.Recorder = { type, data in
                let line = (try? WireCoding.encoder().encode(["type": JSONValue.string(type), "data": .object(data)])) ?? Data()
                FileHandle.standardOutput.write(line + Data("\n".utf8))
            }
            let guardian = ClipboardGuard(
                policy: SessionPolicy(policy: loaded.policy, classifier: ContentClassifier(keyedHash: keyedHash, custom: custom)), keyedHash: keyedHash, user: user,
                notifier: notify ? DesktopNotifier() : nil, record: printEvent)
            let focus = FocusTracker(user: user, record: printEvent)
            // Stopping ends the current stretch in an AI app: it is printed before exit.
            let signals = TerminationSignals { focus.flush() }
            defer { signals.retain() }
            let (watcher, described) = try displayOptions.open(guarding: guardian, focus: focus)
            FileHandle.standardError.write(Data("guarding CLIPBOARD and PRIMARY on \(described) with policy '\(loaded.policy.name)'\n".utf8))
            for await _ in watcher.contents() {}
            focus.flush()
        }
    }
}
