//! The index of a `sharding_indexed` shard, checked once for every reader of it: the memory
//! mapped reader, `verify`, and the guard in front of zarrs for shards it decodes.
//!
//! An index is `count` pairs of `u64` (offset, length) of the inner chunks, `(u64::MAX,
//! u64::MAX)` for an absent one, optionally followed by a crc32c of the pairs, at the start or
//! the end of the shard file.

use std::ops::Range;

/// The shape of one array's shard indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexSpec {
    /// Inner chunks per shard.
    pub count: usize,
    /// The index is at the start of the shard (else at its end).
    pub at_start: bool,
    /// The index is followed by a crc32c checksum.
    pub crc32c: bool,
    /// The index words are big-endian (else little-endian).
    pub big_endian: bool,
}

/// What an inner chunk's stored length must be.
#[derive(Clone, Copy, Debug)]
pub(crate) enum InnerLen {
    /// Exactly this many bytes (raw inner chunks).
    Exactly(u64),
    /// At most this many bytes (encoded inner chunks).
    AtMost(u64),
}

impl IndexSpec {
    /// The index's length in bytes (checksum included).
    pub(crate) fn len(&self) -> u64 {
        16 * self.count as u64 + if self.crc32c { 4 } else { 0 }
    }

    /// Where the index lies in a shard of `file_len` bytes.
    ///
    /// # Errors
    /// The shard is shorter than its index.
    pub(crate) fn locate(&self, file_len: u64) -> Result<Range<u64>, String> {
        let len = self.len();
        if file_len < len {
            return Err(format!(
                "shard file is {file_len} bytes, shorter than its {len}-byte index"
            ));
        }
        Ok(if self.at_start {
            0..len
        } else {
            file_len - len..file_len
        })
    }

    /// Parses `index` (the [`IndexSpec::len`] bytes at [`IndexSpec::locate`]) of a shard of
    /// `file_len` bytes: every inner chunk's `(offset, length)`, `None` where it is absent.
    ///
    /// # Errors
    /// A checksum that does not match, an inner chunk whose length is not `inner` allows, or
    /// one lying outside the shard's data (past the end of the file, or over its index).
    pub(crate) fn parse(
        &self,
        index: &[u8],
        file_len: u64,
        inner: InnerLen,
    ) -> Result<Vec<Option<(u64, u64)>>, String> {
        let entries = 16 * self.count;
        if index.len() as u64 != self.len() {
            return Err(format!(
                "index is {} bytes, expected {}",
                index.len(),
                self.len()
            ));
        }
        if self.crc32c {
            let stored = read_u32(&index[entries..], self.big_endian);
            let computed = crc32c::crc32c(&index[..entries]);
            if stored != computed {
                return Err(format!(
                    "index checksum {stored:#010x} does not match the computed {computed:#010x}"
                ));
            }
        }
        let data = if self.at_start {
            self.len()..file_len
        } else {
            0..file_len - self.len()
        };
        let word = |i: usize| read_u64(&index[8 * i..8 * i + 8], self.big_endian);
        let mut out = Vec::new();
        out.try_reserve_exact(self.count)
            .map_err(|e| format!("cannot hold the index of {} entries: {e}", self.count))?;
        for i in 0..self.count {
            let (offset, nbytes) = (word(2 * i), word(2 * i + 1));
            if offset == u64::MAX && nbytes == u64::MAX {
                out.push(None);
                continue;
            }
            match inner {
                InnerLen::Exactly(n) if nbytes != n => {
                    return Err(format!("inner chunk {i} is {nbytes} bytes, expected {n}"));
                }
                InnerLen::AtMost(n) if nbytes > n => {
                    return Err(format!(
                        "inner chunk {i} is {nbytes} bytes, more than the {n} bytes its encoding can take"
                    ));
                }
                _ => {}
            }
            match offset.checked_add(nbytes) {
                Some(end) if offset >= data.start && end <= data.end => {}
                _ => {
                    return Err(format!(
                        "inner chunk {i} at [{offset}, {offset} + {nbytes}) lies outside the shard's data [{}, {}) (past the end of the {file_len}-byte file, or over its index)",
                        data.start, data.end
                    ))
                }
            }
            out.push(Some((offset, nbytes)));
        }
        Ok(out)
    }
}

fn read_u64(bytes: &[u8], big_endian: bool) -> u64 {
    let word: [u8; 8] = bytes.try_into().unwrap_or([0; 8]);
    if big_endian {
        u64::from_be_bytes(word)
    } else {
        u64::from_le_bytes(word)
    }
}

fn read_u32(bytes: &[u8], big_endian: bool) -> u32 {
    let word: [u8; 4] = bytes.try_into().unwrap_or([0; 4]);
    if big_endian {
        u32::from_be_bytes(word)
    } else {
        u32::from_le_bytes(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(u64, u64)]) -> Vec<u8> {
        entries
            .iter()
            .flat_map(|&(o, n)| [o.to_le_bytes(), n.to_le_bytes()])
            .flatten()
            .collect()
    }

    #[test]
    fn entry_near_u64_max_is_refused() {
        let spec = IndexSpec {
            count: 2,
            at_start: false,
            crc32c: false,
            big_endian: false,
        };
        let bytes = index(&[(0, 8), (u64::MAX - 4, 8)]);
        let e = spec.parse(&bytes, 40, InnerLen::AtMost(64)).unwrap_err();
        assert!(e.contains("past the end"), "{e}");
    }

    #[test]
    fn entry_over_the_index_is_refused() {
        let spec = IndexSpec {
            count: 1,
            at_start: true,
            crc32c: false,
            big_endian: false,
        };
        let e = spec
            .parse(&index(&[(0, 8)]), 24, InnerLen::Exactly(8))
            .unwrap_err();
        assert!(e.contains("over its index"), "{e}");
        let ok = spec.parse(&index(&[(16, 8)]), 24, InnerLen::Exactly(8));
        assert_eq!(ok.unwrap(), vec![Some((16, 8))]);
    }
}
