//! The codec without I/O: what it sends, and what the client makes of
//! the answers. TEMPLATE: extend to every documented status and error.

use imagegen_core::{ErrorKind, ImageRequest, Quality, TaskState};
use imagegen_test_support::{answer, create_request, read_create, read_status};
use imagegen_wavespeed::WavespeedCodec;

#[test]
fn a_create_is_one_post_of_the_mapped_body() {
    let request = ImageRequest::new("a lamp").quality(Quality::High);
    let http = create_request::<WavespeedCodec>(&request).unwrap();
    assert_eq!(http.method, "POST");
    assert!(http.url.as_str().ends_with("/generate"), "{}", http.url);
    assert_eq!(
        http.json_body(),
        serde_json::json!({"prompt": "a lamp", "quality": "high"})
    );
}

#[test]
fn answers_become_tasks_and_errors() {
    let created =
        read_create::<WavespeedCodec>(&answer(200, &[], br#"{"id":"t1","status":"queued"}"#));
    assert_eq!(created.unwrap().state, TaskState::Queued);
    let done = br#"{"id":"t1","status":"succeeded","urls":["https://cdn.example/1.png"]}"#;
    let done = read_status::<WavespeedCodec>("t1", &answer(200, &[], done)).unwrap();
    assert_eq!(done.outputs.len(), 1);
    let refused = read_create::<WavespeedCodec>(&answer(401, &[], br#"{"message":"bad key"}"#));
    let refused = refused.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unauthorized);
    assert!(!refused.may_have_reached_server());
    let failed = read_create::<WavespeedCodec>(&answer(502, &[], b"bad gateway")).unwrap_err();
    assert!(
        failed.may_have_reached_server(),
        "a 5xx to a create is ambiguous"
    );
}
