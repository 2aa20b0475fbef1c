import ArgumentParser
import BulwarkAgent
import BulwarkCore
import Foundation

struct ClipboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipboard", abstract: "The clipboard guard: watch copies, or guard pastes of sensitive content.",
        subcommands: [Watch.self, Guard.self])

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Watch X11 CLIPBOARD and PRIMARY and print what each copy holds (types and counts, never the content).")
        @Option(help: "X display (default: $DISPLAY).") var display: String?
        @Option(help: "Stop after this many copies (0: run until interrupted).") var count = 0
        @Flag(help: "Print each copy as a clipboard.copy event data object (JSON).") var json = false
        @OptionGroup var keyOption: KeyOption

        func run() async throws {
            let watcher: X11ClipboardWatcher
            do { watcher = try X11ClipboardWatcher(displayName: display) } catch { throw CommandFailure("\(error)") }
            let classifier = ContentClassifier(keyedHash: try keyOption.keyedHash())
            let scanner = ContentScanner(classifier: classifier)
            let keyedHash = try keyOption.keyedHash()
            // Unbuffered lines: a reader (a person, a test) sees each copy as it happens.
            func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
            emit("watching CLIPBOARD and PRIMARY on \(display ?? ProcessInfo.processInfo.environment["DISPLAY"] ?? "the default display")")
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
            abstract: "Guard X11 CLIPBOARD and PRIMARY: take over sensitive selections and decide every paste by policy; print events as JSON lines.")
        @Option(help: "X display (default: $DISPLAY).") var display: String?
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
            let guardian = ClipboardGuard(
                policy: loaded.policy, classifier: ContentClassifier(keyedHash: keyedHash, custom: custom), keyedHash: keyedHash, user: user,
                notifier: notify ? DesktopNotifier() : nil
            ) { type, data in
                let line = (try? WireCoding.encoder().encode(["type": JSONValue.string(type), "data": .object(data)])) ?? Data()
                FileHandle.standardOutput.write(line + Data("\n".utf8))
            }
            let watcher: X11ClipboardWatcher
            do { watcher = try X11ClipboardWatcher(displayName: display, guarding: guardian) } catch { throw CommandFailure("\(error)") }
            FileHandle.standardError.write(Data("guarding CLIPBOARD and PRIMARY with policy '\(loaded.policy.name)'\n".utf8))
            for await _ in watcher.contents() {}
        }
    }
}
