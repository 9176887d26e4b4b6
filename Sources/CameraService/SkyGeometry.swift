import Foundation

/// The little spherical astronomy a header needs: sidereal time, a star's altitude at a site,
/// and the airmass through which it is seen.
///
/// Accuracy: the pointing is taken as of date (J2000 coordinates without precession, which
/// moves them by about 0.35° by 2026), GMST by the IAU 1982 linear term, no refraction: the
/// altitude is good to about half a degree, the airmass to about 1% above 20° altitude.
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

    /// The altitude in degrees of `ra`, `dec` (degrees) seen from `latitude` (north) and
    /// `longitude` (east) at `date`.
    package static func altitude(ra: Double, dec: Double, latitude: Double, longitude: Double, at date: Date) -> Double {
        let radians = Double.pi / 180
        let hourAngle = (greenwichSiderealDegrees(date) + longitude - ra) * radians
        let sine = sin(latitude * radians) * sin(dec * radians) + cos(latitude * radians) * cos(dec * radians) * cos(hourAngle)
        return asin(max(-1, min(1, sine))) / radians
    }

    /// The relative airmass at an altitude (Kasten & Young 1989, good to the horizon); nil at or
    /// below the horizon, where no airmass is meaningful.
    package static func airmass(altitude: Double) -> Double? {
        guard altitude > 0, altitude <= 90 else { return nil }
        return 1 / (sin(altitude * .pi / 180) + 0.50572 * pow(altitude + 6.07995, -1.6364))
    }
}
