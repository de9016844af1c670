//! The provider under test and the images the tests send.

use imagegen_azure::{Azure, AzureCodec};
use imagegen_core::ReferenceImage;

/// Azure on `endpoint` with `key` and `settings`, over a loopback-only
/// transport.
pub fn azure(endpoint: &str, key: &str, settings: &[(&str, &str)]) -> Azure {
    let config = settings.iter().fold(
        imagegen_test_support::loopback_config(endpoint, key),
        |config, (name, value)| config.setting(*name, *value),
    );
    imagegen_test_support::provider_from::<AzureCodec>(config)
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

/// Width and height of a PNG, decoded.
pub fn png_size(data: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(data));
    let reader = decoder.read_info().expect("a valid PNG");
    (reader.info().width, reader.info().height)
}
