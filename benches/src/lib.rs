//! Shared helpers for the imagegen benchmarks.
//!
//! * [`fixtures`]: every documented example payload of `schemas/<provider>/`,
//!   as compact JSON bytes, by name.
//! * [`requests`]: the sample [`ImageRequest`] and, for each provider, the
//!   same create body built three ways: through the provider's mapping into
//!   the generated wire types, with `serde_json::json!`, and with a minimal
//!   hand-written `Serialize` struct (the floor).
//! * [`floors`]: minimal hand-written `Deserialize` structs for each response,
//!   holding what a client reads (the parsing floor).
//! * [`codec`]: a provider's own create body and its answer parsing, as the
//!   client runs them (the codec, then the core's settling).
//! * [`procstat`]: peak and current RSS, thread count and CPU time of this
//!   process, from `/proc/self/status` and `getrusage`.
//! * [`quick`]: whether `IMAGEGEN_BENCH_QUICK=1` asks for the short run.
//! * [`scaled`]: the simulator's realistic task durations and Runbase's
//!   rate limit with every time divided by a scale, and clients on it
//!   (the latency and shared-rate benchmarks).

use std::time::Duration;

pub use imagegen::ImageRequest;

/// True when `IMAGEGEN_BENCH_QUICK` is set to anything but `0` or empty:
/// shorter measurement times and N up to 1,000 in the scale run.
pub fn quick() -> bool {
    std::env::var("IMAGEGEN_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Criterion-style timing for this mode: (warm-up, measurement, samples).
pub fn timing() -> (Duration, Duration, usize) {
    if quick() {
        (Duration::from_millis(100), Duration::from_millis(300), 20)
    } else {
        (Duration::from_secs(1), Duration::from_secs(3), 60)
    }
}

pub mod fixtures {
    //! The documented example payloads of each schema, compact JSON bytes.

    use serde_json::Value;

    const RUNBASE_RUN: &str = include_str!("../../schemas/runbase/run.json");
    const RUNBASE_ERROR: &str = include_str!("../../schemas/runbase/error.json");
    const G15_GENERATE_RESPONSE: &str =
        include_str!("../../schemas/gptimage15/generate-response.json");
    const G15_STATUS: &str = include_str!("../../schemas/gptimage15/status-response.json");
    const OPENAI_IMAGES: &str = include_str!("../../schemas/openai/images-response.json");
    const OPENAI_ERROR: &str = include_str!("../../schemas/openai/error.json");

    /// The `index`-th entry of the schema's `examples`, as compact JSON.
    fn example(schema: &str, index: usize) -> Vec<u8> {
        let schema: Value = serde_json::from_str(schema).expect("schemas are JSON");
        let example = schema["examples"]
            .get(index)
            .unwrap_or_else(|| panic!("schema has no example {index}"));
        serde_json::to_vec(example).expect("a Value serializes")
    }

    /// A named response body.
    #[derive(Debug, Clone)]
    pub struct Fixture {
        /// Short name of the case (`in_progress`, `done`, `failed`, `error`...).
        pub name: &'static str,
        /// The body as it comes off the wire.
        pub bytes: Vec<u8>,
    }

    fn fixture(name: &'static str, schema: &str, index: usize) -> Fixture {
        Fixture {
            name,
            bytes: example(schema, index),
        }
    }

    /// Runbase run objects (`GET /runs/{id}`) and one error body.
    pub fn runbase_runs() -> Vec<Fixture> {
        vec![
            fixture("queued", RUNBASE_RUN, 0),
            fixture("processing", RUNBASE_RUN, 1),
            fixture("succeeded", RUNBASE_RUN, 2),
            fixture("failed", RUNBASE_RUN, 3),
            fixture("failed_object", RUNBASE_RUN, 4),
        ]
    }

    /// A Runbase error body (`429 RATE_LIMITED`).
    pub fn runbase_error() -> Fixture {
        fixture("error", RUNBASE_ERROR, 1)
    }

    /// gptimage15 status envelopes (`GET /status` and `/v2/status`).
    pub fn gptimage15_statuses() -> Vec<Fixture> {
        vec![
            fixture("in_progress", G15_STATUS, 0),
            fixture("done", G15_STATUS, 1),
            fixture("failed", G15_STATUS, 2),
            fixture("v2_done", G15_STATUS, 5),
            fixture("error", G15_STATUS, 7),
        ]
    }

    /// The gptimage15 create answer.
    pub fn gptimage15_generate_response() -> Fixture {
        fixture("accepted", G15_GENERATE_RESPONSE, 0)
    }

    /// OpenAI images responses: the documented one, and the same with a
    /// 1.5 MB base64 image as real answers carry.
    pub fn openai_images() -> Vec<Fixture> {
        let documented = fixture("done", OPENAI_IMAGES, 1);
        let mut big: Value = serde_json::from_slice(&documented.bytes).expect("JSON");
        big["data"][0]["b64_json"] = Value::String("A".repeat(1_500_000));
        vec![
            documented,
            Fixture {
                name: "done_1.5MB",
                bytes: serde_json::to_vec(&big).expect("JSON"),
            },
        ]
    }

    /// An OpenAI error body (`429 rate_limit_exceeded`).
    pub fn openai_error() -> Fixture {
        fixture("error", OPENAI_ERROR, 2)
    }
}

/// Timing paths in turn, round after round, so that the load of a shared
/// machine falls on all of them alike.
pub mod interleave {
    /// For each of `paths` (the last is the floor): the median over
    /// `rounds` of what `measure(path)` returns for one round (a time per
    /// call), and the median of its per-round ratio to the floor's.
    pub fn medians(
        paths: &[&'static str],
        rounds: usize,
        mut measure: impl FnMut(&str) -> f64,
    ) -> Vec<(&'static str, f64, f64)> {
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
        for _ in 0..rounds {
            for (i, path) in paths.iter().enumerate() {
                times[i].push(measure(path));
            }
        }
        let floor = times[paths.len() - 1].clone();
        paths
            .iter()
            .zip(times)
            .map(|(path, times)| {
                let ratios: Vec<f64> = times.iter().zip(&floor).map(|(t, f)| t / f).collect();
                (*path, median(times), median(ratios))
            })
            .collect()
    }

    /// The median of `values` (the upper one of an even count).
    pub fn median(mut values: Vec<f64>) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }
}

/// A codec's own work, as the client runs it, without I/O.
pub mod codec {
    use imagegen::codec::{BaseUrl, Codec, Settings, Target};
    use imagegen::http_provider::settle;
    use imagegen::{Body, HttpResponse, ImageRequest, TaskRef, TaskStatus};

    /// Codec `C` with its settings' defaults.
    pub fn new<C: Codec>() -> C {
        let mut settings = Settings::default();
        for setting in C::SPEC.settings {
            if let Some(value) = setting.default {
                settings.set(setting.name, value);
            }
        }
        C::new(&settings).expect("default settings")
    }

    /// The create body `codec` sends for `request` (its JSON bytes).
    pub fn create_body<C: Codec>(codec: &C, base: &BaseUrl, request: &ImageRequest) -> Vec<u8> {
        let http = codec
            .create(request, &Target::new(base))
            .expect("the codec takes the sample");
        match http.body {
            Body::Json(bytes) => bytes.to_vec(),
            other => panic!("a JSON body expected: {other:?}"),
        }
    }

    /// A 200 status answer `body` as the client reads it: the codec, then
    /// the core's settling. `None` for an error.
    pub fn read_status<C: Codec>(codec: &C, body: &[u8]) -> Option<TaskStatus> {
        let answer = HttpResponse::new(200, body.to_vec());
        let task = TaskRef::new("task");
        settle(
            &C::SPEC,
            &[],
            &answer,
            codec.read_status(&task, &answer),
            Some(&task),
        )
        .ok()
    }

    /// A 200 create answer `body` as the client reads it.
    pub fn read_create<C: Codec>(codec: &C, body: &[u8]) -> Option<TaskStatus> {
        let answer = HttpResponse::new(200, body.to_vec());
        settle(&C::SPEC, &[], &answer, codec.read_create(&answer), None).ok()
    }
}

pub mod requests {
    //! One request, three ways to its wire body.

    use imagegen::{Aspect, ImageRequest, Quality, ReferenceImage};
    use serde::Serialize;
    use serde_json::{Value, json};

    /// The request every create benchmark maps: the documented prompt,
    /// landscape, high quality.
    pub fn sample() -> ImageRequest {
        ImageRequest::new("A cinematic product photo of a ceramic lamp")
            .aspect(Aspect::Landscape)
            .quality(Quality::High)
    }

    /// The sample with one reference URL (image to image).
    pub fn sample_with_reference() -> ImageRequest {
        sample().reference(ReferenceImage::Url(
            "https://example.com/landscape.jpg".to_owned(),
        ))
    }

    fn urls(request: &ImageRequest) -> Vec<&str> {
        request
            .references
            .iter()
            .filter_map(|r| match r {
                ReferenceImage::Url(url) => Some(url.as_str()),
                _ => None,
            })
            .collect()
    }

    fn g15_size(aspect: Aspect) -> &'static str {
        match aspect {
            Aspect::Square => "1024*1024",
            Aspect::Portrait => "1024*1536",
            Aspect::Landscape => "1536*1024",
        }
    }

    fn openai_size(aspect: Aspect) -> &'static str {
        match aspect {
            Aspect::Square => "1024x1024",
            Aspect::Portrait => "1024x1536",
            Aspect::Landscape => "1536x1024",
        }
    }

    /// Through the generated wire types and their builders, the way each
    /// codec builds its body (without the codec's request wrapping).
    pub mod typed {
        use super::*;
        use imagegen::gptimage15::generated as g15;
        use imagegen::openai::generated as oa;
        use imagegen::runbase::generated as rb;

        /// Runbase `POST /runs`.
        pub fn runbase(r: &ImageRequest) -> rb::RunbaseCreateRunRequest {
            let input = rb::RunbaseRunInput::builder()
                .prompt(r.prompt.clone())
                .aspect_ratio(r.aspect.map(|a| a.as_ratio().parse().unwrap()))
                .quality(r.quality.map(|q| q.as_str().parse().unwrap()))
                .image_urls(r.reference_urls());
            rb::RunbaseCreateRunRequest::builder()
                .model("openai/gpt-image-1.5")
                .input(input)
                .try_into()
                .expect("runbase takes the sample")
        }

        /// gptimage15 `POST /generate`.
        pub fn gptimage15(r: &ImageRequest) -> g15::Gptimage15GenerateRequest {
            g15::Gptimage15GenerateRequest::builder()
                .prompt(r.prompt.as_str())
                .size(r.aspect.map(|a| a.size().joined('*').parse().unwrap()))
                .quality(r.quality.map(|q| q.as_str().parse().unwrap()))
                .images(r.reference_urls())
                .try_into()
                .expect("gptimage15 takes the sample")
        }

        /// OpenAI `POST /images/generations`.
        pub fn openai(r: &ImageRequest) -> oa::OpenAiImageGenerationRequest {
            oa::OpenAiImageGenerationRequest::builder()
                .model(imagegen::openai::DEFAULT_MODEL)
                .prompt(r.prompt.as_str())
                .quality(r.quality.map(|q| q.as_str().parse().unwrap()))
                .size(r.aspect.map(|a| a.size().to_string().parse().unwrap()))
                .try_into()
                .expect("openai takes the sample")
        }
    }

    /// `serde_json::json!` baselines.
    pub mod value {
        use super::*;

        /// Runbase `POST /runs`.
        pub fn runbase(r: &ImageRequest) -> Value {
            let mut input = json!({ "prompt": r.prompt });
            if let Some(a) = r.effective_aspect() {
                input["aspect_ratio"] = json!(a.as_ratio());
            }
            if let Some(q) = r.quality {
                input["quality"] = json!(q.as_str());
            }
            let refs = urls(r);
            if !refs.is_empty() {
                input["image_urls"] = json!(refs);
            }
            json!({ "model": "openai/gpt-image-1.5", "input": input })
        }

        /// gptimage15 `POST /generate`.
        pub fn gptimage15(r: &ImageRequest) -> Value {
            let mut body = json!({ "prompt": r.prompt });
            if let Some(a) = r.effective_aspect() {
                body["size"] = json!(g15_size(a));
            }
            if let Some(q) = r.quality {
                body["quality"] = json!(q.as_str());
            }
            let refs = urls(r);
            if !refs.is_empty() {
                body["images"] = json!(refs);
            }
            body
        }

        /// OpenAI `POST /images/generations`.
        pub fn openai(r: &ImageRequest) -> Value {
            let mut body = json!({ "model": "gpt-image-1.5", "prompt": r.prompt });
            if let Some(a) = r.effective_aspect() {
                body["size"] = json!(openai_size(a));
            }
            if let Some(q) = r.quality {
                body["quality"] = json!(q.as_str());
            }
            body
        }
    }

    /// Minimal hand-written structs borrowing from the request: the floor.
    pub mod floor {
        use super::*;

        /// Runbase `POST /runs`.
        #[derive(Serialize)]
        pub struct RunbaseCreate<'a> {
            model: &'static str,
            input: RunbaseInput<'a>,
        }

        #[derive(Serialize)]
        struct RunbaseInput<'a> {
            prompt: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            aspect_ratio: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            quality: Option<&'static str>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            image_urls: Vec<&'a str>,
        }

        /// Builds the Runbase body.
        pub fn runbase(r: &ImageRequest) -> RunbaseCreate<'_> {
            RunbaseCreate {
                model: "openai/gpt-image-1.5",
                input: RunbaseInput {
                    prompt: &r.prompt,
                    aspect_ratio: r.effective_aspect().map(Aspect::as_ratio),
                    quality: r.quality.map(Quality::as_str),
                    image_urls: urls(r),
                },
            }
        }

        /// gptimage15 `POST /generate`.
        #[derive(Serialize)]
        pub struct Gptimage15Generate<'a> {
            prompt: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            size: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            quality: Option<&'static str>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            images: Vec<&'a str>,
        }

        /// Builds the gptimage15 body.
        pub fn gptimage15(r: &ImageRequest) -> Gptimage15Generate<'_> {
            Gptimage15Generate {
                prompt: &r.prompt,
                size: r.effective_aspect().map(g15_size),
                quality: r.quality.map(Quality::as_str),
                images: urls(r),
            }
        }

        /// OpenAI `POST /images/generations`.
        #[derive(Serialize)]
        pub struct OpenAiGeneration<'a> {
            model: &'static str,
            prompt: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            size: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            quality: Option<&'static str>,
        }

        /// Builds the OpenAI body.
        pub fn openai(r: &ImageRequest) -> OpenAiGeneration<'_> {
            OpenAiGeneration {
                model: "gpt-image-1.5",
                prompt: &r.prompt,
                size: r.effective_aspect().map(openai_size),
                quality: r.quality.map(Quality::as_str),
            }
        }
    }
}

pub mod floors {
    //! Minimal hand-written response structs: only what a client reads,
    //! open-shaped fields through small visitors instead of buffering.

    use std::fmt;

    use serde::de::{self, IgnoredAny, Visitor};
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    /// A Runbase run.
    #[derive(Deserialize, Debug)]
    pub struct Run {
        /// Run id.
        pub id: String,
        /// Status string.
        pub status: String,
        /// Output, once done.
        #[serde(default)]
        pub output: Option<RunOutput>,
        /// Why it failed (string or object).
        #[serde(default)]
        pub error: Option<Value>,
    }

    /// A Runbase run's output.
    #[derive(Deserialize, Debug)]
    pub struct RunOutput {
        /// Image URLs.
        #[serde(default)]
        pub urls: Vec<String>,
    }

    /// A Runbase error body: `{"error": {...} | "..."}`, `{"message"}`, `{"detail"}`.
    #[derive(Deserialize, Debug)]
    pub struct RunbaseError {
        /// The error member.
        #[serde(default)]
        pub error: Option<Value>,
        /// A top-level message.
        #[serde(default)]
        pub message: Option<String>,
        /// A top-level detail.
        #[serde(default)]
        pub detail: Option<Value>,
    }

    /// A gptimage15 envelope.
    #[derive(Deserialize, Debug)]
    #[serde(bound(deserialize = "T: Deserialize<'de>"))]
    pub struct G15Envelope<T> {
        /// HTTP-like code.
        pub code: i64,
        /// Message, on errors.
        #[serde(default)]
        pub message: Option<String>,
        /// The payload, `null` on errors.
        #[serde(default)]
        pub data: Option<T>,
    }

    /// A gptimage15 task (either status endpoint).
    #[derive(Deserialize, Debug)]
    pub struct G15Task {
        /// Task id.
        pub task_id: String,
        /// `"SUCCESS"` or `1`...
        pub status: StrOrInt,
        /// Failure reason.
        #[serde(default)]
        pub error_message: Option<String>,
        /// Result URLs: an array, or a JSON-encoded string of one (v2).
        #[serde(default)]
        pub response: Option<StrOrList>,
        /// Credits (v1 spelling).
        #[serde(default)]
        pub consumed_credits: Option<f64>,
        /// Credits (v2 spelling).
        #[serde(default)]
        pub consumed_credit: Option<f64>,
    }

    /// The create answer's data.
    #[derive(Deserialize, Debug)]
    pub struct G15Accepted {
        /// Task id.
        pub task_id: String,
        /// Status.
        pub status: StrOrInt,
    }

    /// A string or an integer, without buffering.
    #[derive(Debug)]
    pub enum StrOrInt {
        /// A string.
        Str(String),
        /// An integer.
        Int(i64),
    }

    impl<'de> Deserialize<'de> for StrOrInt {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = StrOrInt;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a string or an integer")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<StrOrInt, E> {
                    Ok(StrOrInt::Str(v.to_owned()))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<StrOrInt, E> {
                    Ok(StrOrInt::Int(v))
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<StrOrInt, E> {
                    Ok(StrOrInt::Int(v as i64))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// A list of strings or one string, without buffering.
    #[derive(Debug)]
    pub enum StrOrList {
        /// A string.
        Str(String),
        /// A list.
        List(Vec<String>),
    }

    impl<'de> Deserialize<'de> for StrOrList {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = StrOrList;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a string or a list of strings")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<StrOrList, E> {
                    Ok(StrOrList::Str(v.to_owned()))
                }
                fn visit_seq<A: de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<StrOrList, A::Error> {
                    let mut list = Vec::new();
                    while let Some(s) = seq.next_element()? {
                        list.push(s);
                    }
                    Ok(StrOrList::List(list))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// An OpenAI images response.
    #[derive(Deserialize, Debug)]
    pub struct Images {
        /// Unix time.
        pub created: i64,
        /// The images.
        pub data: Vec<Image>,
        /// Token usage.
        #[serde(default)]
        pub usage: Option<Usage>,
    }

    /// One OpenAI image.
    #[derive(Deserialize, Debug)]
    pub struct Image {
        /// Base64 image.
        #[serde(default)]
        pub b64_json: Option<String>,
        /// Or a URL.
        #[serde(default)]
        pub url: Option<String>,
        /// The prompt as rewritten.
        #[serde(default)]
        pub revised_prompt: Option<String>,
    }

    /// OpenAI token usage.
    #[derive(Deserialize, Debug)]
    pub struct Usage {
        /// Input tokens.
        pub input_tokens: u64,
        /// Output tokens.
        pub output_tokens: u64,
        /// Total.
        pub total_tokens: u64,
    }

    /// An OpenAI error body.
    #[derive(Deserialize, Debug)]
    pub struct OpenAiErrorBody {
        /// The error.
        pub error: OpenAiError,
    }

    /// The OpenAI error object.
    #[derive(Deserialize, Debug)]
    pub struct OpenAiError {
        /// Message.
        pub message: String,
        /// Code.
        #[serde(default)]
        pub code: Option<String>,
        /// Type.
        #[serde(default, rename = "type")]
        pub type_: Option<String>,
        /// Param (not read by a client).
        #[serde(default)]
        pub param: Option<IgnoredAny>,
    }
}

pub mod procstat {
    //! Resource use of this process.

    use std::time::Duration;

    fn status_field(name: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
    }

    /// Peak resident set size (`VmHWM`), KiB.
    pub fn peak_rss_kib() -> u64 {
        status_field("VmHWM").unwrap_or(0)
    }

    /// Current resident set size (`VmRSS`), KiB.
    pub fn rss_kib() -> u64 {
        status_field("VmRSS").unwrap_or(0)
    }

    /// Number of threads of this process.
    pub fn threads() -> u64 {
        status_field("Threads").unwrap_or(0)
    }

    /// Open file descriptors of this process.
    pub fn open_fds() -> u64 {
        std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
    }

    /// User plus system CPU time of this process, all threads.
    pub fn cpu_time() -> Duration {
        let (user, system) = cpu_times();
        user + system
    }

    /// User and system CPU time of this process, all threads.
    pub fn cpu_times() -> (Duration, Duration) {
        // SAFETY: getrusage writes into the struct we pass and nothing else.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        (tv(usage.ru_utime), tv(usage.ru_stime))
    }

    /// Raises the soft limit of open files to the hard limit (10,000 jobs
    /// in flight hold up to 10,000 sockets).
    pub fn raise_fd_limit() -> u64 {
        // SAFETY: plain syscalls on a struct we own.
        unsafe {
            let mut lim: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return 0;
            }
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            lim.rlim_cur
        }
    }
}

pub mod providers {
    //! The providers the polling and scale benchmarks drive, built the way
    //! an application builds them.

    use std::sync::Arc;

    use imagegen::{ApiKey, ImageProvider, ProviderConfig};

    /// The simulator's key.
    pub const SIM_KEY: &str = "sim-key";

    fn config(base_url: &str) -> ProviderConfig {
        ProviderConfig::new()
            .api_key(ApiKey::new(SIM_KEY))
            .base_url(base_url)
    }

    /// Runbase at `base_url` (the simulator's `runbase_url()`).
    pub fn runbase(base_url: &str) -> Arc<dyn ImageProvider> {
        Arc::new(imagegen::runbase::Runbase::from_config(config(base_url)).expect("a valid config"))
    }

    /// gptimage15.ai at `base_url` (the simulator's `gptimage15_url()`).
    pub fn gptimage15(base_url: &str) -> Arc<dyn ImageProvider> {
        Arc::new(
            imagegen::gptimage15::Gptimage15::from_config(config(base_url))
                .expect("a valid config"),
        )
    }
}

pub mod sim_child {
    //! The simulator in a child process, so that the RSS and CPU time the
    //! scale benchmark reads are the client's alone.
    //!
    //! A bench binary calls [`serve_if_child`] first thing in `main`; the
    //! parent calls [`SimChild::spawn`], which runs the same executable with
    //! `IMAGEGEN_BENCH_ROLE=sim`. The child prints `READY <base url>` and
    //! serves until its stdin closes (so it dies with the parent).

    use std::io::{BufRead, BufReader, Read};
    use std::process::{Child, Command, Stdio};

    use imagegen_sim::{LatencyProfile, Sim, SimConfig};

    const ROLE: &str = "IMAGEGEN_BENCH_ROLE";
    const LATENCY: &str = "IMAGEGEN_BENCH_SIM_LATENCY_MS";

    /// A running simulator process.
    pub struct SimChild {
        child: Child,
        /// `http://127.0.0.1:PORT`.
        pub base_url: String,
    }

    impl SimChild {
        /// Starts the simulator with `queue_ms` in the queue and
        /// `generate_ms` generating, every task; no rate limit.
        pub fn spawn(queue_ms: u64, generate_ms: u64) -> std::io::Result<SimChild> {
            let exe = std::env::current_exe()?;
            let mut child = Command::new(exe)
                .env(ROLE, "sim")
                .env(LATENCY, format!("{queue_ms},{generate_ms}"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?;
            let stdout = child.stdout.take().expect("piped");
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line)?;
            let base_url = line
                .trim()
                .strip_prefix("READY ")
                .ok_or_else(|| std::io::Error::other(format!("sim child said {line:?}")))?
                .to_owned();
            Ok(SimChild { child, base_url })
        }

        /// The child's process id.
        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        /// The Runbase base URL.
        pub fn runbase_url(&self) -> String {
            format!("{}/runbase/api/v1", self.base_url)
        }
    }

    impl Drop for SimChild {
        fn drop(&mut self) {
            drop(self.child.stdin.take());
            let _ = self.child.wait();
        }
    }

    /// If this process is a simulator child, serves until stdin closes and
    /// exits; otherwise returns at once.
    pub fn serve_if_child() {
        if std::env::var(ROLE).as_deref() != Ok("sim") {
            return;
        }
        crate::procstat::raise_fd_limit();
        let (queue_ms, generate_ms) = std::env::var(LATENCY)
            .ok()
            .and_then(|v| {
                let (q, g) = v.split_once(',')?;
                Some((q.parse().ok()?, g.parse().ok()?))
            })
            .unwrap_or((0, 0));
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        runtime.block_on(async {
            let config = SimConfig::instant()
                .latency(LatencyProfile::Fixed {
                    queue_ms,
                    generate_ms,
                })
                .runbase_rate_limit(0, std::time::Duration::from_secs(1));
            let sim = Sim::start(config).await.expect("the simulator starts");
            println!("READY {}", sim.base_url());
            // Serve until the parent closes our stdin (or dies).
            let _ = tokio::task::spawn_blocking(|| {
                let mut sink = Vec::new();
                let _ = std::io::stdin().read_to_end(&mut sink);
            })
            .await;
            sim.shutdown().await;
        });
        std::process::exit(0);
    }
}

pub mod scaled {
    //! The simulator with its realistic task durations (1 s queued plus 8 s
    //! generating for `medium`, each task ±20 %) and Runbase's limit (20
    //! requests per 10 s), **every time divided by a scale**, so that a run
    //! takes minutes; and clients with every interval divided alike.

    use std::time::Duration;

    use imagegen::{
        ApiKey, ClientBuilder, LatencyEstimate, LatencyEstimates, LatencyKey, PollPolicy,
        ProviderConfig, Quality, RateLimit,
    };
    use imagegen_sim::{LatencyProfile, Sim, SimConfig, SimHandle};

    /// The simulator's key.
    pub const KEY: &str = "sim-key";

    /// The simulator on its own runtime thread, times divided by `scale`.
    pub struct ScaledSim {
        /// What every time is divided by (1: real time).
        pub scale: f64,
        /// The running simulator.
        pub sim: SimHandle,
        _runtime: tokio::runtime::Runtime,
    }

    impl ScaledSim {
        /// Starts the simulator, times divided by `scale` (at least 1).
        pub fn start(scale: f64) -> ScaledSim {
            let scale = scale.max(1.0);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("sim runtime");
            let div = |ms: u64| (ms as f64 / scale).round() as u64;
            let config = SimConfig::fast()
                .latency(LatencyProfile::Spread {
                    queue_ms: div(1_000),
                    generate_ms: div(8_000),
                    spread_pct: 20,
                })
                .runbase_rate_limit(20, Duration::from_secs_f64(10.0 / scale));
            let sim = runtime.block_on(Sim::start(config)).expect("sim starts");
            ScaledSim {
                scale,
                sim,
                _runtime: runtime,
            }
        }

        /// `d` on the scaled clock.
        pub fn scaled(&self, d: Duration) -> Duration {
            d.div_f64(self.scale)
        }

        /// imagegen's default poll policy for provider `name`, scaled.
        pub fn default_policy(&self, name: &str) -> PollPolicy {
            let caps = imagegen::registration(name)
                .expect("registered")
                .capabilities();
            PollPolicy::default()
                .with_initial_interval(self.scaled(caps.poll_interval))
                .with_fastest_interval(
                    self.scaled(caps.fastest_poll_interval.unwrap_or(caps.poll_interval)),
                )
                .with_max_interval(self.scaled(Duration::from_secs(15)))
        }

        /// A client builder on provider `name` at the simulator, polling by
        /// `policy`, with the provider's rate limit and its latency seed
        /// (what a fresh client starts from) on the scaled clock.
        pub fn client_builder(&self, name: &str, policy: PollPolicy) -> ClientBuilder {
            let registration = imagegen::registration(name).expect("registered");
            let caps = registration.capabilities();
            let url = format!("{}{}", self.sim.base_url(), registration.spec.sim_path);
            let provider = imagegen::provider(
                name,
                ProviderConfig::new()
                    .api_key(ApiKey::new(KEY))
                    .base_url(&url),
            )
            .expect("provider");
            let mut builder = imagegen::Client::builder()
                .provider_arc(provider)
                .poll_policy(policy);
            if let Some(limit) = caps.rate_limit {
                builder = builder.rate_limit(
                    name,
                    RateLimit {
                        requests: limit.requests,
                        per: self.scaled(limit.per),
                    },
                );
            }
            let mut seed = LatencyEstimates::default();
            for quality in [None, Some(Quality::Medium)] {
                seed.insert(
                    LatencyKey::new(name, quality, None),
                    LatencyEstimate::seed_for(self.scaled(caps.typical_duration), quality),
                );
            }
            builder.latency_estimates(seed)
        }
    }
}

pub mod pg {
    //! A database of its own for a benchmark that needs PostgreSQL, on the
    //! server of `IMAGEGEN_TEST_DATABASE_URL` (what `cargo xtask db start`
    //! prints), dropped at the end.

    use tokio_postgres::NoTls;

    /// The variable naming the server.
    pub const URL_VAR: &str = "IMAGEGEN_TEST_DATABASE_URL";

    /// The server's URL, or exit 2 saying how to start one (`bench`: which
    /// benchmark asks).
    pub fn admin_url_or_exit(bench: &str) -> String {
        match std::env::var(URL_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ => {
                eprintln!(
                    "{bench} needs a PostgreSQL server it may create a database on: \
                     eval \"$(cargo xtask db start)\" first ({URL_VAR})"
                );
                std::process::exit(2);
            }
        }
    }

    /// A plain connection to `url`.
    pub async fn connect(url: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {URL_VAR}: {e:?}"));
        tokio::spawn(connection);
        client
    }

    /// A fresh database on the server at `admin`.
    pub struct BenchDatabase {
        admin: tokio_postgres::Client,
        name: String,
        /// Its URL.
        pub url: String,
    }

    impl BenchDatabase {
        /// Creates `imagegen_bench_<pid>` on the server at `admin`.
        pub async fn create(admin: &str) -> BenchDatabase {
            let name = format!("imagegen_bench_{}", std::process::id());
            let client = connect(admin).await;
            client
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create the bench database");
            let mut url = url::Url::parse(admin).expect("a postgres:// URL");
            url.set_path(&name);
            BenchDatabase {
                admin: client,
                name,
                url: url.to_string(),
            }
        }

        /// Drops it.
        pub async fn drop_database(self) {
            self.admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .await
                .expect("drop the bench database");
        }
    }
}
