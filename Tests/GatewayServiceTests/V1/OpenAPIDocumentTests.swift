import Foundation
import Testing
@testable import GatewayService

/// The OpenAPI document's files (`Sources/GatewayService/Resources/openapi/`) and the document
/// the gateway assembles from them: each file is one JSON object and is included once, the
/// assembly keeps every member of every file, and the whole passes `scripts/lint-openapi.py`
/// (valid OpenAPI, every `$ref` resolves, no key given twice, no unused component).
@Suite struct OpenAPIDocumentTests {
    /// The file names an `{"$include": [...]}` of `text` names.
    static func includes(in text: String) -> [String] {
        text.matches(of: /\{"\$include": \[([^\]]*)\]\}/).flatMap { match in
            match.1.split(separator: ",").map { $0.filter { $0 != "\"" && $0 != " " } }
        }
    }

    @Test func everyFileIsCompiledInIsOneJSONObjectAndIsIncludedOnce() throws {
        #expect(Set(OpenAPIDocument.files.keys) == Set(try ResourceFiles.names(in: "openapi")),
                "Resources/openapi/ and OpenAPIDocument.files differ")
        var included: [String] = []
        for (name, bytes) in OpenAPIDocument.files.sorted(by: { $0.key < $1.key }) {
            #expect(try JSONSerialization.jsonObject(with: Data(bytes)) is [String: Any], "\(name) is not a JSON object")
            included += Self.includes(in: String(decoding: bytes, as: UTF8.self))
        }
        #expect(included.sorted() == OpenAPIDocument.files.keys.filter { $0 != "openapi.json" }.sorted(),
                "every file but openapi.json is included exactly once; included: \(included)")
    }

    /// The same document built from the parsed files: every member of every file is in the
    /// served text, where its `$include` puts it, and no key is in two files of one include.
    @Test func theAssembledDocumentHoldsEveryMemberOfEveryFile() throws {
        func parsed(_ name: String) throws -> [String: Any] {
            let bytes = try #require(OpenAPIDocument.files[name], "no file \(name)")
            return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        }
        func expand(_ value: Any) throws -> Any {
            if let object = value as? [String: Any] {
                if object.count == 1, let names = object["$include"] as? [String] {
                    var merged: [String: Any] = [:]
                    for name in names {
                        for (key, member) in try parsed(name) {
                            #expect(merged[key] == nil, "\(key) is in two files of one $include: \(names)")
                            merged[key] = try expand(member)
                        }
                    }
                    return merged
                }
                return try object.mapValues(expand)
            }
            if let array = value as? [Any] { return try array.map(expand) }
            return value
        }
        let expected = try JSONSerialization.data(withJSONObject: try expand(try parsed("openapi.json")), options: [.sortedKeys])
        let served = try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8))
        #expect(try JSONSerialization.data(withJSONObject: served, options: [.sortedKeys]) == expected)
        #expect(!OpenAPIDocument.json.contains("$include"))
        #expect(OpenAPIDocument.json.hasPrefix("{\n  \"openapi\": \"3.1.0\",\n") && OpenAPIDocument.json.hasSuffix("\n}\n"))
    }

    @Test func theDocumentPassesTheLinter() async throws {
        let file = try ResourceFiles.temporaryFile("openapi.json", OpenAPIDocument.json.utf8)
        defer { try? FileManager.default.removeItem(atPath: (file as NSString).deletingLastPathComponent) }
        let (status, output) = try await ResourceFiles.run(["python3", "scripts/lint-openapi.py", file])
        #expect(status == 0, "scripts/lint-openapi.py (needs openapi-spec-validator: scripts/install-deps.sh --test):\n\(output)")
        #expect(output.contains("all resolved and valid"), "\(output)")
    }
}
