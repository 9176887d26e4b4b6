extension Duration {
    /// The duration in seconds, as a `Double` (for logs, JSON and arithmetic on timings).
    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
