import ApertureConfig
import ApertureProtocol
import Bus
import CameraCore
import Foundation

/// The filter wheel, driven from a thread of its own (a move takes seconds, and must not hold up
/// the camera's SDK thread): reads its position, moves it by name or slot, homes it, and moves
/// it before an exposure that names a filter.
final class FilterWheelControl: Sendable {
    private let thread: SDKThread
    private let wheel: DriverHandle<any FilterWheel>
    private let session: CameraSession
    /// The filters by slot, from the configuration.
    private let names: [String]
    /// The configured wheel driver, as the status names it.
    private let driverName: String

    /// Starts the wheel's thread.
    /// - Parameters:
    ///   - wheel: the wheel's driver.
    ///   - session: the state the parts share (a move is refused while an exposure runs).
    ///   - configuration: the filter names and the wheel driver's name.
    init(wheel: any FilterWheel, session: CameraSession, configuration: ApertureConfiguration) {
        thread = SDKThread(name: "aperture-wheel")
        self.wheel = DriverHandle(wheel)
        self.session = session
        names = configuration.filterWheel.filters
        driverName = configuration.filterWheel.driver.rawValue
    }

    /// Reads the wheel's position.
    /// - Returns: the slot, its filter and the filters.
    /// - Throws: ``CameraError`` `timeout` after 30 s, or the wheel's error.
    func read() async throws(CameraError) -> FilterStatus {
        let wheel = self.wheel
        let thread = self.thread
        let slot = try await withTimeout(.seconds(30), "filter wheel position") { () async throws(CameraError) -> Int in
            try await thread.perform("filter position") { () throws(CameraError) -> Int in try wheel.driver.position() }
        }
        return status(slot)
    }

    /// Moves the wheel to a filter (by name, case-insensitive, or by slot) or homes it; with
    /// nothing asked, reads it.
    /// - Parameters:
    ///   - name: the filter's name.
    ///   - slot: the slot, from 0.
    ///   - home: whether to home the wheel (to slot 0).
    /// - Returns: the wheel's position after the move.
    /// - Throws: ``CameraError`` `busy` during an exposure; `invalid_argument` naming `name` or
    ///   `slot` the wheel does not hold; the wheel's error.
    func move(name: String?, slot: Int?, home: Bool) async throws(CameraError) -> FilterStatus {
        if name == nil && slot == nil && !home {
            return try await read()
        }
        if session.isBusy {
            throw CameraError(.busy, "the filter wheel cannot move during an exposure")
        }
        let wheel = self.wheel
        if home {
            try await thread.perform("filter home") { () throws(CameraError) in try wheel.driver.home() }
        } else {
            var target: Int
            if let name {
                guard let index = names.firstIndex(where: { $0.caseInsensitiveCompare(name) == .orderedSame }) else {
                    throw CameraError.invalid("name", "unknown filter '\(name)'; the wheel holds \(names.joined(separator: ", "))")
                }
                target = index
            } else if let slot {
                guard names.indices.contains(slot) else {
                    throw CameraError.invalid("slot", "\(slot) is not one of 0...\(names.count - 1)")
                }
                target = slot
            } else {
                return try await read()
            }
            let destination = target
            try await thread.perform("filter move") { () throws(CameraError) in try wheel.driver.move(to: destination) }
        }
        return try await read()
    }

    /// Moves the wheel to an exposure's filter, unless it is there already.
    /// - Parameter name: the filter's canonical name (the plan checked it).
    /// - Returns: the wheel's position after the move.
    /// - Throws: ``CameraError`` `invalid_argument` for a filter the wheel does not hold; the
    ///   wheel's error.
    func moveForExposure(to name: String) async throws(CameraError) -> FilterStatus {
        guard let slot = names.firstIndex(of: name) else {
            throw CameraError.invalid("filter", "unknown filter '\(name)'")
        }
        let wheel = self.wheel
        try await thread.perform("filter move") { () throws(CameraError) in
            if try wheel.driver.position() != slot { try wheel.driver.move(to: slot) }
        }
        return try await read()
    }

    private func status(_ slot: Int) -> FilterStatus {
        FilterStatus(slot: slot, name: names.indices.contains(slot) ? names[slot] : "slot \(slot)",
                     filters: names, driver: driverName)
    }
}
