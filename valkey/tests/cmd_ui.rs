//! Wrong uses of the generated builders do not compile, with readable messages (the expected ones
//! are in `ui_cmd/*.stderr`; after an intended change, regenerate them with
//! `TRYBUILD=overwrite cargo test -p valkey-typed --test cmd_ui` and read the diff).

#[test]
fn misuse_of_command_builders_does_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui_cmd/*.rs");
}
