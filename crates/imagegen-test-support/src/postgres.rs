//! A fresh PostgreSQL database per test, on the server
//! `IMAGEGEN_TEST_DATABASE_URL` names (a user allowed to create
//! databases): `cargo xtask test` starts one. Without it a test fails,
//! never skips, and says how to start one. Only the databases made here are
//! ever dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::NoTls;

/// The variable naming the test server.
pub const URL_VAR: &str = "IMAGEGEN_TEST_DATABASE_URL";

/// The URL of the test server's admin database; panics (failing the test)
/// with how to start one when it is not set.
pub fn admin_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set: this test needs a PostgreSQL server it may create databases on.\n\
             `cargo xtask test` starts a private one and runs every test; to run tests by hand:\n\
             eval \"$(cargo xtask db start)\"   (then `cargo xtask db stop`)"
        ),
    }
}

/// A database made for one test, dropped (with any connections still open
/// to it) when this value is, also when the test panics.
#[derive(Debug)]
pub struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates a database with a name no other test uses. Works from sync
    /// tests and from inside a tokio runtime alike: the admin work runs on
    /// a thread of its own.
    pub fn create() -> TestDatabase {
        static DATABASES: AtomicU64 = AtomicU64::new(0);
        let admin = admin_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "imagegen_test_{}_{nanos}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(why) = admin_sql(&admin, format!("CREATE DATABASE \"{name}\"")) {
            panic!("cannot create a test database: {why}");
        }
        let mut url = url::Url::parse(&admin)
            .unwrap_or_else(|e| panic!("{URL_VAR} is not a postgres:// URL: {e}"));
        url.set_path(&name);
        TestDatabase {
            admin,
            name,
            url: url.to_string(),
        }
    }

    /// The URL of the database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A plain connection (its driver runs on the current runtime), for
    /// what a test does behind the store's back.
    pub async fn raw(&self) -> tokio_postgres::Client {
        raw(&self.url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // No panic here: this may run while a failed test unwinds.
        if let Err(why) = admin_sql(
            &self.admin,
            format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        ) {
            eprintln!(
                "warning: the test database {} was not dropped: {why}",
                self.name
            );
        }
    }
}

/// A plain connection to `url`; its driver runs on the current runtime.
pub async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server ({URL_VAR}): {e:?}"));
    tokio::spawn(connection);
    client
}

/// Runs `sql` on the admin database from a thread and runtime of its own.
fn admin_sql(admin: &str, sql: String) -> Result<(), String> {
    let admin = admin.to_owned();
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin, NoTls)
                .await
                .map_err(|e| format!("cannot connect to the test server ({URL_VAR}): {e:?}"))?;
            tokio::spawn(connection);
            client
                .batch_execute(&sql)
                .await
                .map_err(|e| format!("`{sql}` failed on {URL_VAR}: {e:?}"))
        })
    })
    .join();
    outcome.unwrap_or_else(|_| Err("the thread running it panicked".to_owned()))
}
