//! What the PostgreSQL tests share: the server they may create databases
//! on, and a fresh database per test (`imagegen_test_support::postgres`,
//! which the CLI's tests use too).

use std::future::Future;

use imagegen_test_support::postgres::TestDatabase;
pub use imagegen_test_support::postgres::{admin_url, raw};

/// Runs `body` with the URL of a fresh database, dropped afterwards (also
/// when `body` panics).
pub async fn with_db<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDatabase::create();
    body(db.url().to_owned()).await;
}
