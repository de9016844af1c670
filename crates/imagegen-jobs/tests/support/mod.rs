//! What the PostgreSQL tests share: the server they may create databases
//! on, and a fresh database per test.
//!
//! The server comes from `IMAGEGEN_TEST_DATABASE_URL` (a user allowed to
//! create databases): `cargo xtask test` starts one and runs every test.
//! Without it these tests fail, they never skip. Each test creates its own
//! database with a random name and drops it at the end; no other database
//! is touched.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::NoTls;

const URL_VAR: &str = "IMAGEGEN_TEST_DATABASE_URL";

pub fn admin_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set: the PostgreSQL store's tests need a server they may create databases on.\n\
             `cargo xtask test` starts a private one and runs every test; for this crate alone:\n\
             eval \"$(cargo xtask db start)\" && cargo test -p imagegen-jobs --features postgres"
        ),
    }
}

/// Runs `body` with the URL of a fresh database, then drops the database,
/// also when `body` panics (the panic is passed on).
pub async fn with_db<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    static DATABASES: AtomicU64 = AtomicU64::new(0);
    let admin = admin_url();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "imagegen_test_{}_{nanos}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    let client = raw(&admin).await;
    client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database on {URL_VAR}: {e:?}"));
    let mut url = url::Url::parse(&admin).expect("the test URL is a postgres:// URL");
    url.set_path(&name);
    let outcome = tokio::spawn(body(url.to_string())).await;
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .expect("drop the test database");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A plain connection, for what the tests do behind the store's back.
pub async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server ({URL_VAR}): {e:?}"));
    tokio::spawn(connection);
    client
}
