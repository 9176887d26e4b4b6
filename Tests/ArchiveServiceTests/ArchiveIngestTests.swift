import ApertureProtocol
import ArchiveService
import ArchiveTestSupport
import Foundation
import Testing

/// The archive's store and ingest against a real PostgreSQL (started once by
/// PostgresTestSupport) and a scratch central root, with messages made by hand.
@Suite(.timeLimit(.minutes(5))) struct ArchiveIngestTests {
    // MARK: The store.

    @Test func theSchemaIsMigratedOnceAndRecordsItsVersion() async throws {
        let archive = try await TestArchive.start()
        defer { archive.stop() }
        // A second start (another archive, or a restart) applies nothing again.
        #expect(try await archive.parts.store.migrate() == 1)
        #expect(try await archive.sql("SELECT string_agg(version::text, ',') FROM schema_version") == "1")
        #expect(try await archive.parts.store.schemaVersion() == 1)
    }

    @Test func anUpsertIsIdempotentAndAnOlderRevisionChangesNothing() async throws {
        let archive = try await TestArchive.start()
        defer { archive.stop() }
        let store = archive.parts.store
        let frame = ExportedFrame()
        guard case .inserted(let id) = try await store.upsert(frame.export, centralPath: "north/cam1/" + frame.path) else {
            Issue.record("the first upsert did not insert")
            return
        }
        // The same row again: one row, same id, nothing new.
        #expect(try await store.upsert(frame.export, centralPath: "north/cam1/" + frame.path) == .updated(id))
        #expect(try await archive.sql("SELECT COUNT(*) FROM frames") == "1")

        // Revision 3 (the processor's figures) updates the row...
        var newer = frame.export
        newer.revision = 3
        newer.row.fwhm = 2.5
        newer.row.nstars = 40
        #expect(try await store.upsert(newer, centralPath: "north/cam1/" + frame.path) == .updated(id))
        // ...and a late re-send of revision 2 changes nothing.
        var older = frame.export
        older.revision = 2
        older.row.fwhm = 9.9
        #expect(try await store.upsert(older, centralPath: "north/cam1/" + frame.path) == .unchanged)
        #expect(try await archive.sql("SELECT revision, fwhm, nstars FROM frames") == "3|2.5|40")
        let (row, central) = try await store.frame(id: id)
        #expect(row.fwhm == 2.5 && row.site == "north" && row.camera == "cam1" && central == "north/cam1/" + frame.path)
        #expect(row.headers?["OBJECT"] == "M42")

        // The same path from another camera is another row.
        let other = ExportedFrame(camera: "cam2")
        guard case .inserted = try await store.upsert(other.export, centralPath: "north/cam2/" + other.path) else {
            Issue.record("another camera's frame did not insert")
            return
        }
        #expect(try await archive.sql("SELECT COUNT(*) FROM frames") == "2")
    }

    // MARK: The ingest.

    @Test func chunksOutOfOrderAndDuplicatedMakeOneFileAndOneRowBitExact() async throws {
        let archive = try await TestArchive.start()
        defer { archive.stop() }
        let frame = ExportedFrame(bytes: 4500, chunkBytes: 1000)
        #expect(frame.chunks.count == 5)
        let c = frame.chunks
        // The row first, chunks backwards, two of them twice (redelivered: other deliveries).
        let redelivered = [c[2], c[4]].map { TestMessage(headers: $0.headers, data: $0.data) }
        await archive.feed([frame.row, c[4], c[2], redelivered[0], c[0], c[3], redelivered[1]])
        #expect(archive.centralFile(frame) == nil, "stored before its last chunk came")
        #expect((frame.messages + redelivered).allSatisfy { $0.outcome == .none }, "acknowledged before the frame was stored")
        await archive.feed([c[1]])

        #expect(archive.centralFile(frame) == frame.file)
        #expect(archive.files() == ["north/cam1/20261205/image-0001.fits"])
        #expect(archive.spoolFiles().isEmpty)
        #expect(try await archive.sql("SELECT COUNT(*), MIN(sha256), MIN(bytes) FROM frames") == "1|\(frame.sha256)|4500")
        // Every message of the frame acknowledged, each delivery once.
        #expect((frame.messages + redelivered).allSatisfy { $0.outcomes == [.ack] }, "\(frame.messages.map(\.outcomes))")

        // The whole frame sent again (the exporter did not hear the acks): nothing new.
        let again = ExportedFrame(bytes: 4500, chunkBytes: 1000)
        await archive.feed(again.chunks.reversed() + [again.row])
        #expect(again.messages.allSatisfy { $0.outcome == .ack })
        #expect(try await archive.sql("SELECT COUNT(*) FROM frames") == "1")
        #expect(archive.files() == ["north/cam1/20261205/image-0001.fits"])
        #expect(archive.centralFile(frame) == frame.file)
    }

    @Test func aLaterRevisionUpdatesTheRowWithoutItsChunks() async throws {
        let archive = try await TestArchive.start()
        defer { archive.stop() }
        let frame = ExportedFrame()
        await archive.feed(frame.messages)
        #expect(frame.row.outcome == .ack)
        let revision = frame.rowMessage(revision: 2) { $0.fwhm = 3.25 }
        await archive.feed([revision])
        #expect(revision.outcome == .ack)
        #expect(try await archive.sql("SELECT COUNT(*), MAX(revision), MAX(fwhm) FROM frames") == "1|2|3.25")
    }

    @Test func aCorruptChunkIsAHashMismatchNeverStoredNorAcknowledged() async throws {
        let archive = try await TestArchive.start()
        defer { archive.stop() }
        let good = ExportedFrame()
        var bytes = good.chunks[1].data
        bytes[17] ^= 0xFF
        let corrupt = TestMessage(headers: good.chunks[1].headers, data: bytes)
        let messages = [good.chunks[0], corrupt, good.chunks[2], good.row]
        await archive.feed(messages)

        #expect(messages.allSatisfy { $0.outcome == .term }, "\(messages.map(\.outcomes))")
        #expect(!messages.contains { $0.outcomes.contains(.ack) })
        #expect(archive.files().isEmpty)
        #expect(archive.spoolFiles().isEmpty)
        #expect(try await archive.sql("SELECT COUNT(*) FROM frames") == "0")
        #expect(try await archive.sql("SELECT kind, path, sha256, count FROM problems")
                == "hash_mismatch|20261205/image-0001.fits|\(good.sha256)|1")
        let problems = try await archive.parts.store.problems(kind: .hashMismatch, limit: 10)
        #expect(problems.first?.detail.contains(good.sha256) == true)
    }

    @Test func anIncompleteFrameIsReportedAndItsRowSentBackNeverAcknowledged() async throws {
        // A timeout long enough that a loaded machine cannot pass it between the feed and the
        // first sweep; the second sweep is told a time past it.
        let archive = try await TestArchive.start(incompleteTimeout: .seconds(60))
        defer { archive.stop() }
        let frame = ExportedFrame(bytes: 3000, chunkBytes: 1000)
        await archive.feed([frame.chunks[0], frame.chunks[2], frame.row])
        // Within the timeout nothing happens.
        await archive.parts.ingest.sweep()
        #expect(frame.row.outcome == .none)
        await archive.parts.ingest.sweep(now: .now + .seconds(61))
        #expect(frame.row.outcomes == [.nak])
        #expect(frame.chunks.allSatisfy { !$0.outcomes.contains(.ack) })
        #expect(archive.files().isEmpty)
        #expect(try await archive.sql("SELECT COUNT(*) FROM frames") == "0")
        let problems = try await archive.parts.store.problems(kind: .incomplete, limit: 10)
        #expect(problems.count == 1)
        #expect(problems.first?.detail.contains("2 of 3 chunks") == true, "\(problems)")
        #expect(problems.first?.detail.contains("missing 1") == true, "\(problems)")

        // The row comes again, then the missing chunk: stored, every message acknowledged,
        // the problem marked resolved.
        let again = frame.rowMessage(revision: 1)
        await archive.feed([again, frame.chunks[1]])
        #expect(archive.centralFile(frame) == frame.file)
        #expect([frame.chunks[0], frame.chunks[1], frame.chunks[2], again].allSatisfy { $0.outcome == .ack })
        #expect(try await archive.parts.store.problems(kind: .incomplete, limit: 10).first?.resolved != nil)
    }

    @Test func hostilePathsAreRefusedAndNothingIsWrittenOutsideTheRoot() async throws {
        let archive = try await TestArchive.start()
        defer { archive.stop() }
        let outside = URL(fileURLWithPath: archive.root).deletingLastPathComponent().path
        for path in ["../../../tmp/evil.fits", "/etc/evil.fits", "20261205/../../evil.fits", "20261205/sub/evil.fits",
                     "2026120/evil.fits", "20261205/evil.sh", "20261205/.hidden.fits", "20261205/..fits"] {
            let frame = ExportedFrame(path: path)
            await archive.feed(frame.messages)
            #expect(frame.messages.allSatisfy { $0.outcome == .term }, "\(path): \(frame.messages.map(\.outcomes))")
        }
        #expect(archive.files().isEmpty)
        #expect(archive.spoolFiles().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: outside + "/evil.fits"))
        #expect(try await archive.sql("SELECT COUNT(*) FROM frames") == "0")
        let problems = try await archive.parts.store.problems(kind: .invalid, limit: 100)
        #expect(problems.count == 8)
        #expect(problems.allSatisfy { $0.detail.contains("is not YYYYMMDD/NAME.fits") })

        // A row whose own path differs from its headers' is refused too.
        let frame = ExportedFrame()
        var export = frame.export
        export.row.path = "../evil.fits"
        let lying = TestMessage(headers: frame.row.headers, data: Array(try JSONEncoder().encode(export)))
        await archive.feed(frame.chunks + [lying])
        #expect(lying.outcome == .term)
        #expect(archive.files().isEmpty)
    }

    @Test func aPathHeldByOtherBytesIsAConflictAndNeverOverwritten() async throws {
        let archive = try await TestArchive.start()
        defer { archive.stop() }
        let first = ExportedFrame(seed: 1)
        await archive.feed(first.messages)
        #expect(first.row.outcome == .ack)
        let second = ExportedFrame(seed: 2)
        #expect(second.sha256 != first.sha256)
        await archive.feed(second.messages)
        #expect(second.messages.allSatisfy { $0.outcome == .term })
        #expect(archive.centralFile(first) == first.file)
        #expect(try await archive.sql("SELECT COUNT(*), MIN(sha256) FROM frames") == "1|\(first.sha256)")
        #expect(try await archive.sql("SELECT kind, sha256 FROM problems") == "conflict|\(second.sha256)")
    }

    @Test func chunksThatDoNotCutTheFileAreRefused() async throws {
        let archive = try await TestArchive.start()
        defer { archive.stop() }
        let frame = ExportedFrame(bytes: 2500, chunkBytes: 1000)
        var headers = frame.chunks[0].headers
        headers[FrameExport.chunkHeader] = "5/3"
        let outOfRange = TestMessage(headers: headers, data: frame.chunks[0].data)
        headers[FrameExport.chunkHeader] = "0/3"
        let tooShort = TestMessage(headers: headers, data: Array(frame.chunks[0].data.prefix(10)))
        headers[FrameExport.bytesHeader] = "-4"
        let negative = TestMessage(headers: headers, data: frame.chunks[0].data)
        await archive.feed([outOfRange, tooShort, negative])
        #expect([outOfRange, tooShort, negative].allSatisfy { $0.outcome == .term })
        #expect(archive.spoolFiles().isEmpty)
        // One problem for the frame, seen three times, with the last reason.
        let problems = try await archive.parts.store.problems(kind: .invalid, limit: 10)
        #expect(problems.count == 1 && problems.first?.count == 3, "\(problems)")
        #expect(problems.first?.detail.contains("Aperture-Bytes '-4' is not a size in bytes") == true, "\(problems)")
    }
}
