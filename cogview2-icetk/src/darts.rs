//! Read-only view of a darts-clone double-array trie, the structure SentencePiece stores its precompiled
//! normalisation charsmap in (third_party/darts_clone/darts.h: `DoubleArrayUnit`, `commonPrefixSearch`).

/// A double array of 32-bit units, as darts-clone serialises it (little-endian).
#[derive(Clone)]
pub(crate) struct DoubleArray {
    units: Vec<u32>,
}

/// One unit's bit fields, decoded as darts-clone's `DoubleArrayUnit` does.
#[derive(Clone, Copy)]
struct Unit(u32);

impl Unit {
    fn has_leaf(self) -> bool {
        (self.0 >> 8) & 1 == 1
    }

    fn value(self) -> u32 {
        self.0 & ((1 << 31) - 1)
    }

    /// Leaf units carry bit 31 here, so they never equal a byte label.
    fn label(self) -> u32 {
        self.0 & ((1 << 31) | 0xff)
    }

    fn offset(self) -> usize {
        ((self.0 >> 10) << ((self.0 & (1 << 9)) >> 6)) as usize
    }
}

impl DoubleArray {
    /// Units from little-endian bytes; a trailing partial unit is ignored, as `set_array(size / unit_size)` does.
    pub(crate) fn from_le_bytes(bytes: &[u8]) -> Self {
        let units = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Self { units }
    }

    /// Number of units.
    pub(crate) fn len(&self) -> usize {
        self.units.len()
    }

    fn unit(&self, pos: usize) -> Option<Unit> {
        self.units.get(pos).copied().map(Unit)
    }

    /// Calls `found(length, value)` for every key that is a prefix of `key`, shortest first, at most
    /// `max_results` times (darts-clone stores only the first `max_results` results). Out-of-bounds unit
    /// positions (a corrupt array) end the search instead of reading past the array.
    pub(crate) fn common_prefix_search(
        &self,
        key: &[u8],
        max_results: usize,
        mut found: impl FnMut(usize, u32),
    ) {
        let Some(root) = self.unit(0) else { return };
        let mut node_pos = root.offset();
        let mut results = 0;
        for (i, &byte) in key.iter().enumerate() {
            node_pos ^= usize::from(byte);
            let Some(unit) = self.unit(node_pos) else {
                return;
            };
            if unit.label() != u32::from(byte) {
                return;
            }
            node_pos ^= unit.offset();
            if unit.has_leaf() {
                let Some(leaf) = self.unit(node_pos) else {
                    return;
                };
                if results < max_results {
                    found(i + 1, leaf.value());
                }
                results += 1;
            }
        }
    }
}
