//! How the page names and marks each job state.

use imagegen_jobs::JobState;

/// The state as the page shows it.
pub(crate) fn label(state: JobState) -> &'static str {
    match state {
        JobState::TimedOut => "timed out",
        other => other.as_str(),
    }
}

/// Whether the card is marked as needing attention (coloured border, the
/// reason shown, in "problems only").
pub(crate) fn is_problem(state: JobState) -> bool {
    matches!(
        state,
        JobState::Failed
            | JobState::Invalid
            | JobState::Ambiguous
            | JobState::Submitting
            | JobState::TimedOut
    )
}

/// What the state means, for the badge's tooltip and for a problem card
/// whose job has no error text.
pub(crate) fn meaning(state: JobState) -> &'static str {
    match state {
        JobState::Pending => "Recorded; its create was never sent.",
        JobState::Invalid => "The line or request is invalid; it was never sent.",
        JobState::Submitting | JobState::Ambiguous => {
            "Its create may have reached the provider and been paid for; \
             `imagegen resume --retry-ambiguous` sends it again."
        }
        JobState::Retryable => {
            "Its create failed before anything could be charged; resume sends it again."
        }
        JobState::Submitted => "Accepted by the provider; resume polls it.",
        JobState::TimedOut => "The wait ran out while polling; resume polls it again.",
        JobState::Done => "Its images are saved.",
        JobState::Failed => "The provider refused it, or the generation failed.",
        JobState::Skipped => "Not sent: the credit limit would have been passed.",
    }
}
