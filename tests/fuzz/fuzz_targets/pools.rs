//! Pool file text beside a fixed zone → the loader: a zone set or problems, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

const ZONE: &str = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\n";

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("geosteer-fuzz-pools-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    if std::fs::write(dir.join("p.test.zone"), ZONE).is_err()
        || std::fs::write(dir.join("p.test.pools.toml"), data).is_err()
    {
        return;
    }
    let _ = geosteer::load::load_dir(&dir);
});
