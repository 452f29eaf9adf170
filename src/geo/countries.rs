//! The country table shipped in `geodata/countries.tsv`: continent and centroid per ISO 3166-1
//! alpha-2 code, compiled into the binary so a database without continents or coordinates still
//! supports continent routes and `nearest`.

use std::sync::OnceLock;

use crate::net::Code;

/// What the table knows about a country.
#[derive(Debug, Clone, Copy)]
pub struct Country {
    pub continent: Code,
    pub lat: f64,
    pub lon: f64,
}

const TABLE: &str = include_str!("../../geodata/countries.tsv");

fn index(cc: &[u8]) -> Option<usize> {
    match cc {
        [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => {
            Some((a - b'A') as usize * 26 + (b - b'A') as usize)
        }
        _ => None,
    }
}

fn table() -> &'static [Option<Country>; 676] {
    static T: OnceLock<Box<[Option<Country>; 676]>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Box::new([None; 676]);
        for line in TABLE.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 4 {
                continue;
            }
            if let (Some(i), Some(continent), Ok(lat), Ok(lon)) = (
                index(f[0].as_bytes()),
                Code::new(f[1]),
                f[2].parse(),
                f[3].parse(),
            ) {
                t[i] = Some(Country {
                    continent,
                    lat,
                    lon,
                });
            }
        }
        t
    })
}

/// Looks a country up by its two-letter code (upper case).
pub fn country(cc: &str) -> Option<Country> {
    index(cc.as_bytes()).and_then(|i| table()[i])
}
