/// The OpenAPI 3.1 document of Aperture's `/v1` API, served at `GET /v1/openapi.json`.
///
/// The document is the file `Resources/openapi/openapi.json` of this target, compiled into
/// the gateway (`.embedInCode`, so nothing is installed beside the executable).
/// Every route ``RouteTable`` records is described there, and nothing else
/// (`OpenAPIEndToEndTests` checks both directions, that the document is valid JSON of OpenAPI
/// 3.1 and that every `$ref` resolves; schemathesis fuzzes the running service against it).
/// Paths are absolute (`/v1/...`) under the server `/`; behind the nginx site they are reached
/// under `/api/v1/...`.
enum OpenAPIDocument {
    static let json = String(decoding: PackageResources.openapi_json, as: UTF8.self)
}
