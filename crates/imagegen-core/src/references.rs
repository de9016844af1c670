//! Putting reference images into the form a provider takes.
//!
//! URL providers (Runbase, gptimage15.ai) get URLs as they are (the
//! capability check already refused local files for them). Upload providers
//! (OpenAI's edits endpoint) get bytes: local files are read and URLs are
//! downloaded, both under the downloader's size cap and checked to be PNG,
//! JPEG or WebP, so a wrong file fails here, before anything is paid for.

use std::path::Path;

use bytes::Bytes;

use crate::capabilities::{Capabilities, ReferenceInput};
use crate::download::{Downloader, sniff_image};
use crate::error::{Error, ErrorKind};
use crate::request::{ImageRequest, ReferenceImage};

/// Returns `request` with its references in the form `caps` takes.
pub(crate) async fn resolve_references(
    downloader: &Downloader,
    caps: &Capabilities,
    mut request: ImageRequest,
) -> Result<ImageRequest, Error> {
    if caps.reference_input != ReferenceInput::Uploads || request.references.is_empty() {
        return Ok(request);
    }
    let mut resolved = Vec::with_capacity(request.references.len());
    for (i, reference) in std::mem::take(&mut request.references)
        .into_iter()
        .enumerate()
    {
        resolved.push(match reference {
            ReferenceImage::Inline { .. } => reference,
            ReferenceImage::File(path) => read_file(downloader, &path).await?,
            ReferenceImage::Url(url) => {
                let fetched = downloader.fetch(&url).await.map_err(|e| {
                    crate::retry::add_hint(
                        e,
                        &format!("reference image {} could not be downloaded", i + 1),
                    )
                })?;
                let file_name = file_name_from_url(&url, i, fetched.media_type);
                ReferenceImage::Inline {
                    file_name,
                    data: fetched.bytes,
                }
            }
        });
    }
    request.references = resolved;
    Ok(request)
}

async fn read_file(downloader: &Downloader, path: &Path) -> Result<ReferenceImage, Error> {
    let shown = path.display().to_string();
    let io = |e: std::io::Error| {
        Error::new(
            ErrorKind::Io,
            format!("could not read reference image {shown}: {e}"),
        )
        .with_retryable(false)
        .with_source(e)
    };
    let len = tokio::fs::metadata(path).await.map_err(io)?.len();
    if len > downloader.max_bytes() {
        return Err(Error::invalid_request(format!(
            "reference image {shown} is {len} bytes; the limit is {}",
            downloader.max_bytes()
        )));
    }
    let data = Bytes::from(tokio::fs::read(path).await.map_err(io)?);
    if sniff_image(&data).is_none() {
        return Err(Error::invalid_request(format!(
            "reference image {shown} is not a PNG, JPEG or WebP image"
        )));
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "reference.png".to_owned());
    Ok(ReferenceImage::Inline { file_name, data })
}

/// The last path segment of `url`, or `reference-<n>.<ext>`.
fn file_name_from_url(url: &str, index: usize, media_type: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_owned))
        })
        .filter(|s| !s.is_empty() && s.contains('.'))
        .unwrap_or_else(|| {
            let ext = crate::download::extension_for(media_type);
            format!("reference-{}.{ext}", index + 1)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::tests_support::polled_api;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n0000000000000000";

    #[tokio::test]
    async fn upload_providers_get_file_bytes_and_url_providers_keep_urls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lamp.png");
        std::fs::write(&path, PNG).unwrap();
        let mut caps = polled_api();
        caps.reference_input = ReferenceInput::Uploads;
        let request = ImageRequest::new("x").reference(ReferenceImage::File(path.clone()));
        let out = resolve_references(&Downloader::new(), &caps, request)
            .await
            .unwrap();
        assert_eq!(
            out.references,
            [ReferenceImage::Inline {
                file_name: "lamp.png".into(),
                data: Bytes::from_static(PNG)
            }]
        );

        let url_caps = polled_api();
        let request =
            ImageRequest::new("x").reference(ReferenceImage::Url("https://a/b.png".into()));
        let out = resolve_references(&Downloader::new(), &url_caps, request.clone())
            .await
            .unwrap();
        assert_eq!(out, request);
    }

    #[tokio::test]
    async fn a_file_that_is_not_an_image_is_refused_before_sending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "hello").unwrap();
        let mut caps = polled_api();
        caps.reference_input = ReferenceInput::Uploads;
        let request = ImageRequest::new("x").reference(ReferenceImage::File(path));
        let err = resolve_references(&Downloader::new(), &caps, request)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(!err.may_have_reached_server());
    }

    #[test]
    fn url_file_names() {
        assert_eq!(
            file_name_from_url("https://h/a/lamp.webp?sig=1", 0, "image/webp"),
            "lamp.webp"
        );
        assert_eq!(
            file_name_from_url("https://h/a/", 1, "image/jpeg"),
            "reference-2.jpg"
        );
    }
}
