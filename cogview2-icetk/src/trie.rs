//! A double-array byte trie over vocabulary pieces, used for the unigram lattice (every piece that is a
//! prefix of the text at a position) and for user-defined symbols in the normaliser. SentencePiece uses a
//! darts-clone double array for the same job; this one is built here (first-fit placement), so one
//! transition costs one array access: child of `node` on byte `b` is `base[node] + b` when its `check` is
//! `node`.

use std::collections::BTreeMap;

/// `value` of a node where no piece ends.
const NO_VALUE: u32 = u32::MAX;
/// `check` of a free slot (never a node index: the array stays below `u32::MAX` units).
const FREE: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Unit {
    base: u32,
    check: u32,
    value: u32,
}

const FREE_UNIT: Unit = Unit {
    base: 0,
    check: FREE,
    value: NO_VALUE,
};

/// Double-array trie mapping byte strings to `u32` values.
#[derive(Clone)]
pub(crate) struct PieceTrie {
    units: Vec<Unit>,
}

impl PieceTrie {
    /// Builds the trie from `(key, value)` pairs; a repeated key keeps its first value.
    pub(crate) fn build<'a>(entries: impl IntoIterator<Item = (&'a [u8], u32)>) -> Self {
        // A pointer trie first, then every node's children placed at the first base where all fit.
        let mut children: Vec<BTreeMap<u8, u32>> = vec![BTreeMap::new()];
        let mut values = vec![NO_VALUE];
        for (key, value) in entries {
            let mut node = 0usize;
            for &byte in key {
                let next = children.len() as u32;
                let child = *children[node].entry(byte).or_insert(next);
                if child == next {
                    children.push(BTreeMap::new());
                    values.push(NO_VALUE);
                }
                node = child as usize;
            }
            if values[node] == NO_VALUE {
                values[node] = value;
            }
        }
        // Slot 0 is the root; it is marked used with a check no lookup can produce.
        let mut units = vec![Unit {
            base: 0,
            check: FREE - 1,
            value: values[0],
        }];
        let mut first_free = 1usize;
        let mut queue = std::collections::VecDeque::from([(0usize, 0usize)]);
        while let Some((node, slot)) = queue.pop_front() {
            let labels: Vec<u8> = children[node].keys().copied().collect();
            let Some(&lowest) = labels.first() else {
                continue;
            };
            while units.get(first_free).is_some_and(|u| u.check != FREE) {
                first_free += 1;
            }
            let mut base = first_free.saturating_sub(usize::from(lowest)).max(1);
            while !labels.iter().all(|&c| {
                units
                    .get(base + usize::from(c))
                    .is_none_or(|u| u.check == FREE)
            }) {
                base += 1;
            }
            let needed = base + 256;
            if units.len() < needed {
                units.resize(needed, FREE_UNIT);
            }
            units[slot].base = base as u32;
            for (&label, &child) in &children[node] {
                let child_slot = base + usize::from(label);
                units[child_slot] = Unit {
                    base: 0,
                    check: slot as u32,
                    value: values[child as usize],
                };
                queue.push_back((child as usize, child_slot));
            }
        }
        // Trailing free slots are never reached: `base + byte` lookups past the end simply miss.
        while units.last().is_some_and(|u| u.check == FREE) {
            units.pop();
        }
        Self { units }
    }

    /// True when the trie holds no key.
    pub(crate) fn is_empty(&self) -> bool {
        self.units.len() == 1 && self.units[0].value == NO_VALUE
    }

    #[inline]
    fn child(&self, node: usize, byte: u8) -> Option<usize> {
        let next = self.units[node].base as usize + usize::from(byte);
        match self.units.get(next) {
            Some(unit) if unit.check as usize == node => Some(next),
            _ => None,
        }
    }

    /// Calls `found(length, value)` for every key that is a prefix of `text`, shortest first.
    #[inline]
    pub(crate) fn for_each_prefix(&self, text: &[u8], mut found: impl FnMut(usize, u32)) {
        let mut node = 0usize;
        for (i, &byte) in text.iter().enumerate() {
            match self.child(node, byte) {
                Some(next) => node = next,
                None => return,
            }
            let value = self.units[node].value;
            if value != NO_VALUE {
                found(i + 1, value);
            }
        }
    }

    /// Length of the longest key that is a prefix of `text`.
    pub(crate) fn longest_prefix(&self, text: &[u8]) -> Option<usize> {
        let mut longest = None;
        self.for_each_prefix(text, |len, _| longest = Some(len));
        longest
    }

    /// Value stored for exactly `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<u32> {
        let mut node = 0usize;
        for &byte in key {
            node = self.child(node, byte)?;
        }
        Some(self.units[node].value).filter(|&v| v != NO_VALUE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_shortest_first() {
        let trie = PieceTrie::build([
            (&b"ab"[..], 2),
            (b"a", 1),
            (b"abcd", 4),
            (b"b", 5),
            (b"a", 9),
        ]);
        let mut seen = vec![];
        trie.for_each_prefix(b"abcde", |len, v| seen.push((len, v)));
        assert_eq!(seen, vec![(1, 1), (2, 2), (4, 4)]);
        assert_eq!(trie.get(b"abc"), None);
        assert_eq!(trie.get(b"b"), Some(5));
        assert_eq!(trie.get(b""), None);
        assert_eq!(trie.longest_prefix(b"abcz"), Some(2));
        assert!(!trie.is_empty());
        assert!(PieceTrie::build(std::iter::empty()).is_empty());
    }

    #[test]
    fn many_keys_round_trip() {
        // Deterministic pseudo-random keys over the full byte range, as a large vocabulary would have.
        let mut state = 7u64;
        let keys: Vec<Vec<u8>> = (0..20_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let len = 1 + (state >> 60) as usize;
                (0..len).map(|i| (state >> (8 * (i % 7))) as u8).collect()
            })
            .collect();
        let trie = PieceTrie::build(
            keys.iter()
                .enumerate()
                .map(|(i, k)| (k.as_slice(), i as u32)),
        );
        for (i, key) in keys.iter().enumerate() {
            let first = keys.iter().position(|k| k == key).unwrap();
            assert_eq!(trie.get(key), Some(first as u32), "key {i}");
        }
    }
}
