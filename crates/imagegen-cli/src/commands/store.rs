//! `--store`: which job store a command works on. Without it, the SQLite
//! journal of the batch folder; with a PostgreSQL URL, a queue of the
//! shared store (feature `postgres`, on by default).

use std::sync::Arc;

use imagegen_jobs::JobStore;

use crate::args::{ConnArgs, DEFAULT_QUEUE, StoreArgs};
use crate::exit::{CliError, CliResult};

/// A queue of a PostgreSQL job store, as the command line names it.
#[derive(Debug, Clone)]
pub struct Queue {
    /// The URL, as given (it may hold a password: never printed).
    pub url: String,
    /// The queue's name.
    pub name: String,
    /// The lease of this process's claims, when not the store's default.
    pub lease: Option<std::time::Duration>,
}

impl Queue {
    /// The options that name this queue again, for the hints the CLI
    /// prints (`imagegen jobs …`), without the URL's password.
    pub fn options(&self) -> String {
        format!("--store {} --queue {}", redacted(&self.url), self.name)
    }
}

/// The queue `--store` names, or `None` for the batch folder's journal.
pub fn queue_of(args: &StoreArgs) -> CliResult<Option<Queue>> {
    let Some(url) = args.store.as_deref().filter(|u| !u.trim().is_empty()) else {
        if args.queue.is_some() {
            return Err(CliError::usage(
                "--queue names a queue of a --store, but no --store is given",
            )
            .hint(
                "add --store postgres://USER:PASSWORD@HOST:PORT/DATABASE, or set IMAGEGEN_STORE",
            ));
        }
        return Ok(None);
    };
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if !matches!(scheme, Some("postgres" | "postgresql")) {
        // Only the scheme is shown: the rest may hold a password.
        let given = match scheme {
            Some(scheme) => format!("a `{scheme}://` URL"),
            None => "not a URL".to_owned(),
        };
        return Err(CliError::usage(format!(
            "--store takes a PostgreSQL URL (postgres://… or postgresql://…); the one given is {given}"
        ))
        .hint("without --store (and IMAGEGEN_STORE unset), the batch folder's SQLite journal is used"));
    }
    Ok(Some(Queue {
        url: url.to_owned(),
        name: args
            .queue
            .clone()
            .unwrap_or_else(|| DEFAULT_QUEUE.to_owned()),
        lease: args.lease,
    }))
}

/// Refuses `--sim` on a shared store: its simulator lives and dies with
/// this process, and no other worker could reach it.
pub fn refuse_in_process_sim(conn: &ConnArgs) -> CliResult<()> {
    if conn.sim {
        return Err(CliError::usage(
            "--sim starts a simulator inside this process, which other workers of a --store cannot reach",
        )
        .hint("run `imagegen sim --port 8787` and point every worker at it with the providers' base-URL variables or --base-url"));
    }
    Ok(())
}

/// Opens `queue`, creating it (and the store's schema) when it is new.
#[cfg(feature = "postgres")]
pub async fn open(queue: &Queue) -> CliResult<Arc<dyn JobStore>> {
    use imagegen_jobs::{PgOptions, PgStore};
    let mut options = PgOptions::default();
    if let Some(lease) = queue.lease {
        if lease < std::time::Duration::from_secs(1) {
            return Err(CliError::usage(format!(
                "a lease of {lease:?} is too short: at least 1s"
            )));
        }
        options.lease = lease;
        // Three beats to a lease: a slow round trip never lets it run out.
        options.heartbeat = lease / 3;
    }
    Ok(Arc::new(
        PgStore::connect_with(&queue.url, &queue.name, options).await?,
    ))
}

/// Rate budgets drawing on the per-key budget every process on the store's
/// database shares (`PgRate`), so workers on one key together stay within
/// its limit.
#[cfg(feature = "postgres")]
pub async fn shared_budgets(url: &str) -> CliResult<imagegen_core::Budgets> {
    let shared = imagegen_jobs::PgRate::connect(url).await?;
    Ok(imagegen_core::Budgets::with_shared_rate(Arc::new(shared)))
}

/// Without the `postgres` feature there is no shared budget.
#[cfg(not(feature = "postgres"))]
pub async fn shared_budgets(url: &str) -> CliResult<imagegen_core::Budgets> {
    let _ = url;
    Err(CliError::usage(
        "this imagegen was built without PostgreSQL support, so --store cannot be used",
    ))
}

/// Without the `postgres` feature there is no store to open.
#[cfg(not(feature = "postgres"))]
pub async fn open(queue: &Queue) -> CliResult<Arc<dyn JobStore>> {
    // Read only by the PostgreSQL store.
    let _ = queue.lease;
    Err(CliError::usage(
        "this imagegen was built without PostgreSQL support, so --store cannot be used",
    )
    .hint("build it with the `postgres` feature (on by default), or drop --store"))
}

/// `url` without the password of its user info.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_reaches_a_hint() {
        assert_eq!(
            redacted("postgres://me:s3cret@db:5432/imagegen"),
            "postgres://me@db:5432/imagegen"
        );
        assert_eq!(redacted("postgres://db/imagegen"), "postgres://db/imagegen");
        assert_eq!(redacted("postgresql://me@db"), "postgresql://me@db");
    }

    #[test]
    fn only_postgres_urls_are_stores() {
        let args = |store: &str| StoreArgs {
            store: Some(store.to_owned()),
            queue: None,
            lease: None,
        };
        assert_eq!(
            queue_of(&args("postgresql://db/x")).unwrap().unwrap().name,
            DEFAULT_QUEUE
        );
        let err = queue_of(&args("mysql://u:pw@db/x")).unwrap_err();
        assert!(err.message.contains("`mysql://`"), "{}", err.message);
        assert!(!err.message.contains("pw"), "{}", err.message);
        assert!(queue_of(&args("")).unwrap().is_none());
    }
}
