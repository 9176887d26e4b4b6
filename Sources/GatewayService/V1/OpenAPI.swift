/// The OpenAPI 3.1 document of Aperture's `/v1` API, served at `GET /v1/openapi.json`.
///
/// The document is the files of this target's `Resources/openapi/`, compiled into the gateway
/// (`.embedInCode`, so nothing is installed beside the executable): `openapi.json` and the parts
/// it includes (paths and schemas by tag, each file at most 500 lines). A member written
/// `"paths": {"$include": ["paths-camera.json", ...]}` stands for an object holding the members
/// of those files in order; each file is a JSON object of its own, and ``assemble(_:)`` splices
/// them as text, so the served document reads as written.
///
/// Every route ``RouteTable`` records is described there, and nothing else
/// (`OpenAPIEndToEndTests` checks both directions, that the document is valid JSON of OpenAPI
/// 3.1 and that every `$ref` resolves; schemathesis fuzzes the running service against it;
/// `OpenAPIDocumentTests` runs `scripts/lint-openapi.py` on it).
/// Paths are absolute (`/v1/...`) under the server `/`; behind the nginx site they are reached
/// under `/api/v1/...`.
enum OpenAPIDocument {
    /// The files of `Resources/openapi/`, by name.
    static let files: [String: [UInt8]] = [
        "openapi.json": PackageResources.openapi_json,
        "paths-camera.json": PackageResources.paths_camera_json,
        "paths-processor.json": PackageResources.paths_processor_json,
        "paths-files.json": PackageResources.paths_files_json,
        "paths-focus.json": PackageResources.paths_focus_json,
        "components.json": PackageResources.components_json,
        "schemas-camera.json": PackageResources.schemas_camera_json,
        "schemas-processor.json": PackageResources.schemas_processor_json,
        "schemas-files.json": PackageResources.schemas_files_json,
        "paths-weather.json": PackageResources.paths_weather_json,
        "schemas-weather.json": PackageResources.schemas_weather_json,
        "schemas-focus.json": PackageResources.schemas_focus_json,
        "paths-solving.json": PackageResources.paths_solving_json,
        "schemas-solving.json": PackageResources.schemas_solving_json,
        "paths-catalog.json": PackageResources.paths_catalog_json,
        "schemas-catalog.json": PackageResources.schemas_catalog_json,
        "paths-plans.json": PackageResources.paths_plans_json,
        "schemas-plans.json": PackageResources.schemas_plans_json,
        "paths-export.json": PackageResources.paths_export_json,
        "schemas-export.json": PackageResources.schemas_export_json,
        "paths-calibration.json": PackageResources.paths_calibration_json,
        "schemas-calibration.json": PackageResources.schemas_calibration_json,
    ]

    /// The whole document, as served.
    static let json = assemble("openapi.json")

    /// The text of the file `name` with each `{"$include": [...]}` member replaced by the members
    /// of the files it names (themselves assembled), indented to where they stand.
    static func assemble(_ name: String) -> String {
        guard let bytes = files[name] else {
            preconditionFailure("the OpenAPI document includes \(name), which is not in OpenAPIDocument.files")
        }
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        var output: [String] = []
        for line in lines {
            guard let include = line.wholeMatch(of: /( *)("[^"]*": )?\{"\$include": \[(.*)\]\}(,?)/) else {
                output.append(String(line))
                continue
            }
            let indent = String(include.1)
            let names = include.3.split(separator: ",").map { $0.filter { $0 != "\"" && $0 != " " } }
            output.append(indent + String(include.2 ?? "") + "{")
            for (index, included) in names.enumerated() {
                var members = assemble(included).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                members.removeLast() // the empty string after the final newline
                precondition(members.first == "{" && members.last == "}",
                             "\(included): an included file is one JSON object, its braces alone on the first and last lines")
                members = members.dropFirst().dropLast().map { $0.isEmpty ? $0 : indent + $0 }
                if index < names.count - 1, let last = members.indices.last { members[last] += "," }
                output += members
            }
            output.append(indent + "}" + String(include.4))
        }
        return output.joined(separator: "\n") + "\n"
    }
}
