//! CGCS2000 Gauss-Krüger projections (EPSG:4491-4554), in which much
//! Chinese government survey data comes, taken back to longitude/latitude
//! with `proj4rs` (the exact transverse Mercator PROJ uses, Poder/Engsager
//! `etmerc`, on the GRS80 ellipsoid; the
//! CGCS2000 ellipsoid differs from it by 0.1 mm in the minor axis).
//!
//! The four EPSG series, as the EPSG registry defines them:
//!
//! | codes | zones | central meridian | false easting |
//! |---|---|---|---|
//! | 4491-4501 | 6-degree zones 13-23 | 6 · zone − 3 | zone · 10⁶ + 500 000 m |
//! | 4502-4512 | 6-degree, CM 75°E-135°E | 75 + 6 · k | 500 000 m |
//! | 4513-4533 | 3-degree zones 25-45 | 3 · zone | zone · 10⁶ + 500 000 m |
//! | 4534-4554 | 3-degree, CM 75°E-135°E | 75 + 3 · k | 500 000 m |
//!
//! Coordinates are read as GIS software writes them: easting first, then
//! northing (EPSG lists northing first for these systems).

use std::cell::RefCell;
use std::collections::HashMap;

/// One CGCS2000 Gauss-Krüger projection.
///
/// # Examples
///
/// ```
/// use wangge::grid::GaussKruger;
///
/// let gk = GaussKruger::from_epsg(4527).unwrap();
/// assert_eq!((gk.central_meridian(), gk.false_easting()), (117, 39_500_000.0));
/// let (lon, lat) = gk.to_lonlat(39_500_000.0, 4_000_000.0).unwrap();
/// assert!((lon - 117.0).abs() < 1e-9 && (lat - 36.1).abs() < 0.1);
/// assert!(GaussKruger::from_epsg(4326).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GaussKruger {
    epsg: u16,
    central_meridian: u16,
    /// The zone number written before the 500 km false easting, or 0.
    zone_prefix: u16,
    /// Half the zone's width in degrees (1.5 or 3).
    half_width_tenths: u16,
}

impl GaussKruger {
    /// The projection of EPSG code `code`, if it is one of CGCS2000's
    /// Gauss-Krüger systems.
    pub fn from_epsg(code: u32) -> Option<GaussKruger> {
        let code = u16::try_from(code).ok()?;
        let (central_meridian, zone_prefix, half_width_tenths) = match code {
            4491..=4501 => {
                let zone = code - 4478;
                (6 * zone - 3, zone, 30)
            }
            4502..=4512 => (75 + 6 * (code - 4502), 0, 30),
            4513..=4533 => {
                let zone = code - 4488;
                (3 * zone, zone, 15)
            }
            4534..=4554 => (75 + 3 * (code - 4534), 0, 15),
            _ => return None,
        };
        Some(GaussKruger {
            epsg: code,
            central_meridian,
            zone_prefix,
            half_width_tenths,
        })
    }

    /// A name such as `EPSG:4527`, `epsg:4527` or the OGC URN
    /// `urn:ogc:def:crs:EPSG::4527`.
    pub fn from_name(name: &str) -> Option<GaussKruger> {
        let upper = name.trim().to_ascii_uppercase();
        let code = upper
            .strip_prefix("EPSG:")
            .or_else(|| upper.strip_prefix("URN:OGC:DEF:CRS:EPSG::"))
            .or_else(|| upper.strip_prefix("URN:OGC:DEF:CRS:EPSG:"))?;
        GaussKruger::from_epsg(code.parse().ok()?)
    }

    /// The EPSG code.
    pub fn epsg(&self) -> u16 {
        self.epsg
    }

    /// The central meridian, degrees east.
    pub fn central_meridian(&self) -> u16 {
        self.central_meridian
    }

    /// The false easting in metres (with the zone number in front where
    /// the system writes it).
    pub fn false_easting(&self) -> f64 {
        f64::from(self.zone_prefix) * 1e6 + 500_000.0
    }

    /// The PROJ definition.
    pub fn proj_string(&self) -> String {
        format!(
            "+proj=etmerc +lat_0=0 +lon_0={} +k=1 +x_0={} +y_0=0 +ellps=GRS80 +units=m +no_defs",
            self.central_meridian,
            self.false_easting()
        )
    }

    /// Easting and northing in metres to WGS84 longitude and latitude in
    /// degrees; `Err` with the reason when the point cannot lie in this
    /// system (outside its zone, a wrong zone number in the easting, or
    /// swapped axes).
    pub fn to_lonlat(&self, easting: f64, northing: f64) -> Result<(f64, f64), String> {
        let outside = || {
            format!(
                "easting {easting}, northing {northing} is not a position of EPSG:{} \
                 (CGCS2000 Gauss-Krüger, central meridian {}°E, false easting {} m; \
                 easting first, then northing)",
                self.epsg,
                self.central_meridian,
                self.false_easting()
            )
        };
        if !easting.is_finite() || !northing.is_finite() {
            return Err(outside());
        }
        let (lon, lat) = PROJS.with(|cache| {
            let mut cache = cache.borrow_mut();
            let projs = match cache.entry(self.epsg) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let from = proj4rs::Proj::from_proj_string(&self.proj_string())
                        .map_err(|e| format!("EPSG:{}: {e}", self.epsg))?;
                    let to = proj4rs::Proj::from_proj_string("+proj=longlat +ellps=GRS80 +no_defs")
                        .map_err(|e| format!("longitude/latitude: {e}"))?;
                    v.insert((from, to))
                }
            };
            let mut p = (easting, northing, 0.0);
            proj4rs::transform::transform(&projs.0, &projs.1, &mut p).map_err(|_| outside())?;
            Ok::<_, String>((p.0.to_degrees(), p.1.to_degrees()))
        })?;
        // Tolerated: a zone's own width on each side of its central meridian.
        let reach = 2.0 * f64::from(self.half_width_tenths) / 10.0;
        if !lon.is_finite()
            || !lat.is_finite()
            || (lon - f64::from(self.central_meridian)).abs() > reach
            || !(-80.0..=84.0).contains(&lat)
        {
            return Err(outside());
        }
        Ok((lon, lat))
    }
}

impl std::str::FromStr for GaussKruger {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GaussKruger::from_name(s).ok_or_else(|| {
            format!("{s:?} is not a CGCS2000 Gauss-Krüger system; expected EPSG:4491 to EPSG:4554")
        })
    }
}

impl std::fmt::Display for GaussKruger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "epsg:{}", self.epsg)
    }
}

thread_local! {
    /// Projections read once per thread (`proj4rs::Proj` is not `Sync`).
    static PROJS: RefCell<HashMap<u16, (proj4rs::Proj, proj4rs::Proj)>> = RefCell::new(HashMap::new());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_series_have_their_registry_parameters() {
        let p = |c| {
            let g = GaussKruger::from_epsg(c).unwrap();
            (g.central_meridian(), g.false_easting())
        };
        assert_eq!(p(4491), (75, 13_500_000.0));
        assert_eq!(p(4501), (135, 23_500_000.0));
        assert_eq!(p(4502), (75, 500_000.0));
        assert_eq!(p(4512), (135, 500_000.0));
        assert_eq!(p(4513), (75, 25_500_000.0));
        assert_eq!(p(4527), (117, 39_500_000.0));
        assert_eq!(p(4533), (135, 45_500_000.0));
        assert_eq!(p(4534), (75, 500_000.0));
        assert_eq!(p(4549), (120, 500_000.0));
        assert_eq!(p(4554), (135, 500_000.0));
        assert!(GaussKruger::from_epsg(4490).is_none());
        assert!(GaussKruger::from_epsg(4555).is_none());
        assert_eq!(
            GaussKruger::from_name("urn:ogc:def:crs:EPSG::4527"),
            GaussKruger::from_epsg(4527)
        );
    }

    #[test]
    fn a_point_in_another_zone_or_with_swapped_axes_is_refused_with_the_reason() {
        let gk = GaussKruger::from_epsg(4527).unwrap();
        // Zone 39's easting written without its zone number.
        let e = gk.to_lonlat(500_000.0, 4_250_000.0).unwrap_err();
        assert!(
            e.contains("EPSG:4527") && e.contains("easting first"),
            "{e}"
        );
        // Northing first.
        assert!(gk.to_lonlat(4_250_000.0, 39_500_000.0).is_err());
        assert!(gk.to_lonlat(f64::NAN, 1.0).is_err());
    }
}
