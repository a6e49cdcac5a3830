//! Any MONITOR line: an event or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = valkey::monitor::parse_monitor_line(data) {
        let _ = format!("{event:?}");
    }
});
