//! Serialization: each provider's create body and each documented response,
//! through the generated wire types, beside two baselines in the same group:
//! `serde_json::json!` / `serde_json::Value` and a minimal hand-written serde
//! struct (the floor).
//!
//! Groups are `<provider>/<message>/<case>`; functions are
//! `typed` (request mapping + serialize, or parse into the generated type),
//! `typed_serialize` (serialize an already built wire struct), `value` and
//! `floor`. `cargo run -p imagegen-benches --bin bench-report` turns the
//! results into the ratio table of docs/PERFORMANCE.md.

use std::hint::black_box;

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use serde::Serialize;
use serde::de::DeserializeOwned;

use imagegen::codec::BaseUrl;
use imagegen::gptimage15::{Gptimage15Codec, generated as g15};
use imagegen::openai::{OpenAiCodec, generated as oa};
use imagegen::runbase::{RunbaseCodec, generated as rb};
use imagegen_benches::codec;
use imagegen_benches::fixtures::{self, Fixture};
use imagegen_benches::requests::{self, floor, typed, value};
use imagegen_benches::{ImageRequest, floors};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// One create body, four ways.
/// A provider crate's own request-to-bytes function.
type ProviderBody<'a> = Option<&'a dyn Fn(&ImageRequest) -> Vec<u8>>;

/// `floor` serializes its hand-written struct, which borrows from the
/// request; `provider`, when given, is the provider crate's own
/// request-to-bytes function (what it sends).
fn create<T: Serialize>(
    c: &mut Criterion,
    name: &str,
    request: &ImageRequest,
    typed: impl Fn(&ImageRequest) -> T,
    value: impl Fn(&ImageRequest) -> serde_json::Value,
    floor: impl Fn(&ImageRequest) -> Vec<u8>,
    provider: ProviderBody<'_>,
) {
    let mut group = c.benchmark_group(name);
    let body = serde_json::to_vec(&typed(request)).expect("serializes");
    // All three must produce the same document, or the comparison is void.
    let as_value = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).expect("JSON");
    assert_eq!(
        as_value(&body),
        as_value(&serde_json::to_vec(&value(request)).unwrap())
    );
    assert_eq!(as_value(&body), as_value(&floor(request)));
    group.throughput(Throughput::Bytes(body.len() as u64));
    if let Some(provider) = provider {
        assert_eq!(as_value(&body), as_value(&provider(request)));
        group.bench_function("provider", |b| b.iter(|| provider(black_box(request))));
    }
    group.bench_function("typed", |b| {
        b.iter(|| serde_json::to_vec(&typed(black_box(request))).unwrap())
    });
    let built = typed(request);
    group.bench_function("typed_serialize", |b| {
        b.iter(|| serde_json::to_vec(black_box(&built)).unwrap())
    });
    group.bench_function("value", |b| {
        b.iter(|| serde_json::to_vec(&value(black_box(request))).unwrap())
    });
    group.bench_function("floor", |b| b.iter(|| floor(black_box(request))));
    group.finish();
}

/// A provider crate's own bytes-to-status function.
type ProviderParse<'a> = Option<&'a dyn Fn(&[u8]) -> Option<imagegen::TaskStatus>>;

/// One response body, three ways (four with the provider's own parser).
fn parse<T: DeserializeOwned, F: DeserializeOwned>(
    group: &mut Group<'_>,
    fixture: &Fixture,
    provider: ProviderParse<'_>,
) {
    let bytes = fixture.bytes.as_slice();
    if let Some(provider) = provider {
        group.bench_function("provider", |b| b.iter(|| provider(black_box(bytes))));
    }
    serde_json::from_slice::<T>(bytes).expect("the generated type parses the documented example");
    serde_json::from_slice::<F>(bytes).expect("the floor parses the documented example");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("typed", |b| {
        b.iter(|| serde_json::from_slice::<T>(black_box(bytes)).unwrap())
    });
    group.bench_function("value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(bytes)).unwrap())
    });
    group.bench_function("floor", |b| {
        b.iter(|| serde_json::from_slice::<F>(black_box(bytes)).unwrap())
    });
}

fn parse_all<T: DeserializeOwned, F: DeserializeOwned>(
    c: &mut Criterion,
    prefix: &str,
    fixtures: &[Fixture],
    provider: ProviderParse<'_>,
) {
    for fixture in fixtures {
        let mut group = c.benchmark_group(format!("{prefix}/{}", fixture.name));
        parse::<T, F>(&mut group, fixture, provider);
        group.finish();
    }
}

fn base() -> BaseUrl {
    BaseUrl::parse("https://api.example.test/v1").unwrap()
}

fn runbase(c: &mut Criterion) {
    let request = requests::sample_with_reference();
    let (codec, base) = (codec::new::<RunbaseCodec>(), base());
    create(
        c,
        "runbase/create",
        &request,
        typed::runbase,
        value::runbase,
        |r| serde_json::to_vec(&floor::runbase(r)).unwrap(),
        Some(&|r| codec::create_body(&codec, &base, r)),
    );
    // The codec's read of a status answer, settled by the core: bytes to
    // TaskStatus (a run that succeeded without URLs is an error there,
    // hence the Option).
    parse_all::<rb::RunbaseRun, floors::Run>(
        c,
        "runbase/run",
        &fixtures::runbase_runs(),
        Some(&|b| codec::read_status(&codec, b)),
    );
    parse_all::<rb::RunbaseErrorBody, floors::RunbaseError>(
        c,
        "runbase/error_body",
        &[fixtures::runbase_error()],
        None,
    );
}

fn gptimage15(c: &mut Criterion) {
    let request = requests::sample();
    let (codec, base) = (codec::new::<Gptimage15Codec>(), base());
    create(
        c,
        "gptimage15/create",
        &request,
        typed::gptimage15,
        value::gptimage15,
        |r| serde_json::to_vec(&floor::gptimage15(r)).unwrap(),
        Some(&|r| codec::create_body(&codec, &base, r)),
    );
    parse_all::<g15::Gptimage15GenerateEnvelope, floors::G15Envelope<floors::G15Accepted>>(
        c,
        "gptimage15/generate_response",
        &[fixtures::gptimage15_generate_response()],
        None,
    );
    parse_all::<g15::Gptimage15StatusEnvelope, floors::G15Envelope<floors::G15Task>>(
        c,
        "gptimage15/status",
        &fixtures::gptimage15_statuses(),
        Some(&|b| codec::read_status(&codec, b)),
    );
}

fn openai(c: &mut Criterion) {
    let request = requests::sample();
    let (codec, base) = (codec::new::<OpenAiCodec>(), base());
    create(
        c,
        "openai/create",
        &request,
        typed::openai,
        value::openai,
        |r| serde_json::to_vec(&floor::openai(r)).unwrap(),
        Some(&|r| codec::create_body(&codec, &base, r)),
    );
    // The codec's read of the synchronous answer: bytes to a finished
    // TaskStatus, with every `b64_json` image decoded.
    parse_all::<oa::OpenAiImagesResponse, floors::Images>(
        c,
        "openai/images",
        &fixtures::openai_images(),
        Some(&|b| codec::read_create(&codec, b)),
    );
    parse_all::<oa::OpenAiErrorBody, floors::OpenAiErrorBody>(
        c,
        "openai/error_body",
        &[fixtures::openai_error()],
        None,
    );
}

fn config() -> Criterion {
    let (warm_up, measurement, samples) = imagegen_benches::timing();
    Criterion::default()
        .warm_up_time(warm_up)
        .measurement_time(measurement)
        .sample_size(samples)
        .noise_threshold(0.03)
}

criterion_group! {
    name = benches;
    config = config();
    targets = runbase, gptimage15, openai
}
criterion_main!(benches);
