internal import CSystemd

/// Tells systemd about the service's state through `sd_notify` (a no-op outside systemd,
/// where `NOTIFY_SOCKET` is unset).
public struct SystemdNotifier: Sendable {
    /// Creates a notifier; it reads `NOTIFY_SOCKET` at each ``notify(_:)``.
    public init() {}

    /// Sends one notification, e.g. `READY=1` or `STATUS=camera ok`.
    /// - Parameter state: newline-separated assignments.
    /// - Returns: whether systemd was told (false outside systemd).
    @discardableResult
    public func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }
}
