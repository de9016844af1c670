//! `imagegen status` and `imagegen wait`: one task by id.

use imagegen_core::{Strictness, TaskState};

use crate::args::{TaskArgs, WaitArgs};
use crate::commands::connect;
use crate::commands::generate::{emit, wait_error};
use crate::exit::{CliError, CliResult, Exit};
use crate::progress::{Mode, Progress};
use crate::providers::check_name;

pub async fn status(args: TaskArgs) -> CliResult<Exit> {
    let provider = check_name(&args.provider)?;
    let session = connect(&args.conn, &[provider], Strictness::Strict, false).await?;
    let status = session
        .engine
        .status(provider, &args.task_id)
        .await
        .map_err(|e| sim_hint(e, args.conn.sim))?;
    if args.json {
        let mut value = serde_json::to_value(&status).expect("statuses serialize");
        if let Some(obj) = value.as_object_mut() {
            obj.insert("provider".into(), provider.into());
        }
        println!("{value}");
    } else {
        let detail = match &status.state {
            TaskState::Failed { message, .. } => format!(": {message}"),
            TaskState::Unknown { raw } => format!(" (provider said `{raw}`)"),
            _ => String::new(),
        };
        println!(
            "{provider} task {}: {}{detail}",
            status.task_id,
            status.state.name()
        );
        for out in &status.outputs {
            if let imagegen_core::ImageOutput::Url { url } = out {
                println!("  {url}");
            }
        }
        if let Some(c) = status.credits {
            println!("  credits: {c}");
        }
    }
    Ok(match status.state {
        TaskState::Failed { .. } | TaskState::Cancelled => Exit::Failed,
        _ => Exit::Ok,
    })
}

pub async fn wait(args: WaitArgs, mode: Mode) -> CliResult<Exit> {
    let provider = check_name(&args.provider)?;
    let session = connect(&args.conn, &[provider], Strictness::Strict, false).await?;
    let engine = &session.engine;
    let progress = Progress::new(if mode == Mode::Bar { Mode::Lines } else { mode }, 0);
    let task = engine.task(provider, &args.task_id)?;
    let finished = engine
        .wait(&task, args.output.timeout)
        .await
        .map_err(|e| sim_hint(wait_error(e, &task), args.conn.sim))?;
    // The prompt is not known from a bare task id: files are named `image-<task id>`.
    emit(
        engine,
        &finished,
        "",
        &args.output.out,
        args.no_download,
        args.output.json,
        &progress,
    )
    .await?;
    Ok(Exit::Ok)
}

/// With `--sim`, a task id from elsewhere is unknown to the fresh simulator: say so.
fn sim_hint(err: impl Into<CliError>, sim: bool) -> CliError {
    let err = err.into();
    if sim && err.message.contains("HTTP 404") {
        err.hint("--sim starts a fresh simulator that knows no earlier task; run `imagegen sim` once and point *_BASE_URL at it to share tasks between commands")
    } else {
        err
    }
}
