//! A page's QR code: its public URL tagged `?src=qr` (so a view through it is counted as the
//! `qr` source), as SVG or as a PNG of a given size. The matrix is qrcode's (error correction
//! M: a printed code survives some wear); the PNG is drawn here, whole modules of equal size
//! centred on a white square, and encoded by png.
//! Must not: read the store, or take the URL from the request (only from the public origin and
//! the profile's name).

use linkleaf_domain::Username;
use qrcode::{Color, EcLevel, QrCode};

/// The PNG's side in pixels: the default, and the bounds `size` is held to.
pub const PNG_DEFAULT: u32 = 512;
pub const PNG_MIN: u32 = 128;
pub const PNG_MAX: u32 = 2048;

/// Modules of light margin around the code, as the QR standard asks.
const QUIET: usize = 4;

/// The URL a page's QR code holds.
pub fn tagged_url(public_url: &str, username: &Username) -> String {
    format!(
        "{}/{}?src=qr",
        public_url.trim_end_matches('/'),
        username.key()
    )
}

fn code(url: &str) -> Result<QrCode, String> {
    QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M).map_err(|e| e.to_string())
}

/// The code as an SVG document (black on white, with its quiet zone, at least 256 units wide).
pub fn svg(url: &str) -> Result<String, String> {
    Ok(code(url)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

/// The code as a PNG `size` pixels square (8-bit grey): each module a square of whole pixels,
/// as large as fits with the quiet zone, the rest white.
pub fn png(url: &str, size: u32) -> Result<Vec<u8>, String> {
    let code = code(url)?;
    let modules = code.to_colors();
    let width = code.width();
    let side = width + 2 * QUIET;
    let scale = (size as usize / side).max(1);
    let size = size as usize;
    let offset = size.saturating_sub(side * scale) / 2 + QUIET * scale;
    let mut pixels = vec![255u8; size * size];
    for (i, c) in modules.iter().enumerate() {
        if *c != Color::Dark {
            continue;
        }
        let (mx, my) = (i % width, i / width);
        for y in 0..scale {
            let row = offset + my * scale + y;
            let start = row * size + offset + mx * scale;
            if let Some(line) = pixels.get_mut(start..start + scale) {
                line.fill(0);
            }
        }
    }
    let mut out = Vec::with_capacity(size * size / 16);
    {
        let mut enc = png::Encoder::new(&mut out, size as u32, size as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(&pixels).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_the_public_page_tagged_as_a_qr_view() {
        let u = Username::parse("Jane.Doe").unwrap();
        assert_eq!(
            tagged_url("https://links.example/", &u),
            "https://links.example/jane.doe?src=qr"
        );
    }

    #[test]
    fn the_png_is_the_size_asked_with_square_whole_modules() {
        let url = "https://links.example/jane?src=qr";
        for size in [PNG_MIN, 300, PNG_DEFAULT, PNG_MAX] {
            let bytes = png(url, size).unwrap();
            let dec = png::Decoder::new(std::io::Cursor::new(bytes));
            let reader = dec.read_info().unwrap();
            let info = reader.info();
            assert_eq!((info.width, info.height), (size, size));
        }
        assert!(svg(url).unwrap().starts_with("<?xml"));
    }
}
