//! `imagegen status TASK`: one status request.

use imagegen_core::{Strictness, TaskState};

use crate::args::TaskArgs;
use crate::connect::{ClientSettings, Connection, Recorded};
use crate::exit::{CliError, CliResult, Exit};
use crate::providers::check_name;

pub async fn run(args: TaskArgs) -> CliResult<Exit> {
    let provider = check_name(&args.provider)?;
    let conn = Connection::open(
        &[provider],
        &args.conn,
        &Recorded::default(),
        None,
        ClientSettings::default(),
    )
    .await?;
    let client = conn.client(&[provider.to_owned()], Strictness::Strict)?;
    let status = client
        .status(provider, args.task_id.as_str())
        .await
        .map_err(|e| sim_hint(e.into(), args.conn.sim))?;
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

/// With `--sim`, a task id from elsewhere is unknown to the fresh
/// simulator: say so.
pub fn sim_hint(err: CliError, sim: bool) -> CliError {
    if sim && err.message.contains("HTTP 404") {
        err.hint("--sim starts a fresh simulator that knows no earlier task; run `imagegen sim` once and point *_BASE_URL at it to share tasks between commands")
    } else {
        err
    }
}
