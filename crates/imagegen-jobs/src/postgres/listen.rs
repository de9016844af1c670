//! LISTEN/NOTIFY: idle workers wake as soon as jobs are added to their
//! queue or given back, and applications waiting on a job wake as soon as
//! it settles, instead of polling the table.

use std::sync::Arc;

use tokio::sync::{Mutex, watch};
use tokio_postgres::{AsyncMessage, NoTls};

use super::{NOTIFY_CHANNEL, SETTLED_CHANNEL};

/// One `LISTEN` connection per handle, opened when the handle first claims
/// or waits (an application that only enqueues never opens it), and again
/// after it was lost. Each notification for the queue bumps a counter, one
/// per channel; waiters compare it with the count they saw before they
/// last looked at the table. The settle channel is listened to only once
/// someone waits on a job, so workers are not woken by every settle.
pub(super) struct Listener {
    config: tokio_postgres::Config,
    queue_id: i64,
    wakeups: Arc<watch::Sender<u64>>,
    settles: Arc<watch::Sender<u64>>,
    running: Mutex<Option<Running>>,
}

struct Running {
    /// Kept so the connection stays open: dropping the client closes it.
    client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
    listens_to_settles: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    pub(super) fn new(config: tokio_postgres::Config, queue_id: i64) -> Listener {
        Listener {
            config,
            queue_id,
            wakeups: Arc::new(watch::channel(0).0),
            settles: Arc::new(watch::channel(0).0),
            running: Mutex::new(None),
        }
    }

    /// Listens, if it does not already: returns once the server has
    /// acknowledged the `LISTEN`, so no notification after it is missed.
    pub(super) async fn ensure(&self) -> Result<(), tokio_postgres::Error> {
        self.ensure_listening(false).await
    }

    /// [`ensure`](Self::ensure), and listens to the settle channel too.
    pub(super) async fn ensure_settles(&self) -> Result<(), tokio_postgres::Error> {
        self.ensure_listening(true).await
    }

    async fn ensure_listening(&self, settles: bool) -> Result<(), tokio_postgres::Error> {
        let mut running = self.running.lock().await;
        if let Some(live) = running.as_mut().filter(|r| !r.task.is_finished()) {
            if settles && !live.listens_to_settles {
                live.client
                    .batch_execute(&format!("LISTEN {SETTLED_CHANNEL}"))
                    .await?;
                live.listens_to_settles = true;
            }
            return Ok(());
        }
        *running = None;
        let (client, mut connection) = self.config.connect(NoTls).await?;
        let (wakeups, settled) = (self.wakeups.clone(), self.settles.clone());
        let payload = self.queue_id.to_string();
        // A settle's payload is `queue_id:job_id`.
        let settle_prefix = format!("{}:", self.queue_id);
        let task = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n)))
                        if n.channel() == NOTIFY_CHANNEL && n.payload() == payload =>
                    {
                        wakeups.send_modify(|count| *count += 1);
                    }
                    Some(Ok(AsyncMessage::Notification(n)))
                        if n.channel() == SETTLED_CHANNEL
                            && n.payload().starts_with(&settle_prefix) =>
                    {
                        settled.send_modify(|count| *count += 1);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(
                            "the LISTEN connection to PostgreSQL was lost: {}",
                            super::error_chain(&e)
                        );
                        break;
                    }
                    None => break,
                }
            }
            // Whatever was missed while no one listened: waiters look at
            // the table again, and the next wait opens a new connection.
            wakeups.send_modify(|count| *count += 1);
            settled.send_modify(|count| *count += 1);
        });
        let channels = if settles {
            format!("LISTEN {NOTIFY_CHANNEL}; LISTEN {SETTLED_CHANNEL}")
        } else {
            format!("LISTEN {NOTIFY_CHANNEL}")
        };
        client.batch_execute(&channels).await?;
        *running = Some(Running {
            client,
            task,
            listens_to_settles: settles,
        });
        Ok(())
    }

    /// Settles in the queue (and lost connections) so far.
    pub(super) fn settle_count(&self) -> u64 {
        *self.settles.borrow()
    }

    /// Waits until the settle count passes `seen`.
    pub(super) async fn wait_settle_past(&self, seen: u64) {
        let mut settles = self.settles.subscribe();
        let _ = settles.wait_for(|count| *count > seen).await;
    }

    /// Notifications (and lost connections) so far.
    pub(super) fn count(&self) -> u64 {
        *self.wakeups.borrow()
    }

    /// Waits until the count passes `seen`.
    pub(super) async fn wait_past(&self, seen: u64) {
        let mut wakeups = self.wakeups.subscribe();
        // The sender lives as long as `self`: an error cannot happen here,
        // and would only mean "stop waiting".
        let _ = wakeups.wait_for(|count| *count > seen).await;
    }
}
