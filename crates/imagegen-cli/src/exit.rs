//! Exit codes and the CLI's error type.
//!
//! Every failure the CLI reports is a [`CliError`]: one line for `error:`,
//! an optional `hint:` line, and the documented exit code. Errors from
//! imagegen-core are mapped by their [`ErrorKind`].

use std::fmt;

use imagegen_core::{Error, ErrorKind};
use imagegen_jobs::{StoreError, StoreErrorKind};

/// The documented exit codes (see `imagegen --help` and the README). One
/// table for every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Exit {
    /// Everything asked for was done.
    Ok = 0,
    /// A generation failed, some batch jobs failed, or anything else.
    Failed = 1,
    /// The command line or an option value is wrong (nothing was sent).
    Usage = 2,
    /// The request was refused before anything was sent or paid for.
    Refused = 3,
    /// The API key is missing or was refused.
    Auth = 4,
    /// Out of credits or quota.
    Credits = 5,
    /// The host could not be reached.
    Unreachable = 6,
    /// The deadline ran out; the task ids are printed so the work resumes.
    Timeout = 7,
    /// Paid work may be unaccounted for: creates that may have been accepted
    /// without their task id reaching us, or a task id the journal could not
    /// record (printed on stderr).
    Ambiguous = 8,
}

impl Exit {
    /// The exit code for a core error before or at a create: what was
    /// refused, and why.
    pub fn for_kind(kind: ErrorKind) -> Exit {
        match kind {
            ErrorKind::InvalidRequest => Exit::Refused,
            ErrorKind::Unauthorized | ErrorKind::Forbidden => Exit::Auth,
            ErrorKind::InsufficientCredits | ErrorKind::QuotaExhausted => Exit::Credits,
            ErrorKind::Transport => Exit::Unreachable,
            ErrorKind::Timeout => Exit::Timeout,
            _ => Exit::Failed,
        }
    }

    /// The exit code for a core error after a task was accepted (and may be
    /// paid for): never "refused before sending".
    pub fn after_acceptance(kind: ErrorKind) -> Exit {
        match kind {
            ErrorKind::Transport => Exit::Unreachable,
            ErrorKind::Timeout => Exit::Timeout,
            _ => Exit::Failed,
        }
    }

    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The exit-code table printed at the end of `imagegen --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  a generation or some batch jobs failed, or another error
  2  usage: a wrong option or value, or a folder without a batch journal
  3  refused before sending: invalid for the provider; nothing was paid for
  4  API key missing or refused
  5  out of credits or quota
  6  host unreachable
  7  timed out: the task ids are printed (`imagegen wait` or `resume` goes on)
  8  paid work may be unaccounted: ambiguous creates (see `imagegen jobs DIR`,
     then `imagegen resume DIR --retry-ambiguous`), or a task id the journal
     could not record (printed with the `imagegen wait` command that fetches it)";

/// An error as the CLI prints it: `error: MESSAGE`, then `hint: HINT`.
#[derive(Debug)]
pub struct CliError {
    /// The one-line message.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The exit code.
    pub exit: Exit,
}

impl CliError {
    /// A new error with `exit`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            hint: None,
            exit,
        }
    }

    /// A usage error (exit 2): a wrong option, value or input.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(Exit::Usage, message)
    }

    /// An error with exit 1.
    pub fn failed(message: impl Into<String>) -> Self {
        CliError::new(Exit::Failed, message)
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The text printed on stderr (`error:` line and optional `hint:` line).
    pub fn render(&self) -> String {
        let mut out = format!("error: {}", self.message);
        if let Some(hint) = &self.hint {
            out.push_str("\nhint: ");
            out.push_str(hint);
        }
        out
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// One line for a core error, without its hint (printed separately).
pub fn describe(err: &Error) -> String {
    let mut out = String::new();
    if let Some(provider) = err.provider()
        && !err.message().contains(provider)
    {
        out.push_str(provider);
        out.push_str(": ");
    }
    out.push_str(err.message());
    match (err.http_status(), err.code()) {
        (Some(status), Some(code)) => out.push_str(&format!(" (HTTP {status}, code {code})")),
        (Some(status), None) => out.push_str(&format!(" (HTTP {status})")),
        (None, Some(code)) => out.push_str(&format!(" (code {code})")),
        (None, None) => {}
    }
    if let Some(task) = err.task_id() {
        out.push_str(&format!(" [task {task}]"));
    }
    out
}

/// A hint for a core error: the error's own, rewritten for the command line,
/// or one the CLI knows for its kind.
pub fn hint_for(err: &Error) -> Option<String> {
    // A capability refusal says what best-effort would do; here
    // best-effort is a flag.
    if let Some(instead) = err.best_effort() {
        return Some(format!("pass --best-effort to {instead}, with a warning"));
    }
    if let Some(hint) = err.hint() {
        return Some(hint.to_owned());
    }
    match err.kind() {
        ErrorKind::Transport => {
            Some("check your network connection and the base URL (--base-url or *_BASE_URL)".into())
        }
        ErrorKind::Timeout => err.task_id().map(|_| {
            "the task keeps running: `imagegen wait --provider P TASK_ID` resumes it".into()
        }),
        ErrorKind::InsufficientCredits | ErrorKind::QuotaExhausted => {
            Some("top up the account or use another provider (--provider)".into())
        }
        ErrorKind::Unauthorized => Some("check that the API key is valid for this provider".into()),
        _ => None,
    }
}

impl From<Error> for CliError {
    fn from(err: Error) -> Self {
        let exit = Exit::for_kind(err.kind());
        CliError {
            message: describe(&err),
            hint: hint_for(&err),
            exit,
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> Self {
        CliError::failed(err.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(err: StoreError) -> Self {
        let exit = match err.kind {
            StoreErrorKind::Usage => Exit::Usage,
            _ => Exit::Failed,
        };
        CliError {
            message: err.message,
            hint: err.hint,
            exit,
        }
    }
}

/// `Result` with [`CliError`].
pub type CliResult<T> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_documented_codes() {
        assert_eq!(Exit::for_kind(ErrorKind::InvalidRequest).code(), 3);
        assert_eq!(Exit::for_kind(ErrorKind::Unauthorized).code(), 4);
        assert_eq!(Exit::for_kind(ErrorKind::QuotaExhausted).code(), 5);
        assert_eq!(Exit::for_kind(ErrorKind::Transport).code(), 6);
        assert_eq!(Exit::for_kind(ErrorKind::Timeout).code(), 7);
        assert_eq!(Exit::for_kind(ErrorKind::GenerationFailed).code(), 1);
        // After a task was accepted, nothing is "refused before sending".
        assert_eq!(Exit::after_acceptance(ErrorKind::InvalidRequest).code(), 1);
        assert_eq!(Exit::after_acceptance(ErrorKind::Transport).code(), 6);
    }

    #[test]
    fn best_effort_hint_names_the_flag() {
        let request = imagegen::ImageRequest::new("a lamp").quality(imagegen::Quality::Low);
        let err = imagegen::registration("runbase")
            .unwrap()
            .capabilities()
            .check("runbase", &request, imagegen::Strictness::Strict)
            .unwrap_err();
        let cli = CliError::from(err);
        assert_eq!(
            cli.render(),
            "error: runbase does not offer quality low; allowed: medium, high\nhint: pass --best-effort to use medium instead, with a warning"
        );
        assert_eq!(cli.exit, Exit::Refused);
    }

    #[test]
    fn other_hints_pass_through() {
        let err = Error::new(ErrorKind::Unauthorized, "invalid key")
            .with_hint("set RUNBASE_API_KEY to a key from runbase.net");
        assert_eq!(
            hint_for(&err).as_deref(),
            Some("set RUNBASE_API_KEY to a key from runbase.net")
        );
    }
}
