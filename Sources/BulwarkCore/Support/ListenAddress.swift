import Foundation

/// `HOST:PORT` as listeners, SIEM receivers and the agent's metrics address are given; IPv6
/// hosts in brackets.
public enum ListenAddress {
    public static func parse(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }

    /// Whether `host` is this machine's loopback (127.0.0.0/8, ::1, localhost).
    public static func isLoopback(_ host: String) -> Bool {
        host == "::1" || host == "localhost" || (host.hasPrefix("127.") && host.split(separator: ".").count == 4) || host.hasPrefix("::ffff:127.")
    }
}
