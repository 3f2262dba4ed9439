//! Thumbnails: the sizes the spec suggests, each made once per media and cached. A request is
//! answered with the smallest prepared size at least as large as asked (Synapse does the same),
//! so arbitrary sizes cannot make the server render and store endless variants.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};

use crate::error::{Error, Result};

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

/// The largest centred region of `image` with the box's aspect ratio, scaled down into the box.
/// `resize_to_fill` scales first and crops after, so a 2,344×1 image became a 225,024×96
/// intermediate (a crafted 22,627×1 one, within the pixel limit, about 1 GB); cropping first means
/// only ever scaling down (found by the `thumbnail` fuzz target).
fn crop_then_shrink(image: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    let (source_width, source_height) = (u64::from(image.width()), u64::from(image.height()));
    let (box_width, box_height) = (u64::from(width.max(1)), u64::from(height.max(1)));
    let (crop_width, crop_height) = if source_width * box_height > source_height * box_width {
        (source_height * box_width / box_height, source_height)
    } else {
        (source_width, source_width * box_height / box_width)
    };
    let (crop_width, crop_height) = (crop_width.max(1), crop_height.max(1));
    let x = (source_width - crop_width.min(source_width)) / 2;
    let y = (source_height - crop_height.min(source_height)) / 2;
    let to_u32 = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
    let cropped = image.crop_imm(
        to_u32(x),
        to_u32(y),
        to_u32(crop_width),
        to_u32(crop_height),
    );
    if cropped.width() <= width && cropped.height() <= height {
        cropped
    } else {
        cropped.resize_exact(width, height, FilterType::Triangle)
    }
}

/// What reading an image's header may allocate.
const HEADER_ALLOCATION: u64 = 1 << 20;
/// Decoded bytes per pixel at most (16-bit RGBA).
const MAX_BYTES_PER_PIXEL: u64 = 8;
/// Room for what an image carries besides its pixels (colour profiles, text, palettes).
const ANCILLARY_ALLOCATION: u64 = 2 << 20;

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
    let reader = || {
        ImageReader::new(Cursor::new(source))
            .with_guessed_format()
            .map_err(|error| Error::InvalidParam(format!("unreadable image: {error}")))
    };
    let side = u32::try_from((max_pixels as f64).sqrt() as u64 * 4).unwrap_or(u32::MAX);
    let mut limits = Limits::default();
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    // Reading the header alone allocates little; it tells the declared size.
    limits.max_alloc = Some(HEADER_ALLOCATION);
    let mut header = reader()?;
    header.limits(limits.clone());
    let (declared_width, declared_height) = header
        .into_dimensions()
        .map_err(|error| Error::InvalidParam(format!("cannot thumbnail this image: {error}")))?;
    let declared_pixels = u64::from(declared_width) * u64::from(declared_height);
    if declared_pixels > max_pixels {
        return Err(Error::TooLarge("image too large to thumbnail".into()));
    }
    // Every allocation of the decoder (pixels, but also ICC profiles and compressed text
    // chunks, which inflate) comes out of one budget sized by the declared pixels: a 1×1 PNG
    // whose iCCP chunk inflates to a gigabyte is refused after a megabyte.
    limits.max_alloc = Some(
        declared_pixels
            .saturating_mul(MAX_BYTES_PER_PIXEL)
            .saturating_add(ANCILLARY_ALLOCATION),
    );
    let mut reader = reader()?;
    let format = reader.format();
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|error| Error::InvalidParam(format!("cannot thumbnail this image: {error}")))?;
    if u64::from(image.width()) * u64::from(image.height()) > max_pixels {
        return Err(Error::TooLarge("image too large to thumbnail".into()));
    }
    let thumbnail = match method {
        _ if image.width() <= width && image.height() <= height => image,
        ThumbnailMethod::Crop => crop_then_shrink(&image, width, height),
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

    /// A PNG chunk: length, type, data, CRC.
    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        let mut bytes = u32::try_from(data.len())
            .expect("small")
            .to_be_bytes()
            .to_vec();
        bytes.extend_from_slice(kind);
        bytes.extend_from_slice(data);
        bytes.extend_from_slice(&crc.finalize().to_be_bytes());
        bytes
    }

    /// A valid 1×1 PNG with an iCCP chunk that inflates to `profile_bytes` zeros.
    fn png_with_inflating_profile(profile_bytes: usize) -> Vec<u8> {
        use std::io::Write as _;
        let plain = png(1, 1);
        // Signature (8) + IHDR (25) come first; the rest (IDAT, IEND) follows the profile.
        let (head, rest) = plain.split_at(8 + 25);
        let mut deflater = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..profile_bytes / zeros.len() {
            deflater.write_all(&zeros).expect("deflate");
        }
        let mut profile = b"bomb\0\0".to_vec();
        profile.extend(deflater.finish().expect("deflate"));
        let mut bytes = head.to_vec();
        bytes.extend(chunk(b"iCCP", &profile));
        bytes.extend_from_slice(rest);
        bytes
    }

    /// The process's peak resident memory, in KiB (Linux).
    fn peak_memory_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// A 1×1 PNG whose colour profile inflates to 256 MiB. The old budget (the pixel limit × 4,
    /// 128 MiB by default) let the decoder inflate 128 MiB of it per thumbnail; the budget now
    /// follows the declared size, so the profile is cut off after a few MiB (the PNG decoder
    /// then drops it and renders the pixels). Peak memory is measured in a child process that
    /// runs only this test, so other tests' allocations do not count.
    #[test]
    fn inflating_colour_profiles_are_bounded_by_the_declared_size() {
        const CHILD: &str = "MYELIN_THUMBNAIL_BOMB_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let bomb = png_with_inflating_profile(256 << 20);
            let before = peak_memory_kib();
            let rendered = render(&bomb, 32, 32, ThumbnailMethod::Crop, 32_000_000);
            println!(
                "bomb_size={} rendered={} peak_growth_kib={}",
                bomb.len(),
                rendered.is_ok(),
                peak_memory_kib().saturating_sub(before)
            );
            return;
        }
        let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "media::thumbnails::tests::inflating_colour_profiles_are_bounded_by_the_declared_size",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .expect("child test runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let field = |name: &str| {
            stdout
                .split_whitespace()
                .find_map(|word| word.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {stdout}"))
                .to_owned()
        };
        let bomb_size: usize = field("bomb_size=").parse().expect("size");
        assert!(bomb_size < 2 << 20, "the bomb itself is small: {bomb_size}");
        assert_eq!(field("rendered="), "true", "the pixels still render");
        let growth: u64 = field("peak_growth_kib=").parse().expect("growth");
        assert!(growth < 32 * 1024, "peak memory grew by {growth} KiB");
    }

    /// A long thin image is cropped to the box's shape before any scaling, never scaled up
    /// (the fuzz target's slow input: `fuzz/regressions/thumbnail/`).
    #[test]
    fn thin_images_are_cropped_before_scaling() {
        let thin = render(&png(4000, 1), 96, 96, ThumbnailMethod::Crop, 32_000_000).expect("thin");
        assert!(
            thin.width <= 96 && thin.height <= 96,
            "{}x{}",
            thin.width,
            thin.height
        );
        let tall = render(&png(3, 5000), 32, 32, ThumbnailMethod::Crop, 32_000_000).expect("tall");
        assert!(tall.width <= 32 && tall.height <= 32);
    }

    #[test]
    fn huge_and_broken_images_are_refused() {
        assert!(render(&png(3000, 3000), 32, 32, ThumbnailMethod::Crop, 1_000_000).is_err());
        assert!(render(b"not an image", 32, 32, ThumbnailMethod::Crop, 1_000_000).is_err());
    }
}
