//! `PgRate`, the rate budget every process on a database shares, against a
//! real PostgreSQL server (see `support` for the server and the fresh
//! database each test gets).
//!
//! Windows are checked on the grants' own timestamps, as the server
//! recorded them (a trigger added behind the budget's back copies every
//! start it appends), never on how long a test took.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use imagegen_core::shared_rate::{Grant, SharedRate};
use imagegen_core::testing::ScriptedProvider;
use imagegen_core::{Client, RateLimit};
use imagegen_jobs::postgres::SCHEMA_VERSION;
use imagegen_jobs::{PgRate, PgRateOptions, PgStore, StoreErrorKind};

mod support;

use support::{admin_url, raw, with_db};

const WINDOW: Duration = Duration::from_millis(400);

/// A handle with its own connections (a process), patient with a loaded
/// test machine.
async fn handle(url: &str) -> PgRate {
    let options = PgRateOptions::default().with_timeout(Duration::from_secs(10));
    PgRate::connect_with(url, options).await.unwrap()
}

/// Records every start the budget appends, with its server timestamp, in
/// `grants_seen`.
async fn record_grants(url: &str) {
    raw(url)
        .await
        .batch_execute(
            "CREATE TABLE grants_seen (account text NOT NULL, at timestamptz NOT NULL);
             CREATE FUNCTION record_grants() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO grants_seen
                 SELECT NEW.account, s FROM unnest(NEW.starts) AS s
                 WHERE TG_OP = 'INSERT' OR s <> ALL(OLD.starts);
                 RETURN NEW;
             END $$;
             CREATE TRIGGER record_grants AFTER INSERT OR UPDATE ON imagegen.rate_windows
             FOR EACH ROW EXECUTE FUNCTION record_grants();",
        )
        .await
        .unwrap();
}

/// The recorded grants of `account`, oldest first, as microseconds.
async fn grants_seen(url: &str, account: &str) -> Vec<i64> {
    raw(url)
        .await
        .query(
            "SELECT (extract(epoch FROM at) * 1000000)::bigint FROM grants_seen
             WHERE account = $1 ORDER BY at",
            &[&PgRate::account_key(account)],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The first `cap + 1` grants in a row that fall within one window, if any.
fn crowded_window(grants: &[i64], cap: usize, window: Duration) -> Option<&[i64]> {
    let window = window.as_micros() as i64;
    grants
        .windows(cap + 1)
        .find(|run| run[cap] - run[0] < window)
}

/// Takes until granted, sleeping as advised; returns the denials seen.
async fn take_until_granted(rate: &PgRate, account: &str, cap: u32, window: Duration) -> u32 {
    let mut denied = 0;
    loop {
        match rate.take(account, cap, window).await.unwrap() {
            Grant::Granted => return denied,
            Grant::Full { retry_in } => {
                assert!(retry_in <= window, "{retry_in:?}");
                denied += 1;
                tokio::time::sleep(retry_in).await;
            }
        }
    }
}

#[tokio::test]
async fn handles_hammering_one_key_never_exceed_the_cap_in_any_window() {
    with_db(|url| async move {
        const CAP: u32 = 5;
        const WANTED: usize = 40;
        let first = handle(&url).await;
        record_grants(&url).await;
        // Four processes: four handles, each with its own connections.
        let mut handles = vec![first];
        for _ in 0..3 {
            handles.push(handle(&url).await);
        }
        let granted = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for rate in &handles {
            for _ in 0..4 {
                let (rate, granted) = (rate.clone(), granted.clone());
                tasks.push(tokio::spawn(async move {
                    let mut denied = 0;
                    while granted.load(Ordering::SeqCst) < WANTED {
                        denied += take_until_granted(&rate, "runbase:abc", CAP, WINDOW).await;
                        granted.fetch_add(1, Ordering::SeqCst);
                    }
                    denied
                }));
            }
        }
        let mut denied = 0;
        for task in tasks {
            denied += task.await.unwrap();
        }
        let grants = grants_seen(&url, "runbase:abc").await;
        assert_eq!(grants.len(), granted.load(Ordering::SeqCst));
        assert!(grants.len() >= WANTED);
        assert_eq!(
            crowded_window(&grants, CAP as usize, WINDOW),
            None,
            "more than {CAP} grants within {WINDOW:?}"
        );
        assert!(denied > 0, "sixteen takers on a cap of {CAP} were denied");
    })
    .await;
}

#[tokio::test]
async fn a_dropped_handles_grants_leave_after_one_window() {
    with_db(|url| async move {
        let window = Duration::from_secs(1);
        let dying = handle(&url).await;
        record_grants(&url).await;
        for _ in 0..3 {
            assert_eq!(
                dying.take("runbase:abc", 3, window).await.unwrap(),
                Grant::Granted
            );
        }
        drop(dying);
        let living = handle(&url).await;
        let Grant::Full { retry_in } = living.take("runbase:abc", 3, window).await.unwrap() else {
            panic!("the dead handle's grants still fill the window");
        };
        assert!(retry_in <= window, "{retry_in:?}");
        take_until_granted(&living, "runbase:abc", 3, window).await;
        let grants = grants_seen(&url, "runbase:abc").await;
        assert_eq!(grants.len(), 4);
        // The new grant came once the dead handle's first left the window,
        // and not before.
        assert!(grants[3] - grants[0] >= window.as_micros() as i64);
        assert_eq!(crowded_window(&grants, 3, window), None);
    })
    .await;
}

#[tokio::test]
async fn different_keys_do_not_interfere_and_no_key_is_stored() {
    with_db(|url| async move {
        let rate = handle(&url).await;
        let (a, b) = ("runbase:sk-live-secret-a", "runbase:sk-live-secret-b");
        for _ in 0..2 {
            assert_eq!(rate.take(a, 2, WINDOW * 10).await.unwrap(), Grant::Granted);
        }
        assert!(matches!(
            rate.take(a, 2, WINDOW * 10).await.unwrap(),
            Grant::Full { .. }
        ));
        for _ in 0..2 {
            assert_eq!(rate.take(b, 2, WINDOW * 10).await.unwrap(), Grant::Granted);
        }
        assert!(matches!(
            rate.take(a, 2, WINDOW * 10).await.unwrap(),
            Grant::Full { .. }
        ));
        let stored: Vec<String> = raw(&url)
            .await
            .query("SELECT account FROM imagegen.rate_windows", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(stored.len(), 2);
        for account in &stored {
            assert!(!account.contains("secret"), "{account}");
            assert_eq!(account.len(), 64, "a SHA-256 in hex: {account}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_hold_back_reaches_every_handle() {
    with_db(|url| async move {
        let got_429 = handle(&url).await;
        let other = handle(&url).await;
        got_429
            .hold_back("runbase:abc", Duration::from_secs(30))
            .await
            .unwrap();
        // A shorter hold-back never shortens a longer one.
        got_429
            .hold_back("runbase:abc", Duration::from_secs(1))
            .await
            .unwrap();
        let Grant::Full { retry_in } = other.take("runbase:abc", 20, WINDOW * 100).await.unwrap()
        else {
            panic!("a held-back account was granted a start");
        };
        assert!(retry_in > Duration::from_secs(1), "{retry_in:?}");
        assert_eq!(
            other.take("runbase:other", 20, WINDOW).await.unwrap(),
            Grant::Granted
        );
    })
    .await;
}

#[tokio::test]
async fn clients_on_separate_handles_send_only_what_the_database_granted() {
    with_db(|url| async move {
        const CAP: u32 = 3;
        handle(&url).await;
        record_grants(&url).await;
        let limit = RateLimit {
            requests: CAP,
            per: Duration::from_millis(300),
        };
        let mut providers = Vec::new();
        let mut calls = Vec::new();
        for _ in 0..2 {
            let provider = Arc::new(ScriptedProvider::polled_api("fake").with_account("fake:key"));
            let client = Client::builder()
                .provider_arc(provider.clone())
                .rate_limit("fake", limit)
                .shared_rate(Arc::new(handle(&url).await))
                .build()
                .unwrap();
            for i in 0..6 {
                let client = client.clone();
                calls.push(tokio::spawn(async move {
                    client.status("fake", format!("t{i}")).await.unwrap();
                }));
            }
            providers.push(provider);
        }
        for call in calls {
            call.await.unwrap();
        }
        let sent: usize = providers.iter().map(|p| p.calls().len()).sum();
        assert_eq!(sent, 12);
        let grants = grants_seen(&url, "fake:key").await;
        assert_eq!(
            grants.len(),
            12,
            "one grant per request, none paced locally"
        );
        // The client's window is the limit plus its 100 ms margin.
        let window = limit.per + Duration::from_millis(100);
        assert_eq!(crowded_window(&grants, CAP as usize, window), None);
    })
    .await;
}

#[tokio::test]
async fn the_budget_and_the_store_share_a_database_and_its_migrations() {
    with_db(|url| async move {
        // A database an older imagegen migrated to version 1 only.
        let db = raw(&url).await;
        db.batch_execute(
            "CREATE SCHEMA imagegen;
             CREATE TABLE imagegen.schema_migrations (
                 version integer PRIMARY KEY, name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now());",
        )
        .await
        .unwrap();
        db.batch_execute(include_str!("../src/postgres/migrations/0001_initial.sql"))
            .await
            .unwrap();
        db.execute(
            "INSERT INTO imagegen.schema_migrations(version, name) VALUES (1, 'initial')",
            &[],
        )
        .await
        .unwrap();
        let rate = handle(&url).await;
        let versions: Vec<i32> = db
            .query(
                "SELECT version FROM imagegen.schema_migrations ORDER BY version",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
        // The store opens the migrated database, and its budget is the
        // same as the standalone handle's.
        let store = PgStore::connect(&url, "q").await.unwrap();
        let from_store = store.shared_rate();
        assert_eq!(
            rate.take("k", 2, WINDOW * 10).await.unwrap(),
            Grant::Granted
        );
        assert_eq!(
            from_store.take("k", 2, WINDOW * 10).await.unwrap(),
            Grant::Granted
        );
        assert!(matches!(
            rate.take("k", 2, WINDOW * 10).await.unwrap(),
            Grant::Full { .. }
        ));
        drop((store, from_store, rate));

        // A database a newer imagegen migrated is refused, by both.
        db.execute(
            "INSERT INTO imagegen.schema_migrations(version, name) VALUES (99, 'from the future')",
            &[],
        )
        .await
        .unwrap();
        let err = PgRate::connect(&url).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Unreadable);
        assert!(err.message.contains("schema version 99"), "{}", err.message);
        assert!(err.message.contains("(rate budget)"), "{}", err.message);
        let err = PgStore::connect(&url, "q").await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Unreadable);
    })
    .await;
}

#[tokio::test]
async fn a_database_that_went_away_fails_the_take_and_says_where() {
    with_db(|url| async move {
        let rate = handle(&url).await;
        assert_eq!(rate.take("k", 2, WINDOW).await.unwrap(), Grant::Granted);
        let name = url.rsplit('/').next().unwrap().to_owned();
        let admin = raw(&admin_url()).await;
        admin
            .batch_execute(&format!(
                "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
            ))
            .await
            .unwrap();
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&name],
            )
            .await
            .unwrap();
        drop(admin);
        // The pooled connection is dead and no new one is allowed: both
        // the next take and the one after it fail, and say where.
        for _ in 0..2 {
            let err = rate.take("k", 2, WINDOW).await.unwrap_err();
            assert!(err.message().contains("(rate budget)"), "{err}");
            assert!(!err.message().contains("password"), "{err}");
        }
    })
    .await;
}

#[tokio::test]
async fn bad_options_are_refused_before_connecting() {
    let options = PgRateOptions::default().with_timeout(Duration::ZERO);
    let err = PgRate::connect_with(&admin_url(), options)
        .await
        .unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Usage);
    let err = PgRate::connect("not a url at all").await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Usage);
}
