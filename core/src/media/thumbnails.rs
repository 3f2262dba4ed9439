//! Thumbnails: the sizes the spec suggests, each made once per media and cached. A request is
//! answered with the smallest prepared size at least as large as asked (Synapse does the same),
//! so arbitrary sizes cannot make the server render and store endless variants.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};

use crate::{Error, Result};

/// Thumbnail method: crop to exactly the size, or scale to fit inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbnailMethod {
    Crop,
    Scale,
}

impl ThumbnailMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ThumbnailMethod::Crop => "crop",
            ThumbnailMethod::Scale => "scale",
        }
    }
}

/// The sizes thumbnails are made in (the spec's suggestion, as Synapse's defaults).
const SIZES: &[(u32, u32, ThumbnailMethod)] = &[
    (32, 32, ThumbnailMethod::Crop),
    (96, 96, ThumbnailMethod::Crop),
    (320, 240, ThumbnailMethod::Scale),
    (640, 480, ThumbnailMethod::Scale),
    (800, 600, ThumbnailMethod::Scale),
];

/// The prepared size that serves a request: the smallest of the same method covering it, else
/// the largest of that method.
pub fn choose_size(width: u32, height: u32, method: ThumbnailMethod) -> (u32, u32) {
    let same: Vec<(u32, u32)> = SIZES
        .iter()
        .filter(|(_, _, size_method)| *size_method == method)
        .map(|(w, h, _)| (*w, *h))
        .collect();
    same.iter()
        .copied()
        .find(|(w, h)| *w >= width && *h >= height)
        .or_else(|| same.last().copied())
        .unwrap_or((width, height))
}

/// Content types thumbnails can be made of.
pub fn is_thumbnailable(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/jpeg" | "image/jpg" | "image/png" | "image/gif" | "image/webp"
    )
}

/// A rendered thumbnail.
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Renders a thumbnail of `source` (CPU-bound: call from a blocking thread). Never upscales:
/// a source smaller than the box keeps its size. PNG for sources that may have transparency,
/// JPEG otherwise.
pub fn render(
    source: &[u8],
    width: u32,
    height: u32,
    method: ThumbnailMethod,
    max_pixels: u64,
) -> Result<Rendered> {
    let mut reader = ImageReader::new(Cursor::new(source))
        .with_guessed_format()
        .map_err(|error| Error::InvalidParam(format!("unreadable image: {error}")))?;
    let format = reader.format();
    let side = u32::try_from((max_pixels as f64).sqrt() as u64 * 4).unwrap_or(u32::MAX);
    let mut limits = Limits::default();
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    limits.max_alloc = Some(max_pixels.saturating_mul(4));
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|error| Error::InvalidParam(format!("cannot thumbnail this image: {error}")))?;
    if u64::from(image.width()) * u64::from(image.height()) > max_pixels {
        return Err(Error::TooLarge("image too large to thumbnail".into()));
    }
    let thumbnail = match method {
        _ if image.width() <= width && image.height() <= height => image,
        ThumbnailMethod::Crop => image.resize_to_fill(width, height, FilterType::Triangle),
        ThumbnailMethod::Scale => image.resize(width, height, FilterType::Triangle),
    };
    let keeps_alpha = matches!(
        format,
        Some(ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP)
    );
    let (output, content_type, image) = if keeps_alpha {
        (ImageFormat::Png, "image/png", thumbnail)
    } else {
        (
            ImageFormat::Jpeg,
            "image/jpeg",
            DynamicImage::ImageRgb8(thumbnail.to_rgb8()),
        )
    };
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), output)
        .map_err(|error| Error::Internal(format!("encoding a thumbnail: {error}")))?;
    Ok(Rendered {
        bytes,
        content_type,
        width: image.width(),
        height: image.height(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::new_rgba8(width, height);
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .expect("encode");
        bytes
    }

    #[test]
    fn requests_map_to_the_prepared_sizes() {
        assert_eq!(choose_size(10, 10, ThumbnailMethod::Crop), (32, 32));
        assert_eq!(choose_size(64, 64, ThumbnailMethod::Crop), (96, 96));
        assert_eq!(choose_size(500, 300, ThumbnailMethod::Scale), (640, 480));
        assert_eq!(choose_size(5000, 5000, ThumbnailMethod::Scale), (800, 600));
    }

    #[test]
    fn crop_fills_the_box_and_scale_keeps_the_aspect() {
        let source = png(1000, 500);
        let cropped = render(&source, 96, 96, ThumbnailMethod::Crop, 32_000_000).expect("crop");
        assert_eq!((cropped.width, cropped.height), (96, 96));
        assert_eq!(cropped.content_type, "image/png");
        let scaled = render(&source, 320, 240, ThumbnailMethod::Scale, 32_000_000).expect("scale");
        assert_eq!((scaled.width, scaled.height), (320, 160));
        let small =
            render(&png(20, 10), 320, 240, ThumbnailMethod::Scale, 32_000_000).expect("small");
        assert_eq!((small.width, small.height), (20, 10), "never upscaled");
    }

    #[test]
    fn huge_and_broken_images_are_refused() {
        assert!(render(&png(3000, 3000), 32, 32, ThumbnailMethod::Crop, 1_000_000).is_err());
        assert!(render(b"not an image", 32, 32, ThumbnailMethod::Crop, 1_000_000).is_err());
    }
}
