//! The transport over real loopback HTTP: bodies in one chunk or many, the
//! size cap, and the request timeout outside any retry loop. The server is
//! shared with the retry loop's deadline tests.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::error::ErrorKind;
use crate::http::HttpRequest;
use crate::transport::{HttpTransport, MAX_RESPONSE_BYTES};

fn get(url: &str) -> HttpRequest {
    HttpRequest::get(url::Url::parse(url).unwrap())
}

/// What the loopback server does with each connection after reading the
/// request head.
#[derive(Clone, Copy)]
pub(crate) enum Serve {
    /// Never answers.
    Silent,
    /// Sends the head and part of the body, then stalls.
    Stall,
    /// Answers `200 ok` at once.
    Ok,
    /// Announces a body over the size cap, then stalls.
    Huge,
    /// Sends `body` in `pieces` writes, 20 ms apart (chunked if `chunked`).
    Pieces {
        body: &'static [u8],
        pieces: usize,
        chunked: bool,
    },
}

/// A loopback HTTP/1.1 server; returns its URL.
pub(crate) async fn server(serve: Serve) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let stall = Duration::from_secs(60);
                match serve {
                    Serve::Silent => tokio::time::sleep(stall).await,
                    Serve::Stall => {
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                            .await;
                        tokio::time::sleep(stall).await;
                    }
                    Serve::Ok => {
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await;
                        tokio::time::sleep(stall).await;
                    }
                    Serve::Huge => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                            MAX_RESPONSE_BYTES + 1
                        );
                        let _ = socket.write_all(head.as_bytes()).await;
                        tokio::time::sleep(stall).await;
                    }
                    Serve::Pieces {
                        body,
                        pieces,
                        chunked,
                    } => {
                        let head = if chunked {
                            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_owned()
                        } else {
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len())
                        };
                        let _ = socket.write_all(head.as_bytes()).await;
                        for piece in body.chunks(body.len().div_ceil(pieces)) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            let _ = if chunked {
                                let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
                                framed.extend_from_slice(piece);
                                framed.extend_from_slice(b"\r\n");
                                socket.write_all(&framed).await
                            } else {
                                socket.write_all(piece).await
                            };
                            let _ = socket.flush().await;
                        }
                        if chunked {
                            let _ = socket.write_all(b"0\r\n\r\n").await;
                        }
                        tokio::time::sleep(stall).await;
                    }
                }
            });
        }
    });
    format!("http://{addr}/")
}

#[tokio::test]
async fn the_request_timeout_bounds_one_exchange() {
    let url = server(Serve::Silent).await;
    let transport = HttpTransport::new();
    let err = transport
        .send("fake", get(&url), None, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.is_retryable());
    assert!(err.message().contains("no complete answer within 200ms"));
}

#[tokio::test]
async fn bodies_in_one_or_many_chunks_arrive_whole() {
    const BODY: &[u8] = b"{\"id\":\"run-1\",\"status\":\"succeeded\",\"padding\":\"................................\"}";
    let transport = HttpTransport::new();
    for (pieces, chunked) in [(1, false), (4, false), (1, true), (5, true)] {
        let url = server(Serve::Pieces {
            body: BODY,
            pieces,
            chunked,
        })
        .await;
        let response = transport
            .send("fake", get(&url), None, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(
            &response.body[..],
            BODY,
            "{pieces} pieces, chunked {chunked}"
        );
        if !chunked {
            assert_eq!(
                response.headers.get("content-length").unwrap(),
                &BODY.len().to_string(),
                "the headers are handed over, not lost"
            );
        }
    }
}

#[tokio::test]
async fn an_announced_body_over_the_cap_is_refused_before_reading() {
    let url = server(Serve::Huge).await;
    let transport = HttpTransport::new();
    let err = transport
        .send("fake", get(&url), None, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(err.http_status(), Some(200));
    assert!(!err.is_retryable());
    assert!(err.may_have_reached_server());
    assert!(err.message().contains("larger than"), "{err}");
}

#[tokio::test]
async fn a_small_answer_keeps_its_status_headers_and_body() {
    let url = server(Serve::Ok).await;
    let transport = HttpTransport::new();
    let response = transport
        .send("fake", get(&url), None, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(response.is_success());
    assert_eq!(&response.body[..], b"ok");
    assert_eq!(response.headers.get("content-length").unwrap(), "2");
}

#[tokio::test]
async fn a_body_that_stalls_times_out_with_the_status() {
    let url = server(Serve::Stall).await;
    let transport = HttpTransport::new();
    let err = transport
        .send("fake", get(&url), None, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.is_retryable());
    assert!(err.may_have_reached_server());
    assert_eq!(err.http_status(), Some(200));
    assert!(
        err.message().contains("no complete answer within 300ms"),
        "{err}"
    );
}
