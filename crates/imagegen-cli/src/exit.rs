//! Exit codes and the CLI's error type.
//!
//! Every failure the CLI reports is a [`CliError`]: one line for `error:`,
//! an optional `hint:` line, and the documented exit code. Errors from
//! imagegen-core are mapped by their [`ErrorKind`].

use std::fmt;

use imagegen_core::{Error, ErrorKind};

/// The documented exit codes (see `imagegen --help` and the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Everything asked for was done.
    Ok = 0,
    /// Some jobs failed, or the generation failed (content policy, server).
    Failed = 1,
    /// The command line could not be parsed (clap's usage errors).
    Usage = 2,
    /// The request is invalid for the provider; nothing was sent.
    InvalidRequest = 3,
    /// The API key is missing or was refused.
    Auth = 4,
    /// Out of credits or quota.
    Credits = 5,
    /// The host could not be reached.
    Network = 6,
    /// The deadline ran out; the task id is printed so `imagegen wait` can resume.
    Timeout = 7,
    /// Creates that may have been accepted were left unresolved (batch/resume).
    Ambiguous = 8,
}

impl Exit {
    /// The exit code for a core error kind.
    pub fn for_kind(kind: ErrorKind) -> Exit {
        match kind {
            ErrorKind::InvalidRequest => Exit::InvalidRequest,
            ErrorKind::Unauthorized | ErrorKind::Forbidden => Exit::Auth,
            ErrorKind::InsufficientCredits | ErrorKind::QuotaExhausted => Exit::Credits,
            ErrorKind::Transport => Exit::Network,
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
  1  generation failed, or some batch jobs failed
  2  usage error (bad command line)
  3  invalid request for the provider; nothing was sent or paid for
  4  API key missing or refused
  5  out of credits or quota
  6  network: host unreachable
  7  timed out (the task id is printed: `imagegen wait` resumes it)
  8  creates left ambiguous (may have been paid): see `imagegen jobs`, then
     `imagegen resume DIR --retry-ambiguous`";

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

    /// An invalid-input error (exit 3).
    pub fn invalid(message: impl Into<String>) -> Self {
        CliError::new(Exit::InvalidRequest, message)
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

impl From<rusqlite::Error> for CliError {
    fn from(err: rusqlite::Error) -> Self {
        CliError::failed(format!("journal: {err}"))
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
        assert_eq!(cli.exit, Exit::InvalidRequest);
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
