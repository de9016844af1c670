//! One rate budget per API key across processes: the hook a shared backend
//! (a database) implements.
//!
//! A [`RateBudget`](crate::RateBudget) paces one process. Twenty replicas
//! of an app on one Runbase key each keep their own, and together send
//! twenty times the key's 20 requests per 10 s. A [`SharedRate`] backend is
//! the budget they share: before a request starts, the process asks it for
//! one start of the account in a window of `cap` starts per `window`.
//! `imagegen-jobs` implements it on PostgreSQL (`PgRate`); this crate names
//! no database.
//!
//! The in-process budget stays in front of it as the local queue (see
//! [`RateBudget::with_shared`](crate::RateBudget::with_shared)): callers are
//! still served by priority inside the process, and only the caller served
//! next asks the backend, so a process has at most one ask in flight per
//! account and a full window costs one ask per process, not one per waiting
//! caller. When the backend says the window is full, the whole account of
//! the process waits until the instant it advised; the denied caller
//! records no start.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

/// What the shared backend answered to one [`SharedRate::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// One start was recorded for the account: the request may go now.
    Granted,
    /// The account's window is full (or the account is held back): nothing
    /// was recorded; ask again in this long, when the oldest start leaves
    /// the window.
    Full {
        /// How long until a start may be free, by the backend's clock.
        retry_in: Duration,
    },
}

/// A shared backend that failed to answer (unreachable, timed out,
/// refused). The request is then paced by the process alone (see
/// [`SharedRate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedRateError {
    message: String,
}

impl SharedRateError {
    /// An error saying what failed (never a secret: it is logged).
    pub fn new(message: impl Into<String>) -> Self {
        SharedRateError {
            message: message.into(),
        }
    }

    /// What failed.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SharedRateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SharedRateError {}

/// A rate budget shared by every process that points at the same backend.
///
/// `account` is [`ImageProvider::account_id`](crate::ImageProvider::account_id):
/// a fingerprint, never the key. A backend should still store only a hash of
/// it, since an `ImageProvider` written elsewhere may be careless.
///
/// **When the backend fails** (a database that is down or too slow), the
/// client paces that request by its in-process budget alone, logs a
/// warning (once per outage), and does not ask the backend again for
/// [`SHARED_RATE_RETRY_AFTER_ERROR`], so an outage costs one failed ask per
/// account and process, not one per request. The choice: while the
/// backend is down, several processes on one key may together exceed its
/// limit and get 429s, which providers never charge for and which the
/// client retries (holding the whole account back for the `Retry-After`);
/// refusing to send anything would instead stall every generation of every
/// process because the database blipped. A backend must therefore return an
/// error rather than wait long: its own timeout should be well under a
/// second or two.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use imagegen_core::async_trait;
/// use imagegen_core::shared_rate::{Grant, SharedRate, SharedRateError};
///
/// /// Every start refused for a second: the smallest (useless) backend.
/// #[derive(Debug)]
/// struct AlwaysFull;
///
/// #[async_trait]
/// impl SharedRate for AlwaysFull {
///     async fn take(&self, _: &str, _: u32, _: Duration) -> Result<Grant, SharedRateError> {
///         Ok(Grant::Full { retry_in: Duration::from_secs(1) })
///     }
/// }
/// let backend: Arc<dyn SharedRate> = Arc::new(AlwaysFull);
/// let answer = backend.take("runbase:0123", 20, Duration::from_millis(10_500)).await;
/// assert_eq!(answer, Ok(Grant::Full { retry_in: Duration::from_secs(1) }));
/// # }
/// ```
#[async_trait]
pub trait SharedRate: Send + Sync + fmt::Debug {
    /// Takes one request start for `account` if fewer than `cap` starts
    /// happened in the last `window` and the account is not held back;
    /// otherwise records nothing and says when to ask again. One short
    /// round trip: it is on the path of every request.
    async fn take(
        &self,
        account: &str,
        cap: u32,
        window: Duration,
    ) -> Result<Grant, SharedRateError>;

    /// Holds `account` back for `wait` in every process (after a 429 with
    /// this `Retry-After`): their takes answer [`Grant::Full`] until then.
    /// The default shares nothing; the process that got the 429 holds its
    /// own budget back either way.
    async fn hold_back(&self, account: &str, wait: Duration) -> Result<(), SharedRateError> {
        let _ = (account, wait);
        Ok(())
    }
}

/// After a failed ask, how long a process paces the account alone before
/// it asks the shared backend again: long enough that a backend that times
/// out stalls the account for a small part of an outage, short enough that
/// sharing resumes within a window or so.
pub const SHARED_RATE_RETRY_AFTER_ERROR: Duration = Duration::from_secs(5);

/// The shortest wait a [`Grant::Full`] is taken as: a backend that says
/// "ask again in 0" must not make the process spin.
pub const MIN_SHARED_RETRY: Duration = Duration::from_millis(1);

#[cfg(test)]
#[path = "tests/shared_rate_tests.rs"]
mod tests;
