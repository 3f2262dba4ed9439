//! Media thumbnails: any bytes uploaded as an image go through `render` under its pixel limit.
//! Run with `-rss_limit_mb=2048 -malloc_limit_mb=512`: decoding must stay bounded.

use myelin_core::media::thumbnails::{ThumbnailMethod, render};

pub fn run(data: &[u8]) {
    let _ = render(data, 96, 96, ThumbnailMethod::Crop, 1_000_000);
}
