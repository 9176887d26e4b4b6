#!/usr/bin/env python3
"""Drives Aperture's ASCOM Alpaca camera with the real `alpyca` client (PyPI), as an imaging
program would, and checks what a user of such a program notices.

Usage: alpaca_client.py SCENARIO ALPACA_ADDRESS [options]
  discovery   --discovery-port N            alpyca's discovery, raw UDP, the management API
  exposure    --data-root DIR               a 1 s light frame; ImageArray (ImageBytes and JSON)
                                            equals the FITS file; a binned subframe too
  abort                                     abort during an exposure, abort when idle
  invalid                                   every invalid value, not-implemented and
                                            not-connected case
  protocol                                  HTTP-level rules: bad paths, methods, casing
  busy        --http ADDRESS                Alpaca and /v1 drive the same camera

Prints a JSON summary on stdout; exits 1 with the failed checks on stderr.
"""
import argparse
import glob
import json
import os
import socket
import sys
import time

import requests
from alpaca import discovery, management
from alpaca.camera import Camera, CameraStates
from alpaca.exceptions import (InvalidOperationException, InvalidValueException, NotConnectedException,
                               NotImplementedException, ValueNotSetException)

failures = []
summary = {}


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def raises(kind, action, label):
    try:
        action()
    except kind:
        return True
    except Exception as error:  # noqa: BLE001 - any other outcome is a failure to report
        failures.append(f"{label}: expected {kind.__name__}, got {type(error).__name__}: {error}")
        return False
    failures.append(f"{label}: expected {kind.__name__}, but it succeeded")
    return False


def connected_camera(address):
    camera = Camera(address, 0)
    camera.Connected = True
    check(camera.Connected is True, "Connected is not True after Connected = True")
    return camera


def wait_ready(camera, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if camera.ImageReady:
            return True
        time.sleep(0.05)
    return False


def fits_image(path):
    """The FITS file's pixels as image[x][y] with y = 0 the top row, and its header."""
    from astropy.io import fits
    with fits.open(path) as hdul:
        data = hdul[0].data.astype("int64")
        header = hdul[0].header
    order = header.get("ROWORDER", "TOP-DOWN")
    if order == "BOTTOM-UP":  # FITS row 1 is the bottom of the image
        data = data[::-1, :]
    return data.T, header


def fits_files(data_root):
    return sorted(glob.glob(os.path.join(data_root, "*", "*.fits")), key=os.path.getmtime)


def json_image(address, camera_number=0):
    """ImageArray in the JSON form (no Accept header), as a numpy array image[x][y]."""
    import numpy
    reply = requests.get(f"http://{address}/api/v1/camera/{camera_number}/imagearray",
                         params={"ClientTransactionID": 77}, timeout=60)
    check(reply.status_code == 200, f"JSON imagearray: HTTP {reply.status_code}")
    check(reply.headers.get("content-type", "").startswith("application/json"),
          f"JSON imagearray content type {reply.headers.get('content-type')}")
    body = reply.json()
    check(body["ErrorNumber"] == 0, f"JSON imagearray error {body['ErrorNumber']}: {body['ErrorMessage']}")
    check(body["Type"] == 2 and body["Rank"] == 2, f"JSON imagearray Type/Rank {body.get('Type')}/{body.get('Rank')}")
    check(body["ClientTransactionID"] == 77, "JSON imagearray did not echo ClientTransactionID")
    return numpy.array(body["Value"], dtype="int64")


# MARK: scenarios

def scenario_discovery(args):
    port = int(args.address.rsplit(":", 1)[1])
    # alpyca's own discovery, pointed at the configured port (the module's `port`).
    discovery.port = args.discovery_port
    found = discovery.search_ipv4(numquery=2, timeout=1)
    summary["alpyca_found"] = found
    check(f"127.0.0.1:{port}" in found, f"alpyca discovery found {found}, not 127.0.0.1:{port}")

    # Raw datagrams: IPv4 and IPv6 unicast to loopback; a datagram without the magic is ignored.
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            sock.sendto(b"alpacadiscovery1", (host, args.discovery_port))
            data, _ = sock.recvfrom(1024)
            check(json.loads(data) == {"AlpacaPort": port}, f"{host}: discovery reply {data!r}")
            sock.sendto(b"hello", (host, args.discovery_port))
            sock.settimeout(0.5)
            try:
                data, _ = sock.recvfrom(1024)
                failures.append(f"{host}: a datagram without alpacadiscovery1 was answered: {data!r}")
            except socket.timeout:
                pass

    # The management API, through alpyca.
    check(management.apiversions(args.address) == [1], "apiversions is not [1]")
    description = management.description(args.address)
    check(description["ServerName"] == "Aperture", f"description {description}")
    devices = management.configureddevices(args.address)
    summary["configureddevices"] = devices
    check(len(devices) == 2 and devices[0]["DeviceType"] == "Camera" and devices[0]["DeviceNumber"] == 0
          and devices[1]["DeviceType"] == "FilterWheel" and devices[1]["DeviceNumber"] == 0,
          f"configureddevices {devices}")
    summary["filterwheel_unique_id"] = devices[1]["UniqueID"] if len(devices) > 1 else None
    summary["unique_id"] = devices[0]["UniqueID"] if devices else None
    camera = Camera(args.address, 0)
    check(camera.InterfaceVersion == 4, "InterfaceVersion is not 4")
    check(camera.Name == "Aperture camera", f"Name {camera.Name!r}")


def scenario_exposure(args):
    import numpy
    camera = Camera(args.address, 0)
    check(camera.Connected is False, "the camera starts connected")
    raises(NotConnectedException, lambda: camera.CameraState, "CameraState before connecting")
    camera = connected_camera(args.address)
    check(camera.Connecting is False, "Connecting is true after connecting")
    check(camera.CameraState == CameraStates.cameraIdle, f"CameraState {camera.CameraState} at start")
    check(camera.ImageReady is False, "ImageReady before the first exposure")
    raises(ValueNotSetException, lambda: camera.LastExposureDuration, "LastExposureDuration before the first exposure")
    raises(ValueNotSetException, lambda: camera.LastExposureStartTime, "LastExposureStartTime before the first exposure")
    raises(InvalidOperationException, lambda: camera.ImageArray, "ImageArray before the first exposure")
    width, height = camera.CameraXSize, camera.CameraYSize
    check((camera.NumX, camera.NumY) == (width, height), "NumX/NumY do not start as the full frame")

    started = time.monotonic()
    camera.StartExposure(1.0, True)
    returned = time.monotonic() - started
    summary["startexposure_seconds"] = returned
    check(returned < 1.0, f"StartExposure took {returned:.3f} s (must return within 1 s)")
    states, early_ready = [], []
    while True:
        elapsed = time.monotonic() - started
        state = camera.CameraState
        ready = camera.ImageReady
        percent = camera.PercentCompleted
        check(0 <= percent <= 100, f"PercentCompleted {percent}")
        if not states or states[-1] != int(state):
            states.append(int(state))
        if ready and elapsed < 1.0:
            early_ready.append(elapsed)
        if ready or elapsed > 20:
            break
        time.sleep(0.05)
    # The state read just before ImageReady turned true may still be the download (4): the
    # state the client sees once the image is ready is read after it.
    final = int(camera.CameraState)
    if states[-1] != final:
        states.append(final)
    summary["states"] = states
    summary["ready_after"] = time.monotonic() - started
    check(not early_ready, f"ImageReady was true {early_ready} s after a 1 s exposure started")
    check(states[0] == CameraStates.cameraExposing, f"the first state after StartExposure was {states[0]}, not exposing")
    check(camera.ImageReady, "ImageReady did not turn true within 20 s")
    check(camera.CameraState == CameraStates.cameraIdle, "CameraState is not idle once the image is ready")
    check(camera.PercentCompleted == 100, "PercentCompleted is not 100 once the image is ready")
    check(camera.LastExposureDuration == 1.0, f"LastExposureDuration {camera.LastExposureDuration}")
    summary["start_time"] = camera.LastExposureStartTime

    files = fits_files(args.data_root)
    check(len(files) == 1, f"expected one FITS file, found {files}")
    expected, header = fits_image(files[-1])
    summary["fits"] = files[-1]
    summary["roworder"] = header.get("ROWORDER")
    check(header.get("IMAGETYP") == "Light Frame", f"IMAGETYP {header.get('IMAGETYP')}")
    check(abs(header.get("EXPTIME", 0) - 1.0) < 1e-9, f"EXPTIME {header.get('EXPTIME')}")

    image = numpy.array(camera.ImageArray, dtype="int64")  # ImageBytes: alpyca asks for it
    info = camera.ImageArrayInfo
    summary["imagebytes"] = {"transmission": int(info.TransmissionElementType), "element": int(info.ImageElementType),
                             "dimensions": [info.Dimension1, info.Dimension2]}
    check(int(info.TransmissionElementType) == 8, f"ImageBytes transmission type {info.TransmissionElementType}, not UInt16 (8)")
    check(image.shape == (width, height), f"ImageArray shape {image.shape}, expected ({width}, {height})")
    check(numpy.array_equal(image, expected), "ImageArray (ImageBytes) differs from the FITS file's pixels")
    check(numpy.array_equal(json_image(args.address), expected), "ImageArray (JSON) differs from the FITS file's pixels")
    check(image.std() > 0, "the image is flat")

    # A binned subframe (dark): Alpaca's StartX/NumX are binned pixels.
    camera.BinX, camera.BinY = 2, 2
    camera.StartX, camera.StartY, camera.NumX, camera.NumY = 10, 5, 100, 60
    camera.StartExposure(0.5, False)
    check(wait_ready(camera, 20), "the binned dark frame did not become ready")
    files = fits_files(args.data_root)
    check(len(files) == 2, f"expected two FITS files, found {files}")
    expected, header = fits_image(files[-1])
    check(header.get("IMAGETYP") == "Dark Frame", f"IMAGETYP {header.get('IMAGETYP')}")
    check(header.get("XBINNING") == 2 and header.get("YBINNING") == 2, "the FITS file is not 2x2 binned")
    image = numpy.array(camera.ImageArray, dtype="int64")
    check(image.shape == (100, 60), f"binned ImageArray shape {image.shape}, expected (100, 60)")
    check(numpy.array_equal(image, expected), "binned ImageArray differs from its FITS file")
    check(camera.LastExposureDuration == 0.5, "LastExposureDuration of the dark")
    camera.Connected = False
    check(camera.Connected is False, "Connected is still true after Connected = False")


def scenario_abort(args):
    camera = connected_camera(args.address)
    camera.AbortExposure()  # idle: CanAbortExposure is true, so this succeeds
    check(camera.CanAbortExposure, "CanAbortExposure is false")
    camera.StartExposure(10.0, True)
    time.sleep(1.0)
    check(camera.CameraState == CameraStates.cameraExposing, f"CameraState {camera.CameraState} 1 s into 10 s")
    check(0 < camera.PercentCompleted < 100, f"PercentCompleted {camera.PercentCompleted} 1 s into 10 s")
    started = time.monotonic()
    camera.AbortExposure()
    summary["abort_seconds"] = time.monotonic() - started
    check(camera.CameraState == CameraStates.cameraIdle, f"CameraState {camera.CameraState} after AbortExposure")
    check(camera.ImageReady is False, "ImageReady after an aborted exposure")
    raises(InvalidOperationException, lambda: camera.ImageArray, "ImageArray after an abort")
    # The camera takes the next exposure normally.
    camera.StartExposure(0.5, True)
    check(wait_ready(camera, 20), "the exposure after an abort did not become ready")
    check(len(camera.ImageArray) == camera.NumX, "the image after the abort has the wrong width")
    raises(NotImplementedException, camera.StopExposure, "StopExposure (CanStopExposure is false)")
    check(camera.CanStopExposure is False, "CanStopExposure")


def scenario_invalid(args):
    camera = Camera(args.address, 0)
    raises(NotConnectedException, lambda: camera.BinX, "BinX before connecting")
    raises(NotConnectedException, lambda: camera.StartExposure(1.0, True), "StartExposure before connecting")
    camera = connected_camera(args.address)
    width, height = camera.CameraXSize, camera.CameraYSize
    max_x, max_y = camera.MaxBinX, camera.MaxBinY
    gains, modes = camera.Gains, camera.ReadoutModes
    summary.update(width=width, height=height, max_bin=[max_x, max_y], gains=gains, readout_modes=modes)

    def setter(name, value):
        return lambda: setattr(camera, name, value)

    for name, value in [("BinX", 0), ("BinX", max_x + 1), ("BinY", 0), ("BinY", max_y + 1), ("BinX", -1),
                        ("Gain", -1), ("Gain", len(gains)), ("ReadoutMode", -1), ("ReadoutMode", len(modes)),
                        ("SetCCDTemperature", -300.0), ("SetCCDTemperature", 100.0)]:
        raises(InvalidValueException, setter(name, value), f"{name} = {value}")
    check(camera.BinX == 1 and camera.Gain == 0 and camera.ReadoutMode == 0, "a rejected value was kept")
    # The subframe is not checked when set (ICameraV4; clients set binning and subframe in any
    # order): StartExposure refuses a frame outside the sensor, naming the member.
    for name, value in [("NumX", 0), ("NumX", width + 1), ("NumY", 0), ("NumY", height + 1), ("StartX", -1),
                        ("StartY", -1), ("StartX", width), ("NumX", 2**31 - 1), ("StartX", -(2**31))]:
        original = getattr(camera, name)
        setattr(camera, name, value)
        check(getattr(camera, name) == value, f"{name} = {value} was not kept until StartExposure")
        try:
            camera.StartExposure(0.1, True)
            failures.append(f"StartExposure with {name} = {value}: expected InvalidValueException, but it succeeded")
        except InvalidValueException as error:
            check(name in str(error), f"StartExposure with {name} = {value}: the error does not name {name}: {error}")
        setattr(camera, name, original)

    exposure_max, exposure_min = camera.ExposureMax, camera.ExposureMin
    for duration, light in [(-1.0, True), (exposure_max + 1, True), (0.0, True)]:
        raises(InvalidValueException, lambda: camera.StartExposure(duration, light), f"StartExposure({duration}, {light})")
    # A subframe that is valid property by property but not together is refused at StartExposure.
    camera.StartX, camera.NumX = width - 10, 20
    raises(InvalidValueException, lambda: camera.StartExposure(0.1, True), "StartX + NumX beyond the sensor")
    camera.StartX, camera.NumX = 0, width
    camera.BinX = 2
    raises(InvalidValueException, lambda: camera.StartExposure(0.1, True), "NumX = full width at BinX 2")
    camera.BinX, camera.NumX = 1, width
    check(camera.CameraState == CameraStates.cameraIdle, "a refused exposure left the camera busy")

    # Members the camera lacks answer NotImplemented (0x400), never HTTP 404.
    for name in ["GainMin", "GainMax", "Offset", "Offsets", "OffsetMin", "OffsetMax", "HeatSinkTemperature",
                 "FastReadout", "IsPulseGuiding", "BayerOffsetX", "BayerOffsetY", "SubExposureDuration"]:
        raises(NotImplementedException, lambda: getattr(camera, name), name)
    raises(NotImplementedException, lambda: camera.PulseGuide(0, 100), "PulseGuide")
    raises(NotImplementedException, lambda: setattr(camera, "FastReadout", True), "FastReadout = True")
    for name, expected in [("CanPulseGuide", False), ("CanFastReadout", False), ("CanAbortExposure", True),
                           ("CanSetCCDTemperature", True), ("CanAsymmetricBin", True), ("SensorType", 0)]:
        check(getattr(camera, name) == expected, f"{name} is {getattr(camera, name)}, expected {expected}")

    # Valid values are kept.
    camera.Gain, camera.ReadoutMode = len(gains) - 1, len(modes) - 1
    check(camera.Gain == len(gains) - 1 and camera.ReadoutMode == len(modes) - 1, "Gain/ReadoutMode not kept")
    camera.SetCCDTemperature = -10.0
    check(camera.SetCCDTemperature == -10.0, f"SetCCDTemperature reads {camera.SetCCDTemperature}")
    check(isinstance(camera.CCDTemperature, float), "CCDTemperature")
    state = {item["Name"]: item["Value"] for item in camera.DeviceState}
    summary["devicestate"] = state
    check({"CameraState", "CCDTemperature", "ImageReady", "TimeStamp"} <= set(state), f"DeviceState {state}")

    # Busy: a second StartExposure while one runs is an invalid operation.
    camera.StartExposure(3.0, False)
    raises(InvalidOperationException, lambda: camera.StartExposure(1.0, False), "StartExposure while exposing")
    camera.AbortExposure()

    camera.Connected = False
    raises(NotConnectedException, lambda: camera.BinX, "BinX after disconnecting")
    camera.Connect()
    deadline = time.monotonic() + 10
    while camera.Connecting and time.monotonic() < deadline:
        time.sleep(0.05)
    check(camera.Connected, "Connect() did not connect")
    camera.Disconnect()
    check(not camera.Connected, "Disconnect() did not disconnect")


def scenario_protocol(args):
    base = f"http://{args.address}"
    api = f"{base}/api/v1/camera/0"

    def bad(method, url, data=None, label=None):
        reply = requests.request(method, url, data=data, timeout=10)
        check(reply.status_code == 400, f"{label or method + ' ' + url}: HTTP {reply.status_code}, expected 400")
        check(reply.headers.get("content-type", "").startswith("text/plain"),
              f"{label or url}: content type {reply.headers.get('content-type')}")
        check(reply.text.strip() != "", f"{label or url}: empty 400 body")
        return reply

    bad("GET", f"{api}/nosuchmember")
    bad("GET", f"{base}/api/v1/camera/1/connected", label="device number 1")
    bad("GET", f"{base}/api/v1/camera/x/connected", label="device number x")
    bad("GET", f"{base}/api/v1/telescope/0/connected", label="device type telescope")
    bad("GET", f"{base}/api/v2/camera/0/connected", label="API v2")
    bad("GET", f"{base}/api/v1/camera/0", label="no member")
    bad("POST", f"{api}/camerastate", label="POST on a GET member")
    bad("PUT", f"{api}/camerastate", data={"ClientTransactionID": 1}, label="PUT on a GET member")
    bad("GET", f"{api}/startexposure", label="GET on a PUT member")
    bad("PUT", f"{api}/connected", data={"connected": "True"}, label="miscased PUT key")
    bad("PUT", f"{api}/connected", data={"Connected": "yes"}, label="Connected = yes")
    bad("PUT", f"{api}/connected", data={}, label="PUT without its parameter")
    requests.put(f"{api}/connected", data={"Connected": "True"}, timeout=10)
    bad("PUT", f"{api}/binx", data={"BINX": "1"}, label="BINX")
    bad("PUT", f"{api}/binx", data={"BinX": "two"}, label="BinX = two")
    bad("PUT", f"{api}/startexposure", data={"Duration": "1"}, label="startexposure without Light")
    bad("PUT", f"{api}/startexposure", data={"Duration": "soon", "Light": "True"}, label="Duration = soon")

    # GET keys are case-insensitive; PUT's ClientTransactionID is case-sensitive (miscased: 0).
    first = requests.get(f"{api}/camerastate", params={"clienttransactionid": 42}, timeout=10).json()
    check(first["ClientTransactionID"] == 42, f"GET clienttransactionid not echoed: {first}")
    check(set(first) == {"Value", "ClientTransactionID", "ServerTransactionID", "ErrorNumber", "ErrorMessage"},
          f"envelope keys {sorted(first)}")
    second = requests.get(f"{api}/camerastate", params={"CLIENTTRANSACTIONID": 43}, timeout=10).json()
    check(second["ClientTransactionID"] == 43, "GET CLIENTTRANSACTIONID not echoed")
    check(second["ServerTransactionID"] > first["ServerTransactionID"], "ServerTransactionID does not increase")
    put = requests.put(f"{api}/binx", data={"BinX": "1", "ClientTransactionID": "44"}, timeout=10).json()
    check(put["ClientTransactionID"] == 44 and put["ErrorNumber"] == 0 and "Value" not in put, f"PUT reply {put}")
    miscased = requests.put(f"{api}/binx", data={"BinX": "1", "clienttransactionid": "45"}, timeout=10).json()
    check(miscased["ClientTransactionID"] == 0, f"a miscased PUT ClientTransactionID was used: {miscased}")
    junk = requests.get(f"{api}/camerastate", params={"ClientTransactionID": "abc"}, timeout=10).json()
    check(junk["ClientTransactionID"] == 0, f"a non-numeric ClientTransactionID gave {junk}")

    # A listed member the camera lacks: HTTP 200, ErrorNumber 0x400 (never 404).
    reply = requests.get(f"{api}/gainmin", timeout=10)
    check(reply.status_code == 200 and reply.json()["ErrorNumber"] == 0x400, f"gainmin: {reply.status_code} {reply.text}")
    reply = requests.put(f"{api}/stopexposure", timeout=10)
    check(reply.status_code == 200 and reply.json()["ErrorNumber"] == 0x400, f"stopexposure: {reply.text}")
    reply = requests.put(f"{api}/action", data={"Action": "x", "Parameters": ""}, timeout=10)
    check(reply.json()["ErrorNumber"] == 0x40C, f"action: {reply.text}")
    for name in ["commandblind", "commandbool", "commandstring"]:
        reply = requests.put(f"{api}/{name}", data={"Command": "x", "Raw": "false"}, timeout=10)
        check(reply.json()["ErrorNumber"] == 0x400, f"{name}: {reply.text}")
    check(requests.get(f"{api}/supportedactions", timeout=10).json()["Value"] == [], "supportedactions")

    # Setup pages and management.
    for path in ["/setup", "/setup/v1/camera/0/setup"]:
        reply = requests.get(base + path, timeout=10)
        check(reply.status_code == 200 and "text/html" in reply.headers.get("content-type", ""),
              f"{path}: {reply.status_code} {reply.headers.get('content-type')}")
        check("Aperture" in reply.text, f"{path} does not name the device")
    reply = requests.get(f"{base}/management/apiversions", params={"ClientTransactionID": 9}, timeout=10).json()
    check(reply["Value"] == [1] and reply["ClientTransactionID"] == 9, f"apiversions {reply}")
    bad("GET", f"{base}/management/v2/description", label="management v2")
    requests.put(f"{api}/connected", data={"Connected": "False"}, timeout=10)


def scenario_busy(args):
    camera = connected_camera(args.address)
    camera.StartExposure(10.0, True)
    time.sleep(0.5)
    reply = requests.post(f"http://{args.http}/v1/exposures", json={"type": "object", "time": 1}, timeout=10)
    summary["v1_while_alpaca"] = reply.status_code
    check(reply.status_code == 409, f"POST /v1/exposures during an Alpaca exposure: HTTP {reply.status_code} {reply.text}")
    check("busy" in reply.text, f"the 409 does not say busy: {reply.text}")
    camera.AbortExposure()
    check(camera.CameraState == CameraStates.cameraIdle, "not idle after AbortExposure")

    reply = requests.post(f"http://{args.http}/v1/exposures", json={"type": "object", "time": 10}, timeout=10)
    check(reply.status_code == 202, f"POST /v1/exposures: HTTP {reply.status_code} {reply.text}")
    time.sleep(0.5)
    check(camera.CameraState == CameraStates.cameraExposing, "an exposure started through /v1 does not show as exposing")
    raises(InvalidOperationException, lambda: camera.StartExposure(1.0, True), "StartExposure during a /v1 exposure")
    raises(InvalidOperationException, camera.AbortExposure, "AbortExposure of a /v1 exposure")
    check(camera.ImageReady is False, "ImageReady during another client's exposure")
    requests.post(f"http://{args.http}/v1/exposures/abort", timeout=10)
    deadline = time.monotonic() + 10
    while camera.CameraState != CameraStates.cameraIdle and time.monotonic() < deadline:
        time.sleep(0.05)
    check(camera.CameraState == CameraStates.cameraIdle, "not idle after the /v1 abort")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("address")
    parser.add_argument("--discovery-port", type=int)
    parser.add_argument("--data-root")
    parser.add_argument("--http")
    args = parser.parse_args()
    globals()["scenario_" + args.scenario](args)
    summary["failures"] = failures
    print(json.dumps(summary, default=str))
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
