import ApertureProtocol
import Bus
import CameraCore
@testable import CameraService
import Foundation
import Synchronization
import Testing

/// `withTimeout` and `ResumeOnce`: a caller waiting on a camera that does not answer moves on.
@Suite struct TimeoutTests {
    @Test func anAnswerWithinTheLimitIsReturned() async throws {
        let value = try await withTimeout(.seconds(10), "a quick read") { () async throws(CameraError) -> Int in 42 }
        #expect(value == 42)
    }

    @Test func noAnswerWithinTheLimitIsATimeoutNamingWhatWasWaitedFor() async throws {
        let answered = Mutex(false)
        let error = await #expect(throws: CameraError.self) {
            try await withTimeout(.milliseconds(50), "temperature read") { () async throws(CameraError) -> Int in
                try? await Task.sleep(for: .seconds(30))
                answered.withLock { $0 = true }
                return 1
            }
        }
        #expect(error?.code == .timeout)
        #expect(error?.message.hasPrefix("temperature read: no answer from the camera within") == true)
        // The caller moved on before the operation answered (whatever the load on the machine).
        #expect(answered.withLock { $0 } == false)
    }

    @Test func theOperationsOwnErrorComesThroughUnchanged() async throws {
        let error = await #expect(throws: CameraError.self) {
            try await withTimeout(.seconds(10), "cool") { () async throws(CameraError) -> Int in
                throw CameraError(.driver, "CoolerON failed", sdkStatus: 20075)
            }
        }
        #expect(error == CameraError(.driver, "CoolerON failed", sdkStatus: 20075))
    }

    @Test func onlyTheFirstResumeCounts() async {
        let once = ResumeOnce<String>()
        let value = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            once.arm(continuation)
            once.resume("first")
            once.resume("second")
        }
        #expect(value == "first")
    }
}
