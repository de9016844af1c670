//! `imagegen generate PROMPT`: one request, through the client's fallback
//! order, waited for and saved, all within `--timeout`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use imagegen_core::{
    CreateLog, Error, ErrorKind, ImageOutput, ImageRequest, SubmitOptions, TaskHandle, WaitOptions,
};
use tokio::time::Instant;

use crate::args::GenerateArgs;
use crate::commands::{provider_names, strictness};
use crate::connect::{ClientSettings, Connection, Recorded};
use crate::exit::{CliError, CliResult, Exit, describe};
use crate::files::Owner;
use crate::input::{Settings, read_prompt};
use crate::output::{ImageRecord, print_json};
use crate::progress::{Mode, Progress, human_duration};

/// The longest a provider that can hold a create open until its task is
/// done is asked to.
const MAX_HOLD: Duration = Duration::from_secs(60);

pub async fn run(args: GenerateArgs, mode: Mode) -> CliResult<Exit> {
    let deadline = Instant::now() + args.timeout;
    let prompt = read_prompt(&args.prompt)?;
    let names = provider_names(&args.provider)?;
    let request = Settings::from_flags(&args.request)
        .request(&prompt, args.n, args.request.max_count)
        .map_err(|why| CliError::usage(why.replace("the image count", "-n")))?;
    check_writable(&args.save.out)?;

    let progress = Arc::new(Progress::spinner(mode));
    let settings = ClientSettings {
        retry_ambiguous: false,
        observer: Some(progress.clone()),
        shared_store: None,
    };
    let conn = Connection::open(&names, &args.conn, &Recorded::default(), None, settings).await?;
    let order: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let client = conn.client(&order, strictness(args.request.best_effort))?;

    let remaining = || deadline.saturating_duration_since(Instant::now());
    let log = Announce {
        progress: &progress,
        order: &order,
    };
    let options = SubmitOptions::new()
        .hold(remaining().min(MAX_HOLD))
        .deadline(remaining());
    let submission = match client.submit_logged(request, &options, &log).await {
        Ok(submission) => submission,
        Err(err) => {
            progress.finish();
            return Err(create_error(err));
        }
    };
    for w in submission
        .warnings
        .iter()
        .filter(|w| w.setting != "provider")
    {
        progress.warn(format!("warning: {}", w.message));
    }
    for failure in &submission.failures {
        progress.warn(format!(
            "warning: one of the creates failed: {}",
            describe(&failure.error)
        ));
    }
    let handles = submission.handles;
    let provider = handles[0].provider.clone();
    let ids: Vec<&str> = handles.iter().map(|h| h.task_id.as_str()).collect();
    progress.status(format!("waiting for {provider} task {}", ids.join(", ")));
    let wait = WaitOptions::new().deadline(remaining());
    let generation = match client.wait_all(&handles, wait).await {
        Ok(generation) => generation,
        Err(err) => {
            progress.finish();
            return Err(after_acceptance(err, &handles, &args.save.out));
        }
    };
    let owner = Owner {
        job: None,
        title: prompt.clone(),
        endpoint_host: conn
            .endpoint(&provider)
            .map(|e| e.host())
            .unwrap_or_default(),
        adopts_earlier_files: false,
    };
    let mut results = Vec::new();
    for image in &generation.images {
        let record = ImageRecord {
            path: None,
            provider: provider.clone(),
            task_id: image.task_id.clone(),
            prompt: prompt.clone(),
            sha256: None,
            width: None,
            height: None,
            credits: generation.task_credits(&image.task_id),
            url: None,
            job: None,
        };
        let url = match &image.output {
            ImageOutput::Url { url } => Some(url.clone()),
            ImageOutput::Inline { .. } => None,
        };
        // Inline images exist nowhere else: they are saved even with --no-download.
        if args.save.no_download && url.is_some() {
            results.push(ImageRecord { url, ..record });
            continue;
        }
        progress.status(format!(
            "saving image {} of {}",
            image.index + 1,
            generation.images.len()
        ));
        let saved = tokio::time::timeout(
            remaining(),
            crate::files::save(&client, &generation, image, &args.save.out, &owner),
        )
        .await
        .unwrap_or_else(|_| {
            Err(
                Error::new(ErrorKind::Timeout, "the download did not finish in time")
                    .with_provider(&provider)
                    .with_task_id(&image.task_id),
            )
        })
        .map_err(|err| {
            progress.finish();
            after_acceptance(err, &handles, &args.save.out)
        })?;
        results.push(ImageRecord {
            path: Some(saved.path.display().to_string()),
            sha256: Some(saved.sha256),
            width: saved.dimensions.map(|d| d.0),
            height: saved.dimensions.map(|d| d.1),
            url,
            ..record
        });
    }
    progress.finish();
    for record in &results {
        if args.save.json {
            print_json(record);
        } else if let Some(line) = record.path.as_ref().or(record.url.as_ref()) {
            println!("{line}");
        }
    }
    for failure in &generation.failures {
        progress.warn(format!("warning: {}", describe(&failure.error)));
    }
    progress.say(format!(
        "{} image(s) from {provider} in {}",
        results.len(),
        human_duration(progress.elapsed())
    ));
    Ok(if generation.failures.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}

/// Refuses an output folder that cannot take files, before anything is
/// sent or paid for.
pub fn check_writable(dir: &Path) -> CliResult<()> {
    let problem = |e: std::io::Error| {
        CliError::usage(format!("cannot save images in {}: {e}", dir.display()))
            .hint("pass a folder you can write to with --out; nothing was sent")
    };
    if dir.exists() && !dir.is_dir() {
        return Err(problem(std::io::Error::other("it is not a folder")));
    }
    std::fs::create_dir_all(dir).map_err(problem)?;
    tempfile::Builder::new()
        .prefix(".imagegen-check-")
        .tempfile_in(dir)
        .map_err(problem)?;
    Ok(())
}

/// A create that failed: nothing accepted, or maybe accepted (exit 8).
fn create_error(err: Error) -> CliError {
    if err.may_have_reached_server() {
        let mut cli = CliError::from(err);
        cli.exit = Exit::Ambiguous;
        cli.message = format!(
            "{} (the create may have reached the provider and been paid for)",
            cli.message
        );
        return cli;
    }
    CliError::from(err)
}

/// An error after the provider accepted the tasks: they keep running (and
/// may be paid for), so the command to fetch them is printed.
fn after_acceptance(err: Error, handles: &[TaskHandle], out: &Path) -> CliError {
    let exit = Exit::after_acceptance(err.kind());
    let provider = &handles[0].provider;
    let ids: Vec<&str> = handles.iter().map(|h| h.task_id.as_str()).collect();
    let timed_out = err.kind() == ErrorKind::Timeout;
    let mut cli = CliError::from(err);
    cli.exit = exit;
    if timed_out {
        cli.message = format!(
            "timed out waiting for {provider} task {}; it keeps running",
            ids.join(", ")
        );
    } else if !ids.iter().any(|id| cli.message.contains(id)) {
        cli.message = format!("{} [task {}]", cli.message, ids.join(", "));
    }
    cli.hint = Some(format!(
        "`imagegen wait --provider {provider} --out {} {}` fetches the images",
        out.display(),
        ids.join(" ")
    ));
    cli
}

/// Tells the person watching which provider each create goes to, and why
/// the next one is tried.
struct Announce<'a> {
    progress: &'a Progress,
    order: &'a [String],
}

#[imagegen_core::async_trait]
impl CreateLog for Announce<'_> {
    async fn sending(&self, provider: &str, _: &ImageRequest) -> Result<(), Error> {
        self.progress
            .status(format!("sending the create to {provider}"));
        Ok(())
    }

    async fn accepted(&self, handle: &TaskHandle) {
        let line = format!("submitted {} task {}", handle.provider, handle.task_id);
        self.progress.status(&line);
        self.progress.event(line);
    }

    async fn failed(&self, provider: &str, error: &Error) {
        if error.may_have_reached_server() {
            return;
        }
        let next = self
            .order
            .iter()
            .position(|p| p == provider)
            .and_then(|i| self.order.get(i + 1));
        if let Some(next) = next {
            self.progress.warn(format!(
                "{provider} refused ({}); trying {next}",
                describe(error)
            ));
        }
    }
}
