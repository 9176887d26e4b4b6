import Foundation

/// The little spherical astronomy a header needs: sidereal time, a star's altitude at a site,
/// and the airmass through which it is seen.
///
/// Accuracy: J2000 coordinates are precessed to the date (IAU 1976, Meeus ch. 21; nutation,
/// aberration and proper motion are left out, under a minute of arc), GMST by the IAU 1982
/// linear term, UTC taken for UT1 (under a second), no refraction. The airmass (Kasten & Young
/// 1989) of the altitude found here and of astropy's full transformation agree to 0.02% at 25°
/// altitude in 2026 (`SkyEndToEndTests` checks 0.1%; without precession they differ by 0.8%).
package enum SkyGeometry {
    /// Days from the Unix epoch to the Modified Julian Date 0 (1858-11-17).
    static let unixEpochMJD = 40587.0

    /// The Modified Julian Date of an instant (UTC days).
    package static func modifiedJulianDate(_ date: Date) -> Double {
        date.timeIntervalSince1970 / 86400 + unixEpochMJD
    }

    /// Greenwich mean sidereal time in degrees, 0..<360.
    package static func greenwichSiderealDegrees(_ date: Date) -> Double {
        let daysSinceJ2000 = modifiedJulianDate(date) - 51544.5
        let degrees = 280.46061837 + 360.98564736629 * daysSinceJ2000
        let wrapped = degrees.truncatingRemainder(dividingBy: 360)
        return wrapped < 0 ? wrapped + 360 : wrapped
    }

    /// J2000 `ra`, `dec` (degrees) precessed to the mean equator and equinox of `date`
    /// (IAU 1976 angles, Meeus, Astronomical Algorithms, eq. 21.2 and 21.4).
    package static func precessed(ra: Double, dec: Double, to date: Date) -> (ra: Double, dec: Double) {
        let radians = Double.pi / 180
        let t = (modifiedJulianDate(date) - 51544.5) / 36525  // Julian centuries from J2000.0
        let arcsecond = radians / 3600
        let zeta = (2306.2181 * t + 0.30188 * t * t + 0.017998 * t * t * t) * arcsecond
        let z = (2306.2181 * t + 1.09468 * t * t + 0.018203 * t * t * t) * arcsecond
        let theta = (2004.3109 * t - 0.42665 * t * t - 0.041833 * t * t * t) * arcsecond
        let alpha = ra * radians + zeta, delta = dec * radians
        let a = cos(delta) * sin(alpha)
        let b = cos(theta) * cos(delta) * cos(alpha) - sin(theta) * sin(delta)
        let c = sin(theta) * cos(delta) * cos(alpha) + cos(theta) * sin(delta)
        var newRA = (atan2(a, b) + z) / radians
        newRA = newRA.truncatingRemainder(dividingBy: 360)
        return (newRA < 0 ? newRA + 360 : newRA, asin(max(-1, min(1, c))) / radians)
    }

    /// The altitude in degrees of the J2000 position `ra`, `dec` (degrees) seen from `latitude`
    /// (north) and `longitude` (east) at `date`.
    package static func altitude(ra: Double, dec: Double, latitude: Double, longitude: Double, at date: Date) -> Double {
        let radians = Double.pi / 180
        let ofDate = precessed(ra: ra, dec: dec, to: date)
        let hourAngle = (greenwichSiderealDegrees(date) + longitude - ofDate.ra) * radians
        let sine = sin(latitude * radians) * sin(ofDate.dec * radians)
            + cos(latitude * radians) * cos(ofDate.dec * radians) * cos(hourAngle)
        return asin(max(-1, min(1, sine))) / radians
    }

    /// The sun's right ascension and declination of date, in degrees (the Astronomical
    /// Almanac's low-precision formulae: good to 0.01 degree from 1950 to 2050).
    package static func sun(at date: Date) -> (ra: Double, dec: Double) {
        let radians = Double.pi / 180
        let n = modifiedJulianDate(date) - 51544.5  // days from J2000.0
        let meanLongitude = 280.460 + 0.9856474 * n
        let anomaly = (357.528 + 0.9856003 * n) * radians
        let longitude = (meanLongitude + 1.915 * sin(anomaly) + 0.020 * sin(2 * anomaly)) * radians
        let obliquity = (23.439 - 0.0000004 * n) * radians
        var ra = atan2(cos(obliquity) * sin(longitude), cos(longitude)) / radians
        ra = ra.truncatingRemainder(dividingBy: 360)
        return (ra < 0 ? ra + 360 : ra, asin(sin(obliquity) * sin(longitude)) / radians)
    }

    /// The sun's altitude in degrees (of its centre, without refraction) seen from `latitude`
    /// (north) and `longitude` (east) at `date`.
    package static func sunAltitude(latitude: Double, longitude: Double, at date: Date) -> Double {
        let radians = Double.pi / 180
        let position = sun(at: date)
        let hourAngle = (greenwichSiderealDegrees(date) + longitude - position.ra) * radians
        let sine = sin(latitude * radians) * sin(position.dec * radians)
            + cos(latitude * radians) * cos(position.dec * radians) * cos(hourAngle)
        return asin(max(-1, min(1, sine))) / radians
    }

    /// The relative airmass at an altitude (Kasten & Young 1989, good to the horizon); nil at or
    /// below the horizon, where no airmass is meaningful.
    package static func airmass(altitude: Double) -> Double? {
        guard altitude > 0, altitude <= 90 else { return nil }
        return 1 / (sin(altitude * .pi / 180) + 0.50572 * pow(altitude + 6.07995, -1.6364))
    }
}
