import ApertureProtocol
import Bus
import CameraCore
import FITSStorage
import FrameAnalysis
import Foundation
import ProcessorService
import Testing

/// The real camera, processor and supervisor: frames go through the shared-memory ring and are
/// analysed live.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ProcessorEndToEndTests {
    static let environment = [
        "APERTURE_CAMERA_TIME_SCALE": "0.01",
        "APERTURE_CAMERA_WIDTH": "512",
        "APERTURE_CAMERA_HEIGHT": "512",
    ]

    /// Starts the whole service and returns clients for the camera and the processor.
    func start() async throws -> (ServiceHarness, RequestClient, RequestClient) {
        let service = try ServiceHarness("aperture", environment: Self.environment)
        _ = try await service.gatewayAddress()
        let camera = try RequestClient(dialing: service.runtime.endpoint(EndpointName.cameraControl))
        let processor = try RequestClient(dialing: service.runtime.endpoint(EndpointName.processorControl))
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let status = try? await camera.call(CameraStatusCommand.self, timeout: .seconds(1)), status.connected,
               (try? await processor.call(Ping.self, timeout: .seconds(1))) != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return (service, camera, processor)
    }

    func expose(_ camera: RequestClient, _ request: ExposureRequest) async throws -> ExposureRecord {
        var record = try await camera.call(ExposeCommand.self, request)
        while record.status == .running {
            try await Task.sleep(for: .milliseconds(20))
            record = try await camera.call(ExposureQueryCommand.self, .init(id: record.id))
        }
        return record
    }

    func results(_ processor: RequestClient, of id: String, count: Int) async throws -> [ProcessorResult] {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let results = try await processor.call(ResultsCommand.self, .init(exposureId: id)).results
            if results.count >= count { return results }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the processor did not produce \(count) result(s) for \(id)")
        throw CancellationError()
    }

    @Test func everySavedFrameIsAnalysedAndTheStatisticsMatchTheFile() async throws {
        let (service, camera, processor) = try await start()
        defer { camera.close(); processor.close(); service.cleanup() }
        _ = try await processor.call(SetROICommand.self, .init(which: .signal, roi: [100, 200, 50, 100]))
        _ = try await processor.call(SetROICommand.self, .init(which: .background, roi: [0, 200, 400, 100]))
        let record = try await expose(camera, ExposureRequest(type: .object, time: 10, count: 3))
        #expect(record.status == .completed)
        let results = try await results(processor, of: record.id, count: 3)
        #expect(results.map(\.frame) == [1, 2, 3])

        // Independently: the FITS file's pixels give the same statistics.
        let file = try FITSFile.read(path: record.files[2].path)
        let analysis = results[2].analysis
        let total = file.pixels.reduce(0) { $0 + Int($1) }
        #expect(analysis.total == total)
        #expect(abs((analysis.mean ?? 0) - Double(total) / Double(file.pixels.count)) < 1e-6)
        #expect(analysis.minMax?.minimum == Int(file.pixels.min()!))
        #expect(analysis.minMax?.maximum == Int(file.pixels.max()!))
        // The signal ROI's x-profile is the column sums over its rows.
        var expected = [Double](repeating: 0, count: 200)
        for y in 50..<150 { for x in 100..<300 { expected[x - 100] += Double(file.pixels[y * 512 + x]) } }
        #expect(analysis.roiSignalXProfile == expected)
        #expect(analysis.backgroundSubtractedSignal?.count == 200)

        let statistics = try await processor.call(StatisticsCommand.self)
        #expect(statistics.framesProcessed >= 3)
        #expect(statistics.framesDropped == 0)
        #expect(statistics.lastFrameId == "\(record.id)/3")
        #expect(statistics.meanLatency != nil)
    }

    @Test func invalidROIsAreRefusedNamingTheRule() async throws {
        let (service, camera, processor) = try await start()
        defer { camera.close(); processor.close(); service.cleanup() }
        _ = try await expose(camera, ExposureRequest(type: .bias, time: 0))
        _ = try await results(processor, of: try await camera.call(ExposureListCommand.self).exposures.last!.id, count: 1)
        let cases: [([Int], String)] = [
            ([0, 600, 0, 10], "exceeds the sensor width 512"),
            ([0, 10, 505, 10], "exceeds the sensor height 512"),
            ([-1, 10, 0, 10], "offset_x"),
            ([0, 0, 0, 10], "size_x"),
            ([1, 2, 3], "4"),
        ]
        for (roi, expected) in cases {
            let error = await #expect(throws: BusError.self) {
                _ = try await processor.call(SetROICommand.self, .init(which: .signal, roi: roi))
            }
            #expect(error?.code == .invalidArgument, "\(roi)")
            #expect(error?.message.contains(expected) == true, "\(roi): \(error?.message ?? "")")
        }
        #expect(try await processor.call(GetROICommand.self, .init(which: .signal)).roi == nil)
        _ = try await processor.call(SetROICommand.self, .init(which: .signal, roi: [0, 10, 0, 10]))
        let disabled = try await processor.call(SetROICommand.self, .init(which: .signal, roi: []))
        #expect(disabled.roi == nil)
    }

    @Test func aFocusSeriesOnTheSimulatorFindsItsBestFocus() async throws {
        let (service, camera, processor) = try await start()
        defer { camera.close(); processor.close(); service.cleanup() }
        var configuration = try await processor.call(ConfigurationCommand.self)
        configuration.focus = true
        _ = try await processor.call(ConfigureCommand.self, configuration)
        var ids: [String] = []
        for position in stride(from: 4400, through: 5600, by: 200) {
            let record = try await expose(camera, ExposureRequest(type: .object, time: 20, comment: "focus: \(position)"))
            #expect(record.status == .completed)
            ids.append(record.id)
        }
        _ = try await results(processor, of: ids.last!, count: 1)
        let fit = try await processor.call(FocusFitCommand.self, .init(exposureIds: ids))
        #expect(fit.samples.count == 7)
        // The simulator's best focus is 5000 (SimulatedCamera.Configuration.bestFocus).
        #expect(abs(fit.fit.bestFocus - 5000) < 50, "fitted best focus \(fit.fit.bestFocus)")
    }

    @Test func theProcessorFollowsARestartedCamera() async throws {
        let (service, camera, processor) = try await start()
        defer { camera.close(); processor.close(); service.cleanup() }
        let first = try await expose(camera, ExposureRequest(type: .bias, time: 0))
        _ = try await results(processor, of: first.id, count: 1)
        let supervisor = try RequestClient(dialing: service.runtime.endpoint(EndpointName.supervisorControl))
        defer { supervisor.close() }
        _ = try await supervisor.call(SupervisorRestartCommand.self, .init(child: "camera"), timeout: .seconds(60))
        let deadline = Date().addingTimeInterval(30)
        while (try? await camera.call(CameraStatusCommand.self, timeout: .seconds(1)))?.connected != true, Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let second = try await expose(camera, ExposureRequest(type: .bias, time: 0))
        let results = try await results(processor, of: second.id, count: 1)
        #expect(results.first?.analysis.mean.map { $0 > 0 } == true)
    }

    @Test func theGatewayServesTheLatestFrameFromTheRing() async throws {
        let (service, camera, processor) = try await start()
        defer { camera.close(); processor.close(); service.cleanup() }
        let address = try await service.gatewayAddress()
        let (emptyCode, _) = try await ServiceHarness.get(address, "/v1/frames/latest")
        #expect(emptyCode == 404)
        let record = try await expose(camera, ExposureRequest(type: .flat, time: 1))
        let file = try FITSFile.read(path: try #require(record.files.first?.path))

        let url = URL(string: "http://\(address)/v1/frames/latest")!
        let (data, response) = try await URLSession.shared.data(from: url)
        let http = try #require(response as? HTTPURLResponse)
        #expect(http.statusCode == 200)
        #expect(http.value(forHTTPHeaderField: "X-Exposure-Id") == record.id)
        #expect(http.value(forHTTPHeaderField: "X-Frame-Width") == "512")
        let pixels = data.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)).map { UInt16(littleEndian: $0) } }
        #expect(pixels == file.pixels)

        let (jsonCode, json) = try await ServiceHarness.get(address, "/v1/frames/latest?format=json")
        #expect(jsonCode == 200)
        let header = try JSONSerialization.jsonObject(with: json) as? [String: Any]
        #expect((header?["metadata"] as? [String: Any])?["exposure_id"] as? String == record.id)
    }
}

extension ProcessorEndToEndTests {
    @Test func aPythonPeerReadsTheLatestFrameFromTheRing() async throws {
        let (service, camera, processor) = try await start()
        defer { camera.close(); processor.close(); service.cleanup() }
        let record = try await expose(camera, ExposureRequest(type: .object, time: 2))
        let file = try FITSFile.read(path: try #require(record.files.first?.path))
        let script = try #require(Bundle.module.path(forResource: "ring_reader", ofType: "py", inDirectory: "Python"))
        let output = service.root + "/latest.raw"
        let reader = try runToExit("/usr/bin/env", ["python3", script, service.runtime.path + "/" + EndpointName.cameraFrames, output])
        #expect(reader.status == 0, "ring_reader.py: \(reader.stderr)")
        let header = try JSONSerialization.jsonObject(with: Data(reader.stdout.utf8)) as? [String: Any]
        #expect(header?["exposure_id"] as? String == record.id)
        #expect(header?["width"] as? Int == 512)
        #expect(header?["top_down"] as? Bool == true)
        let data = try #require(FileManager.default.contents(atPath: output))
        let pixels = data.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)).map { UInt16(littleEndian: $0) } }
        #expect(pixels == file.pixels)
    }
}

#if canImport(FoundationNetworking)
import FoundationNetworking
import ProcessTestSupport
#endif
