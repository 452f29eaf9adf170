//! Locating a client address: continent, country, subdivision, ASN, coordinates, and the prefix
//! length over which that answer holds.
//!
//! Several MaxMind-format databases may be loaded at once (a country or city database plus an ASN
//! database); each field comes from the first database that has it. Both record layouts found in
//! the wild are read: MaxMind GeoIP2/GeoLite2 (`country.iso_code`, `continent.code`,
//! `subdivisions[].iso_code`, `location`, `autonomous_system_number`) and the flat layout of the
//! ip-location-db databases (`country_code`, `latitude`, `longitude`). Where a database gives no
//! continent or no coordinates, the country table shipped in `geodata/countries.tsv` fills them in.

mod countries;
mod flat;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use countries::{Country, country};

use crate::net::Code;

/// Where a client is, as far as the databases know.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Location {
    pub continent: Option<Code>,
    pub country: Option<Code>,
    /// `CC-SUB`, for example `US-CA`.
    pub subdivision: Option<Code>,
    pub asn: Option<u32>,
    /// Latitude and longitude in degrees.
    pub coords: Option<(f64, f64)>,
    /// The coordinates are the country's centroid, not the database's.
    pub centroid: bool,
    /// The continent was derived from the country.
    pub derived_continent: bool,
    /// Length of the most specific database network that matched (or did not match: the prefix
    /// of the empty subtree): the answer is the same for every address in it.
    pub prefix_len: u8,
    /// At least one database had a record for the address.
    pub found: bool,
}

/// The location in words, for traces: `continent AS (from the country), country JP, …`.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut fields = Vec::new();
        if let Some(c) = self.continent {
            let how = if self.derived_continent {
                " (from the country)"
            } else {
                ""
            };
            fields.push(format!("continent {c}{how}"));
        }
        if let Some(c) = self.country {
            fields.push(format!("country {c}"));
        }
        if let Some(c) = self.subdivision {
            fields.push(format!("subdivision {c}"));
        }
        if let Some(a) = self.asn {
            fields.push(format!("AS{a}"));
        }
        if let Some((lat, lon)) = self.coords {
            let how = if self.centroid {
                " (country centroid)"
            } else {
                ""
            };
            fields.push(format!("location {lat:.2}, {lon:.2}{how}"));
        }
        let what = if fields.is_empty() {
            "no location".to_string()
        } else {
            fields.join(", ")
        };
        write!(f, "{what} (holds for /{})", self.prefix_len)
    }
}

/// One loaded database.
pub struct Database {
    pub path: PathBuf,
    pub kind: String,
    reader: maxminddb::Reader<Vec<u8>>,
    /// The IPv4 networks copied out of the tree, with their records decoded ([`flat`]).
    flat: Option<flat::Flat>,
    /// The decoded records the flat copy numbers.
    facts: Box<[Facts]>,
    /// For each of those records, the location it gives when this is the only database: its
    /// fields with the continent and the centroid filled in from the country, so that locating
    /// an IPv4 client is the flat lookup and a copy ([`Geo::locate`]).
    located: Box<[Location]>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({}, {})", self.path.display(), self.kind)
    }
}

/// What one database's record says, in the fields we use.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Facts {
    country: Option<Code>,
    continent: Option<Code>,
    /// `CC-SUB`, from this record's own country.
    subdivision: Option<Code>,
    asn: Option<u32>,
    coords: Option<(f64, f64)>,
}

/// Decodes a record; `None` when the address has no record or it does not decode.
fn facts_of(res: &maxminddb::LookupResult<'_, Vec<u8>>) -> Option<Facts> {
    let rec = res.decode::<Record<'_>>().ok()??;
    let country = rec
        .country
        .and_then(|c| c.iso_code)
        .or(rec.country_code)
        .and_then(Code::new);
    let subdivision = country.and_then(|cc| {
        res.decode_path::<&str>(&maxminddb::path!["subdivisions", 0, "iso_code"])
            .ok()
            .flatten()
            .and_then(|sub| Code::subdivision(cc, sub))
    });
    let (lat, lon) = match rec.location {
        Some(l) => (l.latitude, l.longitude),
        None => (rec.latitude, rec.longitude),
    };
    Some(Facts {
        country,
        continent: rec.continent.and_then(|c| c.code).and_then(Code::new),
        subdivision,
        asn: rec.autonomous_system_number,
        coords: lat.zip(lon),
    })
}

/// Why a database could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid MaxMind DB file: {source}")]
    Invalid {
        path: PathBuf,
        source: maxminddb::MaxMindDbError,
    },
}

impl Database {
    /// Reads a database into memory and verifies it.
    pub fn open(path: &Path) -> Result<Database, GeoError> {
        let buf = std::fs::read(path).map_err(|source| GeoError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |source| GeoError::Invalid {
            path: path.to_path_buf(),
            source,
        };
        // `from_source` checks the metadata and the search tree's layout. The crate's full
        // `verify()` is not used: it rejects the real DB-IP and ip-location-db files over an
        // empty `description` map. Instead a few lookups must decode, which catches a corrupt
        // data section before the database is put in service.
        let reader = maxminddb::Reader::from_source(buf).map_err(invalid)?;
        let probes: [IpAddr; 4] = [
            IpAddr::from([1, 1, 1, 1]),
            IpAddr::from([8, 8, 8, 8]),
            IpAddr::from([0x2001, 0x200, 0, 0, 0, 0, 0, 1]),
            IpAddr::from([0u16; 8]),
        ];
        for probe in probes {
            if let Ok(res) = reader.lookup(probe) {
                res.decode::<Record<'_>>().map_err(invalid)?;
            } else if reader.metadata().ip_version == 6 || probe.is_ipv4() {
                reader.lookup(probe).map_err(invalid)?;
            }
        }
        let (flat, facts) = match flat::Flat::build(&reader, facts_of) {
            Some((flat, facts)) => (Some(flat), facts.into_boxed_slice()),
            None => (None, Box::default()),
        };
        let located = facts
            .iter()
            .map(|f| {
                let mut loc = Location::default();
                loc.add(0, Some(*f));
                loc.fill_from_country();
                loc
            })
            .collect();
        Ok(Database {
            path: path.to_path_buf(),
            kind: reader.metadata().database_type.clone(),
            reader,
            flat,
            facts,
            located,
        })
    }

    /// The prefix length of the database network holding `addr` and its record; `None` when
    /// the lookup fails. IPv4 addresses are found in the flat copy when there is one.
    #[inline]
    fn find(&self, addr: IpAddr) -> Option<(u8, Option<Facts>)> {
        if let (IpAddr::V4(v4), Some(flat)) = (addr, &self.flat) {
            let (prefix, record) = flat.find(v4);
            return Some((prefix, record.and_then(|r| self.facts.get(r).copied())));
        }
        self.find_in_tree(addr)
    }

    /// [`Database::find`] by a walk of the search tree.
    fn find_in_tree(&self, addr: IpAddr) -> Option<(u8, Option<Facts>)> {
        let res = self.reader.lookup(addr).ok()?;
        let prefix = res.network().map(|n| n.prefix()).unwrap_or(0);
        Some((prefix, facts_of(&res)))
    }

    /// How many IPv4 networks the flat copy holds (0: none was made), for the load log.
    pub fn flat_networks(&self) -> usize {
        self.flat.as_ref().map_or(0, flat::Flat::len)
    }

    /// Build time of the database (seconds since the epoch).
    pub fn build_epoch(&self) -> u64 {
        self.reader.metadata().build_epoch
    }
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct ContinentCode<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct LatLon {
    #[serde(default, deserialize_with = "coordinate")]
    latitude: Option<f64>,
    #[serde(default, deserialize_with = "coordinate")]
    longitude: Option<f64>,
}

/// A coordinate, whatever number type holds it: MaxMind's databases store a double, the city
/// databases of ip-location-db a float (which a plain `f64` field refused: the whole database was
/// "not a valid MaxMind DB file").
fn coordinate<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct Number;
    impl serde::de::Visitor<'_> for Number {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a latitude or longitude")
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_f32<E>(self, v: f32) -> Result<Self::Value, E> {
            Ok(Some(f64::from(v)))
        }
        #[allow(clippy::cast_precision_loss)]
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        #[allow(clippy::cast_precision_loss)]
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
    }
    d.deserialize_any(Number)
}

/// The fields we read, in either layout. Strings borrow from the database: no allocation.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow, default)]
    continent: Option<ContinentCode<'a>>,
    #[serde(default)]
    location: Option<LatLon>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(default, deserialize_with = "coordinate")]
    latitude: Option<f64>,
    #[serde(default, deserialize_with = "coordinate")]
    longitude: Option<f64>,
}

/// The loaded databases.
#[derive(Debug, Default)]
pub struct Geo {
    pub databases: Vec<Database>,
}

impl Geo {
    /// No databases: every client is unlocated.
    pub const fn empty() -> Geo {
        Geo {
            databases: Vec::new(),
        }
    }

    /// Opens every database; all errors are returned.
    pub fn open(paths: &[PathBuf]) -> Result<Geo, Vec<GeoError>> {
        let mut dbs = Vec::new();
        let mut errs = Vec::new();
        for p in paths {
            match Database::open(p) {
                Ok(d) => dbs.push(d),
                Err(e) => errs.push(e),
            }
        }
        if errs.is_empty() {
            Ok(Geo { databases: dbs })
        } else {
            Err(errs)
        }
    }

    /// Locates an address. Never fails: a database error for one address counts as "not found".
    pub fn locate(&self, addr: IpAddr) -> Location {
        // one database and an IPv4 client: the record's location was worked out when the
        // database was opened (the same steps as below, done once per record)
        if let ([db], IpAddr::V4(v4)) = (self.databases.as_slice(), addr)
            && let Some(flat) = &db.flat
        {
            let (prefix, record) = flat.find(v4);
            let mut loc = record
                .and_then(|r| db.located.get(r))
                .copied()
                .unwrap_or_default();
            loc.prefix_len = prefix;
            return loc;
        }
        let mut loc = Location::default();
        for db in &self.databases {
            if let Some((prefix, facts)) = db.find(addr) {
                loc.add(prefix, facts);
            }
        }
        loc.fill_from_country();
        loc
    }
}

impl Geo {
    /// The flat copy that locates `addr` on its own, when there is one (one database, an IPv4
    /// address): what [`Geo::locate`] reads first.
    #[inline]
    fn sole_flat(&self, addr: IpAddr) -> Option<(&flat::Flat, std::net::Ipv4Addr)> {
        match (self.databases.as_slice(), addr) {
            ([db], IpAddr::V4(v4)) => db.flat.as_ref().map(|f| (f, v4)),
            _ => None,
        }
    }

    /// Starts loading what locating `addr` will read first; for a batch of clients, call this
    /// for all of them, then [`Geo::prefetch_networks`] for all, then locate them: the cache
    /// misses of the lookups overlap instead of waiting one after the other. A hint only.
    #[inline]
    pub fn prefetch_index(&self, addr: IpAddr) {
        if let Some((flat, v4)) = self.sole_flat(addr) {
            flat.prefetch_index(v4);
        }
    }

    /// The second step of [`Geo::prefetch_index`].
    #[inline]
    pub fn prefetch_networks(&self, addr: IpAddr) {
        if let Some((flat, v4)) = self.sole_flat(addr) {
            flat.prefetch_networks(v4);
        }
    }
}

impl Location {
    /// Adds what one database says (its network's prefix length and its record, if any): each
    /// field comes from the first database that has it.
    fn add(&mut self, prefix: u8, facts: Option<Facts>) {
        self.prefix_len = self.prefix_len.max(prefix);
        let Some(f) = facts else {
            return;
        };
        self.found = true;
        self.country = self.country.or(f.country);
        self.continent = self.continent.or(f.continent);
        self.subdivision = self.subdivision.or(f.subdivision);
        self.asn = self.asn.or(f.asn);
        self.coords = self.coords.or(f.coords);
    }

    /// Where the databases gave no continent or no coordinates, the country table fills them in.
    fn fill_from_country(&mut self) {
        if let Some(info) = self.country.and_then(|c| country(c.as_str())) {
            if self.continent.is_none() {
                self.continent = Some(info.continent);
                self.derived_continent = true;
            }
            if self.coords.is_none() {
                self.coords = Some((info.lat, info.lon));
                self.centroid = true;
            }
        }
    }
}

impl Geo {
    /// What each database says about an address, for `geosteer explain`.
    pub fn describe(&self, addr: IpAddr) -> Vec<String> {
        let mut out = Vec::new();
        if self.databases.is_empty() {
            out.push("no GeoIP database is loaded".to_string());
        }
        for db in &self.databases {
            let name = db.path.display();
            let Ok(res) = db.reader.lookup(addr) else {
                out.push(format!("{name}: lookup failed"));
                continue;
            };
            let net = res
                .network()
                .map(|n| format!("{}/{}", n.network(), n.prefix()))
                .unwrap_or_else(|_| "?".into());
            match res.decode::<Record<'_>>() {
                Ok(Some(r)) => {
                    let mut f = Vec::new();
                    if let Some(c) = r.country.and_then(|c| c.iso_code).or(r.country_code) {
                        f.push(format!("country {c}"));
                    }
                    if let Some(c) = r.continent.and_then(|c| c.code) {
                        f.push(format!("continent {c}"));
                    }
                    if let Ok(Some(s)) =
                        res.decode_path::<&str>(&maxminddb::path!["subdivisions", 0, "iso_code"])
                    {
                        f.push(format!("subdivision {s}"));
                    }
                    if let Some(a) = r.autonomous_system_number {
                        f.push(format!("AS{a}"));
                    }
                    let (lat, lon) = match r.location {
                        Some(l) => (l.latitude, l.longitude),
                        None => (r.latitude, r.longitude),
                    };
                    if let (Some(lat), Some(lon)) = (lat, lon) {
                        f.push(format!("location {lat:.2}, {lon:.2}"));
                    }
                    out.push(format!(
                        "{name} ({}): network {net}: {}",
                        db.kind,
                        if f.is_empty() {
                            "no fields we use".to_string()
                        } else {
                            f.join(", ")
                        }
                    ));
                }
                _ => out.push(format!(
                    "{name} ({}): not found (the empty network {net})",
                    db.kind
                )),
            }
        }
        out
    }
}

/// Every `*.mmdb` file in a directory, sorted; an absent directory gives none.
pub fn databases_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mmdb"))
        .collect();
    v.sort();
    v
}

/// Great-circle distance in kilometres (haversine, mean Earth radius).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_distance() {
        assert_eq!(Code::new("us-ca").unwrap().as_str(), "US-CA");
        assert!(Code::new("").is_none());
        assert!(Code::new("toolongcode").is_none());
        // Amsterdam – New York is about 5,860 km
        let d = distance_km((52.37, 4.90), (40.71, -74.01));
        assert!((d - 5860.0).abs() < 30.0, "{d}");
        assert_eq!(distance_km((1.0, 2.0), (1.0, 2.0)), 0.0);
    }

    #[test]
    fn country_table() {
        let de = country("DE").unwrap();
        assert_eq!(de.continent.as_str(), "EU");
        assert!(de.lat > 45.0 && de.lat < 56.0);
        assert_eq!(country("JP").unwrap().continent.as_str(), "AS");
        assert!(country("ZZ").is_none());
    }
}

#[cfg(test)]
mod shipped {
    use super::*;

    /// The shipped DB-IP database locates well-known networks (flat layout, no continent: the
    /// continent and the coordinates come from the country table).
    #[test]
    fn shipped_database_locates_real_addresses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("geodata/dbip-country.mmdb");
        let geo = Geo::open(&[path]).map_err(|e| format!("{e:?}")).unwrap();
        for (ip, cc, cont) in [
            ("81.2.69.160", "GB", "EU"),
            ("202.232.0.1", "JP", "AS"),
            ("2001:200::1", "JP", "AS"),
            ("200.160.0.1", "BR", "SA"),
        ] {
            let loc = geo.locate(ip.parse().unwrap());
            assert!(loc.found, "{ip}");
            assert_eq!(loc.country.unwrap().as_str(), cc, "{ip}");
            assert_eq!(loc.continent.unwrap().as_str(), cont, "{ip}");
            assert!(loc.derived_continent && loc.centroid);
            assert!(loc.prefix_len > 0);
        }
        let private = geo.locate("10.1.2.3".parse().unwrap());
        assert!(!private.found && private.country.is_none());
    }
}
