import BulwarkCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// `bulwark-agent run`: sensors feeding the spool and the uploader draining it, until SIGTERM.
public struct AgentService: Service {
    let state: AgentState
    let configuration: AgentConfiguration
    let logger: Logger
    let lifecycle: AgentLifecycle

    public init(state: AgentState, configuration: AgentConfiguration, logger: Logger, lifecycle: AgentLifecycle = AgentLifecycle()) {
        self.lifecycle = lifecycle
        self.state = state
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        // A new install may enroll itself first (agent.yaml or BULWARK_* variables).
        let unattended = UnattendedEnrollment(
            state: state, settings: configuration.enrollment.overridden(by: ProcessInfo.processInfo.environment),
            backoff: Backoff(base: configuration.retryBase, cap: configuration.retryCap), logger: logger)
        guard let enrollment = try await cancelWhenGracefulShutdown({ try await unattended.ensureEnrolled() }) else { return }
        let metrics = AgentMetrics()
        let spool = try SpoolStore(path: state.spoolPath, maxBytes: configuration.spoolMaxBytes, onAppend: { metrics.observe($0) })
        try spool.recordRunner(pid: getpid())
        try spool.append([EventDraft(type: EventType.started, data: [
            "agent_version": .string(BulwarkVersion.current),
            "pid": .number(Double(getpid())),
            "hostname": .string(ProcessInfo.processInfo.hostName),
            "os": .string(Enroller.osDescription()),
        ])])
        let tamper = TamperWatch(state: state) { action, detail in
            logger.warning("tampering: \(detail)", metadata: ["action": "\(action)"])
            spool.record(EventType.tamper, ["action": .string(action), "detail": .string(detail)], priority: .decision, logger: logger)
        }
        logger.info("agent running", metadata: ["agent": "\(enrollment.agentID)", "collector": "\(enrollment.collector)"])

        // Session helpers (one per logged-in user) get the policy and send clipboard events.
        let policies = PolicyStore(state: state, keyedHash: try state.loadKeyedHash())
        if let problem = await policies.startupProblem { logger.error("\(problem)") }
        let startPolicy = await policies.active
        // The collector's last bundle (app states, catalog override) applies before it answers.
        let storedBundle = PolicySync.stored(in: state)
        let catalog = CatalogSource(bundle: storedBundle)
        let feed = SessionPolicyFeed(
            SessionMessage.PolicyPush(
                name: startPolicy.policy.name, yaml: startPolicy.yaml, catalog: catalog.current.apps, appStates: storedBundle?.appStates ?? [:],
                exceptions: storedBundle?.exceptions, userRisk: storedBundle?.userRisk))
        var sessions: SessionServer?
        if !configuration.sessionSocket.isEmpty {
            let server = SessionServer(
                path: configuration.sessionSocket, spool: spool, logger: logger, policy: feed.current, statusPath: state.sessionsPath)
            do {
                try server.start()
                sessions = server
            } catch {
                logger.error("session helpers cannot connect: \(error)")
            }
        }
        defer { sessions?.stop() }
        let helpers = sessions

        // File guard: AI tools' reads and starts, decided by the same policy and app states.
        let fileGuard = FileGuard(
            settings: FileGuard.Settings(
                roots: configuration.filePaths, budget: .milliseconds(Int(configuration.fileScanBudgetMs)), failOpen: configuration.fileFailMode == "open",
                maxScanBytes: configuration.fileScanMaxBytes, credentialPaths: CredentialPaths(extra: configuration.credentialPaths)),
            policy: startPolicy.policy, classifier: startPolicy.classifier, appStates: storedBundle?.appStates ?? [:], catalog: catalog,
            record: { type, data in spool.record(type, data, logger: logger) },
            notify: { uid, notice in
                // The journal always has it; the user's session helper shows it on the desktop.
                logger.warning("\(notice.summary)", metadata: ["incident": "\(notice.incidentID)", "uid": "\(uid)"])
                helpers?.notify(uid: uid, notice: notice)
            },
            focusedApp: { uid in helpers?.focusedApp(uid: uid) })
        fileGuard.update(exceptions: storedBundle?.exceptions ?? [])
        fileGuard.update(userRisk: storedBundle?.userRisk ?? [:])

        // A new policy in force (from the collector or installed by hand): the file guard and
        // the session helpers get it at once.
        let enforce: @Sendable (PolicyStore.Active) -> Void = { active in
            logger.info("policy updated", metadata: ["policy": "\(active.policy.name)", "source": "\(active.source)"])
            fileGuard.update(policy: active.policy, classifier: active.classifier)
            helpers?.update(policy: feed.update {
                $0.name = active.policy.name
                $0.yaml = active.yaml
            })
        }
        let applyCollectorPolicy: @Sendable (DistributedPolicy) async -> Void = { distributed in
            switch await policies.install(distributed) {
            case .success(let active)?:
                enforce(active)
            case .failure(let refusal)?:
                // Fail safe: the policy in force stays; the collector hears why (agent.health).
                logger.error("collector policy v\(distributed.version) refused: \(refusal)")
                spool.record(EventType.agentHealth, [
                    "component": "policy", "status": "degraded", "message": .string("collector policy v\(distributed.version) refused: \(refusal)"),
                ], logger: logger)
            case nil:
                break
            }
        }

        // A collector policy kept from the last pull but not applied yet (the agent stopped
        // first) applies now; one already in force is left alone.
        if let distributed = storedBundle?.policy { await applyCollectorPolicy(distributed) }

        // One connection to the collector for uploads and the waiting policy request.
        let link = CollectorLink(state: state, connectTimeout: configuration.connectTimeout)
        let uploader = Uploader(state: state, spool: spool, configuration: configuration, logger: logger, metrics: metrics, link: link)
        // Prometheus on this host only (metrics_listen, off by default).
        var metricsServer: MetricsServer?
        if let (host, port) = configuration.metricsAddress {
            let server = MetricsServer(host: host, port: port, logger: logger) { metrics.exposition(spool: try? spool.status()) }
            do {
                try await server.start()
                metricsServer = server
            } catch {
                logger.error("metrics cannot listen on \(configuration.metricsListen): \(error)")
            }
        }
        defer { if let metricsServer { Task { await metricsServer.stop() } } }
        let heartbeat = HeartbeatSensor(spool: spool, state: state, interval: configuration.heartbeatInterval, logger: logger)
        let discovery = DiscoveryState()
        // Discovery sensors enforce nothing: the resource watchdog may pause them.
        var pausableNames: [String] = []
        if configuration.modelSensor { pausableNames.append("model files") }
        if configuration.historyInterval > 0 { pausableNames.append("browser history") }
        if configuration.connectionInterval > 0 { pausableNames.append("AI API connections") }
        if configuration.listenerInterval > 0 { pausableNames.append("local AI servers") }
        if configuration.summaryInterval > 0 { pausableNames.append("daily summary") }
        let pausable = PausableSensors(names: pausableNames, logger: logger) {
            try await withThrowingTaskGroup(of: Void.self) { sensors in
                if configuration.modelSensor {
                    let roots = configuration.modelRoots
                    sensors.addTask { try await ModelFileSensor(catalog: catalog.current, discovery: discovery, extraRoots: roots, spool: spool, logger: logger).run() }
                }
                if configuration.historyInterval > 0 {
                    let history = BrowserHistorySensor(
                        catalog: catalog, extraRoots: configuration.historyRoots, cursorPath: state.path("history-cursors.json"), spool: spool, logger: logger,
                        interval: .milliseconds(Int(configuration.historyInterval * 1000)))
                    sensors.addTask { try await history.run() }
                }
                if configuration.connectionInterval > 0 {
                    let interval = Duration.milliseconds(Int(configuration.connectionInterval * 1000))
                    sensors.addTask { try await ConnectionSensor(catalog: catalog, spool: spool, logger: logger, interval: interval, resolveInterval: max(interval, .seconds(600))).run() }
                }
                if configuration.listenerInterval > 0 {
                    let interval = Duration.milliseconds(Int(configuration.listenerInterval * 1000))
                    sensors.addTask { try await ListenerSensor(catalog: catalog, discovery: discovery, spool: spool, logger: logger, interval: interval).run() }
                }
                if configuration.summaryInterval > 0 {
                    let summary = DailySummary(
                        state: discovery, spool: spool, logger: logger, interval: .milliseconds(Int(configuration.summaryInterval * 1000)))
                    sensors.addTask { try await summary.run() }
                }
                try await sensors.waitForAll()
            }
        }
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await uploader.run() }
                    group.addTask { try await heartbeat.run() }
                    group.addTask {
                        try await PolicySync(state: state, configuration: configuration, logger: logger, link: link) { bundle in
                            if let distributed = bundle.policy {
                                Task { await applyCollectorPolicy(distributed) }
                            }
                            let catalogChanged = catalog.update(from: bundle)
                            if catalogChanged { logger.info("AI app catalog updated", metadata: ["version": "\(catalog.current.version)"]) }
                            fileGuard.update(appStates: bundle.appStates)
                            fileGuard.update(exceptions: bundle.exceptions ?? [])
                            fileGuard.update(userRisk: bundle.userRisk ?? [:])
                            helpers?.update(policy: feed.update {
                                $0.appStates = bundle.appStates
                                $0.exceptions = bundle.exceptions
                                $0.userRisk = bundle.userRisk
                                if catalogChanged { $0.catalog = catalog.current.apps }
                            })
                        }.run()
                    }
                    if configuration.processSensor {
                        group.addTask { try await ProcessSensor(catalog: catalog, discovery: discovery, spool: spool, logger: logger).run() }
                    }
                    await pausable.resume()
                    group.addTask { try await tamper.run() }
                    if let limits = configuration.watchdogLimits {
                        let watchdog = ResourceWatchdog(limits: limits, sensors: pausable, logger: logger) { status, message in
                            spool.record(EventType.agentHealth, ["component": "watchdog", "status": .string(status), "message": .string(message)], logger: logger)
                        }
                        group.addTask { try await watchdog.run() }
                    }
                    if configuration.fileGuard {
                        let service = FileGuardService(guard: fileGuard, options: .init(paths: configuration.filePaths), logger: logger)
                        group.addTask { try await service.run() }
                    }
                    group.addTask {
                        // A policy installed while the agent runs applies within seconds, and
                        // reaches the session helpers.
                        while !Task.isCancelled {
                            try await Task.sleep(for: .milliseconds(Int(configuration.policyCheckInterval * 1000)))
                            switch await policies.reloadIfChanged() {
                            case .success(let active)?:
                                enforce(active)
                            case .failure(let refusal)?:
                                logger.error("\(refusal)")
                            case nil:
                                break
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: whatever was not acknowledged stays in the spool for next time.
        }
        await pausable.pause()
        if lifecycle.isReloading {
            // Not awaited (as at the stop below): the new run makes its own link.
            Task { await link.shutdown() }
            // Back within a moment with the new settings; the spool keeps every event meanwhile.
            try? spool.recordRunner(pid: 0)
            logger.notice("stopping to reload the configuration")
            return
        }
        // Say why the agent goes quiet, and try to get that (and what else waits) out first: a
        // stop while the system runs is someone switching protection off.
        let shuttingDown = TamperWatch.systemShuttingDown()
        spool.record(EventType.stopped, ["reason": .string(shuttingDown ? "shutdown" : "stopped")], priority: .decision, logger: logger)
        if !shuttingDown {
            spool.record(EventType.tamper, [
                "action": "service_stopped",
                "detail": "the agent was stopped while the system was running: nothing is watched or enforced until it starts again",
            ], priority: .decision, logger: logger)
        }
        let delivered = await uploader.flush(within: .seconds(3))
        logger.info("last delivery before stopping", metadata: ["events": "\(delivered)"])
        // Not awaited: closing a connection whose request was cut off can wait seconds for the
        // collector's TLS close, and the process ends now.
        Task { await link.shutdown() }
        try? spool.recordRunner(pid: 0)
        logger.info("agent stopped; unsent events stay in the spool", metadata: ["depth": "\((try? spool.status().depth) ?? -1)"])
    }
}

/// What session helpers are sent: the agent's policy, the catalog and the collector's app
/// states, updated from two places (a newly installed policy, a new policy bundle).
final class SessionPolicyFeed: Sendable {
    private let push: Mutex<SessionMessage.PolicyPush>

    init(_ initial: SessionMessage.PolicyPush) {
        push = Mutex(initial)
    }

    var current: SessionMessage.PolicyPush { push.withLock { $0 } }

    /// Applies `change` and returns the result to send.
    func update(_ change: (inout SessionMessage.PolicyPush) -> Void) -> SessionMessage.PolicyPush {
        push.withLock { value in
            change(&value)
            return value
        }
    }
}
