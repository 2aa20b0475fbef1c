import BulwarkCore
import Foundation

/// `bulwark-agent native-host`: what a browser starts for the extension's native messaging
/// port. It holds no policy and decides nothing; it relays framed messages between the browser
/// (stdin/stdout) and the user's session helper (its browser socket), tells the extension
/// whether the helper is there (`{"type":"helper","connected":…}`), and reconnects when the
/// helper comes back. It exits when the browser closes the port.
public final class NativeHost: @unchecked Sendable {
    // `helper` is shared by the two relay threads, behind `lock`; `output` writes are serialised by `outputLock`.
    private let socketPath: String
    private let input: Int32
    private let output: Int32
    private let retry: Duration
    private let lock = NSLock()
    private let outputLock = NSLock()
    private var helper: Int32 = -1
    private var finished = false

    public init(socketPath: String, input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO, retry: Duration = .seconds(2)) {
        self.socketPath = socketPath
        self.input = input
        self.output = output
        self.retry = retry
    }

    /// Relays until the browser closes stdin.
    public func run() {
        let relay = Thread { [self] in relayFromBrowser() }
        relay.name = "bulwark-native-host-in"
        relay.start()
        var lastReason: String?
        while !lock.withLock({ finished }) {
            let descriptor: Int32
            switch connect() {
            case .failure(let reason):
                if reason != lastReason { tellBrowser(connected: false, reason: reason) }
                lastReason = reason
                Thread.sleep(forTimeInterval: Double(retry.components.seconds) + Double(retry.components.attoseconds) / 1e18)
                continue
            case .success(let connected):
                descriptor = connected
            }
            lastReason = nil
            lock.withLock { helper = descriptor }
            tellBrowser(connected: true, reason: nil)
            // Helper → browser until the helper goes.
            while let message = try? NativeMessageFrame.read(from: descriptor) {
                guard outputLock.withLock({ NativeMessageFrame.write(message, to: output) }) else {
                    lock.withLock { finished = true }
                    break
                }
            }
            lock.withLock { helper = -1 }
            close(descriptor)
            if !lock.withLock({ finished }) {
                lastReason = "the session helper went away"
                tellBrowser(connected: false, reason: lastReason)
            }
        }
    }

    private func relayFromBrowser() {
        while true {
            let message: Data
            do { message = try NativeMessageFrame.read(from: input) } catch {
                break  // the browser closed the port (or broke the framing): done
            }
            let target = lock.withLock { helper }
            if target >= 0 { _ = NativeMessageFrame.write(message, to: target) }  // while away, the extension does not send
        }
        let open = lock.withLock { () -> Int32 in
            finished = true
            return helper
        }
        if open >= 0 { shutdown(open, Int32(SHUT_RDWR)) }
    }

    private func tellBrowser(connected: Bool, reason: String?) {
        var message: [String: JSONValue] = ["type": .string("helper"), "connected": .bool(connected)]
        if let reason { message["reason"] = .string(reason) }
        let body = Data(JSONValue.object(message).jsonText.utf8)
        _ = outputLock.withLock { NativeMessageFrame.write(body, to: output) }
    }

    private enum Connection {
        case success(Int32)
        case failure(String)
    }

    private func connect() -> Connection {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return .failure("cannot create a socket: \(String(cString: strerror(errno)))") }
        let result = withUnixAddress(socketPath) { Glibc.connect(descriptor, $0, $1) }
        guard result == 0 else {
            let reason = result == nil ? "socket path too long" : String(cString: strerror(errno))
            close(descriptor)
            return .failure("the session helper is not running (\(socketPath): \(reason)); it starts with the desktop session (bulwark-session)")
        }
        return .success(descriptor)
    }
}
