import BulwarkCore
import Foundation

/// Drives a running browser through a peer — Peers/devtools.py (Chromium, DevTools protocol) or
/// Peers/bidi.py (Firefox, WebDriver BiDi) — a line of JSON in, a line of JSON out: navigate,
/// evaluate JavaScript, set a file input's files.
final class DevTools {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffer = Data()

    static let peers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Peers")
    static let pythonPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/test-peers/python").path

    /// - Parameter endpoint: the browser's `ws://…/devtools/browser/…` address.
    convenience init(endpoint: String, logPath: String) throws {
        try self.init(driver: "devtools.py", arguments: [endpoint], logPath: logPath)
    }

    init(driver: String, arguments: [String], logPath: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Self.peers.appendingPathComponent(driver).path] + arguments
        process.environment = ["PYTHONPATH": Self.pythonPath, "PATH": "/usr/bin:/bin"]
        process.standardInput = input
        process.standardOutput = output
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try process.run()
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
    }

    private func send(_ command: [String: JSONValue]) throws -> [String: JSONValue] {
        input.fileHandleForWriting.write(Data((JSONValue.object(command).jsonText + "\n").utf8))
        while !buffer.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw TestFailure.command("devtools.py ended") }
            buffer.append(chunk)
        }
        let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) ?? buffer.endIndex
        let line = buffer[buffer.startIndex..<newline]
        buffer.removeSubrange(buffer.startIndex...newline)
        guard case .object(let answer)? = try? JSONReader.parse(String(decoding: line, as: UTF8.self)) else {
            throw TestFailure.command("devtools.py said: \(String(decoding: line, as: UTF8.self))")
        }
        if let error = answer["error"]?.stringValue { throw TestFailure.command("devtools: \(error)") }
        return answer
    }

    /// Loads `url` and returns where the tab ended up (after redirects).
    @discardableResult
    func navigate(_ url: String) throws -> String {
        try send(["op": .string("navigate"), "url": .string(url)])["url"]?.stringValue ?? ""
    }

    func evaluate(_ expression: String) throws -> JSONValue {
        try send(["op": .string("eval"), "expr": .string(expression)])["value"] ?? .null
    }

    func string(_ expression: String) throws -> String { try evaluate(expression).stringValue ?? "" }

    func setFiles(_ selector: String, _ paths: [String]) throws {
        _ = try send(["op": .string("files"), "selector": .string(selector), "paths": .array(paths.map(JSONValue.string))])
    }
}
