//! The per-account limit on requests in flight, under paused time: at most
//! K attempts at once, permits back on success, error and cancellation, none
//! held during backoff, and waiting for one bounded by the deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use tokio::time::Instant;

use crate::budgets::DEFAULT_MAX_IN_FLIGHT;
use crate::capabilities::{Capabilities, RateLimit, tests_support};
use crate::testing::errors;
use crate::{
    Client, ClientBuilder, Error, ErrorKind, ImageProvider, ImageRequest, RetryPolicy, TaskState,
    TaskStatus,
};
use crate::{HttpRequest, SubmitOptions, TaskRef};

/// A provider whose calls take `work` each and count how many run at once.
/// Task ids decide the answer: `fail-*` is a 404, `flaky-*` a 500 asking to
/// come back in 1 s on its first call, anything else success.
#[derive(Debug)]
struct Slow {
    caps: Capabilities,
    work: Duration,
    running: AtomicUsize,
    most: AtomicUsize,
    calls: AtomicUsize,
}

impl Slow {
    fn new(work: Duration) -> Arc<Slow> {
        Arc::new(Slow {
            caps: tests_support::polled_api(),
            work,
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        })
    }
    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// Counts a call as running until dropped (also when cancelled).
struct Running<'a>(&'a Slow);

impl<'a> Running<'a> {
    fn start(slow: &'a Slow) -> Self {
        let now = slow.running.fetch_add(1, Ordering::SeqCst) + 1;
        slow.most.fetch_max(now, Ordering::SeqCst);
        Running(slow)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl ImageProvider for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
    fn account_id(&self) -> String {
        "slow:test-account".to_owned()
    }
    async fn submit(&self, _: &ImageRequest, _: &SubmitOptions) -> Result<TaskStatus, Error> {
        let _running = Running::start(self);
        tokio::time::sleep(self.work).await;
        Ok(TaskStatus::new("slow-1", TaskState::Queued))
    }
    async fn status(&self, task: &TaskRef) -> Result<TaskStatus, Error> {
        let task_id = task.id.as_str();
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let _running = Running::start(self);
        tokio::time::sleep(self.work).await;
        if task_id.starts_with("fail-") {
            return Err(errors::not_found());
        }
        if task_id.starts_with("flaky-") && call == 0 {
            return Err(errors::server().with_retry_after(Duration::from_secs(1)));
        }
        Ok(TaskStatus::new(task_id, TaskState::Running))
    }
}

/// A client on `slow` with `max` requests in flight and no pacing to speak
/// of (the rate budget would otherwise space the calls out).
fn client(slow: &Arc<Slow>, max: usize) -> ClientBuilder {
    Client::builder()
        .provider_arc(slow.clone())
        .jitter_seed(7)
        .rate_limit(
            "slow",
            RateLimit {
                requests: 1_000_000,
                per: Duration::from_secs(1),
            },
        )
        .max_in_flight("slow", max)
}

fn available(client: &Client) -> usize {
    client
        .budgets()
        .get("slow:test-account")
        .unwrap()
        .available_in_flight()
}

#[tokio::test(start_paused = true)]
async fn at_most_k_requests_are_in_flight() {
    let slow = Slow::new(Duration::from_secs(1));
    let client = client(&slow, 4).build().unwrap();
    let start = Instant::now();
    let polls = (0..40).map(|i| {
        let client = &client;
        async move { client.status("slow", &format!("task-{i}")).await }
    });
    let results = join_all(polls).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(slow.most(), 4, "never more than 4 at once, and 4 were used");
    // Ten rounds of four: the limit queues requests, it does not drop them.
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(available(&client), 4);
}

#[tokio::test(start_paused = true)]
async fn creates_share_the_limit_with_polls() {
    let slow = Slow::new(Duration::from_secs(1));
    let client = client(&slow, 3).build().unwrap();
    let creates = (0..6).map(|_| {
        let client = &client;
        async move { client.submit(ImageRequest::new("lamp")).await.map(|_| ()) }
    });
    let polls = (0..6).map(|i| {
        let client = &client;
        async move {
            client
                .status("slow", &format!("task-{i}"))
                .await
                .map(|_| ())
        }
    });
    let (creates, polls) = tokio::join!(join_all(creates), join_all(polls));
    assert!(creates.iter().chain(&polls).all(Result::is_ok));
    assert_eq!(slow.most(), 3);
}

#[tokio::test(start_paused = true)]
async fn permits_come_back_after_errors() {
    let slow = Slow::new(Duration::from_millis(100));
    let client = client(&slow, 2).build().unwrap();
    let polls = (0..10).map(|i| {
        let client = &client;
        async move { client.status("slow", &format!("fail-{i}")).await }
    });
    let results = join_all(polls).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().unwrap_err().kind() == ErrorKind::NotFound)
    );
    assert_eq!(slow.most(), 2);
    assert_eq!(available(&client), 2);
}

#[tokio::test(start_paused = true)]
async fn permits_come_back_when_requests_are_cancelled() {
    let slow = Slow::new(Duration::from_secs(1));
    let client = client(&slow, 3).build().unwrap();
    let polls = (0..10).map(|i| {
        let client = &client;
        async move { client.status("slow", &format!("task-{i}")).await }
    });
    // Dropped mid-attempt (three) and while queued for a permit (seven).
    let cut = tokio::time::timeout(Duration::from_millis(500), join_all(polls)).await;
    assert!(cut.is_err());
    assert_eq!(slow.running.load(Ordering::SeqCst), 0);
    assert_eq!(available(&client), 3);
    let start = Instant::now();
    client.status("slow", "task-after").await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(1),
        "no wait for a permit"
    );
}

#[tokio::test(start_paused = true)]
async fn no_permit_is_held_while_sleeping_before_a_retry() {
    let slow = Slow::new(Duration::from_millis(100));
    let client = client(&slow, 1).build().unwrap();
    let start = Instant::now();
    let flaky = async {
        client.status("slow", "flaky-1").await.unwrap();
        start.elapsed()
    };
    let steady = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        client.status("slow", "steady-1").await.unwrap();
        start.elapsed()
    };
    let (flaky, steady) = tokio::join!(flaky, steady);
    // flaky: fails at 100 ms, sleeps 1 s, retries 1.1 s to 1.2 s. steady
    // takes the permit flaky gave back at 100 ms.
    assert_eq!(steady, Duration::from_millis(200));
    assert_eq!(flaky, Duration::from_millis(1200));
}

#[tokio::test(start_paused = true)]
async fn waiting_for_a_permit_ends_at_the_deadline() {
    let slow = Slow::new(Duration::from_secs(10));
    let holder = client(&slow, 1).build().unwrap();
    // Another client on the same account, in a hurry.
    let hurried = client(&slow, 1)
        .budgets(holder.budgets().clone())
        .retry_policy(RetryPolicy::default().with_deadline(Duration::from_secs(3)))
        .build()
        .unwrap();
    let start = Instant::now();
    let held = async {
        holder.status("slow", "task-1").await.unwrap();
        start.elapsed()
    };
    let queued = async {
        let err = hurried.status("slow", "task-2").await.unwrap_err();
        (err, start.elapsed())
    };
    let (held, (queued, gave_up)) = tokio::join!(held, queued);
    assert_eq!(held, Duration::from_secs(10));
    assert_eq!(gave_up, Duration::from_secs(3));
    assert_eq!(queued.kind(), ErrorKind::Timeout);
    assert!(!queued.may_have_reached_server(), "it was never sent");
    assert!(queued.message().contains("in flight"), "{queued}");
    assert_eq!(slow.calls.load(Ordering::SeqCst), 1);
    assert_eq!(available(&holder), 1);
}

#[tokio::test(start_paused = true)]
async fn the_limit_defaults_to_the_constant_and_the_first_registration_wins() {
    let slow = Slow::new(Duration::from_millis(1));
    let defaulted = Client::builder()
        .provider_arc(slow.clone())
        .build()
        .unwrap();
    let account = defaulted.budgets().get("slow:test-account").unwrap();
    assert_eq!(account.max_in_flight(), DEFAULT_MAX_IN_FLIGHT);

    let shared = Client::builder()
        .provider_arc(slow.clone())
        .max_in_flight("slow", 9)
        .build()
        .unwrap();
    let again = Client::builder()
        .provider_arc(slow.clone())
        .max_in_flight("slow", 2)
        .budgets(shared.budgets().clone())
        .build()
        .unwrap();
    let account = again.budgets().get("slow:test-account").unwrap();
    assert_eq!(account.max_in_flight(), 9);
    assert_eq!(
        Client::builder()
            .provider_arc(slow)
            .max_in_flight("slow", 0)
            .build()
            .unwrap()
            .budgets()
            .get("slow:test-account")
            .unwrap()
            .max_in_flight(),
        1,
        "zero would deadlock; it means one"
    );
}

/// A provider whose status is one real GET through the core transport.
#[derive(Debug)]
struct Http {
    caps: Capabilities,
    transport: crate::HttpTransport,
    url: String,
}

#[async_trait]
impl ImageProvider for Http {
    fn name(&self) -> &str {
        "http"
    }
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
    fn account_id(&self) -> String {
        "http:test-account".to_owned()
    }
    async fn submit(&self, _: &ImageRequest, _: &SubmitOptions) -> Result<TaskStatus, Error> {
        unreachable!("only polled")
    }
    async fn status(&self, task: &TaskRef) -> Result<TaskStatus, Error> {
        let request = HttpRequest::get(url::Url::parse(&self.url).unwrap());
        let response = self
            .transport
            .send("http", request, None, Duration::from_secs(10))
            .await?;
        assert!(response.is_success());
        Ok(TaskStatus::new(task.id.clone(), TaskState::Running))
    }
}

/// A keep-alive HTTP/1.1 server that takes 50 ms per answer and counts
/// connections and requests in progress.
async fn slow_server(
    active: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            connections.fetch_add(1, Ordering::SeqCst);
            let (active, most) = (active.clone(), most.clone());
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    while !pending.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    }
                    let end = pending.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    pending.drain(..end);
                    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    active.fetch_sub(1, Ordering::SeqCst);
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                    if socket.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/status")
}

/// The point of the limit: however many jobs poll a slow server, the
/// requests it sees at once, and the sockets the client opens, stay near K.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_sees_at_most_k_requests_and_few_connections() {
    let active = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    let url = slow_server(active, most.clone(), connections.clone()).await;
    let provider = Http {
        caps: tests_support::polled_api(),
        transport: crate::HttpTransport::new(),
        url,
    };
    let client = Client::builder()
        .provider(provider)
        .rate_limit(
            "http",
            RateLimit {
                requests: 1_000_000,
                per: Duration::from_secs(1),
            },
        )
        .max_in_flight("http", 8)
        .build()
        .unwrap();
    let polls = (0..200).map(|i| {
        let client = client.clone();
        tokio::spawn(async move { client.status("http", &format!("task-{i}")).await })
    });
    for poll in join_all(polls).await {
        poll.unwrap().unwrap();
    }
    assert!(most.load(Ordering::SeqCst) <= 8, "{most:?} at once");
    // Reuse is not instant (a connection goes back to the pool a moment
    // after its answer), but nowhere near one per job.
    assert!(
        connections.load(Ordering::SeqCst) <= 16,
        "{connections:?} connections"
    );
}
