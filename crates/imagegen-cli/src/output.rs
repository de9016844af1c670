//! What the CLI prints on stdout: one JSON record per image (`--json`).

use std::io::Write;

use serde::Serialize;

/// One saved (or, with `--no-download`, generated) image, as `--json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImageRecord {
    /// Where the image was saved (`None` with `--no-download`).
    pub path: Option<String>,
    /// The provider that made it.
    pub provider: String,
    /// The provider's task id.
    pub task_id: String,
    /// The prompt.
    pub prompt: String,
    /// SHA-256 of the file, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Width in pixels, read from the PNG header when cheap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Credits the provider reported for the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits: Option<f64>,
    /// Where the image can be downloaded, when the provider gave a URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Batch job number, for batches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<i64>,
}

impl ImageRecord {
    /// The record of a batch job's saved image.
    pub fn of_job(
        job: &imagegen_jobs::JobRow,
        provider: &str,
        task_id: &str,
        row: &imagegen_jobs::OutputRow,
        credits: Option<f64>,
    ) -> ImageRecord {
        ImageRecord {
            path: Some(row.path.clone()),
            provider: provider.to_owned(),
            task_id: task_id.to_owned(),
            prompt: job.prompt.clone(),
            sha256: Some(row.sha256.clone()),
            width: row.width.and_then(|w| u32::try_from(w).ok()),
            height: row.height.and_then(|h| u32::try_from(h).ok()),
            credits,
            url: row.url.clone(),
            job: Some(job.id),
        }
    }
}

/// Prints one JSON record on stdout, flushing so a reader sees it at once.
pub fn print_json<T: Serialize>(record: &T) {
    let line = serde_json::to_string(record).expect("records serialize");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_record_skips_unknown_fields() {
        let r = ImageRecord {
            path: Some("images/a.png".into()),
            provider: "runbase".into(),
            task_id: "t1".into(),
            prompt: "a".into(),
            sha256: None,
            width: None,
            height: None,
            credits: None,
            url: None,
            job: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"path":"images/a.png","provider":"runbase","task_id":"t1","prompt":"a"}"#
        );
    }
}
