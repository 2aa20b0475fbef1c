/// The JSON body of every error the collector answers: a stable machine-readable `code` and a
/// message for people that says what went wrong and what to do. See docs/PROTOCOL.md.
public struct ErrorBody: Sendable, Codable, Equatable, Error, CustomStringConvertible {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
