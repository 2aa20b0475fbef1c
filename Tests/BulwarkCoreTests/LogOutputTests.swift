import BulwarkCore
import Foundation
import Logging
import Testing

@Suite("Log output")
struct LogOutputTests {
    let time = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("journal lines carry the syslog priority journald reads as the level")
    func journal() {
        let handler = LineLogHandler(label: "bulwark-agent", format: .journal, logLevel: .info)
        #expect(handler.render(level: .warning, message: "spool near full", metadata: ["depth": "900"], at: time)
            == "<4>bulwark-agent: spool near full depth=900")
        #expect(handler.render(level: .error, message: "two\nlines", metadata: [:], at: time) == "<3>bulwark-agent: two ⏎ lines")
        #expect(handler.render(level: .debug, message: "m", metadata: ["reason": "a b"], at: time) == "<7>bulwark-agent: m reason=\"a b\"")
    }

    @Test("json lines are one object with time, level, label, message and metadata")
    func json() throws {
        let handler = LineLogHandler(label: "bulwark-collector", format: .json, logLevel: .info)
        let line = handler.render(level: .info, message: "batch \"accepted\"", metadata: ["agent": "3f2a", "count": "12"], at: time)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object == ["time": "2027-01-15T08:00:00.000Z", "level": "info", "label": "bulwark-collector",
                           "message": "batch \"accepted\"", "agent": "3f2a", "count": "12"])
    }

    @Test("text lines start with the time and level; JOURNAL_STREAM picks journal")
    func text() {
        let handler = LineLogHandler(label: "x", format: .text, logLevel: .info)
        #expect(handler.render(level: .notice, message: "up", metadata: [:], at: time) == "2027-01-15T08:00:00.000Z notice x: up")
        #expect(LogFormat.automatic(environment: ["JOURNAL_STREAM": "8:1234"]) == .journal)
        #expect(LogFormat.automatic(environment: [:]) == .text)
    }
}
