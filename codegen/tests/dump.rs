//! `commands-json/` is exactly what `codegen dump` makes of a live Valkey server (started here by
//! the test harness): re-dumping gives no difference, and two dumps are identical.
#![cfg(feature = "dump")]

use std::path::Path;

#[test]
fn committed_specs_are_the_dump_of_a_live_server() {
    let server = valkey_tests::Server::valkey().expect("valkey-server");
    let first = valkey_codegen::live::dump_url(&server.url()).unwrap();
    let second = valkey_codegen::live::dump_url(&server.url()).unwrap();
    assert_eq!(first, second, "dumping twice must give the same files");

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../commands-json");
    let mut differ = vec![];
    for (name, text) in &first {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(committed) if &committed == text => {}
            Ok(_) => differ.push(format!("{name} differs")),
            Err(_) => differ.push(format!("{name} is missing")),
        }
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.starts_with("_overlay") && !first.contains_key(&name) {
            differ.push(format!("{name} is not in the dump"));
        }
    }
    assert!(
        differ.is_empty(),
        "commands-json/ is not the server's dump ({}); run `cargo run -p valkey-codegen -- dump` \
         and regenerate",
        differ.join(", ")
    );
}
