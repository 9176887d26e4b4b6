import ApertureProtocol
import Bus
@testable import CameraCore
import Foundation
import Logging
import Testing
import ProcessTestSupport

/// The real ``AndorSDK2Camera`` driver against the C stand-in for the SDK
/// (`StandIn/andor_standin.c`, compiled by ``StandInLibrary``): each test loads its own copy, so
/// each has its own camera. Hangs and crashes run in a separate probe process.
@Suite(.serialized) struct AndorSDK2CameraTests {
    // MARK: Fixture

    /// A private directory with a copy of the stand-in and an SDK configuration directory.
    final class StandIn {
        let root: String
        let libraryPath: String
        let configDirectory: String

        /// - Parameter defines: the stand-in's compile-time options, e.g. `OMIT_GETSTATUS`.
        init(defines: [String] = []) throws {
            root = FileManager.default.temporaryDirectory
                .appendingPathComponent("aperture-andor-\(getpid())-\(UUID().uuidString)").path
            configDirectory = root + "/etc/andor"
            try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
            libraryPath = try StandInLibrary.build(defines: defines, into: root)
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }

        /// A driver for this copy (not yet connected).
        func camera(configDirectory: String? = nil) -> AndorSDK2Camera {
            AndorSDK2Camera(libraryPath: libraryPath, configDirectory: configDirectory ?? self.configDirectory,
                            logger: Logger(label: "andor-tests", factory: { _ in SwiftLogNoOpLogHandler() }))
        }

        /// A connected driver.
        func connectedCamera() throws -> AndorSDK2Camera {
            let camera = camera()
            _ = try camera.connect()
            return camera
        }

        /// Sets a fault-injection or detector key of this copy (see the C file).
        func configure(_ key: String, _ value: String?) throws {
            try StandInLibrary.configure(libraryPath: libraryPath, key, value)
        }
    }

    /// The stand-in's documented pixel value for unbinned detector pixel (x, y) of a detector
    /// `width` wide, in the `frame`-th acquisition since Initialize.
    static func ramp(x: Int, y: Int, width: Int, frame: Int) -> UInt16 {
        UInt16((x + y * width + frame) & 0xffff)
    }

    /// Waits in 10 ms slices, as the camera process does, until the acquisition ends.
    /// - Returns: whether it ended within `seconds`.
    static func finish(_ camera: AndorSDK2Camera, within seconds: Double = 5) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try camera.waitForAcquisition(timeout: 0.01) { return true }
        }
        return false
    }

    /// Runs one acquisition to the end and returns its pixels.
    static func expose(_ camera: AndorSDK2Camera, _ settings: AcquisitionSettings) throws -> [UInt16] {
        try camera.startAcquisition(settings)
        try #require(try finish(camera), "the acquisition did not end")
        var pixels = [UInt16](repeating: 0, count: settings.imageWidth * settings.imageHeight)
        try pixels.withUnsafeMutableBufferPointer { buffer in try camera.readImage(into: buffer) }
        return pixels
    }

    /// Expects `body` to throw a ``CameraError`` and returns it.
    static func cameraError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> CameraError? {
        do {
            try body()
            Issue.record("expected a CameraError", sourceLocation: sourceLocation)
            return nil
        } catch let error as CameraError {
            return error
        } catch {
            Issue.record("expected a CameraError, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    static func full(width: Int = 512, height: Int = 512, exposure: Double = 0) -> AcquisitionSettings {
        AcquisitionSettings(exposureTime: exposure, shutter: .closed, subframe: Subframe(x: 0, y: 0, width: width, height: height),
                            imageType: .bias)
    }

    // MARK: Connection

    @Test func connectDescribesTheCamera() throws {
        let standIn = try StandIn()
        let camera = standIn.camera()
        let info = try camera.connect()
        #expect(info.model == "DU934P-STANDIN")
        #expect(info.serial == "12345")
        #expect(info.width == 512 && info.height == 512)
        #expect(info.pixelWidth == 13.0 && info.pixelHeight == 13.0)
        #expect(info.minimumSetpoint == -100 && info.maximumSetpoint == 20)
        #expect(info.maximumBinX == 32 && info.maximumBinY == 32)
        #expect(info.readoutModes == ["5.0 MHz", "3.0 MHz", "1.0 MHz", "50 kHz"])
        #expect(info.gains == ["1x", "2x", "4x"])
        #expect(info.hasShutter)
        #expect(info.minimumExposure == 0 && info.maximumExposure == 7200)
        #expect(info.maximumADU == 65535)
        #expect(try camera.connect() == info, "connecting again returns the same description")

        let temperature = try camera.temperature()
        #expect(temperature == TemperatureStatus(celsius: 20, setpoint: 20, coolerOn: false, state: .off, coolerPower: nil))
        #expect(try camera.acquisitionStatus() == .idle)
        try camera.disconnect()
    }

    @Test func detectorSizeComesFromTheSDK() throws {
        let standIn = try StandIn()
        try standIn.configure("WIDTH", "300")
        try standIn.configure("HEIGHT", "8")
        let info = try standIn.camera().connect()
        #expect(info.width == 300 && info.height == 8)
        #expect(info.maximumBinX == 32 && info.maximumBinY == 8)
    }

    @Test func librariesWithoutTheOptionalCallsGetDefaults() throws {
        let standIn = try StandIn(defines: ["OMIT_OPTIONAL"])
        let info = try standIn.camera().connect()
        #expect(info.maximumExposure == AndorSDK2Camera.fallbackMaximumExposure)
        #expect(info.maximumBinX == 16 && info.maximumBinY == 16)
    }

    @Test func aMissingLibraryIsNamed() throws {
        let standIn = try StandIn()
        let path = standIn.root + "/nowhere/libandor.so"
        let camera = AndorSDK2Camera(libraryPath: path, logger: Logger(label: "andor-tests"))
        let error = try #require(Self.cameraError { _ = try camera.connect() })
        #expect(error.code == .driver)
        #expect(error.message.contains(path))
        #expect(error.message.contains("cannot open shared object file"), "dlerror() is included: \(error.message)")
    }

    @Test func aMissingSymbolIsNamed() throws {
        let standIn = try StandIn(defines: ["OMIT_GETSTATUS"])
        let camera = standIn.camera()
        let error = try #require(Self.cameraError { _ = try camera.connect() })
        #expect(error.code == .driver)
        #expect(error.message.contains("GetStatus"))
        #expect(error.message.contains(standIn.libraryPath))
        #expect(!error.message.contains("GetStatusX"))
        #expect(Self.cameraError { _ = try camera.temperature() }?.code == .notConnected)
    }

    @Test func aMissingConfigurationDirectoryFailsInitialize() throws {
        let standIn = try StandIn()
        let camera = standIn.camera(configDirectory: standIn.root + "/missing")
        let error = try #require(Self.cameraError { _ = try camera.connect() })
        #expect(error.code == .driver)
        #expect(error.sdkStatus == 20006)
        #expect(error.message.contains("DRV_ERROR_FILELOAD (20006)"))
        #expect(error.message.contains(standIn.root + "/missing"))
        #expect(Self.cameraError { _ = try camera.temperature() }?.code == .notConnected)
    }

    @Test func callsBeforeConnectAreRefused() throws {
        let standIn = try StandIn()
        let camera = standIn.camera()
        var buffer = [UInt16](repeating: 0, count: 4)
        let calls: [(String, () throws -> Void)] = [
            ("startAcquisition", { try camera.startAcquisition(Self.full(width: 2, height: 2)) }),
            ("acquisitionStatus", { _ = try camera.acquisitionStatus() }),
            ("waitForAcquisition", { _ = try camera.waitForAcquisition(timeout: 0.01) }),
            ("abortAcquisition", { try camera.abortAcquisition() }),
            ("readImage", { try buffer.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) } }),
            ("setCooler", { try camera.setCooler(on: true) }),
            ("setTemperatureSetpoint", { try camera.setTemperatureSetpoint(-10) }),
            ("temperature", { _ = try camera.temperature() }),
            ("setFanMode", { try camera.setFanMode(.low) }),
        ]
        for (name, call) in calls {
            let error = Self.cameraError(call)
            #expect(error?.code == .notConnected, "\(name)")
            #expect(error?.message.contains(name) == true, "\(name): \(error?.message ?? "")")
        }
        try camera.disconnect()  // No-op when not connected.
    }

    @Test func disconnectReleasesAndReconnectStartsAfresh() throws {
        let standIn = try StandIn()
        let camera = try standIn.connectedCamera()
        let settings = Self.full(width: 4, height: 2)
        _ = try Self.expose(camera, settings)
        try camera.disconnect()
        #expect(Self.cameraError { _ = try camera.temperature() }?.code == .notConnected)

        _ = try camera.connect()
        let pixels = try Self.expose(camera, settings)
        #expect(pixels.first == Self.ramp(x: 0, y: 0, width: 512, frame: 0), "frames count from Initialize again")
        try camera.disconnect()
    }

    // MARK: Exposures

    @Test func exposureWithSubframeAndBinningDeliversTheRamp() throws {
        let standIn = try StandIn()
        let camera = try standIn.connectedCamera()
        let settings = AcquisitionSettings(exposureTime: 0.2, shutter: .auto,
                                           subframe: Subframe(x: 10, y: 20, width: 100, height: 60),
                                           binX: 2, binY: 3, readoutMode: 2, gain: 1)
        let started = Date()
        try camera.startAcquisition(settings)
        #expect(try camera.acquisitionStatus() == .acquiring)
        #expect(try camera.waitForAcquisition(timeout: 0.01) == false)
        #expect(try Self.finish(camera))
        #expect(Date().timeIntervalSince(started) >= 0.19, "the SDK exposes for the exposure time")
        #expect(try camera.acquisitionStatus() == .idle)
        #expect(try camera.waitForAcquisition(timeout: 0.01), "the finished image stays ready")
        #expect(abs((camera.actualExposureTime ?? 0) - 0.2) < 1e-6)

        var pixels = [UInt16](repeating: 0, count: 50 * 20)
        try pixels.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) }
        var mismatches = 0
        for row in 0..<20 {
            for column in 0..<50 {
                let expected = Self.ramp(x: 10 + column * 2, y: 20 + row * 3, width: 512, frame: 0)
                if pixels[row * 50 + column] != expected { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
        #expect(pixels[0] == Self.ramp(x: 10, y: 20, width: 512, frame: 0))
        #expect(pixels[50 * 20 - 1] == Self.ramp(x: 108, y: 77, width: 512, frame: 0))

        // The next frame: full sensor, unbinned, a zero-second bias; the ramp moves by one.
        let full = try Self.expose(camera, Self.full())
        #expect(full.count == 512 * 512)
        #expect(full.enumerated().allSatisfy { index, value in
            value == Self.ramp(x: index % 512, y: index / 512, width: 512, frame: 1)
        })
        try camera.disconnect()
    }

    @Test func abortEndsALongExposureAtOnce() throws {
        let standIn = try StandIn()
        let camera = try standIn.connectedCamera()
        let settings = AcquisitionSettings(exposureTime: 5, shutter: .auto,
                                           subframe: Subframe(x: 0, y: 0, width: 64, height: 64))
        try camera.startAcquisition(settings)
        #expect(try camera.waitForAcquisition(timeout: 0.05) == false)

        let requested = Date()
        try camera.abortAcquisition()
        #expect(try camera.acquisitionStatus() == .idle)
        let latency = Date().timeIntervalSince(requested)
        #expect(latency < 0.1, "abort to idle took \(latency) s")

        #expect(try camera.waitForAcquisition(timeout: 0.05) == false, "an aborted acquisition has no image")
        var pixels = [UInt16](repeating: 0, count: 64 * 64)
        let error = Self.cameraError { try pixels.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) } }
        #expect(error?.code == .driver)
        #expect(error?.sdkStatus == 20024)
        try camera.abortAcquisition()  // Nothing to abort: DRV_IDLE counts as success.

        // The camera is usable again at once.
        let short = AcquisitionSettings(exposureTime: 0.05, shutter: .auto, subframe: settings.subframe)
        let next = try Self.expose(camera, short)
        #expect(next[0] == Self.ramp(x: 0, y: 0, width: 512, frame: 1))
        try camera.disconnect()
    }

    @Test func aSecondStartWhileExposingIsBusy() throws {
        let standIn = try StandIn()
        let camera = try standIn.connectedCamera()
        let first = AcquisitionSettings(exposureTime: 0.3, shutter: .auto, subframe: Subframe(x: 0, y: 0, width: 8, height: 8))
        try camera.startAcquisition(first)
        let error = Self.cameraError { try camera.startAcquisition(Self.full(width: 4, height: 4)) }
        #expect(error?.code == .busy)
        #expect(error?.sdkStatus == 20072)
        #expect(try Self.finish(camera), "the first acquisition carries on")
        var pixels = [UInt16](repeating: 0, count: 64)
        try pixels.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) }
        #expect(pixels[63] == Self.ramp(x: 7, y: 7, width: 512, frame: 0))
        try camera.disconnect()
    }

    @Test func readImageChecksTheBuffer() throws {
        let standIn = try StandIn()
        let camera = try standIn.connectedCamera()
        try camera.startAcquisition(Self.full(width: 10, height: 10))
        #expect(try Self.finish(camera))
        var small = [UInt16](repeating: 0, count: 99)
        let error = Self.cameraError { try small.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) } }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("99") == true)
        var right = [UInt16](repeating: 0, count: 100)
        try right.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) }
        #expect(right[99] == Self.ramp(x: 9, y: 9, width: 512, frame: 0))
        try camera.disconnect()
    }

    @Test func badSettingsAreRejectedNamingTheField() throws {
        let standIn = try StandIn()
        let camera = try standIn.connectedCamera()
        let area = Subframe(x: 0, y: 0, width: 100, height: 100)
        let cases: [(AcquisitionSettings, String)] = [
            (AcquisitionSettings(exposureTime: -1, shutter: .auto, subframe: area), "exposureTime"),
            (AcquisitionSettings(exposureTime: 1, shutter: .auto, subframe: Subframe(x: 0, y: 0, width: 101, height: 100), binX: 2),
             "multiple of the binning"),
            (AcquisitionSettings(exposureTime: 1, shutter: .auto, subframe: area, readoutMode: 9), "readoutMode"),
            (AcquisitionSettings(exposureTime: 1, shutter: .auto, subframe: area, gain: 3), "gain"),
            // Beyond the sensor: the SDK refuses hend (parameter 4).
            (AcquisitionSettings(exposureTime: 1, shutter: .auto, subframe: Subframe(x: 500, y: 0, width: 20, height: 10)),
             "DRV_P4INVALID (20069), parameter 4 (hend = 520) rejected"),
            // vend (parameter 6, DRV_P6INVALID: not adjacent to P4).
            (AcquisitionSettings(exposureTime: 1, shutter: .auto, subframe: Subframe(x: 0, y: 500, width: 10, height: 20)),
             "DRV_P6INVALID (20077), parameter 6 (vend = 520) rejected"),
        ]
        for (settings, expected) in cases {
            let error = Self.cameraError { try camera.startAcquisition(settings) }
            #expect(error?.code == .invalidArgument, "\(expected)")
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "") should mention \(expected)")
            #expect(try camera.acquisitionStatus() == .idle)
        }
        try camera.disconnect()
    }

    // MARK: Cooling

    @Test func aSetpointOutsideTheRangeIsRejected() throws {
        let standIn = try StandIn()
        let camera = try standIn.connectedCamera()
        let error = try #require(Self.cameraError { try camera.setTemperatureSetpoint(-150) })
        #expect(error.code == .invalidArgument)
        #expect(error.sdkStatus == 20066)
        #expect(error.message.contains("-150"))
        #expect(error.message.contains("DRV_P1INVALID"))
        #expect(try camera.temperature().setpoint == 20, "the set-point is unchanged")

        try camera.setTemperatureSetpoint(-20)
        #expect(try camera.temperature().setpoint == -20)
        try camera.disconnect()
    }

    @Test func coolingReachesAndHoldsTheSetpoint() throws {
        let standIn = try StandIn()
        let camera = try standIn.connectedCamera()
        try camera.setTemperatureSetpoint(-10)
        try camera.setCooler(on: true)
        var readings: [TemperatureStatus] = []
        for _ in 0..<8 { readings.append(try camera.temperature()) }
        #expect(readings.map(\.celsius) == [15, 10, 5, 0, -5, -10, -10, -10])
        #expect(readings.map(\.state) == [.notReached, .notReached, .notReached, .notReached, .notReached,
                                          .notStabilized, .notStabilized, .stabilized])
        #expect(readings.allSatisfy { $0.coolerOn && $0.setpoint == -10 && $0.coolerPower == nil })

        // Read during an exposure; the SDK refuses cooler changes then (DRV_ACQUIRING).
        try camera.startAcquisition(AcquisitionSettings(exposureTime: 0.3, shutter: .closed,
                                                        subframe: Subframe(x: 0, y: 0, width: 8, height: 8)))
        #expect(try camera.temperature().state == .stabilized)
        #expect(Self.cameraError { try camera.setCooler(on: false) }?.code == .busy)
        try camera.abortAcquisition()

        try camera.setCooler(on: false)
        let warming = try camera.temperature()
        #expect(warming.state == .off && !warming.coolerOn && warming.celsius == -5)
        try camera.setFanMode(.low)
        try camera.disconnect()
    }

    @Test func aTemperatureDriftIsAState() throws {
        let standIn = try StandIn()
        try standIn.configure("FAIL", "GetTemperatureF:20040")
        let camera = try standIn.connectedCamera()
        let reading = try camera.temperature()
        #expect(reading.state == .drifted)
        #expect(reading.celsius == 20)
        try camera.disconnect()
    }

    // MARK: SDK failures

    /// One failure injected into one SDK call, and what the driver must make of it.
    struct InjectedFailure: Sendable, CustomTestStringConvertible {
        var function: String
        var status: UInt32
        var code: CameraError.Code
        var name: String
        var testDescription: String { "\(function) -> \(name)" }
    }

    static let injectedFailures: [InjectedFailure] = [
        InjectedFailure(function: "Initialize", status: 20990, code: .notConnected, name: "DRV_ERROR_NOCAMERA"),
        InjectedFailure(function: "Initialize", status: 20089, code: .driver, name: "DRV_USBERROR"),
        InjectedFailure(function: "GetDetector", status: 20013, code: .driver, name: "DRV_ERROR_ACK"),
        InjectedFailure(function: "SetImage", status: 20067, code: .invalidArgument, name: "DRV_P2INVALID"),
        InjectedFailure(function: "SetShutter", status: 20013, code: .driver, name: "DRV_ERROR_ACK"),
        InjectedFailure(function: "SetHSSpeed", status: 20099, code: .invalidArgument, name: "DRV_BINNING_ERROR"),
        InjectedFailure(function: "StartAcquisition", status: 20072, code: .busy, name: "DRV_ACQUIRING"),
        InjectedFailure(function: "StartAcquisition", status: 20026, code: .driver, name: "DRV_SPOOLERROR"),
        InjectedFailure(function: "GetStatus", status: 20075, code: .notConnected, name: "DRV_NOT_INITIALIZED"),
        InjectedFailure(function: "WaitForAcquisitionTimeOut", status: 20082, code: .timeout, name: "DRV_I2CTIMEOUT"),
        InjectedFailure(function: "GetAcquiredData16", status: 20049, code: .driver, name: "DRV_GENERAL_ERRORS"),
        InjectedFailure(function: "AbortAcquisition", status: 20013, code: .driver, name: "DRV_ERROR_ACK"),
        InjectedFailure(function: "SetTemperature", status: 20991, code: .notSupported, name: "DRV_NOT_SUPPORTED"),
        InjectedFailure(function: "CoolerON", status: 20074, code: .busy, name: "DRV_TEMPCYCLE"),
        InjectedFailure(function: "GetTemperatureF", status: 20039, code: .notSupported, name: "DRV_TEMP_NOT_SUPPORTED"),
        InjectedFailure(function: "SetFanMode", status: 20066, code: .invalidArgument, name: "DRV_P1INVALID"),
        InjectedFailure(function: "ShutDown", status: 20123, code: .driver, name: "unknown SDK status"),
    ]

    @Test(arguments: injectedFailures)
    func injectedFailuresBecomeNamedErrors(_ failure: InjectedFailure) throws {
        let standIn = try StandIn()
        try standIn.configure("FAIL", "\(failure.function):\(failure.status)")
        let camera = standIn.camera()
        let settings = AcquisitionSettings(exposureTime: 0, shutter: .auto, subframe: Subframe(x: 0, y: 0, width: 4, height: 4))
        let error = try #require(Self.cameraError {
            _ = try camera.connect()
            switch failure.function {
            case "WaitForAcquisitionTimeOut":
                try camera.startAcquisition(settings)
                _ = try camera.waitForAcquisition(timeout: 0.01)
            case "GetAcquiredData16":
                _ = try Self.expose(camera, settings)
            case "AbortAcquisition": try camera.abortAcquisition()
            case "SetTemperature": try camera.setTemperatureSetpoint(-10)
            case "CoolerON": try camera.setCooler(on: true)
            case "GetTemperatureF": _ = try camera.temperature()
            case "SetFanMode": try camera.setFanMode(.off)
            case "ShutDown": try camera.disconnect()
            default: try camera.startAcquisition(settings)  // Initialize and GetDetector fail in connect.
            }
        })
        #expect(error.code == failure.code)
        #expect(error.sdkStatus == failure.status)
        #expect(error.message.contains("\(failure.function)("), "\(error.message)")
        #expect(error.message.contains("\(failure.name)"), "\(error.message)")
        #expect(error.message.contains("(\(failure.status))"), "\(error.message)")
        try? camera.disconnect()
    }

    // MARK: Return-code table

    @Test func statusTableNamesAndClassifiesCodes() {
        #expect(AndorStatus(20002).description == "DRV_SUCCESS (20002)")
        #expect(AndorStatus(20067).description == "DRV_P2INVALID (20067)")
        #expect(AndorStatus(20076).name == "DRV_P5INVALID" && AndorStatus(20077).name == "DRV_P6INVALID")
        #expect(AndorStatus(20070).name == "DRV_INIERROR", "20070 is not P5INVALID")
        #expect(AndorStatus(12345).description == "unknown SDK status (12345)")
        #expect([20066, 20067, 20068, 20069, 20076, 20077, 20083, 20087].map { AndorStatus($0).invalidParameterPosition }
            == [1, 2, 3, 4, 5, 6, 7, 11])
        #expect(AndorStatus(20070).invalidParameterPosition == nil)
        #expect(AndorStatus.names.count > 120)
        #expect(AndorStatus.names.values.allSatisfy { $0.hasPrefix("DRV_") || $0 == "KERN_MEM_ERROR" })
        #expect(AndorStatus(20075).errorCode == .notConnected)
        #expect(AndorStatus(20072).errorCode == .busy)
        #expect(AndorStatus(20078).errorCode == .invalidArgument)
        #expect(AndorStatus(20992).errorCode == .notSupported)
        #expect(AndorStatus(20003).errorCode == .driver)
        #expect(AndorSDK2Camera.speedName(megahertz: 0.05) == "50 kHz")
        #expect(AndorSDK2Camera.speedName(megahertz: 1) == "1.0 MHz")
    }

    // MARK: Hangs and crashes, in a process of their own

    /// The probe program in `directory`, run on a fresh stand-in copy with `environment` added.
    final class ProbeRun {
        let process = Process()
        let outputPath: String

        init(function: String, environment: [String: String], in standIn: StandIn) throws {
            let probe = try StandInLibrary.buildProbe(into: standIn.root)
            outputPath = standIn.root + "/probe-\(function).log"
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: probe)
            process.arguments = [standIn.libraryPath, function, standIn.configDirectory]
            var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ANDOR_STANDIN_") }
            env.merge(environment) { $1 }
            process.environment = env
            let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
            process.standardOutput = output
            process.standardError = output
            try process.run()
            try output.close()
        }

        var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

        /// Waits until `condition` holds or `seconds` pass; returns whether it held.
        func wait(_ seconds: Double, until condition: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while !condition() {
                if Date() >= deadline { return false }
                Thread.sleep(forTimeInterval: 0.01)
            }
            return true
        }

        /// Waits up to `seconds` for the process to exit.
        func waitForExit(_ seconds: Double) -> Bool { wait(seconds) { process.hasEnded } }

        deinit {
            if !process.hasEnded {
                kill(process.processIdentifier, SIGKILL)
                process.waitForExit()
            }
        }
    }

    @Test func theProbeCallsTheStandIn() throws {
        let standIn = try StandIn()
        let plain = try ProbeRun(function: "GetDetector", environment: ["ANDOR_STANDIN_WIDTH": "64", "ANDOR_STANDIN_HEIGHT": "48"],
                                 in: standIn)
        try #require(plain.waitForExit(10))
        #expect(!plain.process.endedBySignal && plain.process.waitForExit() == 0)
        #expect(plain.output.contains("detector 64 x 48"), "\(plain.output)")
        #expect(plain.output.contains("GetDetector returned 20002"))

        let failing = try ProbeRun(function: "GetStatus", environment: ["ANDOR_STANDIN_FAIL": "GetStatus:20013"], in: standIn)
        try #require(failing.waitForExit(10))
        #expect(failing.output.contains("GetStatus returned 20013"), "\(failing.output)")
    }

    @Test(arguments: ["GetStatus", "WaitForAcquisitionTimeOut", "Initialize"])
    func anInjectedHangBlocksTheCall(_ function: String) throws {
        let standIn = try StandIn()
        let run = try ProbeRun(function: function, environment: ["ANDOR_STANDIN_HANG": function], in: standIn)
        try #require(run.wait(10) { run.output.contains("calling \(function)") }, "\(run.output)")
        #expect(run.waitForExit(0.5) == false, "\(function) should block: \(run.output)")
        #expect(!run.output.contains("\(function) returned"))
        // SIGKILL, as a supervisor's last resort: a process started from the test runner
        // inherits a signal mask that blocks SIGTERM, so pause() would outlast a SIGTERM.
        kill(run.process.processIdentifier, SIGKILL)
        try #require(run.waitForExit(5))
        #expect(run.process.endedBySignal)
        #expect(run.process.waitForExit() == SIGKILL)
    }

    @Test(arguments: ["StartAcquisition", "GetTemperatureF", "Initialize"])
    func anInjectedCrashKillsTheProcess(_ function: String) throws {
        let standIn = try StandIn()
        let run = try ProbeRun(function: function, environment: ["ANDOR_STANDIN_CRASH": function], in: standIn)
        try #require(run.waitForExit(10), "the probe should have crashed: \(run.output)")
        #expect(run.process.endedBySignal)
        // SIGSEGV, or SIGABRT where SIGSEGV is blocked or handled (the stand-in then aborts).
        #expect([SIGSEGV, SIGABRT].contains(run.process.waitForExit()), "signal \(run.process.waitForExit())")
        #expect(run.output.contains("calling \(function)"))
        #expect(!run.output.contains("\(function) returned"))
    }
}
