//! Arbitrary bytes as a config file for `lakeseal scan-config`: findings or a skip, never a
//! panic, and every finding on a line the file has.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(findings) = lakeseal_scan::scan(data) {
        let lines = String::from_utf8_lossy(data).lines().count();
        for f in findings {
            assert!(f.line >= 1 && f.line <= lines, "line {} of {lines}", f.line);
        }
    }
});
