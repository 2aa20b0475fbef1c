@testable import BulwarkAgent
import Foundation
import Testing

/// procfs files report a size of 0, and the long tables (sockets) are produced a page at a time:
/// Foundation's readers return the first 4 KiB of those only. The agent reads to the end.
@Suite("procfs reads")
struct ProcFileTests {
    @Test("a command line longer than a page is read whole (the process sensor's interpreter scripts)")
    func longCommandLine() throws {
        let long = String(repeating: "x", count: 12_000)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        child.arguments = ["-c", "import time; time.sleep(30)", long, "last-argument"]
        try child.run()
        defer {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
        let path = "/proc/\(child.processIdentifier)/cmdline"
        // Until the child has exec'd python, its command line is not the one given.
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            bytes = ProcessLineage.readProcBytes(path) ?? []
            if bytes.count > long.utf8.count { break }
            usleep(10_000)
        }
        let arguments = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        #expect(arguments.last == "last-argument")
        #expect(arguments.contains { $0 == long }, "\(bytes.count) bytes read")
    }

    @Test("a socket table longer than a page is read whole, where Foundation's reader stops at the first page")
    func longSocketTable() throws {
        // 100 listening sockets on loopback: /proc/net/tcp grows past 4 KiB (150 bytes a line).
        var descriptors: [Int32] = []
        defer { descriptors.forEach { close($0) } }
        for _ in 0..<100 {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            try #require(descriptor >= 0)
            descriptors.append(descriptor)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(bound == 0 && listen(descriptor, 1) == 0)
        }
        let whole = try #require(ProcessLineage.readProcFile("/proc/net/tcp"))
        #expect(whole.split(separator: "\n").count > 100)
        // What the agent would see with Foundation's reader — the reason for readProcFile (if
        // this ever fails, Foundation reads procfs to the end and the helper can go).
        let foundation = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
        #expect(foundation.utf8.count < whole.utf8.count)
    }
}
