//! Misuse of `#[derive(FromValkey)]` / `#[derive(ToValkeyArgs)]` fails to compile with a message
//! that says what is wrong and where (the expected messages are in `ui_derive/*.stderr`;
//! regenerate them with `TRYBUILD=overwrite` after an intended change, and read the diff).

#[test]
fn derive_misuse_is_a_readable_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui_derive/*.rs");
}
