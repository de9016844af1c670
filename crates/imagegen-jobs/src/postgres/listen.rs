//! LISTEN/NOTIFY: idle workers wake as soon as jobs are added to their
//! queue or given back, instead of polling the table.

use std::sync::Arc;

use tokio::sync::{Mutex, watch};
use tokio_postgres::{AsyncMessage, NoTls};

use super::NOTIFY_CHANNEL;

/// One `LISTEN` connection per handle, opened when the handle first claims
/// or waits (an application that only enqueues never opens it), and again
/// after it was lost. Each notification for the queue bumps a counter;
/// waiters compare it with the count they saw when they last claimed.
pub(super) struct Listener {
    config: tokio_postgres::Config,
    queue_id: i64,
    wakeups: Arc<watch::Sender<u64>>,
    running: Mutex<Option<Running>>,
}

struct Running {
    /// Kept so the connection stays open: dropping the client closes it.
    _client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
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
            running: Mutex::new(None),
        }
    }

    /// Listens, if it does not already: returns once the server has
    /// acknowledged the `LISTEN`, so no notification after it is missed.
    pub(super) async fn ensure(&self) -> Result<(), tokio_postgres::Error> {
        let mut running = self.running.lock().await;
        if running.as_ref().is_some_and(|r| !r.task.is_finished()) {
            return Ok(());
        }
        *running = None;
        let (client, mut connection) = self.config.connect(NoTls).await?;
        let wakeups = self.wakeups.clone();
        let payload = self.queue_id.to_string();
        let task = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) if n.payload() == payload => {
                        wakeups.send_modify(|count| *count += 1);
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
            // Whatever was missed while no one listened: waiters claim
            // again, and the next wait opens a new connection.
            wakeups.send_modify(|count| *count += 1);
        });
        client
            .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
            .await?;
        *running = Some(Running {
            _client: client,
            task,
        });
        Ok(())
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
