//! 2D images, the base every reader and ingest uses: decoding PNG and TIFF files into
//! [`Plane`]s within decode [`Limits`], writing PNG files, and `.txt` lists of images.
//!
//! ```
//! use voxload::image::{decode_file_with, image_list, write_png_u16, Content, Limits};
//!
//! let dir = tempfile::tempdir()?;
//! for z in 0..2u16 {
//!     write_png_u16(&dir.path().join(format!("s{z}.png")), 4, 3, &[z; 12])?;
//! }
//! std::fs::write(dir.path().join("list.txt"), "s0.png\ns1.png\n")?;
//! let files = image_list(&dir.path().join("list.txt"))?;
//! let plane = decode_file_with(&files[1], &Limits::default())?;
//! assert_eq!(plane.dim(), (3, 4));
//! assert_eq!(plane.to_voxels::<u16>(Content::Image).unwrap()[[2, 3]], 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decode;
mod encode;
mod limits;
mod list;
mod pages;
mod plane;

pub use decode::{decode_file, decode_file_with};
pub use encode::{write_png, write_png_u16, PngPixels};
pub use limits::Limits;
pub use list::{image_list, is_image_list};
pub(crate) use pages::{read_stack, tiff_decoder, tiff_pages};
pub use plane::{Content, GrayPlane, Plane};
