//! A mutated MaxMind database → `Geo::open` and lookups: an error or locations, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("geosteer-fuzz-{}.mmdb", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(geo) = geosteer::geo::Geo::open(&[path]) {
        for a in ["1.2.3.4", "202.232.0.1", "2001:db8::1", "::ffff:81.2.69.1", "0.0.0.0"] {
            if let Ok(ip) = a.parse() {
                let _ = geo.locate(ip);
                let _ = geo.describe(ip);
            }
        }
    }
});
