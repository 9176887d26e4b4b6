"""The sun's altitude (of its centre, no refraction) by astropy, for the sequencer's sun waits.

usage: sun_altitudes.py '[[latitude, longitude, unix_time], ...]'
Prints a JSON list of altitudes in degrees, in order.
"""
import json
import sys
import warnings

from astropy.utils import iers

iers.conf.auto_download = False
iers.conf.auto_max_age = None
from astropy.coordinates import AltAz, EarthLocation, get_sun  # noqa: E402
from astropy.time import Time  # noqa: E402
import astropy.units as u  # noqa: E402

out = []
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for latitude, longitude, unix in json.loads(sys.argv[1]):
        when = Time(unix, format="unix", scale="utc")
        site = EarthLocation(lat=latitude * u.deg, lon=longitude * u.deg, height=0 * u.m)
        out.append(get_sun(when).transform_to(AltAz(obstime=when, location=site)).alt.deg)
print(json.dumps(out))
