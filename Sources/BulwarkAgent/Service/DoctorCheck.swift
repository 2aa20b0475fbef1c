/// One line of `bulwark-agent doctor`: what was checked, how it stands, and what to do.
public struct DoctorCheck: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case ok = "ok"
        /// Works, with less than full protection or comfort.
        case warning = "warn"
        /// Protection is missing.
        case failure = "FAIL"
    }

    public var name: String
    public var status: Status
    /// What was found and, unless all is well, the fix.
    public var detail: String

    public init(name: String, status: Status, detail: String) {
        self.name = name
        self.status = status
        self.detail = detail
    }

    /// `[ok] name: detail`.
    public var line: String { "[\(status.rawValue)] \(name): \(detail)" }
}
