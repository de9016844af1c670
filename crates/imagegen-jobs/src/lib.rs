//! Durable image-generation jobs: what `imagegen batch` records so that a
//! crash, a kill or a second process never loses or pays twice for work.
//!
//! * [`model`]: job states, jobs, outputs, summaries.
//! * [`store`]: the [`JobStore`] interface a runner writes through, and
//!   the promises every store keeps. It names no database.
//! * [`sqlite`]: the batch journal of one folder on one machine, locked
//!   against a second process.
//! * `postgres` (feature `postgres`): queues in a PostgreSQL database that
//!   any number of workers share, with leases and LISTEN/NOTIFY; and
//!   `PgRate`, one rate budget per API key shared by every process on the
//!   database (with or without the queue).

pub mod model;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;
pub mod store;

pub use model::{Endpoint, JobRow, JobState, NewJob, OutputRow, Summary};
#[cfg(feature = "postgres")]
pub use postgres::{PgOptions, PgRate, PgRateOptions, PgStore};
pub use sqlite::SqliteStore;
pub use store::{Claim, JobError, JobStore, StoreError, StoreErrorKind, StoreResult};
