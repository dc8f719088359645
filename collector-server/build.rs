//! Tests that need PostgreSQL are compiled as ignored ("skipped", with the reason)
//! unless `ATTEST_TEST_POSTGRES_URL` names a server when they are built, so a run
//! without PostgreSQL counts them as skipped rather than as passed.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(attest_postgres)");
    println!("cargo::rerun-if-env-changed=ATTEST_TEST_POSTGRES_URL");
    if std::env::var_os("ATTEST_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=attest_postgres");
    }
}
