import ArgumentParser
import BulwarkAgent
import BulwarkCore
import Foundation

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check what the agent depends on, one line each with ok / warn / FAIL and the fix.",
        discussion: """
            As root: the system agent — enrollment and certificate, the collector (TLS, clock skew), the service, \
            the spool, the policy, fanotify, process events, connected session helpers. In a user's session \
            (--session, the default for other users): can this session's clipboard be guarded (X11, Wayland \
            data-control; GNOME's gap), notifications, override prompts, the agent's socket, browser extensions. Exits 1 when a check fails.
            """)
    @OptionGroup var state: StateOption
    @Option(help: "agent.yaml the agent runs with.") var config = "/etc/bulwark/agent.yaml"
    @Flag(help: "Check this user session instead of the system agent.") var session = false
    @Flag(help: "Check the system agent even when not root.") var system = false
    @Option(help: "The agent's session socket (session checks).") var socket = "/run/bulwark-agent/session.sock"
    @Option(help: "The session helper's browser socket (session checks; default $XDG_RUNTIME_DIR/bulwark/browser.sock).") var browserSocket: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if session && system { throw ValidationError("--session and --system exclude each other") }
    }

    func run() async throws {
        let checks: [DoctorCheck]
        if session || (!system && getuid() != 0) {
            checks = SessionDoctor(socketPath: socket, browserSocketPath: browserSocket).run()
        } else {
            // A missing agent.yaml means the defaults, as for the service; a broken one is a failure.
            var configuration = AgentConfiguration()
            var configurationCheck: DoctorCheck?
            if FileManager.default.fileExists(atPath: config) {
                do {
                    configuration = try AgentConfiguration.load(path: config)
                    configurationCheck = DoctorCheck(name: "configuration", status: .ok, detail: "\(config) is valid")
                } catch {
                    configurationCheck = DoctorCheck(name: "configuration", status: .failure, detail: "\(error); the service will not start until it is fixed")
                }
            }
            checks = (configurationCheck.map { [$0] } ?? []) + (await SystemDoctor(state: state.agentState, configuration: configuration).run())
        }
        if json {
            print(String(decoding: try WireCoding.encoder().encode(checks), as: UTF8.self))
        } else {
            for check in checks { print(check.line) }
        }
        if checks.contains(where: { $0.status == .failure }) { throw ExitCode(1) }
    }
}
