//! One call from Node: a JPEG's bytes in, 224 x 224 RGBA written into the caller's batch of model input.
//!
//! libjpeg-turbo decodes at the smallest scale M/8 that keeps both sides at least 224 pixels (its IDCT computes the
//! smaller image directly, so a 1,000-pixel photo costs about what a 300-pixel one does), then fast_image_resize
//! stretches that to 224 x 224: Lanczos3 when both sides shrink, as libvips does, Catmull-Rom otherwise.
use std::cell::RefCell;

use fast_image_resize::images::{Image as ResizeImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use napi::bindgen_prelude::{Buffer, Uint8Array};
use napi::{Error, Result};
use napi_derive::napi;
use turbojpeg::{Decompressor, Image, PixelFormat, ScalingFactor};

const SIZE: usize = 224;
const BYTES: usize = SIZE * SIZE * 4;

thread_local! {
    // One decompressor and one resizer per thread, reused: creating them costs more than decoding a small JPEG.
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
    static SCALED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn failed(what: &str, err: impl std::fmt::Display) -> Error {
    Error::from_reason(format!("{what}: {err}"))
}

/// The smallest scale M/8 at which both sides stay at least SIZE pixels (1 when a side is already smaller).
fn shrink_on_load(width: usize, height: usize) -> ScalingFactor {
    (1..8)
        .map(|m| ScalingFactor::new(m, 8))
        .find(|&s| s.scale(width) >= SIZE && s.scale(height) >= SIZE)
        .unwrap_or(ScalingFactor::ONE)
}

/// Decode `jpeg` and write it as 224 x 224 RGBA (alpha 255) into `out` at byte `offset`. Returns the size decoded
/// at, `[width, height]`. Throws with libjpeg-turbo's reason when the JPEG is damaged or of a kind it will not
/// convert to RGB (CMYK, 12-bit, ...); warnings (corrupt data it could fill in) count as failures too.
#[napi]
pub fn decode_jpeg_224(jpeg: Buffer, mut out: Uint8Array, offset: u32) -> Result<Vec<u32>> {
    let offset = offset as usize;
    let target = out
        .get_mut(offset..offset + BYTES)
        .ok_or_else(|| Error::from_reason(format!("output too small: {BYTES} bytes needed at offset {offset}")))?;
    DECOMPRESSOR.with_borrow_mut(|slot| {
        if slot.is_none() {
            *slot = Some(Decompressor::new().map_err(|e| failed("libjpeg-turbo init", e))?);
        }
        let decompressor = slot.as_mut().expect("initialised above");
        let header = decompressor.read_header(&jpeg).map_err(|e| failed("JPEG header", e))?;
        let scale = shrink_on_load(header.width, header.height);
        decompressor.set_scaling_factor(scale).map_err(|e| failed("JPEG scaling", e))?;
        let (width, height) = (scale.scale(header.width), scale.scale(header.height));
        if width == SIZE && height == SIZE {
            let image = Image { pixels: &mut *target, width, pitch: 4 * width, height, format: PixelFormat::RGBA };
            decompressor.decompress(&jpeg, image).map_err(|e| failed("JPEG data", e))?;
            return Ok(vec![width as u32, height as u32]);
        }
        SCALED.with_borrow_mut(|pixels| {
            pixels.resize(4 * width * height, 0);
            let image = Image { pixels: pixels.as_mut_slice(), width, pitch: 4 * width, height, format: PixelFormat::RGBA };
            decompressor.decompress(&jpeg, image).map_err(|e| failed("JPEG data", e))?;
            let source = ImageRef::new(width as u32, height as u32, pixels, PixelType::U8x4).map_err(|e| failed("resize source", e))?;
            let mut destination = ResizeImage::from_slice_u8(SIZE as u32, SIZE as u32, target, PixelType::U8x4).map_err(|e| failed("resize target", e))?;
            let filter = if width >= SIZE && height >= SIZE { FilterType::Lanczos3 } else { FilterType::CatmullRom };
            let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
            RESIZER.with_borrow_mut(|resizer| resizer.resize(&source, &mut destination, &options)).map_err(|e| failed("resize", e))?;
            Ok(vec![width as u32, height as u32])
        })
    })
}
