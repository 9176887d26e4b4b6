import ApertureConfig
import ApertureProtocol
import Bus
import CameraCore
import Foundation
import Synchronization

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
    /// Where `camera.filter` goes.
    private let events: Publisher?
    /// The moves queued on the wheel's thread, and where the wheel was last seen.
    private struct Motion {
        /// Moves asked for and not yet over.
        var pending = 0
        /// The slot of the newest move asked for, while any is pending.
        var target: Int?
        /// The slot last read or reached.
        var slot: Int?
    }
    private let motion = Mutex(Motion())

    /// Starts the wheel's thread.
    /// - Parameters:
    ///   - wheel: the wheel's driver.
    ///   - session: the state the parts share (a move is refused while an exposure runs).
    ///   - configuration: the filter names and the wheel driver's name.
    ///   - events: where `camera.filter` is published when a move starts and when it ends.
    init(wheel: any FilterWheel, session: CameraSession, configuration: ApertureConfiguration, events: Publisher? = nil) {
        thread = SDKThread(name: "aperture-wheel")
        self.wheel = DriverHandle(wheel)
        self.session = session
        self.events = events
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
        motion.withLock { $0.slot = slot }
        return status(slot)
    }

    /// The wheel's position without waiting for a move in progress: while moves are pending,
    /// where the wheel last was with the slot it is moving to (`target`); otherwise read from the
    /// wheel (``read()``).
    func current() async throws(CameraError) -> FilterStatus {
        if let moving = motion.withLock({ $0.pending > 0 ? $0 : nil }) {
            return status(moving.slot ?? moving.target ?? 0, target: moving.target)
        }
        return try await read()
    }

    /// Moves the wheel to a filter (by name, case-insensitive, or by slot) or homes it; with
    /// nothing asked, answers its position (``current()``).
    /// - Parameters:
    ///   - name: the filter's name.
    ///   - slot: the slot, from 0.
    ///   - home: whether to home the wheel (to slot 0).
    ///   - wait: false: start the move and answer at once, with `target` set (Alpaca's
    ///     asynchronous Position); the move's end is announced on `camera.filter`.
    /// - Returns: the wheel's position after the move (or, not waiting, as the move starts).
    /// - Throws: ``CameraError`` `busy` during an exposure; `invalid_argument` naming `name` or
    ///   `slot` the wheel does not hold; the wheel's error (waiting only).
    func move(name: String?, slot: Int?, home: Bool, wait: Bool = true) async throws(CameraError) -> FilterStatus {
        if name == nil && slot == nil && !home {
            return try await current()
        }
        if session.isBusy {
            throw CameraError(.busy, "the filter wheel cannot move during an exposure")
        }
        let wheel = self.wheel
        if home {
            try await pendingMove(to: 0, "filter home") { () throws(CameraError) in try wheel.driver.home() }
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
            if wait {
                try await pendingMove(to: destination, "filter move") { () throws(CameraError) in try wheel.driver.move(to: destination) }
            } else {
                let starting = begin(target: destination)
                thread.submit { [self] in
                    do throws(CameraError) {
                        try wheel.driver.move(to: destination)
                        end(reached: destination)
                    } catch {
                        // The position is read again: the next reader sees where the wheel stopped.
                        end(reached: try? wheel.driver.position())
                    }
                }
                return starting
            }
        }
        return try await read()
    }

    /// Runs a move on the wheel's thread, counted as pending (``begin(target:)``) until it ends.
    private func pendingMove(to target: Int, _ name: String,
                             _ body: @escaping @Sendable () throws(CameraError) -> Void) async throws(CameraError) {
        begin(target: target)
        do throws(CameraError) {
            try await thread.perform(name, body)
        } catch {
            end(reached: nil)
            throw error
        }
        end(reached: target)
    }

    /// Counts a move as pending and announces it.
    @discardableResult
    private func begin(target: Int) -> FilterStatus {
        let now = motion.withLock { motion -> Motion in
            motion.pending += 1
            motion.target = target
            return motion
        }
        let status = status(now.slot ?? target, target: target)
        try? events?.publish(CameraTopic.filter, status)
        return status
    }

    /// Ends a pending move; when none is left, announces where the wheel is (`reached`, or
    /// the last slot known when nil).
    private func end(reached: Int?) {
        let now = motion.withLock { motion -> Motion in
            motion.pending = max(0, motion.pending - 1)
            if let reached { motion.slot = reached }
            if motion.pending == 0 { motion.target = nil }
            return motion
        }
        if now.pending == 0, let slot = now.slot {
            try? events?.publish(CameraTopic.filter, status(slot))
        }
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
        try await pendingMove(to: slot, "filter move") { () throws(CameraError) in
            if try wheel.driver.position() != slot { try wheel.driver.move(to: slot) }
        }
        return try await read()
    }

    private func status(_ slot: Int, target: Int? = nil) -> FilterStatus {
        FilterStatus(slot: slot, name: names.indices.contains(slot) ? names[slot] : "slot \(slot)",
                     filters: names, driver: driverName, target: target)
    }
}
