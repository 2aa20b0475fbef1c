import Foundation

/// Asks the user why they override a warning, with whichever dialog program the desktop has
/// (zenity, kdialog, yad). Notification servers cannot take text except KDE's inline reply,
/// which `DesktopNotifier` uses when offered.
public struct JustificationPrompt: Sendable {
    /// What is recorded when no dialog program exists: the user still chose "Paste anyway".
    public static let noDialogJustification = "(confirmed in the notification; no justification dialog is installed)"

    public var searchPath: String
    public var timeout: Duration

    public init(searchPath: String = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", timeout: Duration = .seconds(120)) {
        self.searchPath = searchPath
        self.timeout = timeout
    }

    /// The reason the user typed; nil when they cancelled, left it empty or did not answer in
    /// time; `noDialogJustification` when there is no dialog program to ask with.
    public func ask(_ notice: DLPNotice) -> String? {
        let question = "Why do you need to paste this into \(notice.destination)? (incident \(notice.incidentID))"
        let title = "Bulwark: paste anyway?"
        let candidates: [(String, [String])] = [
            ("zenity", ["--entry", "--title", title, "--text", question]),
            ("kdialog", ["--title", title, "--inputbox", question]),
            ("yad", ["--entry", "--title", title, "--text", question]),
        ]
        guard let (program, arguments) = candidates.lazy.compactMap({ name, arguments in self.find(name).map { ($0, arguments) } }).first else {
            return Self.noDialogJustification
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return Self.noDialogJustification }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile().prefix(1024), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return process.terminationStatus == 0 && !text.isEmpty ? text : nil
    }

    private func find(_ name: String) -> String? { ProgramSearch.find(name, in: searchPath) }
}
