import Foundation
import Synchronization
import Testing
@testable import FITSStorage
#if canImport(Glibc)
import Glibc
#endif

/// 2026-11-21T23:59:59.9Z: a tenth of a second before the UTC date changes.
let justBeforeMidnight = Date(timeIntervalSince1970: 1_795_305_599.9)

let frameCards = [
    FITSCard("DATE-OBS", .date(justBeforeMidnight)),
    FITSCard("EXPTIME", .double(0.5)),
    FITSCard("ROWORDER", .string("TOP-DOWN")),
]

extension FrameStore {
    /// Saves a small pattern frame (seeded so that each frame's content is recognisable).
    func saveSample(seed: UInt32 = 0, width: Int = 64, height: Int = 48, date: Date = justBeforeMidnight, firstNumber: Int? = nil) throws(StorageError) -> SavedFile {
        let pixels = patternImage(width: width, height: height, seed: seed)
        let result = pixels.withUnsafeBufferPointer { buffer in
            Result { () throws(StorageError) in
                try save(pixels: buffer, width: width, height: height, cards: frameCards, comments: ["seed \(seed)"], date: date, firstNumber: firstNumber)
            }
        }
        return try result.get()
    }
}

func touch(_ path: String, _ text: String = "by hand") throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

@Suite("Frame store")
struct FrameStoreTests {
    @Test("frames land in ROOT/YYYYMMDD (UTC) as PREFIX-0001.fits, PREFIX-0002.fits, ... with the given content")
    func firstFrames() throws {
        try withTemporaryFolder { folder in
            let store = FrameStore(root: folder + "/data/", prefix: "image")
            let first = try store.saveSample(seed: 1)
            let second = try store.saveSample(seed: 2)
            #expect(first.path == folder + "/data/20261121/image-0001.fits")
            #expect(second.path == folder + "/data/20261121/image-0002.fits")
            #expect(first.bytes == 2880 + 2880 * 3, "a one-block header and 6144 bytes of pixels in 3 blocks")
            #expect(try FileManager.default.attributesOfItem(atPath: first.path)[.size] as? Int == first.bytes)
            #expect(try FITSFile.read(path: second.path).pixels == patternImage(seed: 2))
            #expect(try FITSFile.verifyChecksums(path: first.path) == (1, 1))
            #expect(entries(folder + "/data/20261121") == ["image-0001.fits", "image-0002.fits"], "no temporary file left")
            var info = stat()
            stat(folder + "/data/20261121", &info)
            #expect(info.st_mode & 0o777 == 0o755)
        }
    }

    @Test("the date folder rolls over at midnight UTC")
    func utcDateFolder() throws {
        try withTemporaryFolder { folder in
            let store = FrameStore(root: folder, prefix: "image")
            #expect(store.folder(for: justBeforeMidnight) == folder + "/20261121")
            #expect(store.folder(for: justBeforeMidnight.addingTimeInterval(0.2)) == folder + "/20261122")
            let before = try store.saveSample(date: justBeforeMidnight)
            let after = try store.saveSample(date: justBeforeMidnight.addingTimeInterval(0.2))
            #expect(before.path == folder + "/20261121/image-0001.fits")
            #expect(after.path == folder + "/20261122/image-0001.fits", "numbering starts again in a new folder")
        }
    }

    @Test("numbering continues from the highest number in the folder, whatever else is there")
    func continuesFromHighest() throws {
        try withTemporaryFolder { folder in
            let day = folder + "/20261121"
            try FileManager.default.createDirectory(atPath: day, withIntermediateDirectories: true)
            for name in ["image-0007.fits", "image-0002.fits", "image-abc.fits", "other-0100.fits", "image-0090.fit",
                         ".image-0050.fits.tmp-1-ab", "image-0060.fits.bak"] {
                try touch(day + "/" + name)
            }
            let store = FrameStore(root: folder, prefix: "image")
            #expect(try store.saveSample().path == day + "/image-0008.fits")
            #expect(try String(contentsOfFile: day + "/image-0007.fits", encoding: .utf8) == "by hand")
        }
    }

    @Test("more than 9999 frames: PREFIX-10000.fits")
    func fiveDigits() throws {
        try withTemporaryFolder { folder in
            let day = folder + "/20261121"
            try FileManager.default.createDirectory(atPath: day, withIntermediateDirectories: true)
            try touch(day + "/image-9999.fits")
            let store = FrameStore(root: folder, prefix: "image")
            #expect(try store.saveSample().path == day + "/image-10000.fits")
            #expect(try store.saveSample().path == day + "/image-10001.fits")
        }
    }

    @Test("a name taken after the folder was scanned is skipped, never overwritten")
    func neverOverwrites() throws {
        try withTemporaryFolder { folder in
            let day = folder + "/20261121"
            try FileManager.default.createDirectory(atPath: day, withIntermediateDirectories: true)
            try touch(day + "/image-0003.fits", "three")
            try touch(day + "/image-0004.fits", "four")
            let store = FrameStore(root: folder, prefix: "image")
            // As if the scan had found 2 and others created 3 and 4 while this frame was written.
            let saved = try store.saveSample(firstNumber: 3)
            #expect(saved.path == day + "/image-0005.fits")
            #expect(try String(contentsOfFile: day + "/image-0003.fits", encoding: .utf8) == "three")
            #expect(try String(contentsOfFile: day + "/image-0004.fits", encoding: .utf8) == "four")
            #expect(entries(day) == ["image-0003.fits", "image-0004.fits", "image-0005.fits"])
        }
    }

    @Test("rename without replacing: renameat2 and the link fallback both refuse an existing name",
          arguments: [true, false])
    func renameWithoutReplacing(renameat2: Bool) throws {
        try withTemporaryFolder { folder in
            try touch(folder + "/source", "new")
            try touch(folder + "/taken", "old")
            #expect(POSIXFile.renameWithoutReplacing(folder + "/source", folder + "/taken", allowRenameat2: renameat2) == EEXIST)
            #expect(try String(contentsOfFile: folder + "/taken", encoding: .utf8) == "old")
            #expect(POSIXFile.renameWithoutReplacing(folder + "/source", folder + "/free", allowRenameat2: renameat2) == 0)
            #expect(entries(folder) == ["free", "taken"])
        }
    }

    @Test("four threads saving into one folder get distinct names with no gaps and nothing overwritten")
    func concurrentSaves() throws {
        try withTemporaryFolder { folder in
            let threads = 4
            let perThread = 12
            let saved = Mutex<[String]>([])
            let failures = Mutex<[String]>([])
            let group = DispatchGroup()
            for thread in 0..<threads {
                group.enter()
                let worker = Thread {
                    // A FrameStore value per thread, as separate processes would have.
                    let store = FrameStore(root: folder, prefix: "image")
                    for frame in 0..<perThread {
                        do {
                            let file = try store.saveSample(seed: UInt32(thread * 100 + frame))
                            saved.withLock { $0.append(file.path) }
                        } catch {
                            failures.withLock { $0.append("\(error)") }
                        }
                    }
                    group.leave()
                }
                worker.start()
            }
            group.wait()
            #expect(failures.withLock { $0 }.isEmpty)
            let paths = saved.withLock { $0 }
            let day = folder + "/20261121"
            let expected = (1...(threads * perThread)).map { day + "/image-" + String(format: "%04d", $0) + ".fits" }
            #expect(paths.sorted() == expected)
            #expect(entries(day).count == threads * perThread, "no temporary files left")
            // Every frame is there, once: nothing was overwritten.
            var seeds: Set<UInt32> = []
            for path in paths {
                let comment = try #require(FITSFile.read(path: path).header["COMMENT"]?.split(separator: "\n").last)
                seeds.insert(try #require(UInt32(comment.dropFirst("seed ".count))))
            }
            #expect(seeds.count == threads * perThread)
        }
    }

    @Test("a bad prefix is refused before anything is created")
    func badPrefix() throws {
        try withTemporaryFolder { folder in
            for prefix in ["", ".hidden", "a/b"] {
                let store = FrameStore(root: folder + "/data", prefix: prefix)
                #expect(throws: StorageError.self) { try store.saveSample() }
            }
            #expect(entries(folder).isEmpty)
        }
    }

    @Test("a data root that cannot be created fails with the folder and the reason, leaving nothing")
    func uncreatableFolder() throws {
        try withTemporaryFolder { folder in
            // A path under a regular file: fails for root too (ENOTDIR), unlike chmod.
            try touch(folder + "/plain-file")
            let store = FrameStore(root: folder + "/plain-file/data", prefix: "image")
            do {
                _ = try store.saveSample()
                Issue.record("save under a regular file succeeded")
            } catch let error as StorageError {
                #expect(error.errnoValue == ENOTDIR)
                #expect(error.message.contains(folder + "/plain-file/data"), "\(error.message)")
                #expect(error.message.contains("Not a directory"), "\(error.message)")
            }
            #expect(entries(folder) == ["plain-file"])
        }
    }

    @Test("a folder that cannot be written (read-only file system as root, mode 0500 otherwise) fails cleanly")
    func unwritableFolder() throws {
        try withTemporaryFolder { folder in
            let root = folder + "/data"
            try FileManager.default.createDirectory(atPath: root + "/20261121", withIntermediateDirectories: true)
            let expected: Int32
            if geteuid() == 0 {
                // chmod does not stop root: use a read-only tmpfs where the container allows mounts.
                guard mountTmpfs(at: root, options: "ro,size=1M") else {
                    print("unwritable-folder test: not permitted to mount a read-only tmpfs as root; skipped")
                    return
                }
                expected = EROFS
            } else {
                chmod(root + "/20261121", 0o500)
                expected = EACCES
            }
            defer {
                unmount(root)
                chmod(root + "/20261121", 0o755)
            }
            let store = FrameStore(root: root, prefix: "image")
            do {
                _ = try store.saveSample()
                Issue.record("save into an unwritable folder succeeded")
            } catch let error as StorageError {
                #expect(error.errnoValue == expected, "\(error.message)")
                #expect(error.message.contains(root + "/20261121"), "\(error.message)")
            }
            #expect(entries(root).allSatisfy { !$0.hasSuffix(".fits") && !$0.contains(".tmp-") })
        }
    }

    @Test("a full disk fails with 'No space left', leaves no file, and the store stays usable")
    func diskFull() throws {
        try withTemporaryFolder { folder in
            let root = folder + "/small"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let store = FrameStore(root: root, prefix: "image")
            let day = root + "/20261121"
            if mountTmpfs(at: root, options: "size=1M,mode=0755") {
                print("disk-full test: a 1 MiB tmpfs")
                defer { unmount(root) }
                do {
                    _ = try store.saveSample(width: 1024, height: 1024)  // 2 MiB
                    Issue.record("a 2 MiB frame fitted on a 1 MiB file system")
                } catch let error as StorageError {
                    #expect(error.errnoValue == ENOSPC)
                    #expect(error.message.contains("No space left"), "\(error.message)")
                    #expect(error.message.contains(day + "/.image-0001.fits.tmp-"), "\(error.message)")
                }
                #expect(entries(day).isEmpty, "nothing left, not even the temporary file: \(entries(day))")
                // The camera stays usable: a frame that fits is saved, with the first number.
                #expect(try store.saveSample().path == day + "/image-0001.fits")
                try pixelsTooLargeForWrite(in: root)
            } else {
                // No mount permission: limit the file size instead. RLIMIT_FSIZE applies to the
                // whole test process, so it is lifted right after; SIGXFSZ is ignored so that the
                // write fails with EFBIG instead of killing the runner.
                print("disk-full test: tmpfs not permitted, using RLIMIT_FSIZE (EFBIG)")
                var saved = rlimit()
                getrlimit(RLIMIT_FSIZE_VALUE, &saved)
                var limited = saved
                limited.rlim_cur = 1 << 20
                let previous = signal(SIGXFSZ, SIG_IGN)
                setrlimit(RLIMIT_FSIZE_VALUE, &limited)
                let result = Result { () throws(StorageError) in try store.saveSample(width: 1024, height: 1024) }
                setrlimit(RLIMIT_FSIZE_VALUE, &saved)
                signal(SIGXFSZ, previous)
                switch result {
                case .success: Issue.record("a 2 MiB frame was written under a 1 MiB file-size limit")
                case .failure(let error):
                    #expect(error.errnoValue == EFBIG)
                    #expect(error.message.contains("File too large"), "\(error.message)")
                }
                #expect(entries(day).isEmpty, "nothing left, not even the temporary file: \(entries(day))")
            }
        }
    }

    /// FITSFile.write on a full file system removes its partial file too.
    func pixelsTooLargeForWrite(in root: String) throws {
        let pixels = patternImage(width: 1024, height: 1024)
        let path = root + "/direct.fits"
        #expect(throws: StorageError.self) {
            try pixels.withUnsafeBufferPointer { buffer in
                try FITSFile.write(pixels: buffer, width: 1024, height: 1024, cards: [], comments: [], to: path)
            }
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("stale temporary files of dead writers are removed; a live writer's and every final file stay")
    func staleTemporariesRemoved() throws {
        try withTemporaryFolder { folder in
            let store = FrameStore(root: folder, prefix: "image")
            let saved = try store.saveSample(seed: 1)
            let night = folder + "/20261121"
            try FileManager.default.createDirectory(atPath: folder + "/20261120", withIntermediateDirectories: true)
            // A pid that cannot be alive (beyond pid_max), and this live process.
            try touch(night + "/.image-0002.fits.tmp-99999999-abc")
            try touch(folder + "/20261120/.image-0007.fits.tmp-99999999-1f")
            try touch(night + "/.image-0003.fits.tmp-\(getpid())-9")
            try touch(night + "/.other-0001.fits.tmp-99999999-9")
            let removed = store.removeStaleTemporaries().sorted()
            #expect(removed == [folder + "/20261120/.image-0007.fits.tmp-99999999-1f", night + "/.image-0002.fits.tmp-99999999-abc"])
            #expect(entries(night) == [".image-0003.fits.tmp-\(getpid())-9", ".other-0001.fits.tmp-99999999-9", "image-0001.fits"])
            #expect(try FITSFile.verifyChecksums(path: saved.path) == (1, 1))
        }
    }

    @Test("after the first save the next number is known without listing the folder, and a name taken meanwhile is skipped")
    func nextNumberRemembered() throws {
        try withTemporaryFolder { folder in
            let store = FrameStore(root: folder, prefix: "image")
            #expect(try store.saveSample(seed: 1).path.hasSuffix("image-0001.fits"))
            // A file named by hand with a lower number is not looked for; one in the way is skipped.
            try touch(folder + "/20261121/image-0002.fits")
            let third = try store.saveSample(seed: 3)
            #expect(third.path.hasSuffix("image-0003.fits"))
            #expect(try String(contentsOfFile: folder + "/20261121/image-0002.fits", encoding: .utf8) == "by hand")
            // A store that starts afresh (a restarted camera) lists the folder once.
            let restarted = FrameStore(root: folder, prefix: "image")
            #expect(try restarted.saveSample(seed: 4).path.hasSuffix("image-0004.fits"))
            // A folder removed and made again starts from its contents, not the remembered number.
            try FileManager.default.removeItem(atPath: folder + "/20261121")
            #expect(try restarted.saveSample(seed: 5).path.hasSuffix("image-0001.fits"))
        }
    }

}

/// `RLIMIT_FSIZE` as the type `getrlimit` takes on glibc.
let RLIMIT_FSIZE_VALUE = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
