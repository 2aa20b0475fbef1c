import BulwarkCore
import Foundation
import Testing

@Suite("Support")
struct SupportTests {
    @Test("durations")
    func durations() throws {
        #expect(try DurationText.seconds("90s") == 90)
        #expect(try DurationText.seconds("30m") == 1_800)
        #expect(try DurationText.seconds("24h") == 86_400)
        #expect(try DurationText.seconds("7d") == 604_800)
        for bad in ["", "h", "10", "-1h", "1w", "abc"] {
            #expect(throws: DurationText.Invalid.self) { try DurationText.seconds(bad) }
        }
    }

    @Test("secret files are 0600 whatever the umask, public ones 0644, and replaced atomically")
    func secureFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("securefile-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = umask(0)
        defer { umask(old) }
        try SecureFile.write(Data("k1".utf8), to: dir + "/key", mode: .secret)
        try SecureFile.write(Data("k2".utf8), to: dir + "/key", mode: .secret)
        try SecureFile.write(Data("c".utf8), to: dir + "/cert", mode: .publicReadable)
        #expect(SecureFile.permissions(of: dir + "/key") == 0o600)
        #expect(SecureFile.permissions(of: dir + "/cert") == 0o644)
        #expect(try SecureFile.readText(dir + "/key") == "k2")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["cert", "key"])
    }

    @Test("fingerprints normalise case and colons")
    func fingerprints() {
        #expect(AgentIdentity.normalizedFingerprint("AB:cd:01") == "abcd01")
    }
}
