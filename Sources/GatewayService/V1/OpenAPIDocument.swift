/// The OpenAPI 3.1 document of Aperture's `/v1` API, served at `GET /v1/openapi.json`.
///
/// Every route ``RouteTable`` records is described here, and nothing else
/// (`OpenAPIEndToEndTests` checks both directions, that the document is valid JSON of OpenAPI
/// 3.1 and that every `$ref` resolves; schemathesis fuzzes the running service against it).
/// Paths are absolute (`/v1/...`) under the server `/`; behind the nginx site they are reached
/// under `/api/v1/...`.
enum OpenAPIDocument {
    static let json = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "Aperture",
    "version": "1",
    "summary": "A scientific camera's versioned JSON API: camera, exposures, cooling, filter wheel, frame analysis, latest frame, files, supervision and live events.",
    "description": "Aperture's own API, served by aperture-gateway under /v1/ (under /api/v1/ behind the nginx site, which maps /api/ to the gateway's root).\n\nReads (GET) are open. Anything that changes state (POST, PUT) needs `Authorization: Bearer <gateway.token>` when a token is configured; the gateway refuses to listen beyond loopback without one. Request bodies are JSON, at most gateway.max_body bytes (413 beyond); an empty body counts as `{}`. Unknown keys in a body are ignored.\n\nEvery error is JSON `{\"error\": {\"code\", \"message\", \"field\"}}` with a stable code: 400 invalid_argument (the message and `field` name the field at fault), 401 unauthorized, 403 forbidden_origin (a state change from a web page of another origin), forbidden_host (a Host the gateway does not answer to) or token_required (a state change through a proxy while no token is configured), 404 not_found, 409 busy or not_connected, 413 body_too_large, 416 range_not_satisfiable, 501 not_supported, 502 driver_error (the camera's driver or the filter wheel failed), 503 camera_unavailable / processor_unavailable / supervisor_unavailable with Retry-After (that process is down or does not answer; the supervisor restarts it), 507 storage_error."
  },
  "servers": [{"url": "/"}],
  "tags": [
    {"name": "camera", "description": "State, telemetry, cooling, connection."},
    {"name": "filter wheel"},
    {"name": "exposures", "description": "Exposure requests: start, list, one with its files and statistics, abort."},
    {"name": "processor", "description": "Live frame analysis (psen_processing's ROIs, areaDetector's statistics, focus metrics)."},
    {"name": "frames", "description": "The newest frame of the camera's shared-memory frame ring."},
    {"name": "files", "description": "FITS files under the data root, by night (DATA_ROOT/YYYYMMDD/)."},
    {"name": "service", "description": "Supervision, events, this document."}
  ],
  "paths": {
    "/v1/camera": {
      "get": {
        "tags": ["camera"],
        "operationId": "getCamera",
        "summary": "The camera's state, capabilities, temperature, filter and running exposure",
        "responses": {
          "200": {"description": "The camera's status.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CameraStatus"}}}},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/camera/temperature": {
      "get": {
        "tags": ["camera"],
        "operationId": "getTemperature",
        "summary": "One temperature reading (also answered during an exposure)",
        "responses": {
          "200": {"description": "The reading.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Temperature"}}}},
          "409": {"$ref": "#/components/responses/Conflict"},
          "502": {"$ref": "#/components/responses/DriverError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/camera/temperature/history": {
      "get": {
        "tags": ["camera"],
        "operationId": "getTemperatureHistory",
        "summary": "The temperatures the gateway kept (one sample a second, the last hour), oldest first",
        "description": "Kept by the gateway from the camera's telemetry, so answered also while the camera is down (then without new samples).",
        "parameters": [
          {"name": "seconds", "in": "query", "description": "How far back (default 3600, the whole hour kept).", "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600, "default": 3600}}
        ],
        "responses": {
          "200": {"description": "The samples.", "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["samples"],
            "properties": {"samples": {"type": "array", "items": {"$ref": "#/components/schemas/TemperatureSample"}}}
          }}}},
          "400": {"$ref": "#/components/responses/BadRequest"}
        }
      }
    },
    "/v1/camera/cooling": {
      "post": {
        "tags": ["camera"],
        "operationId": "setCooling",
        "summary": "Set the cooler's set-point and/or switch the cooler on or off",
        "security": [{"bearerAuth": []}],
        "requestBody": {
          "required": true,
          "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/CoolingRequest"},
            "examples": {"cool": {"value": {"setpoint": -20}}, "off": {"value": {"cooler": false}}}
          }}
        },
        "responses": {
          "200": {"description": "The temperature after the change.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Temperature"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "502": {"$ref": "#/components/responses/DriverError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/camera/initialize": {
      "post": {
        "tags": ["camera"],
        "operationId": "initializeCamera",
        "summary": "Connect the camera if it is not connected (it connects at start-up by itself)",
        "security": [{"bearerAuth": []}],
        "responses": {
          "200": {"description": "The camera's status after connecting.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CameraStatus"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "502": {"$ref": "#/components/responses/DriverError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/camera/shutdown": {
      "post": {
        "tags": ["camera"],
        "operationId": "shutdownCamera",
        "summary": "Switch the cooler off, warm up to camera.warmup_temperature and release the camera",
        "description": "Answers once the sensor is warm (at most camera.warmup_timeout seconds). A running exposure makes it 409 busy.",
        "security": [{"bearerAuth": []}],
        "responses": {
          "200": {"description": "The camera was released.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Acknowledgement"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "502": {"$ref": "#/components/responses/DriverError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/filterwheel": {
      "get": {
        "tags": ["filter wheel"],
        "operationId": "getFilterWheel",
        "summary": "The filter wheel's position and filters",
        "responses": {
          "200": {"description": "The wheel's position.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FilterStatus"}}}},
          "409": {"$ref": "#/components/responses/Conflict"},
          "502": {"$ref": "#/components/responses/DriverError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "post": {
        "tags": ["filter wheel"],
        "operationId": "moveFilterWheel",
        "summary": "Move the wheel to a filter, by name or by slot",
        "security": [{"bearerAuth": []}],
        "requestBody": {
          "required": true,
          "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/FilterMove"},
            "examples": {"byName": {"value": {"name": "V"}}, "bySlot": {"value": {"slot": 2}}}
          }}
        },
        "responses": {
          "200": {"description": "The wheel's position after the move.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FilterStatus"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "502": {"$ref": "#/components/responses/DriverError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/filterwheel/home": {
      "post": {
        "tags": ["filter wheel"],
        "operationId": "homeFilterWheel",
        "summary": "Home the filter wheel",
        "security": [{"bearerAuth": []}],
        "responses": {
          "200": {"description": "The wheel's position after homing.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FilterStatus"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "502": {"$ref": "#/components/responses/DriverError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/exposures": {
      "get": {
        "tags": ["exposures"],
        "operationId": "listExposures",
        "summary": "The exposure requests the camera keeps, the most recent last",
        "responses": {
          "200": {"description": "The records.", "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["exposures"],
            "properties": {"exposures": {"type": "array", "items": {"$ref": "#/components/schemas/ExposureRecord"}}}
          }}}},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "post": {
        "tags": ["exposures"],
        "operationId": "startExposure",
        "summary": "Start an exposure request (a single frame, a series, or a preview run)",
        "description": "Answers at once with the request's record (status running); follow it at the Location given, or on /v1/events. A request is checked against the camera (exposure time limits, binning, subframe, readout mode, gain, filter names): a value that does not fit is 400 naming the field. Another running request makes it 409 busy.",
        "security": [{"bearerAuth": []}],
        "requestBody": {
          "required": true,
          "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ExposureRequest"},
            "examples": {
              "object": {"value": {"type": "object", "time": 30, "filter": "V", "object": "M51", "comment": "focus: 1250"}},
              "darks": {"value": {"type": "dark", "time": 60, "count": 10}},
              "bias": {"value": {"type": "bias", "time": 0}}
            }
          }}
        },
        "responses": {
          "202": {
            "description": "Started; the record of the running request.",
            "headers": {"Location": {"description": "The request's record, relative to /v1/: exposures/{id}.", "schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExposureRecord"}}},
            "links": {"getExposure": {"operationId": "getExposure", "description": "The request's record as it progresses.", "parameters": {"id": "$response.body#/id"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "501": {"$ref": "#/components/responses/NotSupported"},
          "502": {"$ref": "#/components/responses/DriverError"},
          "503": {"$ref": "#/components/responses/Unavailable"},
          "507": {"$ref": "#/components/responses/InsufficientStorage"}
        }
      }
    },
    "/v1/exposures/abort": {
      "post": {
        "tags": ["exposures"],
        "operationId": "abortExposure",
        "summary": "Abort the running request; answers once the camera is idle again",
        "description": "The frame in progress is discarded; frames saved before it remain. With nothing running, `aborted` is false.",
        "security": [{"bearerAuth": []}],
        "responses": {
          "200": {"description": "What was aborted.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AbortReply"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "502": {"$ref": "#/components/responses/DriverError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/exposures/{id}": {
      "get": {
        "tags": ["exposures"],
        "operationId": "getExposure",
        "summary": "One exposure request's record, its files, and the processor's statistics of its frames",
        "parameters": [{"name": "id", "in": "path", "required": true, "description": "The request's id, as returned when it was started.", "schema": {"type": "string"}}],
        "responses": {
          "200": {"description": "The record with `statistics`.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExposureDetail"}}}},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/processor": {
      "get": {
        "tags": ["processor"],
        "operationId": "getProcessor",
        "summary": "Processing statistics: whether frames are processed, counts, rate, latency",
        "responses": {
          "200": {"description": "The statistics.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProcessorStatistics"}}}},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/processor/start": {
      "post": {
        "tags": ["processor"],
        "operationId": "startProcessor",
        "summary": "Analyse frames as they come",
        "security": [{"bearerAuth": []}],
        "responses": {
          "200": {"description": "Processing.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProcessorState"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/processor/stop": {
      "post": {
        "tags": ["processor"],
        "operationId": "stopProcessor",
        "summary": "Ignore frames until started again",
        "security": [{"bearerAuth": []}],
        "responses": {
          "200": {"description": "Stopped.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProcessorState"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/processor/configuration": {
      "get": {
        "tags": ["processor"],
        "operationId": "getProcessorConfiguration",
        "summary": "The analysis configuration in force",
        "responses": {
          "200": {"description": "Every key with its value.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AnalysisConfiguration"}}}},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "put": {
        "tags": ["processor"],
        "operationId": "setProcessorConfiguration",
        "summary": "Replace the analysis configuration",
        "description": "A key left out takes its default, so `{}` restores the defaults. An ROI is checked against the latest frame's size.",
        "security": [{"bearerAuth": []}],
        "requestBody": {
          "required": true,
          "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/AnalysisConfigurationRequest"},
            "examples": {"signal": {"value": {"roi_signal": [100, 200, 50, 100], "focus": true}}}
          }}
        },
        "responses": {
          "200": {"description": "The configuration now in force.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AnalysisConfiguration"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/processor/results": {
      "get": {
        "tags": ["processor"],
        "operationId": "getProcessorResults",
        "summary": "The last frames' analysis results, newest last",
        "parameters": [
          {"name": "count", "in": "query", "description": "How many results (default 1).", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1}},
          {"name": "full", "in": "query", "description": "Include the per-column and per-bin arrays (profiles, ROI profiles, histogram counts); by default they are left out.", "schema": {"type": "boolean", "default": false}},
          {"name": "exposure_id", "in": "query", "description": "Only the frames of this exposure request.", "schema": {"type": "string"}}
        ],
        "responses": {
          "200": {"description": "The results.", "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["results"],
            "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/ProcessorResult"}}}
          }}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/processor/focus": {
      "get": {
        "tags": ["processor"],
        "operationId": "getFocusFit",
        "summary": "Best focus from a focus series",
        "description": "Fits a parabola through the median HFD (or FWHM) of the kept frames that carry a focus position (exposures whose comment said `focus: N`, analysed with focus metrics on). Too few such frames, or a series without a minimum, is 409 with code insufficient_data or not_a_minimum.",
        "parameters": [
          {"name": "exposure_ids", "in": "query", "description": "Comma-separated exposure ids (default: every kept frame with a focus position).", "schema": {"type": "string"}},
          {"name": "metric", "in": "query", "description": "The star width fitted.", "schema": {"type": "string", "enum": ["hfd", "fwhm"], "default": "hfd"}}
        ],
        "responses": {
          "200": {"description": "The fit and its samples.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FocusFitResult"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/frames/latest": {
      "get": {
        "tags": ["frames"],
        "operationId": "getLatestFrame",
        "summary": "The newest frame's pixels (raw), or its header (format=json)",
        "parameters": [
          {"name": "format", "in": "query", "description": "raw: the pixels as little-endian UInt16, row-major, the frame's header in X-Frame-* headers; json: the header only.", "schema": {"type": "string", "enum": ["raw", "json"], "default": "raw"}}
        ],
        "responses": {
          "200": {
            "description": "The frame.",
            "headers": {
              "X-Exposure-Id": {"schema": {"type": "string"}},
              "X-Frame-Number": {"schema": {"type": "integer"}},
              "X-Frame-Sequence": {"schema": {"type": "integer"}},
              "X-Frame-Width": {"schema": {"type": "integer"}},
              "X-Frame-Height": {"schema": {"type": "integer"}},
              "X-Frame-Pixel-Type": {"schema": {"type": "string", "const": "uint16-le"}},
              "X-Frame-Row-Order": {"description": "As FITS ROWORDER.", "schema": {"type": "string", "enum": ["TOP-DOWN", "BOTTOM-UP"]}},
              "X-Frame-Exposure-Start": {"description": "Unix time.", "schema": {"type": "number"}},
              "X-Frame-Readout-Time": {"description": "Unix time.", "schema": {"type": "number"}}
            },
            "content": {
              "application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}},
              "application/json": {"schema": {"$ref": "#/components/schemas/LatestFrameHeader"}}
            }
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/frames/latest.fits": {
      "get": {
        "tags": ["frames"],
        "operationId": "getLatestFrameFITS",
        "summary": "The newest frame as a FITS file (also a preview frame, which is not saved)",
        "responses": {
          "200": {
            "description": "The FITS file.",
            "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
            "content": {"application/fits": {"schema": {"type": "string", "contentMediaType": "application/fits"}}}
          },
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/frames/latest.png": {
      "get": {
        "tags": ["frames"],
        "operationId": "getLatestFramePNG",
        "summary": "The newest frame as an 8-bit greyscale PNG preview",
        "description": "Box-averaged down to `width` columns (never enlarged; the height keeps the aspect ratio), the top of the image at the top, stretched between the limits given in X-Stretch-Low and X-Stretch-High. An ETag per frame, width and stretch; If-None-Match gives 304.",
        "parameters": [
          {"name": "width", "in": "query", "description": "Columns of the preview.", "schema": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 512}},
          {"name": "stretch", "in": "query", "description": "zscale: linear between IRAF's zscale limits; asinh: from the zscale low limit to the maximum; linear: minimum to maximum.", "schema": {"type": "string", "enum": ["zscale", "asinh", "linear"], "default": "zscale"}},
          {"name": "If-None-Match", "in": "header", "description": "An ETag of an earlier reply.", "schema": {"type": "string"}}
        ],
        "responses": {
          "200": {
            "description": "The preview.",
            "headers": {
              "ETag": {"schema": {"type": "string"}},
              "X-Exposure-Id": {"schema": {"type": "string"}},
              "X-Frame-Number": {"schema": {"type": "integer"}},
              "X-Frame-Sequence": {"schema": {"type": "integer"}},
              "X-Frame-Width": {"description": "The frame's own width.", "schema": {"type": "integer"}},
              "X-Frame-Height": {"description": "The frame's own height.", "schema": {"type": "integer"}},
              "X-Stretch": {"schema": {"type": "string", "enum": ["zscale", "asinh", "linear"]}},
              "X-Stretch-Low": {"description": "The pixel value shown black.", "schema": {"type": "number"}},
              "X-Stretch-High": {"description": "The pixel value shown white.", "schema": {"type": "number"}}
            },
            "content": {"image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}}}
          },
          "304": {"description": "The preview named by If-None-Match is still the current one."},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/files": {
      "get": {
        "tags": ["files"],
        "operationId": "listNights",
        "summary": "The nights under the data root, with their file counts and sizes",
        "responses": {
          "200": {
            "description": "The nights, oldest first.",
            "content": {"application/json": {"schema": {
              "type": "object",
              "required": ["nights"],
              "properties": {"nights": {"type": "array", "items": {"$ref": "#/components/schemas/Night"}}}
            }}},
            "links": {"listFiles": {"operationId": "listFiles", "description": "The first night's files.", "parameters": {"night": "$response.body#/nights/0/night"}}}
          }
        }
      }
    },
    "/v1/files/{night}": {
      "get": {
        "tags": ["files"],
        "operationId": "listFiles",
        "summary": "The FITS files of one night",
        "parameters": [{"$ref": "#/components/parameters/Night"}],
        "responses": {
          "200": {
            "description": "The night's FITS files, by name.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NightListing"}}},
            "links": {"downloadFile": {"operationId": "downloadFile", "description": "The first file.", "parameters": {"night": "$response.body#/night", "name": "$response.body#/files/0/name"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    },
    "/v1/files/{night}/{name}": {
      "get": {
        "tags": ["files"],
        "operationId": "downloadFile",
        "summary": "Download one file, whole or one byte range",
        "description": "Only files directly in a night's folder are served: `../`, names starting with a dot, and symbolic links out of the data root get 400 or 404.",
        "parameters": [
          {"$ref": "#/components/parameters/Night"},
          {"name": "name", "in": "path", "required": true, "description": "The file's name in the night's folder.", "schema": {"type": "string", "pattern": "^[^./][^/]*$"}},
          {"name": "Range", "in": "header", "description": "One byte range: bytes=FIRST-LAST, bytes=FIRST- or bytes=-COUNT.", "schema": {"type": "string", "pattern": "^bytes=([0-9]+-[0-9]*|-[0-9]+)$"}}
        ],
        "responses": {
          "200": {
            "description": "The whole file.",
            "headers": {
              "Accept-Ranges": {"schema": {"type": "string", "const": "bytes"}},
              "Content-Disposition": {"schema": {"type": "string"}},
              "Last-Modified": {"schema": {"type": "string"}}
            },
            "content": {"application/fits": {"schema": {"type": "string", "contentMediaType": "application/fits"}}}
          },
          "206": {
            "description": "The byte range asked for.",
            "headers": {
              "Content-Range": {"required": true, "description": "bytes FIRST-LAST/SIZE", "schema": {"type": "string"}},
              "Accept-Ranges": {"schema": {"type": "string", "const": "bytes"}}
            },
            "content": {"application/fits": {"schema": {"type": "string", "contentMediaType": "application/fits"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "416": {"$ref": "#/components/responses/RangeNotSatisfiable"}
        }
      }
    },
    "/v1/supervisor": {
      "get": {
        "tags": ["service"],
        "operationId": "getSupervisor",
        "summary": "The supervisor and its children: state, pid, restarts, whether they answer pings",
        "responses": {
          "200": {"description": "The supervisor's report.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SupervisorStatus"}}}},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/supervisor/children/{name}/restart": {
      "post": {
        "tags": ["service"],
        "operationId": "restartChild",
        "summary": "Restart one child process (also revives a FATAL one)",
        "security": [{"bearerAuth": []}],
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string", "enum": ["camera", "processor", "gateway"]}}],
        "responses": {
          "200": {"description": "The restart was ordered.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Acknowledgement"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/events": {
      "get": {
        "tags": ["service"],
        "operationId": "events",
        "summary": "Live events of every process, as server-sent events",
        "description": "Each event's name is its bus topic (camera.state, camera.progress, camera.telemetry, camera.frame, camera.exposure, processor.result, child.started, child.exited, ...) and its data the envelope `{\"seq\", \"time\", \"data\"}`. A client that reads too slowly loses the oldest queued events and first receives `event: dropped` with how many. A comment line is sent after 15 s of silence.",
        "parameters": [
          {"name": "topics", "in": "query", "description": "Comma-separated topic prefixes to keep, such as camera.,child. (default: all).", "schema": {"type": "string"}}
        ],
        "responses": {
          "200": {"description": "The stream (it does not end).", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/openapi.json": {
      "get": {
        "tags": ["service"],
        "operationId": "openAPI",
        "summary": "This document",
        "responses": {
          "200": {"description": "The OpenAPI 3.1 document.", "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}}}
        }
      }
    }
  },
  "components": {
    "securitySchemes": {
      "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "gateway.token. Required on state-changing requests when a token is configured (always, when the gateway listens beyond loopback)."
      }
    },
    "parameters": {
      "Night": {"name": "night", "in": "path", "required": true, "description": "The night's folder: a UTC date as YYYYMMDD.", "schema": {"type": "string", "pattern": "^[0-9]{8}$"}}
    },
    "responses": {
      "BadRequest": {
        "description": "invalid_argument: a field, parameter or header does not fit; `field` names it.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      },
      "Unauthorized": {
        "description": "unauthorized: no bearer token, or not the configured one.",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      },
      "NotFound": {
        "description": "not_found: no such exposure, night, file, child, or no frame yet.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      },
      "Conflict": {
        "description": "busy (an exposure is running: abort it or wait), not_connected (the camera is not connected), or the processor's insufficient_data / not_a_minimum.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      },
      "TooLarge": {
        "description": "body_too_large: the body is over gateway.max_body.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      },
      "RangeNotSatisfiable": {
        "description": "range_not_satisfiable: the range lies outside the file.",
        "headers": {"Content-Range": {"description": "bytes */SIZE", "schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      },
      "NotSupported": {
        "description": "not_supported: the camera cannot do this (e.g. close a shutter it does not have).",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      },
      "DriverError": {
        "description": "driver_error: the camera's driver (the Andor SDK) or the filter wheel failed.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      },
      "Unavailable": {
        "description": "camera_unavailable, processor_unavailable or supervisor_unavailable: that process is down, restarting or does not answer (the supervisor restarts it); too_many_clients on /v1/events. Try again after Retry-After seconds.",
        "headers": {"Retry-After": {"required": true, "description": "Seconds to wait before trying again.", "schema": {"type": "integer", "minimum": 0}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      },
      "InsufficientStorage": {
        "description": "storage_error: the frame cannot be saved under the data root (disk full, not writable).",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      }
    },
    "schemas": {
      "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
          "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
              "code": {"type": "string", "description": "Stable, machine-readable: invalid_argument, unauthorized, not_found, busy, not_connected, body_too_large, range_not_satisfiable, not_supported, driver_error, camera_unavailable, processor_unavailable, supervisor_unavailable, storage_error, ..."},
              "message": {"type": "string", "description": "What was wrong, for humans, naming the field."},
              "field": {"type": "string", "description": "The request field, parameter or header at fault, when one is."}
            }
          }
        },
        "example": {"error": {"code": "invalid_argument", "message": "time: must not be negative (got -1.0 s)", "field": "time"}}
      },
      "CameraState": {"type": "string", "enum": ["idle", "exposing", "reading", "saving", "aborting", "error"]},
      "ImageType": {"type": "string", "enum": ["bias", "dark", "flat", "object"]},
      "ExposureMode": {"type": "string", "enum": ["single", "series", "preview"], "description": "single: one frame, saved; series: `count` frames, each saved; preview: frames published for live viewing, not saved, until aborted (or `count` frames)."},
      "CameraStatus": {
        "type": "object",
        "required": ["state", "connected", "driver"],
        "properties": {
          "state": {"$ref": "#/components/schemas/CameraState"},
          "connected": {"type": "boolean"},
          "reason": {"type": "string", "description": "Why the camera is in the error state."},
          "driver": {"type": "string", "description": "simulator or andor."},
          "info": {"$ref": "#/components/schemas/CameraInfo"},
          "temperature": {"$ref": "#/components/schemas/Temperature"},
          "filter": {"$ref": "#/components/schemas/FilterStatus"},
          "exposure": {"$ref": "#/components/schemas/ExposureRecord"},
          "frame": {"type": "integer", "description": "The frame in progress."},
          "count": {"type": "integer", "description": "The running request's frame count."}
        }
      },
      "CameraInfo": {
        "type": "object",
        "required": ["model", "width", "height", "pixel_width", "pixel_height", "minimum_setpoint", "maximum_setpoint", "maximum_bin_x", "maximum_bin_y", "readout_modes", "gains", "has_shutter", "minimum_exposure", "maximum_exposure", "maximum_adu", "electrons_per_adu", "first_row_is_top"],
        "properties": {
          "model": {"type": "string"},
          "serial": {"type": "string"},
          "width": {"type": "integer", "description": "Sensor width in unbinned pixels."},
          "height": {"type": "integer"},
          "pixel_width": {"type": "number", "description": "Micrometres."},
          "pixel_height": {"type": "number"},
          "minimum_setpoint": {"type": "integer", "description": "Degrees Celsius."},
          "maximum_setpoint": {"type": "integer"},
          "maximum_bin_x": {"type": "integer"},
          "maximum_bin_y": {"type": "integer"},
          "readout_modes": {"type": "array", "items": {"type": "string"}, "description": "By index (readout_mode)."},
          "gains": {"type": "array", "items": {"type": "string"}, "description": "By index (gain)."},
          "has_shutter": {"type": "boolean"},
          "minimum_exposure": {"type": "number", "description": "Seconds."},
          "maximum_exposure": {"type": "number"},
          "maximum_adu": {"type": "integer"},
          "electrons_per_adu": {"type": "number"},
          "first_row_is_top": {"type": "boolean"}
        }
      },
      "Temperature": {
        "type": "object",
        "required": ["celsius", "setpoint", "cooler_on", "state"],
        "properties": {
          "celsius": {"type": "number", "description": "The sensor temperature."},
          "setpoint": {"type": "integer", "description": "The cooler's set-point, degrees Celsius."},
          "cooler_on": {"type": "boolean"},
          "state": {"type": "string", "enum": ["off", "not_reached", "not_stabilized", "stabilized", "drifted"]},
          "cooler_power": {"type": "number", "description": "Percent, when the driver knows it."}
        }
      },
      "TemperatureSample": {
        "type": "object",
        "required": ["time", "celsius", "setpoint", "cooler_on"],
        "properties": {
          "time": {"type": "number", "description": "Unix time."},
          "celsius": {"type": "number"},
          "setpoint": {"type": "integer"},
          "cooler_on": {"type": "boolean"},
          "cooler_power": {"type": "number", "description": "Percent, when the driver knows it."}
        }
      },
      "CoolingRequest": {
        "type": "object",
        "description": "At least one of setpoint and cooler. A set-point switches the cooler on unless cooler is false.",
        "properties": {
          "setpoint": {"type": "integer", "description": "Degrees Celsius, within the camera's minimum_setpoint...maximum_setpoint."},
          "cooler": {"type": "boolean"}
        },
        "anyOf": [{"required": ["setpoint"]}, {"required": ["cooler"]}]
      },
      "FilterStatus": {
        "type": "object",
        "required": ["slot", "name", "filters", "driver"],
        "properties": {
          "slot": {"type": "integer", "minimum": 0},
          "name": {"type": "string"},
          "filters": {"type": "array", "items": {"type": "string"}, "description": "Every filter, by slot."},
          "driver": {"type": "string", "description": "simulator or evora."}
        }
      },
      "FilterMove": {
        "type": "object",
        "description": "Exactly one of name and slot.",
        "properties": {
          "name": {"type": "string", "description": "A filter name (case-insensitive), one of the wheel's filters."},
          "slot": {"type": "integer", "minimum": 0}
        },
        "oneOf": [{"required": ["name"]}, {"required": ["slot"]}]
      },
      "Subframe": {
        "type": "object",
        "description": "The region to read out, in unbinned pixels; width and height multiples of the binning.",
        "required": ["x", "y", "width", "height"],
        "properties": {
          "x": {"type": "integer", "minimum": 0},
          "y": {"type": "integer", "minimum": 0},
          "width": {"type": "integer", "minimum": 1},
          "height": {"type": "integer", "minimum": 1}
        }
      },
      "ExposureRequest": {
        "type": "object",
        "required": ["type", "time"],
        "properties": {
          "type": {"$ref": "#/components/schemas/ImageType"},
          "time": {"type": "number", "minimum": 0, "description": "Exposure time in seconds, up to camera.max_exposure (ignored for a bias; above 0 for the others)."},
          "count": {"type": "integer", "minimum": 1, "maximum": 100000, "description": "Frames (default 1; more than 1 is a series)."},
          "mode": {"$ref": "#/components/schemas/ExposureMode"},
          "filter": {"type": "string", "description": "Move the wheel to this filter first (default: leave it)."},
          "comment": {"type": "string", "maxLength": 2000, "pattern": "^[ -~]*$", "description": "FITS COMMENT, printable ASCII; `focus: N` in it also sets FOCUS."},
          "object": {"type": "string", "maxLength": 68, "pattern": "^[ -~]*$", "description": "FITS OBJECT."},
          "observer": {"type": "string", "maxLength": 68, "pattern": "^[ -~]*$", "description": "FITS OBSERVER (default camera.observer)."},
          "subframe": {"$ref": "#/components/schemas/Subframe"},
          "bin_x": {"type": "integer", "minimum": 1, "description": "Up to the camera's maximum_bin_x (default 1)."},
          "bin_y": {"type": "integer", "minimum": 1},
          "readout_mode": {"type": "integer", "minimum": 0, "description": "Index into the camera's readout_modes (default 0)."},
          "gain": {"type": "integer", "minimum": 0, "description": "Index into the camera's gains (default 0)."},
          "keywords": {
            "type": "object",
            "description": "Extra FITS keywords (not those Aperture writes itself).",
            "propertyNames": {"pattern": "^[A-Za-z0-9_-]{1,8}$"},
            "additionalProperties": {"type": ["string", "number", "boolean"]}
          }
        }
      },
      "SavedFrame": {
        "type": "object",
        "required": ["frame", "path", "bytes"],
        "properties": {
          "frame": {"type": "integer", "minimum": 1},
          "path": {"type": "string"},
          "bytes": {"type": "integer"}
        }
      },
      "ExposureRecord": {
        "type": "object",
        "required": ["id", "request", "mode", "status", "frames_done", "files", "started"],
        "properties": {
          "id": {"type": "string"},
          "request": {"$ref": "#/components/schemas/ExposureRequest"},
          "mode": {"$ref": "#/components/schemas/ExposureMode"},
          "status": {"type": "string", "enum": ["running", "completed", "aborted", "failed"]},
          "count": {"type": "integer", "description": "Frames requested (absent: a preview until aborted)."},
          "frames_done": {"type": "integer"},
          "files": {"type": "array", "items": {"$ref": "#/components/schemas/SavedFrame"}},
          "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
          },
          "started": {"type": "number", "description": "Unix time."},
          "finished": {"type": "number"}
        }
      },
      "ExposureDetail": {
        "allOf": [
          {"$ref": "#/components/schemas/ExposureRecord"},
          {
            "type": "object",
            "required": ["statistics"],
            "properties": {
              "statistics": {
                "description": "The processor's results (summaries) of the request's frames; null when the processor does not answer.",
                "type": ["array", "null"],
                "items": {"$ref": "#/components/schemas/ProcessorResult"}
              }
            }
          }
        ]
      },
      "AbortReply": {
        "type": "object",
        "required": ["aborted", "state", "milliseconds", "message"],
        "properties": {
          "aborted": {"type": "boolean", "description": "Whether a request was running and the camera is idle again."},
          "state": {"$ref": "#/components/schemas/CameraState"},
          "exposure_id": {"type": "string"},
          "milliseconds": {"type": "number", "description": "From the request to idle."},
          "message": {"type": "string"}
        }
      },
      "Acknowledgement": {
        "type": "object",
        "required": ["accepted", "message"],
        "properties": {"accepted": {"type": "boolean"}, "message": {"type": "string"}}
      },
      "ProcessorState": {
        "type": "object",
        "required": ["state", "status"],
        "properties": {
          "state": {"type": "string", "const": "ok"},
          "status": {"type": "string", "enum": ["processing", "stopped"]}
        }
      },
      "ProcessorStatistics": {
        "type": "object",
        "required": ["state", "status", "frames_processed", "frames_dropped", "frames_skipped", "processing_rate"],
        "properties": {
          "state": {"type": "string"},
          "status": {"type": "string", "enum": ["processing", "stopped"]},
          "processing_start_time": {"type": "number", "description": "Unix time processing (last) started."},
          "frames_processed": {"type": "integer"},
          "frames_dropped": {"type": "integer", "description": "Lost before analysis (events missed, ring slots overwritten)."},
          "frames_skipped": {"type": "integer"},
          "last_frame_id": {"type": "string"},
          "last_frame_time": {"type": "number"},
          "processing_rate": {"type": "number", "description": "Frames per second over the last 10 s."},
          "mean_latency": {"type": "number", "description": "Seconds from readout to result, mean of the last 100 frames."}
        }
      },
      "ROI": {
        "type": "array",
        "description": "psen_processing's [offset_x, size_x, offset_y, size_y], from the top-left pixel.",
        "prefixItems": [
          {"type": "integer", "minimum": 0},
          {"type": "integer", "minimum": 1},
          {"type": "integer", "minimum": 0},
          {"type": "integer", "minimum": 1}
        ],
        "items": false,
        "minItems": 4
      },
      "AnalysisConfiguration": {
        "type": "object",
        "required": ["roi_background", "roi_signal", "min_max", "mean_sigma", "total", "net", "net_border_width", "centroid", "centroid_threshold", "histogram", "histogram_bins", "histogram_min", "histogram_max", "profiles", "profile_mode", "saturation", "saturation_threshold", "focus", "focus_threshold"],
        "properties": {
          "roi_background": {"anyOf": [{"$ref": "#/components/schemas/ROI"}, {"type": "null"}]},
          "roi_signal": {"anyOf": [{"$ref": "#/components/schemas/ROI"}, {"type": "null"}]},
          "min_max": {"type": "boolean"},
          "mean_sigma": {"type": "boolean"},
          "total": {"type": "boolean"},
          "net": {"type": "boolean"},
          "net_border_width": {"type": "integer", "minimum": 0},
          "centroid": {"type": "boolean"},
          "centroid_threshold": {"type": "integer", "minimum": 0, "maximum": 65535},
          "histogram": {"type": "boolean"},
          "histogram_bins": {"type": "integer", "minimum": 1, "maximum": 65536},
          "histogram_min": {"type": "number"},
          "histogram_max": {"type": "number"},
          "profiles": {"type": "boolean"},
          "profile_mode": {"type": "string", "enum": ["sum", "average"]},
          "saturation": {"type": "boolean"},
          "saturation_threshold": {"type": "integer", "minimum": 0, "maximum": 65536},
          "focus": {"type": "boolean"},
          "focus_threshold": {"type": "number", "exclusiveMinimum": 0}
        }
      },
      "AnalysisConfigurationRequest": {
        "type": "object",
        "description": "Any keys of the configuration; those left out take their defaults (no ROI, every statistic on, a 1024-bin histogram over 0...65535, net border 1, saturation at 65535, focus metrics off with threshold 5). An ROI of null or [] disables it. histogram_max must be above histogram_min.",
        "properties": {
          "roi_background": {"anyOf": [{"$ref": "#/components/schemas/ROI"}, {"type": "null"}, {"type": "array", "maxItems": 0}]},
          "roi_signal": {"anyOf": [{"$ref": "#/components/schemas/ROI"}, {"type": "null"}, {"type": "array", "maxItems": 0}]},
          "min_max": {"type": "boolean"},
          "mean_sigma": {"type": "boolean"},
          "total": {"type": "boolean"},
          "net": {"type": "boolean"},
          "net_border_width": {"type": "integer", "minimum": 0},
          "centroid": {"type": "boolean"},
          "centroid_threshold": {"type": "integer", "minimum": 0, "maximum": 65535},
          "histogram": {"type": "boolean"},
          "histogram_bins": {"type": "integer", "minimum": 1, "maximum": 65536},
          "histogram_min": {"type": "number"},
          "histogram_max": {"type": "number"},
          "profiles": {"type": "boolean"},
          "profile_mode": {"type": "string", "enum": ["sum", "average"]},
          "saturation": {"type": "boolean"},
          "saturation_threshold": {"type": "integer", "minimum": 0, "maximum": 65536},
          "focus": {"type": "boolean"},
          "focus_threshold": {"type": "number", "exclusiveMinimum": 0}
        }
      },
      "FrameAnalysis": {
        "type": "object",
        "required": ["width", "height", "roi_errors"],
        "properties": {
          "width": {"type": "integer"},
          "height": {"type": "integer"},
          "min_max": {
            "type": "object",
            "required": ["min", "min_x", "min_y", "max", "max_x", "max_y"],
            "properties": {
              "min": {"type": "integer"}, "min_x": {"type": "integer"}, "min_y": {"type": "integer"},
              "max": {"type": "integer"}, "max_x": {"type": "integer"}, "max_y": {"type": "integer"}
            }
          },
          "mean": {"type": "number"},
          "sigma": {"type": "number"},
          "total": {"type": "integer"},
          "net": {"type": "number"},
          "net_background": {"type": "number"},
          "centroid": {
            "type": "object",
            "required": ["threshold", "total"],
            "properties": {
              "threshold": {"type": "integer"}, "total": {"type": "integer"},
              "x": {"type": "number"}, "y": {"type": "number"}, "sigma_x": {"type": "number"}, "sigma_y": {"type": "number"}
            }
          },
          "histogram": {
            "type": "object",
            "required": ["bins", "min", "max", "counts", "below", "above", "entropy"],
            "properties": {
              "bins": {"type": "integer"}, "min": {"type": "number"}, "max": {"type": "number"},
              "counts": {"type": "array", "items": {"type": "integer"}, "description": "Empty in summaries."},
              "below": {"type": "integer"}, "above": {"type": "integer"}, "entropy": {"type": "number"}
            }
          },
          "profile_x": {"type": "array", "items": {"type": "number"}},
          "profile_y": {"type": "array", "items": {"type": "number"}},
          "saturated_pixels": {"type": "integer"},
          "roi_signal_x_profile": {"type": "array", "items": {"type": "number"}},
          "roi_background_x_profile": {"type": "array", "items": {"type": "number"}},
          "background_subtracted_signal": {"type": "array", "items": {"type": "number"}},
          "roi_errors": {"type": "array", "items": {"type": "string"}},
          "focus": {
            "type": "object",
            "required": ["star_count", "background", "background_sigma", "threshold", "rejected_saturated", "rejected_edge", "rejected_unmeasurable"],
            "properties": {
              "star_count": {"type": "integer"},
              "median_fwhm": {"type": "number"},
              "median_hfd": {"type": "number"},
              "background": {"type": "number"},
              "background_sigma": {"type": "number"},
              "threshold": {"type": "number"},
              "rejected_saturated": {"type": "integer"},
              "rejected_edge": {"type": "integer"},
              "rejected_unmeasurable": {"type": "integer"}
            }
          }
        }
      },
      "ProcessorResult": {
        "type": "object",
        "required": ["exposure_id", "frame", "sequence", "readout_time", "processed_time", "analysis"],
        "properties": {
          "exposure_id": {"type": "string"},
          "frame": {"type": "integer"},
          "sequence": {"type": "integer"},
          "focus": {"type": "number", "description": "The focus position of the request's comment."},
          "readout_time": {"type": "number", "description": "Unix time."},
          "processed_time": {"type": "number"},
          "analysis": {"$ref": "#/components/schemas/FrameAnalysis"}
        }
      },
      "FocusFitResult": {
        "type": "object",
        "required": ["fit", "samples"],
        "properties": {
          "fit": {
            "type": "object",
            "required": ["model", "best_focus", "best_metric", "curvature", "vertex_value", "r_squared", "rms_residual", "point_count", "extrapolated"],
            "properties": {
              "model": {"type": "string", "enum": ["quadratic", "quadratic_in_squares"]},
              "best_focus": {"type": "number"},
              "best_metric": {"type": "number"},
              "curvature": {"type": "number"},
              "vertex_value": {"type": "number"},
              "best_focus_uncertainty": {"type": "number"},
              "r_squared": {"type": "number"},
              "rms_residual": {"type": "number"},
              "point_count": {"type": "integer"},
              "extrapolated": {"type": "boolean", "description": "best_focus lies outside the positions sampled."}
            }
          },
          "samples": {
            "type": "array",
            "items": {"type": "object", "required": ["position", "metric"], "properties": {"position": {"type": "number"}, "metric": {"type": "number"}}}
          }
        }
      },
      "LatestFrameHeader": {
        "type": "object",
        "required": ["metadata", "location"],
        "properties": {
          "metadata": {
            "type": "object",
            "required": ["exposure_id", "frame_number", "width", "height", "pixel_type", "binning_x", "binning_y", "subframe_x", "subframe_y", "exposure_time", "exposure_start", "readout_time", "image_type", "preview", "top_down"],
            "properties": {
              "exposure_id": {"type": "string"},
              "frame_number": {"type": "integer"},
              "width": {"type": "integer"},
              "height": {"type": "integer"},
              "pixel_type": {"type": "integer", "description": "1: UInt16."},
              "binning_x": {"type": "integer"},
              "binning_y": {"type": "integer"},
              "subframe_x": {"type": "integer"},
              "subframe_y": {"type": "integer"},
              "exposure_time": {"type": "number"},
              "exposure_start": {"type": "number"},
              "readout_time": {"type": "number"},
              "image_type": {"type": "string"},
              "preview": {"type": "boolean"},
              "top_down": {"type": "boolean"}
            }
          },
          "location": {
            "type": "object",
            "required": ["slot", "sequence", "generation"],
            "properties": {"slot": {"type": "integer"}, "sequence": {"type": "integer"}, "generation": {"type": "integer"}}
          }
        }
      },
      "Night": {
        "type": "object",
        "required": ["night", "files", "bytes"],
        "properties": {
          "night": {"type": "string", "pattern": "^[0-9]{8}$"},
          "files": {"type": "integer"},
          "bytes": {"type": "integer"}
        }
      },
      "NightListing": {
        "type": "object",
        "required": ["night", "files"],
        "properties": {
          "night": {"type": "string", "pattern": "^[0-9]{8}$"},
          "files": {
            "type": "array",
            "items": {
              "type": "object",
              "required": ["name", "size", "modified", "url"],
              "properties": {
                "name": {"type": "string"},
                "size": {"type": "integer"},
                "modified": {"type": "number", "description": "Unix time."},
                "url": {"type": "string", "description": "Relative to /v1/: files/{night}/{name}."}
              }
            }
          }
        }
      },
      "SupervisorStatus": {
        "type": "object",
        "required": ["pid", "uptime", "ready", "stopping", "ping_interval", "children"],
        "properties": {
          "pid": {"type": "integer"},
          "uptime": {"type": "number", "description": "Seconds."},
          "ready": {"type": "boolean", "description": "Every child has reported ready at least once."},
          "stopping": {"type": "boolean"},
          "ping_interval": {"type": "number"},
          "children": {"type": "array", "items": {"$ref": "#/components/schemas/ChildStatus"}}
        }
      },
      "ChildStatus": {
        "type": "object",
        "required": ["name", "state", "restarts", "responding"],
        "properties": {
          "name": {"type": "string", "enum": ["camera", "processor", "gateway"]},
          "state": {"type": "string", "enum": ["stopped", "starting", "running", "backoff", "stopping", "exited", "fatal"]},
          "pid": {"type": "integer"},
          "uptime": {"type": "number"},
          "restarts": {"type": "integer"},
          "last_exit": {"type": "string", "description": "How the previous process ended, e.g. killed by signal 9 (SIGKILL)."},
          "responding": {"type": "boolean", "description": "Answered a ping within the last interval."},
          "last_ping_age": {"type": "number"}
        }
      }
    }
  }
}
"""#
}
