/// The release of this build, reported by agents in enrollment and heartbeats.
public enum BulwarkVersion {
    public static let current = "0.1.0"
}
