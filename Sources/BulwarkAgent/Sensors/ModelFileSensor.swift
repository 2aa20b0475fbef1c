import BulwarkCore
import Crypto
import Foundation
import Logging

/// Finds AI model files on disk: a scan of the model roots at start (the places local AI apps
/// keep models, in every home directory, plus configured roots), kept current with inotify.
/// A file is a model when its content says so (GGUF, GGML, safetensors headers), or when it has
/// a model extension (`.onnx`, `.pt`, `.pth`, `.ckpt`, `.bin`) under a model root; at least 1 MiB
/// either way. Emits `ai.model.found` (name, size, format, SHA-256 of the first 64 KiB) and
/// `ai.model.removed`.
public final class ModelFileSensor: @unchecked Sendable {
    // `models`, `watches` are touched only by `run`'s task.

    public struct Model: Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var format: String
        public var headerSHA256: String
        public var owner: uid_t
    }

    /// Where the catalog's apps keep models: `~/…` entries in every home directory, absolute
    /// ones as they are.
    static func locations(catalog: AIAppCatalog, homes: [String]) -> [(path: String, app: String?)] {
        catalog.apps.flatMap { app in
            app.modelDirs.flatMap { directory -> [(path: String, app: String?)] in
                guard directory.hasPrefix("~/") else { return [(directory, app.id)] }
                return homes.map { ("\($0)/\(directory.dropFirst(2))", app.id) }
            }
        }
    }

    static let minimumSize: Int64 = 1024 * 1024

    let roots: [(path: String, app: String?)]
    let catalog: AIAppCatalog
    let spool: SpoolStore
    let logger: Logger
    private var models: [String: Model] = [:]
    private var watches: [Int32: String] = [:]
    private var inotify: Int32 = -1

    /// - Parameter extraRoots: configured roots, besides every home's and the system locations.
    let discovery: DiscoveryState

    public init(
        catalog: AIAppCatalog = .bundled, discovery: DiscoveryState = DiscoveryState(), extraRoots: [String] = [], includeDefaultLocations: Bool = true,
        spool: SpoolStore, logger: Logger
    ) {
        self.discovery = discovery
        self.catalog = catalog
        var roots: [(String, String?)] = extraRoots.map { ($0, nil) }
        if includeDefaultLocations {
            let homes = ["/root"] + ((try? FileManager.default.contentsOfDirectory(atPath: "/home")) ?? []).map { "/home/\($0)" }
            roots += Self.locations(catalog: catalog, homes: homes)
        }
        self.roots = roots
        self.spool = spool
        self.logger = logger
    }

    public func run() async throws {
        let descriptor = inotify_init1(Int32(IN_CLOEXEC))
        inotify = descriptor
        for root in roots where FileManager.default.fileExists(atPath: root.path) { scan(directory: root.path) }
        guard descriptor >= 0 else {
            logger.warning("inotify unavailable (\(String(cString: strerror(errno)))); model files are found at start only")
            return
        }
        let stream = AsyncStream<[(watch: Int32, mask: UInt32, name: String)]>(bufferingPolicy: .bufferingNewest(4096)) { continuation in
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    let count = read(descriptor, &buffer, buffer.count)
                    if count < 0, errno == EINTR { continue }
                    guard count > 0 else { break }
                    continuation.yield(Self.parse(buffer[0..<count]))
                }
                continuation.finish()
            }
            thread.name = "bulwark-model-files"
            thread.start()
        }
        try await withTaskCancellationHandler {
            for await batch in stream {
                for event in batch { handle(event) }
            }
        } onCancel: {
            close(descriptor)
        }
    }

    /// inotify_event: wd, mask, cookie, len, then `len` bytes of NUL-padded name.
    static func parse(_ bytes: ArraySlice<UInt8>) -> [(watch: Int32, mask: UInt32, name: String)] {
        var events: [(Int32, UInt32, String)] = []
        var offset = bytes.startIndex
        func word(_ at: Int) -> UInt32 { bytes[at..<at + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }
        while offset + 16 <= bytes.endIndex {
            let length = Int(word(offset + 12))
            guard offset + 16 + length <= bytes.endIndex else { break }
            let name = String(decoding: bytes[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }, as: UTF8.self)
            events.append((Int32(bitPattern: word(offset)), word(offset + 4), name))
            offset += 16 + length
        }
        return events
    }

    private func handle(_ event: (watch: Int32, mask: UInt32, name: String)) {
        guard let directory = watches[event.watch], !event.name.isEmpty else { return }
        let path = (directory as NSString).appendingPathComponent(event.name)
        if event.mask & UInt32(IN_ISDIR) != 0 {
            if event.mask & (UInt32(IN_CREATE) | UInt32(IN_MOVED_TO)) != 0 { scan(directory: path) }
            if event.mask & (UInt32(IN_DELETE) | UInt32(IN_MOVED_FROM)) != 0 {
                for known in models.keys where known.hasPrefix(path + "/") { removed(known) }
            }
            return
        }
        if event.mask & (UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO)) != 0 { consider(path) }
        if event.mask & (UInt32(IN_DELETE) | UInt32(IN_MOVED_FROM)) != 0 { removed(path) }
    }

    /// Walks a directory: watches it and its subdirectories, considers its files.
    private func scan(directory: String) {
        var pending = [directory]
        while let next = pending.popLast() {
            if inotify >= 0 {
                let mask = UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_MOVED_FROM) | UInt32(IN_DELETE) | UInt32(IN_CREATE)
                let watch = inotify_add_watch(inotify, next, mask)
                if watch >= 0 { watches[watch] = next }
            }
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: next)) ?? [] {
                let path = (next as NSString).appendingPathComponent(entry)
                var status = stat()
                guard lstat(path, &status) == 0 else { continue }  // symbolic links are not followed
                switch status.st_mode & S_IFMT {
                case S_IFDIR: pending.append(path)
                case S_IFREG: consider(path)
                default: break
                }
            }
        }
    }

    private func consider(_ path: String) {
        guard let model = Self.model(at: path, underRoot: roots.contains { path.hasPrefix($0.path + "/") }) else {
            removed(path)  // rewritten into something that is not a model
            return
        }
        guard models[path] != model else { return }
        models[path] = model
        var data = common(path: path, owner: model.owner)
        data["size"] = .number(Double(model.size))
        data["format"] = .string(model.format)
        data["header_sha256"] = .string(model.headerSHA256)
        record(EventType.aiModelFound, data)
        if let app = data["app"]?.stringValue, let category = data["category"]?.stringValue {
            discovery.set("model:\(path)", .init(app: app, category: category, evidence: "model_file", user: data["user"]?.stringValue))
        }
    }

    private func removed(_ path: String) {
        guard let model = models.removeValue(forKey: path) else { return }
        discovery.set("model:\(path)", nil)
        record(EventType.aiModelRemoved, common(path: path, owner: model.owner))
    }

    /// The app whose location holds `path` (the innermost root).
    private func app(for path: String) -> String? {
        roots.filter { path.hasPrefix($0.path + "/") }.max { $0.path.count < $1.path.count }?.app
    }

    private func common(path: String, owner: uid_t) -> [String: JSONValue] {
        var data: [String: JSONValue] = [
            "path": .string(path), "name": .string((path as NSString).lastPathComponent), "evidence": .string("model_file"),
            "uid": .number(Double(owner)),
        ]
        if let app = app(for: path) {
            data["app"] = .string(app)
            data["category"] = .string(catalog.app(id: app)?.category ?? "local_llm")
        }
        if let user = SessionServer.userName(owner) { data["user"] = .string(user) }
        return data
    }

    private func record(_ type: String, _ data: [String: JSONValue]) { spool.record(type, data, logger: logger) }

    /// The model at `path`, if it is one.
    static func model(at path: String, underRoot: Bool) -> Model? {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, Int64(status.st_size) >= minimumSize,
              let handle = FileHandle(forReadingAtPath: path)
        else { return nil }
        defer { try? handle.close() }
        guard let header = try? handle.read(upToCount: 64 * 1024), header.count >= 16 else { return nil }
        let pathExtension = (path as NSString).pathExtension.lowercased()
        let format: String
        if header.starts(with: Data("GGUF".utf8)) {
            format = "gguf"
        } else if [Data("lmgg".utf8), Data("fmgg".utf8), Data("tjgg".utf8)].contains(where: { header.starts(with: $0) }) {
            format = "ggml"  // the legacy GGML magics, little-endian
        } else if isSafetensors(header, size: Int64(status.st_size)) {
            format = "safetensors"
        } else if ["onnx", "pt", "pth", "ckpt"].contains(pathExtension) || (pathExtension == "bin" && underRoot) {
            format = pathExtension  // no cheap magic to check; `.bin` is too common to trust outside a model root
        } else {
            return nil
        }
        let hash = SHA256.hash(data: header).map { String(format: "%02x", $0) }.joined()
        return Model(path: path, size: Int64(status.st_size), format: format, headerSHA256: hash, owner: status.st_uid)
    }

    /// safetensors: an 8-byte little-endian header length, then that much JSON starting with '{'.
    static func isSafetensors(_ header: Data, size: Int64) -> Bool {
        let length = header.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        return length > 2 && length < 100 * 1024 * 1024 && Int64(length) + 8 <= size && header.count > 8 && header[header.startIndex + 8] == UInt8(ascii: "{")
    }
}
