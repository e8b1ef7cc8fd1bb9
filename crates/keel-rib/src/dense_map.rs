//! A hash map whose entries sit packed in chunks, with a hash index of 4-byte positions:
//! [`crate::prefix_map::PrefixMap`]'s storage, where a full table puts a million entries.
//!
//! A plain hash map (hashbrown) keeps its entries in its buckets, and its bucket count is a
//! power of two at most 7/8 full: a million 48-byte entries take 2^21 buckets, 100 MB, half
//! of them empty, and while the table doubles the old and the new one are both alive. Here
//! the buckets hold only a `u32` position (5 bytes with hashbrown's control byte): the empty
//! half costs 5 MB instead of 50, and a growing table copies positions, not entries. The
//! entries go in chunks of [`CHUNK`] that are never moved once full, so they grow without a
//! copy and without doubling either. A lookup reads one more cache line than a plain map's.
//!
//! Removal moves the last entry into the hole (as `Vec::swap_remove`), so positions stay
//! dense and iteration is in no particular order, as a `HashMap`'s.

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use std::hash::{BuildHasher, Hash};

/// Entries per chunk (a power of two): 16,384, under a megabyte for the RIB's 48-byte
/// entries. The first chunk grows from small as a `Vec` does, so a small map stays small.
pub const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNK_BITS: u32 = 14;

#[derive(Debug, Clone)]
pub struct DenseMap<K, V> {
    /// Positions of the entries, found by their key's hash.
    index: HashTable<u32>,
    /// Entry `i` is `chunks[i / CHUNK][i % CHUNK]`; chunks past the last entry's are kept
    /// empty for reuse (at most one, and every one after `clear`).
    chunks: Vec<Vec<(K, V)>>,
    len: usize,
}

impl<K, V> Default for DenseMap<K, V> {
    fn default() -> Self {
        DenseMap { index: HashTable::new(), chunks: Vec::new(), len: 0 }
    }
}

fn hash<K: Hash>(key: &K) -> u64 {
    FxBuildHasher.hash_one(key)
}

fn at<K, V>(chunks: &[Vec<(K, V)>], i: u32) -> &(K, V) {
    let i = i as usize;
    &chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
}

fn at_mut<K, V>(chunks: &mut [Vec<(K, V)>], i: u32) -> &mut (K, V) {
    let i = i as usize;
    &mut chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
}

impl<K: Hash + Eq, V> DenseMap<K, V> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries held without growing the index.
    pub fn capacity(&self) -> usize {
        self.index.capacity()
    }

    fn position(&self, key: &K) -> Option<u32> {
        let chunks = &self.chunks;
        self.index.find(hash(key), |&i| at(chunks, i).0 == *key).copied()
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.position(key).map(|i| &at(&self.chunks, i).1)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.position(key)?;
        Some(&mut at_mut(&mut self.chunks, i).1)
    }

    /// Appends an entry known to be absent and indexes it; returns its position.
    fn push(&mut self, key: K, value: V) -> u32 {
        // A table of 2^32 destinations would not fit in memory first.
        let i = u32::try_from(self.len).unwrap_or(u32::MAX);
        let h = hash(&key);
        let c = self.len >> CHUNK_BITS;
        if c == self.chunks.len() {
            // The first chunk grows as a Vec does; later ones are allocated whole, once.
            self.chunks.push(if c == 0 { Vec::new() } else { Vec::with_capacity(CHUNK) });
        }
        self.chunks[c].push((key, value));
        self.len += 1;
        let chunks = &self.chunks;
        self.index.insert_unique(h, i, |&j| hash(&at(chunks, j).0));
        i
    }

    /// Inserts `value`, returning the one it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut at_mut(&mut self.chunks, i).1, value)),
            None => {
                self.push(key, value);
                None
            }
        }
    }

    /// The entry of `key`, inserted as `V::default()` when missing.
    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let i = match self.position(&key) {
            Some(i) => i,
            None => self.push(key, V::default()),
        };
        &mut at_mut(&mut self.chunks, i).1
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.position(key)?;
        Some(self.remove_at(i).1)
    }

    /// Removes entry `i`: its index slot goes, the last entry moves into its place.
    fn remove_at(&mut self, i: u32) -> (K, V) {
        let chunks = &self.chunks;
        if let Ok(slot) = self.index.find_entry(hash(&at(chunks, i).0), |&j| j == i) {
            slot.remove();
        }
        let last = (self.len - 1) as u32;
        if last != i {
            let chunks = &self.chunks;
            if let Some(slot) = self.index.find_mut(hash(&at(chunks, last).0), |&j| j == last) {
                *slot = i;
            }
        }
        let c = (self.len - 1) >> CHUNK_BITS;
        // `last` is in chunk `c`, which is not empty.
        let moved = self.chunks[c].pop().expect("the last entry's chunk holds it");
        self.len -= 1;
        // Keep one empty chunk for the next push, free the others.
        self.chunks.truncate((self.len >> CHUNK_BITS) + 2);
        if last == i {
            moved
        } else {
            std::mem::replace(at_mut(&mut self.chunks, i), moved)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.chunks.iter().flatten().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.chunks.iter_mut().flatten().map(|(k, v)| (&*k, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.chunks.iter().flatten().map(|(_, v)| v)
    }

    /// Keeps the entries `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let mut i = 0u32;
        while (i as usize) < self.len {
            let (k, v) = at_mut(&mut self.chunks, i);
            if keep(k, v) {
                i += 1;
            } else {
                // The last entry moves to `i`: look at `i` again.
                self.remove_at(i);
            }
        }
    }

    /// Removes every entry, keeping the memory.
    pub fn clear(&mut self) {
        self.index.clear();
        self.chunks.iter_mut().for_each(Vec::clear);
        self.len = 0;
    }

    /// Room for `additional` more entries without growing the index.
    pub fn reserve(&mut self, additional: usize) {
        let chunks = &self.chunks;
        self.index.reserve(additional, |&j| hash(&at(chunks, j).0));
        self.chunks.reserve((self.len + additional).div_ceil(CHUNK).saturating_sub(self.chunks.len()));
    }

    pub fn shrink_to_fit(&mut self) {
        self.chunks.truncate(self.len.div_ceil(CHUNK));
        if let [only] = self.chunks.as_mut_slice() {
            only.shrink_to_fit();
        }
        self.chunks.shrink_to_fit();
        let chunks = &self.chunks;
        self.index.shrink_to_fit(|&j| hash(&at(chunks, j).0));
    }

    /// Bytes held: the index's buckets and control bytes, and the chunks' room.
    pub fn allocated_bytes(&self) -> usize {
        self.index.allocation_size() + self.chunks.iter().map(|c| c.capacity()).sum::<usize>() * size_of::<(K, V)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Default(u16),
        Retain(u8),
        Clear,
        Shrink,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (any::<u16>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            4 => any::<u16>().prop_map(Op::Remove),
            2 => any::<u16>().prop_map(Op::Default),
            1 => any::<u8>().prop_map(Op::Retain),
            1 => Just(Op::Clear),
            1 => Just(Op::Shrink),
        ]
    }

    fn check(map: &DenseMap<u16, u32>, model: &HashMap<u16, u32>) {
        assert_eq!(map.len(), model.len());
        let mut seen: Vec<(u16, u32)> = map.iter().map(|(k, v)| (*k, *v)).collect();
        let mut want: Vec<(u16, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
        seen.sort_unstable();
        want.sort_unstable();
        assert_eq!(seen, want);
        for (k, v) in model {
            assert_eq!(map.get(k), Some(v));
        }
    }

    proptest! {
        /// Any sequence of changes leaves the map holding what a `HashMap` would, every key
        /// findable. Keys are narrowed (`% 3000`) so that removals hit, and tables cross
        /// chunk boundaries both ways.
        #[test]
        fn behaves_as_a_hash_map(ops in proptest::collection::vec(op(), 1..400), wide in any::<bool>()) {
            let mut map = DenseMap::default();
            let mut model = HashMap::new();
            let narrow = |k: u16| if wide { k } else { k % 3000 };
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        // Runs of keys, so that some tests pass CHUNK entries.
                        for j in 0..64u16 {
                            let k = narrow(k.wrapping_add(j));
                            prop_assert_eq!(map.insert(k, v), model.insert(k, v));
                        }
                    }
                    Op::Remove(k) => prop_assert_eq!(map.remove(&narrow(k)), model.remove(&narrow(k))),
                    Op::Default(k) => {
                        *map.get_or_default(narrow(k)) += 1;
                        *model.entry(narrow(k)).or_default() += 1;
                    }
                    Op::Retain(m) => {
                        let m = u32::from(m % 4) + 2;
                        map.retain(|_, v| *v % m != 0);
                        model.retain(|_, v| *v % m != 0);
                    }
                    Op::Clear => {
                        map.clear();
                        model.clear();
                    }
                    Op::Shrink => map.shrink_to_fit(),
                }
            }
            check(&map, &model);
        }
    }

    #[test]
    fn a_million_entries_take_less_than_a_plain_map() {
        let n = 1_050_000u64;
        let mut dense: DenseMap<u64, [u64; 5]> = DenseMap::default();
        let mut plain: hashbrown::HashMap<u64, [u64; 5], FxBuildHasher> = Default::default();
        for k in 0..n {
            dense.insert(k << 8 | 24, [k; 5]);
            plain.insert(k << 8 | 24, [k; 5]);
        }
        let entry = size_of::<(u64, [u64; 5])>();
        // 2^21 buckets of 4 bytes and a control byte, the entries in full chunks.
        assert!(dense.allocated_bytes() <= (1 << 21) * 5 + 16 + (n as usize).div_ceil(CHUNK) * CHUNK * entry);
        assert!(plain.allocation_size() >= (1 << 21) * (entry + 1));
        assert!(
            dense.allocated_bytes() * 10 < plain.allocation_size() * 6,
            "{} vs {}",
            dense.allocated_bytes(),
            plain.allocation_size()
        );
        for k in (0..n).step_by(7) {
            assert_eq!(dense.get(&(k << 8 | 24)), Some(&[k; 5]));
        }
    }

    #[test]
    fn removing_everything_frees_the_chunks_but_one() {
        let mut map: DenseMap<u32, u32> = DenseMap::default();
        for k in 0..(3 * CHUNK as u32) {
            map.insert(k, k);
        }
        for k in 0..(3 * CHUNK as u32) {
            assert_eq!(map.remove(&k), Some(k));
        }
        assert!(map.is_empty());
        assert!(map.chunks.len() <= 2);
    }
}
