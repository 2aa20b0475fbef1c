import Foundation
import Testing

/// Where the built executables are: `BULWARK_BIN_DIR` (set by `make test`), else `.build/debug`.
enum Binaries {
    static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["BULWARK_BIN_DIR"], !dir.isEmpty { return dir }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug").path
    }

    static func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
}

/// The result of a command run to completion.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var output: String { stdout + stderr }
}

enum TestFailure: Error, CustomStringConvertible {
    case timeout(String)
    case command(String)
    var description: String {
        switch self {
        case .timeout(let what): "timed out: \(what)"
        case .command(let what): what
        }
    }
}

/// Runs a program to completion and captures its output.
@discardableResult
func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Double = 120) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
    process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
    if let environment { process.environment = environment }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Drain both pipes concurrently so a chatty child cannot block on a full pipe.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning {
        if Date() > deadline {
            process.terminate()
            throw TestFailure.timeout("\(executable) \(arguments.joined(separator: " "))")
        }
        usleep(10_000)
    }
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

/// A long-running child (collector or agent) whose output goes to a log file.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let logPath: String

    init(_ executable: String, _ arguments: [String], logPath: String, environment: [String: String]? = nil, directory: String? = nil) throws {
        self.logPath = logPath
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until the log contains `text`.
    func waitForLog(_ text: String, timeout: Double = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !log.contains(text) {
            if !process.isRunning { throw TestFailure.command("process exited before logging '\(text)':\n\(log)") }
            if Date() > deadline { throw TestFailure.timeout("'\(text)' in \(logPath):\n\(log)") }
            usleep(20_000)
        }
    }

    /// SIGTERM and wait for exit; returns the exit status.
    @discardableResult
    func stop(timeout: Double = 20) -> Int32 {
        signal(SIGTERM)
        return waitForExit(timeout: timeout)
    }

    /// SIGKILL: no chance to clean up.
    func kill9() {
        signal(SIGKILL)
        _ = waitForExit(timeout: 10)
    }

    /// SIGKILL to the child's whole process group (Foundation starts each child as a group
    /// leader), for a child that forks helpers of its own, such as a browser's renderers.
    func killGroup() {
        kill(-process.processIdentifier, SIGKILL)
        _ = waitForExit(timeout: 10)
    }

    func signal(_ number: Int32) {
        if process.isRunning { kill(process.processIdentifier, number) }
    }

    func waitForExit(timeout: Double) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return -1
            }
            usleep(10_000)
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Polls `condition` until it holds.
func eventually(_ what: String, timeout: Double = 60, interval: Double = 0.1, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try await !condition() {
        if Date() > deadline { throw TestFailure.timeout(what) }
        try await Task.sleep(for: .seconds(interval))
    }
}

/// SIGKILL to every process whose command line mentions `text` (a test's own directory):
/// helpers that left their parent's process group, such as a browser's crash handler.
func killProcesses(mentioning text: String) {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
    for entry in entries {
        guard let pid = Int32(entry), pid != getpid(),
              let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
        if String(decoding: cmdline.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text) { kill(pid, SIGKILL) }
    }
}

/// A directory of one test's files under /tmp, removed afterwards unless
/// `BULWARK_KEEP_TEST_DIRS` is set (then it stays for inspection).
struct ScratchDirectory {
    let path: String

    init(_ prefix: String) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        if ProcessInfo.processInfo.environment["BULWARK_KEEP_TEST_DIRS"] == nil { try? FileManager.default.removeItem(atPath: path) }
    }
}
