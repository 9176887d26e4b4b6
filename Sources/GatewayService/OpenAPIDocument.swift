/// The OpenAPI 3.1 document served at `/v1/openapi.json` (being written).
enum OpenAPIDocument {
    static let json = #"{"openapi":"3.1.0","info":{"title":"Aperture","version":"1"},"paths":{}}"#
}
