import ApertureProtocol
import Foundation
import GRDB

// The catalog as the export's outbox (issue 16, docs/scale-out.md): each row records which of
// its file's bytes (SHA-256) and which revision of itself the facility's stream acknowledged.
// A row is due while either differs from the row as it is now; due rows go oldest first.

extension CatalogDatabase {
    /// The export's columns: the row's revision (one more each time the processor's figures
    /// change it), and what JetStream acknowledged of it; a partial index keeps the due rows at
    /// hand however large the catalog grows.
    static func registerExportMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("export-v1") { db in
            try db.execute(sql: """
                ALTER TABLE frame ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
                ALTER TABLE frame ADD COLUMN export_sha256 TEXT;
                ALTER TABLE frame ADD COLUMN export_revision INTEGER;
                ALTER TABLE frame ADD COLUMN exported TEXT;
                CREATE INDEX frame_export_due ON frame(id) WHERE \(exportDue);
                CREATE TABLE setting (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                """)
        }
    }

    /// The condition of a row the stream has not acknowledged as it is now (the partial index's
    /// condition, written the same way in every query so that SQLite uses the index).
    static let exportDue = "missing = 0 AND (export_sha256 IS NULL OR export_sha256 != sha256 OR export_revision < revision)"

    /// A row due for export.
    package struct ExportItem: Sendable, Hashable {
        /// The row's id.
        package var id: Int64
        /// The file's path relative to the data root.
        package var path: String
        /// The file's size.
        package var bytes: Int64
        /// The file's SHA-256.
        package var sha256: String
        /// The row's revision.
        package var revision: Int
        /// Whether the stream already has these very bytes (only the row is due).
        package var fileAcknowledged: Bool
        /// The file's modification time (its fsync), seconds since 1970.
        package var modified: Double
        /// When the catalog made the row (ISO UTC).
        package var added: String
    }

    /// The rows due for export, oldest first.
    /// - Parameter limit: how many at most.
    package func exportsDue(limit: Int) async throws -> [ExportItem] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, path, bytes, sha256, revision, export_sha256, modified, added FROM frame
                WHERE \(Self.exportDue) ORDER BY id LIMIT ?
                """, arguments: [limit]).map { row in
                let sha256: String = row["sha256"]
                return ExportItem(id: row["id"], path: row["path"], bytes: row["bytes"], sha256: sha256,
                                  revision: row["revision"], fileAcknowledged: (row["export_sha256"] as String?) == sha256,
                                  modified: row["modified"], added: row["added"])
            }
        }
    }

    /// Records that the stream acknowledged rows' files and revisions (what was sent, which a
    /// row may have outgrown meanwhile: then it stays due), in one transaction.
    package func exportAcknowledged(_ items: [ExportItem], at time: String) async throws {
        try await pool.write { db in
            for item in items {
                try db.execute(sql: "UPDATE frame SET export_sha256 = ?, export_revision = ?, exported = ? WHERE id = ?",
                               arguments: [item.sha256, item.revision, time, item.id])
            }
        }
    }

    /// The backlog: rows due, their bytes, and when the oldest was made.
    package func exportBacklog() async throws -> (frames: Int, bytes: Int64, oldest: String?) {
        try await pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS frames, TOTAL(bytes) AS bytes, MIN(added) AS oldest "
                                       + "FROM frame INDEXED BY frame_export_due WHERE \(Self.exportDue)")
            return (row?["frames"] ?? 0, Int64((row?["bytes"] as Double?) ?? 0), row?["oldest"])
        }
    }

    /// A stored setting (`export.paused`), or nil.
    package func setting(_ name: String) async throws -> String? {
        try await pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM setting WHERE name = ?", arguments: [name]) }
    }

    /// Stores a setting.
    package func setSetting(_ name: String, _ value: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO setting (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                           arguments: [name, value])
        }
    }
}
