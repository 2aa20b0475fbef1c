import Foundation

/// Files that hold credentials whatever their content looks like: SSH and cloud keys, `.env`
/// files, certificates' private keys, kube configs, browser credential stores. An AI tool
/// opening one is reported as a `credential_file` finding, which the default policy blocks.
/// A pattern with a `/` matches the path's last components (`.ssh/*` is any file directly in
/// any `.ssh` directory); one without matches the file name. Globs as fnmatch(3).
public struct CredentialPaths: Sendable {
    public static let defaults = [
        ".ssh/*", ".gnupg/*", ".aws/credentials", ".aws/config", ".azure/*", ".config/gcloud/*credentials*", ".config/gcloud/*.db",
        ".kube/config", ".docker/config.json", ".netrc", ".pgpass", ".git-credentials", ".npmrc", ".pypirc", ".vault-token",
        ".env", ".env.local", ".env.development", ".env.production", ".env.staging", ".env.test",
        "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519",
        "Login Data", "Login Data For Account", "Cookies", "Web Data", "logins.json", "key4.db", "cookies.sqlite", "Local State",
        ".local/share/keyrings/*",
    ]

    let names: [String]
    let suffixes: [(components: Int, pattern: String)]

    public init(extra: [String] = []) {
        let patterns = Self.defaults + extra
        names = patterns.filter { !$0.contains("/") }
        suffixes = patterns.filter { $0.contains("/") }.map { pattern in
            let trimmed = pattern.hasPrefix("~/") ? String(pattern.dropFirst(2)) : pattern
            return (trimmed.split(separator: "/").count, trimmed)
        }
    }

    /// The pattern `path` matches, or nil.
    public func match(_ path: String) -> String? {
        let components = path.split(separator: "/")
        guard let name = components.last.map(String.init) else { return nil }
        if let pattern = names.first(where: { fnmatch($0, name, 0) == 0 }) { return pattern }
        for (count, pattern) in suffixes where components.count >= count {
            let tail = components.suffix(count).joined(separator: "/")
            if fnmatch(pattern, tail, FNM_PATHNAME) == 0 { return pattern }
        }
        return nil
    }
}
