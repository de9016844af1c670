//! The schema: versioned migrations run on connect, the queue a handle
//! opens, and the checks that refuse what this version does not understand.

use deadpool_postgres::GenericClient;

use super::db_error;
use crate::model::JobState;
use crate::store::{StoreError, StoreErrorKind, StoreResult};

/// The newest schema version this code knows (the last migration's).
pub const SCHEMA_VERSION: i32 = 2;

/// One step of the schema, applied once, in order.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, oldest first. A new one is appended with the next
/// version; a released one is never edited.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "queues, jobs with leases, events, outputs",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "rate windows shared by every process on a key",
        sql: include_str!("migrations/0002_rate_windows.sql"),
    },
];

/// The advisory lock key migrations hold ("imagegen" in ASCII), so two
/// processes connecting to a new database at once migrate it once.
const MIGRATION_LOCK: i64 = 0x696d_6167_6567_656e;

/// Brings the database to [`SCHEMA_VERSION`] in one transaction under an
/// advisory lock; refuses a database a newer version has migrated.
pub(super) async fn migrate(
    conn: &mut deadpool_postgres::Object,
    location: &str,
) -> StoreResult<()> {
    let db = |what: &'static str| move |e| db_error(location, what, e);
    // Fast path, and the only one a user without CREATE needs: the schema
    // is already at this version.
    if applied_version(&*conn, location).await? == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    let tx = conn
        .transaction()
        .await
        .map_err(db("starting the migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db("waiting for another process's migration"))?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS imagegen;
         CREATE TABLE IF NOT EXISTS imagegen.schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .await
    .map_err(db("creating the imagegen schema"))?;
    let current = applied_version(&tx, location).await?.unwrap_or(0);
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(migration.sql).await.map_err(|e| {
            db_error(
                location,
                &format!(
                    "applying migration {} ({})",
                    migration.version, migration.name
                ),
                e,
            )
        })?;
        tx.execute(
            "INSERT INTO imagegen.schema_migrations(version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(db("recording a migration"))?;
    }
    tx.commit().await.map_err(db("committing the migration"))
}

/// The newest migration applied, `None` on a database without the schema;
/// an error for one newer than this code.
async fn applied_version(client: &impl GenericClient, location: &str) -> StoreResult<Option<i32>> {
    let row = client
        .query_one(
            "SELECT to_regclass('imagegen.schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .map_err(|e| db_error(location, "reading the schema version", e))?;
    if !row.get::<_, bool>(0) {
        return Ok(None);
    }
    let version: Option<i32> = client
        .query_one("SELECT max(version) FROM imagegen.schema_migrations", &[])
        .await
        .map_err(|e| db_error(location, "reading the schema version", e))?
        .get(0);
    if let Some(version) = version.filter(|v| *v > SCHEMA_VERSION) {
        return Err(StoreError::new(
            StoreErrorKind::Unreadable,
            format!(
                "{location}: the job store has schema version {version}; this imagegen knows up to {SCHEMA_VERSION}"
            ),
        )
        .hint("nothing was changed; use the imagegen that migrated it, or a newer one"));
    }
    Ok(version)
}

/// The id of `queue`, created when it is new.
pub(super) async fn open_queue(
    client: &impl GenericClient,
    queue: &str,
    location: &str,
) -> StoreResult<i64> {
    let db = |e| db_error(location, "opening the queue", e);
    client
        .execute(
            "INSERT INTO imagegen.queues(name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
            &[&queue],
        )
        .await
        .map_err(db)?;
    let row = client
        .query_one("SELECT id FROM imagegen.queues WHERE name = $1", &[&queue])
        .await
        .map_err(db)?;
    Ok(row.get(0))
}

/// The state names this version knows, as the database stores them.
pub(super) fn known_states() -> Vec<&'static str> {
    JobState::ALL.iter().map(|s| s.as_str()).collect()
}

/// Refuses a queue holding a state this version does not know (a newer
/// imagegen's): nothing is guessed.
pub(super) async fn refuse_unknown_states(
    client: &impl GenericClient,
    queue_id: i64,
    location: &str,
) -> StoreResult<()> {
    let rows = client
        .query(
            "SELECT id, state FROM imagegen.jobs
             WHERE queue_id = $1 AND state <> ALL($2) ORDER BY id LIMIT 5",
            &[&queue_id, &known_states()],
        )
        .await
        .map_err(|e| db_error(location, "checking job states", e))?;
    if let Some(first) = rows.first() {
        let id: i64 = first.get(0);
        let state: String = first.get(1);
        return Err(StoreError::new(
            StoreErrorKind::Unreadable,
            format!(
                "{location}: job {id} is in the state `{state}`, which this imagegen does not know ({} job(s) at least)",
                rows.len()
            ),
        )
        .hint("nothing was sent; use the imagegen that wrote it, or a newer one"));
    }
    Ok(())
}
