import Hummingbird

/// The web dashboard at `/` (being written).
enum DashboardRoutes {
    static func register(on router: Router<GatewayApplication.Context>, gateway: Gateway) {}
}
