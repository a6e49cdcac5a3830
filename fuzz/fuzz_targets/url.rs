//! Any URL text: parsed or refused with an error, never a panic; the password never shows (the
//! `Debug` of a config does not change with its password).
#![no_main]

use libfuzzer_sys::fuzz_target;
use valkey::config::Password;
use valkey::ConnectionInfo;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ConnectionInfo::from_url(text) {
        Ok(info) if info.password.is_some() => {
            let mut other = info.clone();
            other.password = Some(Password::new("a different password"));
            assert_eq!(format!("{info:?}"), format!("{other:?}"));
        }
        Ok(info) => {
            let _ = format!("{info:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
