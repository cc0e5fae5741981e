//! The parts of the chunk schedule PyTC's `TileDataset` can restrict: the region chunks are cut
//! from (`DATASET.DATA_COORD_RANGE`) and the chunk ids training visits (`DATASET.DATA_CHUNK_IND`,
//! shared among jobs by `DATASET.CHUNK_IND_SPLIT`).

use serde_json::Value;

use super::raw::{error, RawConfig};
use crate::{Result, Shape};

const RANGE: &str = "DATASET.DATA_COORD_RANGE";
const IDS: &str = "DATASET.DATA_CHUNK_IND";
const SPLIT: &str = "DATASET.CHUNK_IND_SPLIT";

/// `DATA_COORD_RANGE`: `[z0, z1, y0, y1, x0, x1]` (for every volume, as PyTC reads a flat
/// range), or a list holding one such range (PyTC's per-volume form, for one volume), each
/// `end > begin`.
pub(super) fn coord_range(raw: &RawConfig) -> Result<Option<[i64; 6]>> {
    let Some(v) = raw.value(RANGE) else {
        return Ok(None);
    };
    let one = match v.as_array().map(Vec::as_slice) {
        Some([inner @ Value::Array(_)]) => inner,
        Some([Value::Array(_), ..]) => {
            return Err(error(
                RANGE,
                format!("{v}: gives several volumes' ranges, which voxload does not support; give one [z0, z1, y0, y1, x0, x1] for every volume"),
            ))
        }
        _ => v,
    };
    let numbers: Option<Vec<i64>> = one
        .as_array()
        .and_then(|items| items.iter().map(Value::as_i64).collect());
    match numbers.as_deref() {
        Some(&[z0, z1, y0, y1, x0, x1]) if z1 > z0 && y1 > y0 && x1 > x0 => {
            Ok(Some([z0, z1, y0, y1, x0, x1]))
        }
        _ => Err(error(
            RANGE,
            format!("{v}: expected [z0, z1, y0, y1, x0, x1], six integers with each end above its begin"),
        )),
    }
}

/// The chunk ids of `DATA_CHUNK_IND` (every id of the `num` chunks when unset), then this job's
/// share by `CHUNK_IND_SPLIT` `"rank-world"` (or `[rank, world]`): PyTC's split, `len / world`
/// ids per job, the last job taking the rest. `None` when neither key is set.
pub(super) fn chunk_ids(raw: &RawConfig, num: Shape) -> Result<Option<Vec<u64>>> {
    let total: u64 = num.iter().product();
    let listed = match raw.value(IDS) {
        None => None,
        Some(v) => {
            let ids: Option<Vec<u64>> = v
                .as_array()
                .and_then(|items| items.iter().map(Value::as_u64).collect());
            match ids {
                Some(ids) if !ids.is_empty() && ids.iter().all(|&i| i < total) => Some(ids),
                _ => {
                    return Err(error(
                        IDS,
                        format!("{v}: expected a list of chunk ids, each below the {total} chunks of DATA_CHUNK_NUM {num:?}"),
                    ))
                }
            }
        }
    };
    let Some((rank, world)) = split(raw)? else {
        return Ok(listed);
    };
    let ids = listed.unwrap_or_else(|| (0..total).collect());
    let per = ids.len() as u64 / world;
    let low = rank * per;
    let high = if rank + 1 == world {
        ids.len() as u64
    } else {
        low + per
    };
    if low >= high {
        return Err(error(
            SPLIT,
            format!(
                "{rank}-{world} leaves this job none of the {} chunks; use fewer jobs",
                ids.len()
            ),
        ));
    }
    Ok(Some(ids[low as usize..high as usize].to_vec()))
}

/// `CHUNK_IND_SPLIT` as `(rank, world)`.
fn split(raw: &RawConfig) -> Result<Option<(u64, u64)>> {
    let Some(v) = raw.value(SPLIT) else {
        return Ok(None);
    };
    let parts: Option<Vec<u64>> = match v {
        Value::String(s) => s.split('-').map(|p| p.trim().parse().ok()).collect(),
        Value::Array(items) => items.iter().map(Value::as_u64).collect(),
        _ => None,
    };
    match parts.as_deref() {
        Some(&[rank, world]) if rank < world => Ok(Some((rank, world))),
        _ => Err(error(
            SPLIT,
            format!("{v}: expected \"rank-world\" (such as \"0-5\") or [rank, world], with rank below world"),
        )),
    }
}
