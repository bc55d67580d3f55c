//! QR codes of otpauth URIs, as PNG (for apps scanning a screen) and SVG (for pages).
//!
//! Error correction level M, a 4-module quiet zone, 8 pixels per module: large enough for
//! phone cameras at arm's length.

use qrcode::{Color, EcLevel, QrCode};

use super::Error;

const SCALE: usize = 8;
const QUIET: usize = 4;

fn encode(text: &str) -> Result<QrCode, Error> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| Error::Internal(format!("QR encoding failed: {e}")))
}

/// A grayscale PNG of the QR code of `text`.
pub fn png(text: &str) -> Result<Vec<u8>, Error> {
    let code = encode(text)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
        for y in my * SCALE..(my + 1) * SCALE {
            pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
        }
    }
    let side32 = u32::try_from(side).map_err(|_| Error::Internal("QR too large".into()))?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side32, side32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(&pixels))
        .map_err(|e| Error::Internal(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}

/// An SVG document of the QR code of `text`.
pub fn svg(text: &str) -> Result<String, Error> {
    Ok(encode(text)?
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(200, 200)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_starts_with_the_png_signature_and_svg_is_svg() {
        let png = png("otpauth://totp/x:y?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(svg("hello").unwrap().contains("<svg"));
    }
}
