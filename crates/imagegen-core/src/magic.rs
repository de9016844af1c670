//! Telling images from everything else by their first bytes.
//!
//! A server's `Content-Type` is not evidence: an expired CDN link answers
//! `200 text/html`, a misconfigured one `application/octet-stream`. The
//! bytes are.

/// The media type of `bytes` if they start like a PNG, JPEG or WebP image.
///
/// ```
/// use imagegen_core::download::sniff_image;
/// assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
/// assert_eq!(sniff_image(b"<!DOCTYPE html>"), None);
/// ```
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// The file extension for an image media type (`png` when unknown).
pub fn extension_for(media_type: &str) -> &'static str {
    match media_type {
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        _ => "png",
    }
}
