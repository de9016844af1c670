//! `imagegen generate PROMPT`.

use imagegen_core::ErrorKind;

use crate::args::GenerateArgs;
use crate::commands::{RequestDefaults, check_ref_files, connect, strictness};
use crate::engine::{Engine, Finished, Task};
use crate::exit::{CliError, CliResult, Exit};
use crate::output::{ImageRecord, print_json, slug};
use crate::progress::{Mode, Progress, human_duration};
use crate::providers::check_name;

pub async fn run(args: GenerateArgs, mode: Mode) -> CliResult<Exit> {
    let provider = check_name(&args.provider)?;
    let defaults = RequestDefaults::parse(&args.request)?;
    if args.n == 0 {
        return Err(CliError::new(Exit::Usage, "-n must be at least 1"));
    }
    check_ref_files(&defaults.refs)?;
    let request = defaults.request(&args.prompt, args.n);
    let session = connect(
        &args.conn,
        &[provider],
        strictness(args.request.best_effort),
        false,
    )
    .await?;
    let engine = &session.engine;
    let progress = Progress::new(if mode == Mode::Bar { Mode::Lines } else { mode }, 0);

    // The core checks the request before anything is sent: a refusal here
    // cost nothing.
    let (tasks, warnings) = engine.submit(provider, &request).await?;
    for w in &warnings {
        progress.warn(format!("warning: {}", w.message));
    }
    for t in &tasks {
        progress.say(format!("submitted {} task {}", t.provider, t.task_id));
    }

    let mut exit = Exit::Ok;
    let mut last_error = None;
    for task in &tasks {
        match finish(engine, task, &args, &progress).await {
            Ok(()) => {}
            Err(err) => {
                if exit == Exit::Ok {
                    exit = err.exit;
                }
                if tasks.len() > 1 {
                    eprintln!("{}", err.render());
                } else {
                    last_error = Some(err);
                }
            }
        }
    }
    if let Some(err) = last_error {
        return Err(err);
    }
    progress.say(format!(
        "finished in {}",
        human_duration(progress.elapsed())
    ));
    Ok(exit)
}

/// Waits for one task and saves (or prints) its images.
async fn finish(
    engine: &Engine,
    task: &Task,
    args: &GenerateArgs,
    progress: &Progress,
) -> CliResult<()> {
    let finished = engine
        .wait(task, args.output.timeout)
        .await
        .map_err(|e| wait_error(e, task))?;
    emit(
        engine,
        &finished,
        &args.prompt,
        &args.output.out,
        args.no_download,
        args.output.json,
        progress,
    )
    .await
}

/// Turns a wait failure into the CLI's error, naming the task so it can be resumed.
pub fn wait_error(err: imagegen_core::Error, task: &Task) -> CliError {
    let timed_out = err.kind() == ErrorKind::Timeout;
    let mut cli = CliError::from(err);
    if timed_out {
        cli.message = format!(
            "timed out waiting for {} task {}; it keeps running",
            task.provider, task.task_id
        );
        cli.hint = Some(format!(
            "`imagegen wait --provider {} {}` picks it up again",
            task.provider, task.task_id
        ));
    } else if !cli.message.contains(&task.task_id) {
        cli.message = format!("{} [task {}]", cli.message, task.task_id);
    }
    cli
}

/// Saves a finished task's images and prints one record per image.
pub async fn emit(
    engine: &Engine,
    finished: &Finished,
    prompt: &str,
    out: &std::path::Path,
    no_download: bool,
    json: bool,
    progress: &Progress,
) -> CliResult<()> {
    let stem = slug(prompt, 60);
    for (idx, output) in finished.outputs.iter().enumerate() {
        let url = match output {
            imagegen_core::ImageOutput::Url { url } => Some(url.clone()),
            _ => None,
        };
        let mut record = ImageRecord {
            path: None,
            provider: finished.provider.clone(),
            task_id: finished.task_id.clone(),
            prompt: prompt.to_owned(),
            sha256: None,
            width: None,
            height: None,
            credits: finished.credits,
            url: url.clone(),
            job: None,
        };
        if !no_download {
            let saved = engine.save(finished, idx, out, &stem, prompt).await?;
            record.path = Some(saved.path.display().to_string());
            record.sha256 = Some(saved.sha256.clone());
            record.width = saved.width;
            record.height = saved.height;
        }
        // stdout: a JSON record, or the path (the URL with --no-download), one per line.
        if json {
            print_json(&record);
        } else if let Some(path) = record.path.as_ref().or(url.as_ref()) {
            println!("{path}");
        } else {
            progress.warn("the image came inline (no URL); drop --no-download to save it");
        }
    }
    Ok(())
}
