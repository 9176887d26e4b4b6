#!/usr/bin/env python3
"""ConformU's checks, carried over: the conformance checks of the ASCOM Initiative's ConformU
(github.com/ASCOMInitiative/ConformU, commit 5c6591c3880575c65937bc6861b7f7fc631e333a) that
apply to Aperture's Alpaca Camera 0 and FilterWheel 0, run with alpyca and raw HTTP against the
running service. Each check names the ConformU source line it follows (`CameraTester.cs:396`,
`FilerWheelTester.cs:276` (sic: ConformU's file name), `DeviceTesterBaseClass.cs:341`,
`AlpacaProtocolTestManager.cs:465`).

ConformU's rules are kept: what ConformU logs with LogIssue (the device breaks the interface)
or LogError is a failure here; what it logs with LogInfo (a permitted choice, such as a value
or an InvalidValue error for PercentCompleted before an exposure) is accepted and noted.

Usage: alpaca_conformance.py SCENARIO ALPACA_ADDRESS [options]
  camera       the CameraTester.cs checks (properties, error cases, one exposure)
  filterwheel  --http ADDRESS --data-root DIR   the FilerWheelTester.cs checks, and the same
               wheel on /v1 and in the FITS FILTER header
  protocol     the AlpacaProtocolTestManager.cs checks for both devices (raw HTTP)
  nina         --data-root DIR   an imaging program's session: binning then subframe and the
               reverse, a filter change between exposures, the FILTER of each file
  hostile      bad Position values and transaction ids on the filter wheel

Prints a JSON summary on stdout (the checks run, with their citations); exits 1 with the
failed checks (ConformU's issues) on stderr.
"""
import argparse
import glob
import json
import os
import sys
import time

import requests
from alpaca.camera import Camera, CameraStates
from alpaca.exceptions import (InvalidOperationException, InvalidValueException, NotConnectedException,
                               NotImplementedException, ValueNotSetException)
from alpaca.filterwheel import FilterWheel

issues = []
checks = []
summary = {"checks": checks}


def check(condition, cite, message):
    """One carried-over check: `cite` is the ConformU file:line it follows."""
    checks.append(cite)
    if not condition:
        issues.append(f"[{cite}] {message}")
    return condition


def raises(kinds, action, cite, label):
    """ConformU's Handle...ExceptionAsOk: the call must fail with one of `kinds`."""
    checks.append(cite)
    try:
        action()
    except kinds:
        return True
    except Exception as error:  # noqa: BLE001 - any other outcome is an issue
        issues.append(f"[{cite}] {label}: expected {kinds}, got {type(error).__name__}: {error}")
        return False
    issues.append(f"[{cite}] {label}: expected an error, but it succeeded")
    return False


def succeeds(action, cite, label):
    """A call ConformU expects to succeed (LogIssue on any error)."""
    checks.append(cite)
    try:
        return action()
    except Exception as error:  # noqa: BLE001
        issues.append(f"[{cite}] {label}: {type(error).__name__}: {error}")
        return None


def wait_until(condition, timeout, poll=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return condition()


def common_members(device, interface_version, operational, is_camera):
    """DeviceTesterBaseClass.CheckCommonMethods and DeviceState."""
    check(device.InterfaceVersion == interface_version, "DeviceTesterBaseClass.cs:341",
          f"InterfaceVersion {device.InterfaceVersion}, expected {interface_version}")
    check(isinstance(device.Connected, bool), "DeviceTesterBaseClass.cs:364", "Connected is not a boolean")
    description = device.Description
    check(isinstance(description, str), "DeviceTesterBaseClass.cs:396", "Description is not a string")
    if is_camera:
        check(len(description) <= 68, "DeviceTesterBaseClass.cs:391",
              f"a camera's Description must fit a FITS header (68 characters): {len(description)}: {description}")
    # alpyca splits DriverInfo at commas into a list of strings.
    info = device.DriverInfo
    check(bool(info) and all(isinstance(part, str) for part in (info if isinstance(info, list) else [info])),
          "DeviceTesterBaseClass.cs:428", f"DriverInfo {info!r}")
    check(isinstance(device.DriverVersion, str) and device.DriverVersion, "DeviceTesterBaseClass.cs:459", "DriverVersion")
    check(isinstance(device.Name, str) and device.Name, "DeviceTesterBaseClass.cs:490", "Name")
    actions = device.SupportedActions
    check(isinstance(actions, list) and all(a for a in actions), "DeviceTesterBaseClass.cs:532",
          f"SupportedActions {actions}")
    state = device.DeviceState
    names = [item["Name"] for item in state]
    summary.setdefault("devicestate", {})[type(device).__name__] = {item["Name"]: item["Value"] for item in state}
    for name in names:
        if name == "TimeStamp" or name in operational:
            continue
        miscased = [o for o in operational if o.lower() == name.lower()]
        check(False, "DeviceTesterBaseClass.cs:1008" if miscased else "DeviceTesterBaseClass.cs:1012",
              f"DeviceState item {name!r} is {'mis-cased' if miscased else 'not an operational property'}")
    return names


# MARK: camera

def scenario_camera(args):
    camera = Camera(args.address, 0)
    camera.Connected = True
    check(camera.Connected is True, "DeviceTesterBaseClass.cs:1169", "Connected = True did not connect")
    names = common_members(camera, 4, {"CameraState", "CCDTemperature", "CoolerPower", "HeatSinkTemperature",
                                       "ImageReady", "IsPulseGuiding", "PercentCompleted"}, True)
    check({"CameraState", "ImageReady", "PercentCompleted"} <= set(names), "DeviceTesterBaseClass.cs:886",
          f"DeviceState lacks operational properties the camera has: {names}")

    # First use: nothing exposed yet.
    raises(ValueNotSetException, lambda: camera.LastExposureDuration, "CameraTester.cs:401",
           "LastExposureDuration before an exposure")
    raises(ValueNotSetException, lambda: camera.LastExposureStartTime, "CameraTester.cs:413",
           "LastExposureStartTime before an exposure")
    check(camera.ImageReady is False, "CameraTester.cs:695", "ImageReady is true although no exposure was started")
    raises((InvalidOperationException, ValueNotSetException), lambda: camera.ImageArray, "CameraTester.cs:738",
           "ImageArray while ImageReady is false")
    # PercentCompleted: 0...100, or InvalidValue (HandleInvalidValueExceptionAsOk): Aperture answers 0.
    percent = succeeds(lambda: camera.PercentCompleted, "CameraTester.cs:1266", "PercentCompleted before an exposure")
    check(percent == 0, "CameraTester.cs:1246", f"PercentCompleted before any exposure is {percent}, expected 0")

    # Sizes and binning.
    width, height = camera.CameraXSize, camera.CameraYSize
    check(width > 0 and height > 0, "CameraTester.cs:633", f"CameraXSize/CameraYSize {width}x{height}")
    max_x, max_y = camera.MaxBinX, camera.MaxBinY
    check(1 <= max_x and 1 <= max_y, "CameraTester.cs:434", f"MaxBinX/MaxBinY {max_x}/{max_y}")
    # ConformU's settings.CameraMaxBinX/Y limit the binnings tried (CameraTester.cs:525-534).
    if args.max_bin:
        max_x, max_y = min(max_x, args.max_bin), min(max_y, args.max_bin)
    check(1 <= camera.NumX <= width, "CameraTester.cs:816", f"NumX {camera.NumX} not in 1...{width}")
    check(0 <= camera.StartX <= width - 1, "CameraTester.cs:941", f"StartX {camera.StartX}")
    for bin_x in range(1, max_x + 1):
        for bin_y in range(1, max_y + 1):
            succeeds(lambda: setattr(camera, "BinX", bin_x), "CameraTester.cs:550", f"BinX = {bin_x}")
            succeeds(lambda: setattr(camera, "BinY", bin_y), "CameraTester.cs:567", f"BinY = {bin_y}")
    raises(InvalidValueException, lambda: setattr(camera, "BinX", camera.MaxBinX + 1), "CameraTester.cs:592", "BinX = MaxBinX + 1")
    camera.BinX = camera.BinY = 1
    succeeds(lambda: setattr(camera, "NumX", width // 2), "CameraTester.cs:817", "NumX = CameraXSize / 2")
    succeeds(lambda: setattr(camera, "StartX", width // 2), "CameraTester.cs:942", "StartX = CameraXSize / 2")
    camera.NumX, camera.StartX = width, 0

    # Exposure limits, gains, readout modes, cooling.
    check(camera.ExposureMin <= camera.ExposureMax, "CameraTester.cs:993", "ExposureMin > ExposureMax")
    gains = camera.Gains
    raises(NotImplementedException, lambda: camera.GainMin, "CameraTester.cs:1097", "GainMin with a Gains list")
    check(0 <= camera.Gain < len(gains), "CameraTester.cs:1138", f"Gain {camera.Gain} is not an index into {gains}")
    modes = camera.ReadoutModes
    check(0 <= camera.ReadoutMode < len(modes), "CameraTester.cs:1299", f"ReadoutMode {camera.ReadoutMode}")
    sensor = succeeds(lambda: camera.SensorName, "CameraTester.cs:1311", "SensorName (mandatory)")
    check(isinstance(sensor, str) and len(sensor) <= 250, "CameraTester.cs:1311", f"SensorName {sensor!r}")
    raises(InvalidValueException, lambda: setattr(camera, "SetCCDTemperature", -273.25), "CameraTester.cs:873",
           "SetCCDTemperature below absolute zero")
    raises(InvalidValueException, lambda: setattr(camera, "SetCCDTemperature", 100.0), "CameraTester.cs:907",
           "SetCCDTemperature = 100 °C")
    check(camera.CameraState == CameraStates.cameraIdle, "CameraTester.cs:1544", "not idle before AbortExposure")
    succeeds(camera.AbortExposure, "CameraTester.cs:1560", "AbortExposure while idle (CanAbortExposure is true)")

    # StartExposure error cases: the frame is set member by member without error
    # (CameraTester.cs:2666, 2692, 2718: "Unable to set" is an issue), and StartExposure refuses it.
    raises(InvalidValueException, lambda: camera.StartExposure(-1.0, True), "CameraTester.cs:1769", "negative duration")
    rejected = 0
    for bin_x in range(1, max_x + 1):
        for bin_y in range(1, max_y + 1):
            columns, rows = width // bin_x, height // bin_y
            for label, frame in [("XSize", (0, 0, columns + 1, rows)), ("YSize", (0, 0, columns, rows + 1)),
                                 ("XStart", (columns + 1, 0, columns, rows)), ("YStart", (0, rows + 1, columns, rows))]:
                start_x, start_y, num_x, num_y = frame
                for member, value, cite in [("BinX", bin_x, "CameraTester.cs:2666"), ("BinY", bin_y, "CameraTester.cs:2679"),
                                            ("StartX", start_x, "CameraTester.cs:2692"), ("StartY", start_y, "CameraTester.cs:2705"),
                                            ("NumX", num_x, "CameraTester.cs:2718"), ("NumY", num_y, "CameraTester.cs:2731")]:
                    succeeds(lambda: setattr(camera, member, value), cite, f"Reject Bad {label} (bin {bin_x} x {bin_y}): {member} = {value}")
                if raises(InvalidValueException, lambda: camera.StartExposure(0.1, True), "CameraTester.cs:1781",
                          f"Reject Bad {label} (bin {bin_x} x {bin_y})"):
                    rejected += 1
    summary["bad_frames_rejected"] = rejected
    check(camera.CameraState == CameraStates.cameraIdle, "CameraTester.cs:3184", "a refused frame left the camera busy")

    # One good exposure: asynchronous, not ready early, ready and idle after.
    camera.BinX = camera.BinY = 1
    camera.StartX, camera.StartY, camera.NumX, camera.NumY = 0, 0, width, height
    started = time.monotonic()
    camera.StartExposure(1.0, True)
    returned = time.monotonic() - started
    check(returned < 1.0, "CameraTester.cs:2922", f"StartExposure returned after {returned:.2f} s: it must be asynchronous")
    early = camera.ImageReady and time.monotonic() - started < 1.0
    check(not early, "CameraTester.cs:2931", "ImageReady before the exposure time had elapsed")
    percents = []
    while not camera.ImageReady and time.monotonic() - started < 20:
        percents.append(camera.PercentCompleted)
        time.sleep(0.1)
    check(all(0 <= p <= 100 for p in percents), "CameraTester.cs:3010", f"PercentCompleted during the exposure: {percents}")
    check(camera.ImageReady, "CameraTester.cs:3153", "ImageReady did not turn true")
    check(camera.CameraState == CameraStates.cameraIdle, "CameraTester.cs:3176", "not idle after the exposure")
    check(camera.LastExposureDuration == 1.0, "CameraTester.cs:3646", f"LastExposureDuration {camera.LastExposureDuration}")
    image = camera.ImageArray
    check(len(image) == width and len(image[0]) == height, "CameraTester.cs:703", "ImageArray has not the frame's size")
    camera.Connected = False
    check(camera.Connected is False, "DeviceTesterBaseClass.cs:1187", "Connected = False did not disconnect")


# MARK: filter wheel

def move(wheel, slot, timeout=30):
    """FilerWheelTester.MoveToPosition: returns (seconds to set, seconds until Position reads it, saw -1)."""
    started = time.monotonic()
    wheel.Position = slot
    returned = time.monotonic() - started
    saw_moving = False
    while time.monotonic() - started < timeout:
        position = wheel.Position
        if position == -1:
            saw_moving = True
        elif position == slot:
            break
        time.sleep(0.02)
    return returned, time.monotonic() - started, saw_moving


def fits_filter(data_root, count):
    from astropy.io import fits
    files = sorted(glob.glob(os.path.join(data_root, "*", "*.fits")), key=os.path.getmtime)
    check(len(files) == count, "FILTER", f"expected {count} FITS files, found {len(files)}")
    with fits.open(files[-1]) as hdul:
        return hdul[0].header.get("FILTER")


def scenario_filterwheel(args):
    wheel = FilterWheel(args.address, 0)
    raises(NotConnectedException, lambda: wheel.Position, "FilerWheelTester.cs:282", "Position before connecting")
    raises(NotConnectedException, lambda: setattr(wheel, "Position", 1), "FilerWheelTester.cs:282",
           "Position = 1 before connecting")
    wheel.Connected = True
    check(wheel.Connected is True, "DeviceTesterBaseClass.cs:1169", "Connected = True did not connect")
    common_members(wheel, 3, {"Position"}, False)

    # PreRunCheck: stationary.
    check(wait_until(lambda: wheel.Position != -1, args.timeout), "FilerWheelTester.cs:179", "the wheel is still moving at start")
    offsets = wheel.FocusOffsets
    check(len(offsets) > 0, "FilerWheelTester.cs:211", "FocusOffsets is empty")
    check(all(isinstance(o, int) for o in offsets), "FilerWheelTester.cs:207", f"FocusOffsets {offsets}")
    names = wheel.Names
    check(len(names) > 0, "FilerWheelTester.cs:241", "Names is empty")
    check(all(isinstance(n, str) and n for n in names), "FilerWheelTester.cs:251", f"an empty filter name in {names}")
    check(len(names) == len(offsets), "FilerWheelTester.cs:266", f"{len(offsets)} offsets for {len(names)} names")
    summary["names"], summary["focus_offsets"] = names, offsets
    if args.offsets:
        check(offsets == [int(o) for o in args.offsets.split(",")], "FocusOffsets",
              f"FocusOffsets {offsets}, configured {args.offsets}")
    position = wheel.Position
    check(0 <= position < len(offsets), "FilerWheelTester.cs:276", f"Illegal filter position returned: {position}")

    # Ascending, descending, then the long moves (FilerWheelTester.cs:301-366).
    count = len(names)
    moves = {}
    sequence = list(range(count)) + list(range(count - 1, -1, -1)) + [0, count - 1, max(count - 2, 0), 0, count // 2, 0]
    for slot in sequence:
        returned, reached, saw_moving = move(wheel, slot, args.timeout)
        reported = wheel.Position
        check(reported == slot, "FilerWheelTester.cs:608", f"did not reach {slot}: Position is {reported}")
        check(not (reported == slot and returned > 1.0), "FilerWheelTester.cs:584",
              f"Position Set to {slot} took {returned:.2f} s: it operated synchronously")
        moves.setdefault("set_seconds", []).append(round(returned, 4))
        moves.setdefault("reach_seconds", []).append(round(reached, 4))
        moves.setdefault("saw_moving", []).append(saw_moving)
    summary["moves"] = moves
    if args.move_seconds > 0:
        # A wheel that takes time: Position reads -1 while it moves, then the new slot.
        changed = [saw for saw, a, b in zip(moves["saw_moving"], [None] + sequence, sequence) if a is not None and a != b]
        check(all(changed), "FilerWheelTester.cs:586", f"Position did not read -1 during every move: {moves['saw_moving']}")

    # Error conditions (FilerWheelTester.cs:375, 389).
    raises(InvalidValueException, lambda: setattr(wheel, "Position", -1), "FilerWheelTester.cs:380", "Position = -1")
    raises(InvalidValueException, lambda: setattr(wheel, "Position", count), "FilerWheelTester.cs:394", f"Position = {count}")
    check(wheel.Position == 0, "FilerWheelTester.cs:394", "a refused Position moved the wheel")

    if args.http:
        # The same wheel on /v1 and in the FITS header: move through Alpaca, read /v1, expose
        # through Alpaca, read FILTER with astropy.
        target = count - 1
        move(wheel, target, args.timeout)
        v1 = requests.get(f"http://{args.http}/v1/filterwheel", timeout=10).json()
        check(v1.get("slot") == target and v1.get("name") == names[target] and "target" not in v1, "same wheel",
              f"/v1/filterwheel after an Alpaca move to {target}: {v1}")
        if args.move_seconds > 0:
            wheel.Position = 1
            v1 = requests.get(f"http://{args.http}/v1/filterwheel", timeout=10).json()
            check(v1.get("target") == 1, "same wheel", f"/v1/filterwheel during an Alpaca move to 1: {v1}")
            wait_until(lambda: wheel.Position == 1, args.timeout)
            target = 1
        camera = Camera(args.address, 0)
        camera.Connected = True
        files = 0
        for slot in [target, 0]:
            wheel.Position = slot
            # Exposed while the wheel may still move: FILTER says where it was during the exposure.
            camera.StartExposure(0.2, True)
            check(wait_until(lambda: camera.ImageReady, 30), "FILTER", "the exposure did not become ready")
            files += 1
            found = fits_filter(args.data_root, files)
            check(found == names[slot], "FILTER", f"FILTER {found!r} after a move to {slot} ({names[slot]})")
            summary.setdefault("fits_filters", []).append(found)
        camera.Connected = False

    # Disconnect (DeviceTesterBaseClass.cs:1187) and Connect() (asynchronous in V3).
    wheel.Connected = False
    check(wheel.Connected is False, "DeviceTesterBaseClass.cs:1187", "Connected = False did not disconnect")
    raises(NotConnectedException, lambda: wheel.Position, "FilerWheelTester.cs:282", "Position after disconnecting")
    wheel.Connect()
    check(wait_until(lambda: wheel.Connected and not wheel.Connecting, 10), "DeviceTesterBaseClass.cs:1229",
          "Connect() did not connect")
    wheel.Disconnect()
    check(not wheel.Connected, "DeviceTesterBaseClass.cs:1187", "Disconnect() did not disconnect")


# MARK: protocol

def scenario_protocol(args):
    base = f"http://{args.address}"
    ok = {"ClientID": "1", "ClientTransactionID": "12"}

    def envelope(reply, cite, label, value=True):
        check(reply.status_code == 200, cite, f"{label}: HTTP {reply.status_code} {reply.text[:200]}")
        try:
            body = reply.json()
        except ValueError:
            check(False, cite, f"{label}: not JSON: {reply.text[:200]}")
            return {}
        for key in ["ClientTransactionID", "ServerTransactionID", "ErrorNumber", "ErrorMessage"]:
            check(key in body, "AlpacaProtocolTestManager.cs:2405", f"{label}: no {key} in {body}")
        check(body.get("ServerTransactionID", 0) >= 1, "AlpacaProtocolTestManager.cs:2057", f"{label}: ServerTransactionID")
        if value and body.get("ErrorNumber") == 0:
            check("Value" in body, "AlpacaProtocolTestManager.cs:2633", f"{label}: no Value")
        return body

    def bad(method, url, data=None, cite="AlpacaProtocolTestManager.cs:1674", label="", invalid_ok=False):
        reply = requests.request(method, url, params=data if method == "GET" else None,
                                 data=data if method != "GET" else None, timeout=10)
        if invalid_ok and reply.status_code == 200 and reply.json().get("ErrorNumber") == 0x401:
            return reply
        check(400 <= reply.status_code < 500, cite, f"{label or method + ' ' + url}: HTTP {reply.status_code}, expected 400")
        return reply

    for device, members in [("camera", ["camerastate", "cameraxsize", "sensorname", "percentcompleted"]),
                            ("filterwheel", ["names", "focusoffsets", "position"])]:
        api = f"{base}/api/v1/{device}/0"
        # Bad URLs (AlpacaProtocolTestManager.cs:451-456): any 4XX.
        for path, label in [(f"/api/v1/{device.upper()}/0/description", "capitalised device type"),
                            ("/api/v1/baddevicetype/0/description", "baddevicetype"),
                            (f"/api/v1/{device}/-1/description", "device number -1"),
                            (f"/api/v1/{device}/99999/description", "device number 99999"),
                            (f"/api/v1/{device}/A/description", "device number A"),
                            (f"/api/v1/{device}/0/descrip", "method descrip"),
                            (f"/api/v2/{device}/0/description", "v2")]:
            bad("GET", base + path, ok, "AlpacaProtocolTestManager.cs:451", f"{device}: {label}")
        # Connected: good and bad values (AlpacaProtocolTestManager.cs:465-467).
        body = envelope(requests.get(f"{api}/connected", params=ok, timeout=10), "AlpacaProtocolTestManager.cs:462", "GET connected")
        check(body.get("ClientTransactionID") == 12, "AlpacaProtocolTestManager.cs:2038", f"{device}: ClientTransactionID {body}")
        for value in ["", "1", "asdf"]:
            bad("PUT", f"{api}/connected", dict(ok, Connected=value), "AlpacaProtocolTestManager.cs:465",
                f"{device}: PUT connected '{value}'", invalid_ok=True)
        envelope(requests.put(f"{api}/connected", data=dict(ok, Connected="True"), timeout=10),
                 "AlpacaProtocolTestManager.cs:1648", f"{device}: PUT connected True", value=False)
        for member in ["description", "driverinfo", "driverversion", "interfaceversion", "name", "supportedactions"] + members:
            body = envelope(requests.get(f"{api}/{member}", params=ok, timeout=10), "AlpacaProtocolTestManager.cs:470",
                            f"{device}: GET {member}")
            check(body.get("ErrorNumber") == 0, "AlpacaProtocolTestManager.cs:2125", f"{device}: {member}: {body}")
        # Transaction ids that are not uint32: 200 (tolerant) or 400, never a failure of the device.
        for name, value, label in [("ClientID", "", "ClientID is empty"), ("ClientID", "-1", "ClientID is negative"),
                                   ("ClientTransactionID", " ", "ClientTransactionID is white space"),
                                   ("ClientTransactionID", "abc", "ClientTransactionID is a string")]:
            reply = requests.get(f"{api}/connected", params=dict(ok, **{name: value}), timeout=10)
            check(reply.status_code in (200, 400), "AlpacaProtocolTestManager.cs:1813", f"{device}: {label}: HTTP {reply.status_code}")
            if reply.status_code == 200:
                check(reply.json().get("ClientTransactionID") in (0, 12), "AlpacaProtocolTestManager.cs:2038",
                      f"{device}: {label}: ClientTransactionID {reply.json()}")
        envelope(requests.put(f"{api}/connected", data=dict(ok, Connected="False"), timeout=10),
                 "AlpacaProtocolTestManager.cs:1648", f"{device}: PUT connected False", value=False)

    # FilterWheel Position PUT (AlpacaProtocolTestManager.cs:871 PutOneParameter): good casing,
    # good casing plus an extra parameter, a bad value (400 or InvalidValue), bad casing (400).
    api = f"{base}/api/v1/filterwheel/0"
    requests.put(f"{api}/connected", data={"Connected": "True"}, timeout=10)
    position = requests.get(f"{api}/position", timeout=10).json()["Value"]
    wait = lambda: wait_until(lambda: requests.get(f"{api}/position", timeout=10).json()["Value"] != -1, 30)  # noqa: E731
    envelope(requests.put(f"{api}/position", data=dict(ok, Position=str(position)), timeout=10),
             "AlpacaProtocolTestManager.cs:1648", "Position (Good casing)", value=False)
    wait()
    envelope(requests.put(f"{api}/position", data=dict(ok, Position=str(position), ExtraParameter="x"), timeout=10),
             "AlpacaProtocolTestManager.cs:1655", "Position (Good casing + extra parameter)", value=False)
    wait()
    bad("PUT", f"{api}/position", dict(ok, Position="ASCOM"), "AlpacaProtocolTestManager.cs:1666", "Position (Bad value)",
        invalid_ok=True)
    bad("PUT", f"{api}/position", dict(ok, pOSITION=str(position)), "AlpacaProtocolTestManager.cs:1674", "Position (Bad casing)")
    requests.put(f"{api}/connected", data={"Connected": "False"}, timeout=10)

    # Management: both devices, each with its own UniqueID.
    devices = requests.get(f"{base}/management/v1/configureddevices", timeout=10).json()["Value"]
    summary["configureddevices"] = devices
    kinds = {(d["DeviceType"], d["DeviceNumber"]) for d in devices}
    check(kinds == {("Camera", 0), ("FilterWheel", 0)}, "configureddevices", f"configureddevices {devices}")
    check(len({d["UniqueID"] for d in devices}) == 2, "configureddevices", "the two devices share a UniqueID")
    page = requests.get(f"{base}/setup/v1/filterwheel/0/setup", timeout=10)
    check(page.status_code == 200 and "text/html" in page.headers.get("content-type", ""), "setup",
          f"/setup/v1/filterwheel/0/setup: HTTP {page.status_code}")
    wheel_id = next((d["UniqueID"] for d in devices if d["DeviceType"] == "FilterWheel"), "none")
    check(wheel_id in page.text and "filter wheel 0 setup" in page.text, "setup",
          "the filter wheel's setup page does not name the device and its UniqueID")


# MARK: NINA-style session

def scenario_nina(args):
    """What NINA does: connect both, set binning then the subframe (and the reverse), expose, change
    the filter between exposures, and every file's FILTER is the filter of that exposure."""
    camera, wheel = Camera(args.address, 0), FilterWheel(args.address, 0)
    camera.Connected = wheel.Connected = True
    names = wheel.Names
    width, height = camera.CameraXSize, camera.CameraYSize
    plan = [
        # (order, bin, subframe (StartX, StartY, NumX, NumY) in binned pixels, filter slot)
        ("binning first", 2, (10, 20, 100, 80), 2),
        ("subframe first", 1, (40, 30, 300, 200), 1),
        ("subframe first, then binning", 2, (0, 0, width // 2, height // 2), 4 % len(names)),
        ("full frame", 1, (0, 0, width, height), 0),
    ]
    results = []
    for number, (order, binning, frame, slot) in enumerate(plan, start=1):
        wheel.Position = slot
        check(wait_until(lambda: wheel.Position == slot, args.timeout), "nina", f"the wheel did not reach {slot}")
        start_x, start_y, num_x, num_y = frame
        if order.startswith("binning"):
            camera.BinX = camera.BinY = binning
            camera.StartX, camera.StartY, camera.NumX, camera.NumY = frame
        else:
            # A subframe bigger than the sensor at the old binning is accepted until StartExposure.
            camera.NumX, camera.NumY = num_x, num_y
            camera.StartX, camera.StartY = start_x, start_y
            camera.BinX = camera.BinY = binning
        camera.StartExposure(0.3, True)
        check(wait_until(lambda: camera.ImageReady, 30), "nina", f"exposure {number} ({order}) did not become ready")
        image = camera.ImageArray
        check((len(image), len(image[0])) == (num_x, num_y), "nina",
              f"exposure {number} ({order}): ImageArray {len(image)}x{len(image[0])}, expected {num_x}x{num_y}")
        from astropy.io import fits
        files = sorted(glob.glob(os.path.join(args.data_root, "*", "*.fits")), key=os.path.getmtime)
        check(len(files) == number, "nina", f"expected {number} files, found {len(files)}")
        with fits.open(files[-1]) as hdul:
            header = hdul[0].header
            shape = hdul[0].data.shape
        check(header.get("FILTER") == names[slot], "nina", f"exposure {number}: FILTER {header.get('FILTER')!r}, wheel at {names[slot]}")
        check(header.get("XBINNING") == binning, "nina", f"exposure {number}: XBINNING {header.get('XBINNING')}")
        check(shape == (num_y, num_x), "nina", f"exposure {number}: the file is {shape}, expected {(num_y, num_x)}")
        results.append({"order": order, "filter": header.get("FILTER"), "bin": header.get("XBINNING"), "shape": list(shape)})
    summary["exposures"] = results
    camera.Connected = wheel.Connected = False


# MARK: hostile input

def scenario_hostile(args):
    api = f"http://{args.address}/api/v1/filterwheel/0"
    requests.put(f"{api}/connected", data={"Connected": "True"}, timeout=10)
    count = len(requests.get(f"{api}/names", timeout=10).json()["Value"])
    before = requests.get(f"{api}/position", timeout=10).json()["Value"]
    refused = {}
    for value in ["-1", "99", str(count), "abc", "NaN", "2.5", "1e3", "", " ", "9223372036854775808", "0x1", "Infinity"]:
        reply = requests.put(f"{api}/position", data={"Position": value, "ClientTransactionID": "5"}, timeout=10)
        body = reply.json() if reply.status_code == 200 else {}
        refused[value] = body.get("ErrorNumber")
        check(reply.status_code == 200 and body.get("ErrorNumber") == 0x401, "FilerWheelTester.cs:380",
              f"Position = {value!r}: HTTP {reply.status_code} {reply.text[:200]}")
        message = body.get("ErrorMessage", "")
        check("Position" in message and "0 to" in message, "InvalidValue message",
              f"Position = {value!r}: the message does not name the field and the rule: {message!r}")
        check(body.get("ClientTransactionID") == 5, "AlpacaProtocolTestManager.cs:2038", f"Position = {value!r}: {body}")
    summary["refused"] = refused
    check(requests.get(f"{api}/position", timeout=10).json()["Value"] == before, "FilerWheelTester.cs:394",
          "a refused Position moved the wheel")
    # Missing parameter: malformed (400, text); missing or miscased ClientTransactionID: 0.
    reply = requests.put(f"{api}/position", data={"ClientTransactionID": "6"}, timeout=10)
    check(reply.status_code == 400 and "Position" in reply.text, "AlpacaProtocolTestManager.cs:1674",
          f"PUT position without Position: HTTP {reply.status_code} {reply.text[:200]}")
    reply = requests.put(f"{api}/position", data={"Position": str(before)}, timeout=10).json()
    check(reply["ClientTransactionID"] == 0 and reply["ErrorNumber"] == 0, "AlpacaProtocolTestManager.cs:1837",
          f"PUT position without ClientTransactionID: {reply}")
    reply = requests.put(f"{api}/position", data={"Position": str(before), "clienttransactionid": "7"}, timeout=10).json()
    check(reply["ClientTransactionID"] == 0, "AlpacaProtocolTestManager.cs:1746", f"a miscased PUT ClientTransactionID was used: {reply}")
    reply = requests.get(f"{api}/position", params={"clienttransactionid": "8"}, timeout=10).json()
    check(reply["ClientTransactionID"] == 8, "AlpacaProtocolTestManager.cs:2038", f"GET keys are case-insensitive: {reply}")
    # Not connected: 0x407, whatever the value.
    requests.put(f"{api}/connected", data={"Connected": "False"}, timeout=10)
    for value in ["1", "-1"]:
        reply = requests.put(f"{api}/position", data={"Position": value}, timeout=10).json()
        check(reply["ErrorNumber"] == 0x407, "FilerWheelTester.cs:282", f"Position = {value} while not connected: {reply}")
    check(requests.get(f"{api}/position", timeout=10).json()["ErrorNumber"] == 0x407, "FilerWheelTester.cs:282",
          "GET position while not connected")

    # The camera's subframe takes any integer when set; StartExposure refuses the extremes (no
    # integer overflows on the way), naming the member.
    camera = f"http://{args.address}/api/v1/camera/0"
    requests.put(f"{camera}/connected", data={"Connected": "True"}, timeout=10)
    for member, key, value in [("startx", "StartX", str(2**63 - 1)), ("numx", "NumX", str(2**63 - 1)),
                               ("starty", "StartY", str(-(2**63))), ("numy", "NumY", str(-(2**63)))]:
        reply = requests.put(f"{camera}/{member}", data={key: value}, timeout=10).json()
        check(reply["ErrorNumber"] == 0, "CameraTester.cs:2692", f"{key} = {value} was not accepted when set: {reply}")
        reply = requests.put(f"{camera}/startexposure", data={"Duration": "0.1", "Light": "True"}, timeout=10).json()
        check(reply["ErrorNumber"] == 0x401 and key in reply["ErrorMessage"], "CameraTester.cs:1781",
              f"StartExposure with {key} = {value}: {reply}")
        reply = requests.put(f"{camera}/{member}", data={key: "0" if member.startswith("start") else "1"}, timeout=10).json()
    summary["camera_state_after"] = requests.get(f"{camera}/camerastate", timeout=10).json().get("Value")
    requests.put(f"{camera}/connected", data={"Connected": "False"}, timeout=10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("address")
    parser.add_argument("--http")
    parser.add_argument("--data-root")
    parser.add_argument("--offsets", help="the configured filterwheel.focus_offsets")
    parser.add_argument("--move-seconds", type=float, default=0, help="the wheel's own move time")
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--max-bin", type=int, default=0, help="ConformU's CameraMaxBinX/Y (0: the camera's)")
    args = parser.parse_args()
    started = time.monotonic()
    globals()["scenario_" + args.scenario](args)
    summary["seconds"] = time.monotonic() - started
    summary["issues"] = issues
    summary["check_count"] = len(checks)
    print(json.dumps(summary, default=str))
    if issues:
        print("\n".join(issues), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
