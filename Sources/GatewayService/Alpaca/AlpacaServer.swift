import ServiceLifecycle

/// The ASCOM Alpaca camera device and its discovery responder (issue 7; being written).
enum AlpacaServer {
    static func services(gateway: Gateway) throws -> [any Service] { [] }
}
