//! Any argument vector (a known command name first, or not): key positions or an error, never
//! a panic, and every position inside the arguments.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let commands = valkey::cmd::commands();
    let meta = commands[pick as usize % commands.len()];
    let mut args: Vec<Vec<u8>> = meta
        .name
        .split(' ')
        .map(|w| w.as_bytes().to_vec())
        .collect();
    args.extend(rest.split(|&b| b == 0).map(<[u8]>::to_vec));
    if let Ok(positions) = valkey::routing::key_positions(&args) {
        assert!(
            positions.iter().all(|&p| p < args.len()),
            "{positions:?} in {}",
            args.len()
        );
    }
});
