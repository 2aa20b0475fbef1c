import ArgumentParser
import BulwarkAgent
import BulwarkCore
import Foundation

struct FileGuardBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "file-guard",
        abstract: "Open latency with the file guard: an ordinary program's opens with and without the agent, and an AI tool's opens answered from the verdict cache (needs root: fanotify, tmpfs).")
    @Option(help: "Small files to open, round robin.") var files = 1_000
    @Option(help: "Opens per measurement.") var opens = 100_000
    @Option(help: "Opens by the AI tool (after one warm-up pass over the files).") var aiOpens = 20_000
    @Option(help: "Scratch directory.") var scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-bench-files").path

    func run() async throws {
        try? FileManager.default.removeItem(atPath: scratch)
        let guarded = scratch + "/fs"
        try FileManager.default.createDirectory(atPath: guarded, withIntermediateDirectories: true)
        guard Glibc.mount("tmpfs", guarded, "tmpfs", 0, "size=64m") == 0 else { throw BenchFailure("mounting a tmpfs needs root: \(String(cString: strerror(errno)))") }
        defer { umount2(guarded, Int32(MNT_DETACH)) }
        for index in 0..<files {
            try Data("harmless line \(index)\n".utf8).write(to: URL(fileURLWithPath: "\(guarded)/f\(index).txt"))
        }
        // The loop runs in a child process: as itself (an ordinary program) or renamed as an AI tool.
        let me = siblingBinary("bulwark-bench")
        let asTool = scratch + "/ollama"
        try FileManager.default.copyItem(atPath: me, toPath: asTool)
        func loop(_ program: String, _ count: Int) throws -> OpenLoop.Result {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = ["open-loop", "--directory", guarded, "--files", "\(files)", "--opens", "\(count)"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw BenchFailure("open loop failed (\(process.terminationStatus))") }
            return try JSONDecoder().decode(OpenLoop.Result.self, from: output)
        }
        _ = try loop(me, opens)  // warm the page cache and the binary
        let without = try loop(me, opens)

        let bench = try await BenchDeployment(scratch: scratch + "/deployment", uses: 1)
        let collector = try bench.startCollector(log: scratch + "/collector.log")
        defer { collector.terminate() }
        let agent = try await bench.startAgent(
            state: scratch + "/agent",
            configuration: """
                session_socket: ""
                process_sensor: false
                listener_interval: 0
                history_interval: 0
                connection_interval: 0
                model_sensor: false
                file_guard: true
                file_paths: [\(guarded)]
                """, log: scratch + "/agent.log", readyLine: "file guard watching")
        defer { agent.terminate() }
        let with = try loop(me, opens)
        _ = try loop(asTool, files)  // first sight: each file scanned once
        let tool = try loop(asTool, aiOpens)
        func line(_ label: String, _ result: OpenLoop.Result) -> String {
            String(format: "  %@: %.0f opens/s, per open p50 %.1f µs, p99 %.1f µs", label, Double(result.opens) / result.seconds, result.p50, result.p99)
        }
        print("open+read+close of \(files) small files on a marked tmpfs:")
        print(line("ordinary program, no agent       ", without))
        print(line("ordinary program, file guard on  ", with))
        print(line("AI tool (ollama), cached verdicts", tool))
        print(String(format: "overhead for an ordinary program: %+.1f%% of total time (target ≤ 5%%); AI tool p99 %.1f µs (target ≤ 200 µs)",
                     (with.seconds / without.seconds - 1) * 100, tool.p99))
    }
}

/// The child process of `file-guard`: opens, reads and closes files round robin, timing each.
struct OpenLoop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "open-loop", abstract: "(used by file-guard) open, read and close files, timing each open.")
    @Option var directory: String
    @Option var files: Int
    @Option var opens: Int

    struct Result: Codable {
        var opens: Int
        var seconds: Double
        var p50: Double
        var p99: Double
    }

    func run() throws {
        let paths = (0..<files).map { "\(directory)/f\($0).txt" }
        var latencies = [Double](repeating: 0, count: opens)
        var buffer = [UInt8](repeating: 0, count: 256)
        let start = ContinuousClock.now
        for index in 0..<opens {
            let before = ContinuousClock.now
            let descriptor = open(paths[index % files], O_RDONLY)
            let elapsed = ContinuousClock.now - before
            guard descriptor >= 0 else { throw BenchFailure("open \(paths[index % files]): \(String(cString: strerror(errno)))") }
            _ = read(descriptor, &buffer, buffer.count)
            close(descriptor)
            latencies[index] = Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6
        }
        let total = ContinuousClock.now - start
        latencies.sort()
        let result = Result(
            opens: opens, seconds: Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18, p50: percentile(latencies, 0.5),
            p99: percentile(latencies, 0.99))
        print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
    }
}
