//! Writing whole raw chunks straight from a region's voxels, without going through zarrs.
//!
//! For a raw array (the `bytes` codec only, little-endian) a chunk file is exactly the chunk's
//! voxels in C order, edge chunks padded with the fill value, and an all-fill chunk has no file.
//! When a region covers whole chunks, each chunk is gathered once into a reused buffer and
//! written atomically: one pass over the data instead of zarrs' extract-encode-copy.

use ndarray::ArrayView3;

use super::atomic::{write_atomic_with, AtomicFsStore};
use crate::{Bbox, ChunkGrid, Element, Error, Result, Shape};

/// Writes `data` at `begin` if the region covers whole chunks of the raw array (its ends on
/// chunk boundaries or the array's end); returns `false`, having written nothing, otherwise.
pub(crate) fn write_whole_chunks<T: Element>(
    array: &zarrs::array::Array<AtomicFsStore>,
    chunk: Shape,
    begin: [u64; 3],
    data: ArrayView3<'_, T>,
) -> Result<bool> {
    let shape: Shape = std::array::from_fn(|a| array.shape()[a]);
    let extent: Shape = std::array::from_fn(|a| data.shape()[a] as u64);
    let aligned = (0..3).all(|a| {
        let end = begin[a] + extent[a];
        begin[a].is_multiple_of(chunk[a]) && (end.is_multiple_of(chunk[a]) || end == shape[a])
    });
    if !aligned || cfg!(target_endian = "big") {
        return Ok(false);
    }
    let data = data.as_standard_layout();
    let Some(voxels) = data.as_slice() else {
        return Ok(false);
    };
    let storage = array.storage();
    let direct = storage.direct_io();
    let grid = ChunkGrid::new(shape, chunk)?;
    let region = Bbox::new(begin.map(|v| v as i64), extent);
    let (h, w) = (extent[1] as usize, extent[2] as usize);
    let (cy, cx) = (chunk[1] as usize, chunk[2] as usize);
    let mut buffer = vec![T::default(); chunk.iter().product::<u64>() as usize];
    for part in grid.parts(&region) {
        let [ez, ey, ex] = part.in_chunk.shape.map(|v| v as usize);
        let [bz, by, bx] = part.in_box.begin.map(|v| v as usize);
        if [ez as u64, ey as u64, ex as u64] != chunk {
            buffer.fill(T::default());
        }
        // Whether any voxel differs from the fill value, checked on each row while it is hot
        // and only until the first such voxel.
        let mut filled = false;
        for z in 0..ez {
            for y in 0..ey {
                let src = ((bz + z) * h + by + y) * w + bx;
                let dst = (z * cy + y) * cx;
                let row = &mut buffer[dst..dst + ex];
                row.copy_from_slice(&voxels[src..src + ex]);
                filled = filled || row.iter().any(|v| *v != T::default());
            }
        }
        let path = storage.path_of(&array.chunk_key(&part.chunk));
        if !filled {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(path, e))
                }
                _ => {}
            }
        } else {
            write_atomic_with(&path, bytemuck::cast_slice(&buffer), direct)
                .map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(true)
}
