@testable import BulwarkCollector
import Foundation
import Testing

@Suite("Policy diff")
struct TextDiffTests {
    /// GNU patch applies each diff to the old text and must get the new one.
    @Test("the unified diff of random edits applies with GNU patch and gives the new text; equal texts give no diff")
    func appliesWithPatch() throws {
        var random = SystemRandomNumberGenerator()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("diff-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(TextDiff.unified("a\nb\n", "a\nb\n", oldName: "x", newName: "y").isEmpty)
        for round in 0..<40 {
            let old = (0..<Int(random.next() % 40)).map { "line \($0 % 7) \(random.next() % 3)" }
            var new = old
            for _ in 0..<Int(random.next() % 6) {
                let position = new.isEmpty ? 0 : Int(random.next() % UInt64(new.count + 1))
                switch random.next() % 3 {
                case 0 where position < new.count: new.remove(at: position)
                case 1: new.insert("added \(random.next() % 100)", at: position)
                default: if position < new.count { new[position] = "changed \(random.next() % 100)" }
                }
            }
            let (oldText, newText) = (old.map { $0 + "\n" }.joined(), new.map { $0 + "\n" }.joined())
            let diff = TextDiff.unified(oldText, newText, oldName: "old", newName: "new")
            try Data(oldText.utf8).write(to: URL(fileURLWithPath: directory + "/old"))
            try Data(diff.utf8).write(to: URL(fileURLWithPath: directory + "/patch"))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/patch")
            process.arguments = ["-s", "-o", directory + "/out", directory + "/old", directory + "/patch"]
            if diff.isEmpty {
                #expect(oldText == newText, "round \(round): no diff for different texts")
                continue
            }
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "round \(round): patch refused\n\(diff)")
            let out = try String(contentsOfFile: directory + "/out", encoding: .utf8)
            #expect(out == newText, "round \(round):\n\(diff)")
        }
    }
}
