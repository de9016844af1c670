//! The provider under test and the images the tests send and read.

use imagegen_core::{ImageOutput, ReferenceImage, TaskState, TaskStatus};
use imagegen_openai::{OpenAi, OpenAiCodec};
use imagegen_sim::SimHandle;

/// OpenAI on the simulator with `key`, over a loopback-only transport.
pub fn openai(sim: &SimHandle, key: &str) -> OpenAi {
    imagegen_test_support::provider::<OpenAiCodec>(&sim.openai_url(), key)
}

/// The bytes and media type of an inline output.
pub fn inline(output: &ImageOutput) -> (&[u8], &str) {
    match output {
        ImageOutput::Inline {
            data, media_type, ..
        } => (&data[..], media_type.as_str()),
        other => panic!("expected inline bytes, got {other:?}"),
    }
}

/// Width and height of a PNG, decoded.
pub fn png_size(data: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(data));
    let reader = decoder.read_info().expect("a valid PNG");
    (reader.info().width, reader.info().height)
}

/// A real 4x4 PNG.
pub fn tiny_png() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, 4, 4);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[200u8; 4 * 4 * 4]).unwrap();
    }
    out
}

/// An inline reference image.
pub fn inline_reference(file_name: &str, data: &[u8]) -> ReferenceImage {
    ReferenceImage::Inline {
        file_name: file_name.into(),
        data: data.to_vec().into(),
    }
}

/// Asserts a finished OpenAI task: succeeded, a synthesized id, no credits.
pub fn succeeded(status: &TaskStatus) {
    assert_eq!(status.state, TaskState::Succeeded);
    assert!(status.task_id.starts_with("openai-"), "{}", status.task_id);
    assert_eq!(status.credits, None);
}
