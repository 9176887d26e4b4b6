import ApertureLogging
import Foundation
import Logging
import Testing

@Suite struct JournaldLogHandlerTests {
    @Test func metadataKeysBecomeValidJournalFieldNames() {
        #expect(JournaldLogHandler.fieldName(for: "exposure.id") == "APERTURE_EXPOSURE_ID")
        #expect(JournaldLogHandler.fieldName(for: "child") == "APERTURE_CHILD")
        #expect(JournaldLogHandler.fieldName(for: "child.pid") == "APERTURE_CHILD_PID")
        #expect(JournaldLogHandler.fieldName(for: "bus.endpoint-url") == "APERTURE_BUS_ENDPOINT_URL")
        // journald accepts only [A-Z0-9_], at most 64 bytes, not starting with '_' or a digit.
        for key in ["é", "9lives", "a b", String(repeating: "x", count: 100), "_private"] {
            let name = JournaldLogHandler.fieldName(for: key)
            #expect(name.count <= 64)
            #expect(name.allSatisfy { ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }, "\(name)")
            #expect(!name.hasPrefix("_") && !(name.first?.isNumber ?? true))
        }
    }

    @Test func levelsMapToSyslogPriorities() {
        #expect(JournaldLogHandler.priority(of: .critical) == 2)
        #expect(JournaldLogHandler.priority(of: .error) == 3)
        #expect(JournaldLogHandler.priority(of: .warning) == 4)
        #expect(JournaldLogHandler.priority(of: .notice) == 5)
        #expect(JournaldLogHandler.priority(of: .info) == 6)
        #expect(JournaldLogHandler.priority(of: .debug) == 7)
        #expect(JournaldLogHandler.priority(of: .trace) == 7)
    }

    @Test func theJournalIsUsedOnlyWhenJournalStreamNamesStderr() throws {
        #expect(!JournaldLogHandler.stderrIsJournal(environment: [:]))
        #expect(!JournaldLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "1:2"]))
        #expect(!JournaldLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "garbage"]))
        var info = stat()
        try #require(fstat(STDERR_FILENO, &info) == 0)
        #expect(JournaldLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino)"]))
    }
}
