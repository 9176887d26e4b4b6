import ApertureProtocol
import Foundation

/// The simulated sensor's temperature: a first-order approach, with a time constant, to the
/// set-point (cooler on) or to ambient (cooler off), never below `ambient - maximumDelta` and
/// never above ambient. A pure value: every question is asked at an explicit simulated time, so
/// the same time stamps give the same answers.
///
/// Between two changes (cooler switched, set-point moved) the temperature is
/// `T(t) = target + (T0 - target) * exp(-(t - t0) / timeConstant)`, where `T0` is the temperature
/// at the change `t0`; a change starts a new segment from the temperature at that moment.
struct SimulatedCooling: Sendable, Hashable {
    /// Ambient temperature, degrees Celsius.
    var ambient: Double
    /// The largest pull below ambient, in degrees.
    var maximumDelta: Double
    /// Simulated seconds.
    var timeConstant: Double
    /// Degrees from the set-point that count as reached.
    var tolerance: Double
    /// Simulated seconds within tolerance before the state is `stabilized`.
    var stabilizationTime: Double

    private(set) var coolerOn = false
    private(set) var setpoint: Int
    /// The segment's start: temperature `startTemperature` at simulated time `startTime`.
    private var startTemperature: Double
    private var startTime: Double

    /// A sensor at ambient with the cooler off, at simulated time `time`.
    init(configuration: SimulatedCamera.Configuration, at time: Double = 0) {
        ambient = configuration.ambientTemperature
        maximumDelta = max(0, configuration.maximumCoolingDelta)
        timeConstant = configuration.coolingTimeConstant > 0 ? configuration.coolingTimeConstant : 1
        tolerance = configuration.temperatureTolerance
        stabilizationTime = configuration.stabilizationTime
        setpoint = configuration.initialSetpoint
        startTemperature = configuration.ambientTemperature
        startTime = time
    }

    /// The coldest the sensor can get.
    var floorTemperature: Double { ambient - maximumDelta }

    /// Where the sensor is heading: the set-point clamped to what the cooler can reach, or ambient.
    var target: Double {
        coolerOn ? min(max(Double(setpoint), floorTemperature), ambient) : ambient
    }

    /// The sensor temperature at simulated time `time`.
    func temperature(at time: Double) -> Double {
        let elapsed = max(0, time - startTime)
        return target + (startTemperature - target) * exp(-elapsed / timeConstant)
    }

    /// Switches the cooler at simulated time `time`.
    mutating func setCooler(on: Bool, at time: Double) {
        guard on != coolerOn else { return }
        rebase(at: time)
        coolerOn = on
    }

    /// Moves the set-point at simulated time `time`.
    mutating func setSetpoint(_ celsius: Int, at time: Double) {
        guard celsius != setpoint else { return }
        rebase(at: time)
        setpoint = celsius
    }

    /// The reading at simulated time `time`: `off` with the cooler off; `notReached` while more
    /// than `tolerance` from the set-point; `notStabilized` within it for less than
    /// `stabilizationTime`; `stabilized` after. Cooler power is `(ambient - T) / maximumDelta`
    /// in percent (0 with the cooler off).
    func status(at time: Double) -> TemperatureStatus {
        let celsius = temperature(at: time)
        guard coolerOn else {
            return TemperatureStatus(celsius: celsius, setpoint: setpoint, coolerOn: false, state: .off, coolerPower: 0)
        }
        let power = maximumDelta > 0 ? min(100, max(0, (ambient - celsius) / maximumDelta * 100)) : 100
        let state: TemperatureState
        if abs(celsius - Double(setpoint)) > tolerance {
            state = .notReached
        } else if let entered = timeWithinTolerance(), time - entered >= stabilizationTime {
            state = .stabilized
        } else {
            state = .notStabilized
        }
        return TemperatureStatus(celsius: celsius, setpoint: setpoint, coolerOn: true, state: state, coolerPower: power)
    }

    /// When this segment's temperature came within `tolerance` of the set-point (it only moves
    /// towards the target, so it enters the band once), or nil if it never does.
    private func timeWithinTolerance() -> Double? {
        let goal = Double(setpoint)
        if abs(startTemperature - goal) <= tolerance { return startTime }
        let edge = startTemperature > goal ? goal + tolerance : goal - tolerance
        let remaining = (edge - target) / (startTemperature - target)
        guard remaining > 0, remaining < 1 else { return nil }
        return startTime - timeConstant * log(remaining)
    }

    private mutating func rebase(at time: Double) {
        startTemperature = temperature(at: time)
        startTime = max(startTime, time)
    }
}
