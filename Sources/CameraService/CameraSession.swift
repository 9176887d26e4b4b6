import Bus
import ApertureProtocol
import CameraCore
import Foundation
import Synchronization

/// What the camera process's parts share, under one lock: the exposure state machine, the
/// connected camera's ``CameraInfo`` and the exposure records with the one running.
///
/// The parts (``ExposureRunner``, ``CoolingControl``, ``FilterWheelControl``, the
/// ``CameraController``) read and change it; every change of the machine's state goes out as
/// `camera.state`, once per distinct state.
final class CameraSession: Sendable {
    /// The shared state.
    struct State: Sendable {
        var machine = ExposureStateMachine(connected: false)
        /// What the camera can do; nil until it first connects.
        var info: CameraInfo?
        /// The newest ``CameraSession/recordLimit`` exposure records, oldest first.
        var records: [ExposureRecord] = []
        /// The running exposure's id.
        var currentId: String?
        /// The number the next exposure id ends in.
        var nextId = 1
        /// The last `camera.state` published.
        var lastPublished: CameraStateEvent?
    }

    /// Records kept for `exposures` and `exposure`.
    static let recordLimit = 200

    /// The state; take the lock for as short as possible, never across a driver call.
    let state = Mutex(State())
    private let events: Publisher

    /// - Parameter events: where `camera.state` goes.
    init(events: Publisher) {
        self.events = events
    }

    /// Whether the camera is connected and usable.
    var isConnected: Bool { state.withLock { $0.machine.state != .error } }

    /// Whether an exposure is running (exposing, reading out, saving or aborting).
    var isBusy: Bool { state.withLock { $0.machine.isBusy } }

    /// The machine's state.
    var cameraState: CameraState { state.withLock { $0.machine.state } }

    /// What the connected camera can do; nil before it first connected.
    var info: CameraInfo? { state.withLock { $0.info } }

    /// The `status` reply: the machine's state and the running exposure, with what the caller
    /// read from the devices.
    /// - Parameters:
    ///   - driver: the camera driver's name.
    ///   - temperature: the newest temperature reading.
    ///   - filter: the wheel's position, if it could be read.
    func report(driver: String, temperature: TemperatureStatus?, filter: FilterStatus?) -> CameraStatusReport {
        state.withLock { s in
            CameraStatusReport(
                state: s.machine.state, connected: s.machine.state != .error, reason: s.machine.errorReason,
                driver: driver, info: s.info, temperature: temperature, filter: filter,
                exposure: s.currentId.flatMap { id in s.records.last { $0.id == id } },
                frame: s.machine.isBusy ? s.machine.frame : nil, count: s.machine.isBusy ? s.machine.count : nil)
        }
    }

    // MARK: Records

    /// The record of exposure `id`.
    /// - Throws: ``CameraError`` `not_found` when the camera does not keep it (any more).
    func record(id: String) throws(CameraError) -> ExposureRecord {
        guard let record = state.withLock({ s in s.records.last { $0.id == id } }) else {
            throw CameraError(.notFound, "id: no exposure '\(id)' (the camera keeps the last \(Self.recordLimit))", field: "id")
        }
        return record
    }

    /// The records kept, oldest first.
    func records() -> [ExposureRecord] { state.withLock { $0.records } }

    /// Starts an exposure in the machine and records it as the running one, under one lock.
    /// - Parameters:
    ///   - request: the request as received.
    ///   - plan: its plan.
    ///   - now: its start.
    /// - Returns: its record and the machine's first actions.
    /// - Throws: ``ExposureStateMachine/Refusal`` when the machine refuses (busy, not connected).
    func begin(_ request: ExposureRequest, plan: ExposurePlan,
               at now: Date) throws(ExposureStateMachine.Refusal) -> (ExposureRecord, [ExposureStateMachine.Action]) {
        try state.withLock { s throws(ExposureStateMachine.Refusal) in
            let actions = try s.machine.handle(.start(count: plan.count, preview: plan.mode == .preview))
            let id = Self.exposureId(now, s.nextId)
            s.nextId += 1
            let record = ExposureRecord(id: id, request: request, mode: plan.mode, status: .running,
                                        count: plan.count, started: now.timeIntervalSince1970)
            s.records.append(record)
            if s.records.count > Self.recordLimit { s.records.removeFirst(s.records.count - Self.recordLimit) }
            s.currentId = record.id
            return (record, actions)
        }
    }

    /// Counts a frame done in its exposure's record, with its file when it was saved.
    func countFrame(_ frame: Int, of id: String, file: SavedFrame?) {
        state.withLock { s in
            if let index = s.records.lastIndex(where: { $0.id == id }) {
                s.records[index].framesDone = frame
                if let file { s.records[index].files.append(file) }
            }
        }
    }

    /// Closes an exposure's record with its outcome; it is no longer the running one.
    /// - Returns: the closed record, or nil when it is no longer kept.
    func close(_ id: String, _ outcome: ExposureOutcome) -> ExposureRecord? {
        state.withLock { s -> ExposureRecord? in
            guard let index = s.records.lastIndex(where: { $0.id == id }) else { return nil }
            switch outcome {
            case .completed: s.records[index].status = .completed
            case .aborted: s.records[index].status = .aborted
            case .failed(let error):
                s.records[index].status = .failed
                s.records[index].error = .init(code: error.code, message: error.message)
            }
            s.records[index].finished = Date().timeIntervalSince1970
            if s.currentId == id { s.currentId = nil }
            return s.records[index]
        }
    }

    /// `yyyymmddThhmmss-NNNN` (UTC): the start and a number counting from 1 in this process.
    private static func exposureId(_ date: Date, _ number: Int) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d%02d%02dT%02d%02d%02d-%04d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, number)
    }

    // MARK: State machine and events

    /// Applies an event to the machine under the lock, publishing a state change.
    /// - Returns: what the machine asks to be done next (nothing when it refuses the event).
    @discardableResult
    func deliver(_ event: ExposureStateMachine.Event) -> [ExposureStateMachine.Action] {
        let (before, after, actions) = state.withLock { s -> (CameraState, CameraState, [ExposureStateMachine.Action]) in
            let before = s.machine.state
            let actions = (try? s.machine.handle(event)) ?? []
            return (before, s.machine.state, actions)
        }
        if before != after { publishState() }
        return actions
    }

    /// Applies an event and `update` under one lock, then publishes the state if it changed.
    func transition(_ event: ExposureStateMachine.Event, _ update: (inout State) -> Void = { _ in }) {
        state.withLock { s in
            _ = try? s.machine.handle(event)
            update(&s)
        }
        publishState()
    }

    /// Publishes `camera.state` when it differs from the last one published.
    func publishState() {
        let event = state.withLock { s -> CameraStateEvent? in
            let event = CameraStateEvent(state: s.machine.state, exposureId: s.machine.isBusy ? s.currentId : nil,
                                         frame: s.machine.isBusy ? s.machine.frame : nil,
                                         count: s.machine.isBusy ? s.machine.count : nil, reason: s.machine.errorReason)
            if event == s.lastPublished { return nil }
            s.lastPublished = event
            return event
        }
        if let event { try? events.publish(CameraTopic.state, event) }
    }
}
