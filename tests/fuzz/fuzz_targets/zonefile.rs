//! Zone file text → the loader: every input is either a zone set or a list of problems, never a
//! panic or a hang; every problem names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("geosteer-fuzz-zone-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("f.test.zone");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    if let Err(e) = geosteer::load::load_dir(&dir) {
        for p in &e.problems {
            assert!(p.to_string().contains("f.test.zone"), "{p}");
        }
    }
});
