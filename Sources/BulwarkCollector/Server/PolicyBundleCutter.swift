import BulwarkCore
import Crypto
import Foundation
import NIOCore
import Synchronization

/// Agents' policy bundles as sent — body and ETag — cut from a ``PolicySnapshot``.
///
/// Every agent without exceptions of its own gets the same bytes, so those are encoded and
/// hashed once per snapshot rather than once per request: a change wakes every waiting request
/// at once, and every long-poll compares its agent's ETag when it starts.
final class PolicyBundleCutter: Sendable {
    /// One agent's bundle, encoded, and its ETag (a quoted 32-hex-digit SHA-256 prefix).
    struct Cut: Sendable {
        let body: ByteBuffer
        let etag: String
    }

    private let catalog: AIAppCatalog
    private let catalogOverride: CatalogOverride
    private let issuingCAPEM: String?
    /// The cut shared by agents without exceptions of their own, and the snapshot it is of.
    private let shared = Mutex<(snapshot: PolicySnapshot, cut: Cut)?>(nil)

    init(catalog: AIAppCatalog, catalogOverride: CatalogOverride, issuingCAPEM: String?) {
        self.catalog = catalog
        self.catalogOverride = catalogOverride
        self.issuingCAPEM = issuingCAPEM
    }

    func cut(for agentID: String, from snapshot: PolicySnapshot) throws -> Cut {
        let individual = snapshot.exceptions.contains { $0.agentID == agentID }
        // The snapshot compares cheaply when it is the one cached (its storage is shared).
        if !individual, let cached = shared.withLock({ $0 }), cached.snapshot == snapshot { return cached.cut }
        var bundle = snapshot.bundle(for: agentID, catalog: catalog, catalogOverride: catalogOverride)
        bundle.issuingCA = issuingCAPEM
        let body = try WireCoding.encoder().encode(bundle)
        let cut = Cut(body: ByteBuffer(bytes: body), etag: "\"" + AgentIdentity.hex(SHA256.hash(data: body)).prefix(32) + "\"")
        if !individual { shared.withLock { $0 = (snapshot, cut) } }
        return cut
    }
}
