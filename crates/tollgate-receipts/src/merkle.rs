//! RFC 6962 / RFC 9162 Merkle trees: the leaf and interior node hashes of a tenant's log, tree
//! heads, inclusion and consistency proofs, and the tiled storage layout proofs are served from.
//!
//! # Tree shape
//!
//! The Merkle Tree Hash (MTH) of leaves `D[0..n)` is the RFC 6962 left-balanced tree: split at
//! `k`, the largest power of two strictly less than `n`, hash `D[0..k)` and `D[k..n)` and join
//! them with [`node_hash`]. Every node of that tree covers a [`Span`] of leaves; proofs are lists
//! of spans ([`inclusion_spans`], [`consistency_spans`]) whose hashes are then looked up.
//!
//! # Tiles
//!
//! A stored tree keeps every leaf hash plus the root of every complete, aligned group of
//! [`TILE_LEAVES`] leaves: tile `t` covers leaves `[256t, 256t + 256)`. A span that starts on a
//! tile boundary and covers whole tiles only ever splits on tile boundaries, so its hash is the
//! same left-balanced tree built over tile roots instead of leaf hashes. [`Nodes::span_hash`]
//! therefore hashes any span from tile roots plus the leaves of at most a tile or two, and
//! [`needs`] says exactly which ones, so a proof over a million-leaf log reads a few thousand tile
//! roots and a few hundred leaf hashes instead of a million leaves.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The RFC 6962 leaf hash: SHA-256(0x00 || entry bytes).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    h.finalize().into()
}

/// The RFC 6962 interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// MTH of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1), not zeros.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly less than `len`, where RFC 6962 splits a node of `len >= 2`
/// leaves.
fn split_point(len: u64) -> u64 {
    debug_assert!(len >= 2, "only nodes of two or more leaves are split");
    1 << (u64::BITS - 1 - (len - 1).leading_zeros())
}

/// Streaming tree hash: push leaf hashes in order, O(log n) memory.
///
/// It keeps the roots of the perfect subtrees that the leaves so far decompose into, one per set
/// bit of the size, largest (leftmost) first; pushing a leaf merges equal-sized neighbours like a
/// binary carry.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    /// Roots of the perfect subtrees covering `[0, size)`, left to right, strictly shrinking.
    peaks: Vec<Hash>,
    /// Number of leaves pushed.
    size: u64,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one leaf hash (already [`leaf_hash`]ed) to the tree.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        // Each trailing one bit of the old size is a perfect subtree the same height as `hash`.
        let mut carries = self.size;
        while carries & 1 == 1 {
            let Some(left) = self.peaks.pop() else { break };
            hash = node_hash(&left, &hash);
            carries >>= 1;
        }
        self.peaks.push(hash);
        // A log cannot reach 2^64 entries, so this cannot overflow.
        self.size += 1;
    }

    /// Number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The Merkle Tree Hash of the leaves pushed so far ([`empty_root`] if none).
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        match peaks.next() {
            None => empty_root(),
            Some(last) => peaks.fold(*last, |right, left| node_hash(left, &right)),
        }
    }
}

/// MTH of a slice of leaf hashes (uses [`Frontier`]).
pub fn root(leaves: &[Hash]) -> Hash {
    let mut frontier = Frontier::new();
    for leaf in leaves {
        frontier.push(*leaf);
    }
    frontier.root()
}

/// Leaves per tile: stored trees keep the root of every complete, aligned group of 256 leaves.
pub const TILE_LEAVES: u64 = 256;

/// Roots of each complete aligned 256-leaf group of `leaves` (`leaves[0]` is tree index `0`),
/// the incomplete tail ignored.
pub fn tile_roots(leaves: &[Hash]) -> Vec<Hash> {
    // TILE_LEAVES is a small constant, so the cast is exact.
    leaves
        .chunks_exact(TILE_LEAVES as usize)
        .map(root)
        .collect()
}

/// One node of a proof: the tree hash of leaves `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Index of the first leaf covered.
    pub start: u64,
    /// Index one past the last leaf covered.
    pub end: u64,
}

/// The nodes of the inclusion proof of leaf `index` in a tree of `size`, in RFC 9162 proof order
/// (leaf to root): `PATH(m, D[n])` of RFC 9162 §2.1.3.1.
///
/// # Errors
///
/// [`ProofError::IndexOutOfRange`] if `index >= size`.
pub fn inclusion_spans(index: u64, size: u64) -> Result<Vec<Span>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Walk down from the root to the leaf, noting the sibling of each node on the way.
    let (mut lo, mut hi) = (0, size);
    let mut path = Vec::new();
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            path.push(Span {
                start: mid,
                end: hi,
            });
            hi = mid;
        } else {
            path.push(Span {
                start: lo,
                end: mid,
            });
            lo = mid;
        }
    }
    path.reverse();
    Ok(path)
}

/// The nodes of the consistency proof from size `old` to size `new` (RFC 9162 §2.1.4.1
/// `SUBPROOF` order). Empty when `old == 0` or `old == new`.
///
/// # Errors
///
/// [`ProofError::SizeOrder`] if `old > new`.
pub fn consistency_spans(old: u64, new: u64) -> Result<Vec<Span>, ProofError> {
    if old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    // Walk down from the new root towards the node ending exactly at `old`, noting siblings.
    // Invariant: lo < old <= hi. `known` is SUBPROOF's `b`: the current node is still the whole
    // old tree, whose hash the verifier already has.
    let (mut lo, mut hi) = (0, new);
    let mut known = true;
    let mut siblings = Vec::new();
    while old != hi {
        let mid = lo + split_point(hi - lo);
        if old <= mid {
            siblings.push(Span {
                start: mid,
                end: hi,
            });
            hi = mid;
        } else {
            siblings.push(Span {
                start: lo,
                end: mid,
            });
            lo = mid;
            known = false;
        }
    }
    let mut proof = Vec::with_capacity(siblings.len() + 1);
    if !known {
        proof.push(Span { start: lo, end: hi });
    }
    proof.extend(siblings.into_iter().rev());
    Ok(proof)
}

/// One piece of a span's decomposition: hashed from tile roots or from leaf hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    /// The tree over the roots of tiles `[start, end)`.
    Tiles(Range<u64>),
    /// The tree over leaves `[start, end)`.
    Leaves(Range<u64>),
}

/// Splits `span` RFC-style into pieces, left to right, each either a run of whole aligned tiles
/// or a run of leaves; the span's hash is the right fold `node_hash(p0, node_hash(p1, ...))` of
/// the pieces' hashes. Empty for an empty span.
///
/// A span starting on a tile boundary peels off its left part (a power of two of at least a
/// tile, so whole tiles) until what is left is whole tiles or lies inside one tile. A span not
/// starting on a tile boundary never reaches a whole tile by splitting (its left pieces keep the
/// unaligned start, and its right pieces are either shifted by a multiple of 256 or shorter than
/// a tile), so all its leaves are read, which is what hashing it as one run of leaves reads.
fn pieces(span: Span) -> Vec<Piece> {
    let mut out = Vec::new();
    let (mut start, end) = (span.start, span.end);
    while start < end {
        if start % TILE_LEAVES == 0 && (end - start) % TILE_LEAVES == 0 {
            out.push(Piece::Tiles(start / TILE_LEAVES..end / TILE_LEAVES));
            break;
        }
        let in_one_tile = start / TILE_LEAVES == (end - 1) / TILE_LEAVES;
        if start % TILE_LEAVES != 0 || in_one_tile {
            out.push(Piece::Leaves(start..end));
            break;
        }
        // Aligned, longer than a tile, ragged end: the left half is a power of two >= 256.
        let mid = start + split_point(end - start);
        out.push(Piece::Tiles(start / TILE_LEAVES..mid / TILE_LEAVES));
        start = mid;
    }
    out
}

/// What must be fetched from storage to hash `spans`: tile indices (tile `t` = leaves
/// `[256t, 256t+256)`) and leaf index ranges, each sorted and merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Tiles whose roots are read, as sorted, disjoint, non-adjacent ranges of tile indices.
    pub tiles: Vec<Range<u64>>,
    /// Leaves whose hashes are read, as sorted, disjoint, non-adjacent ranges of leaf indices.
    pub leaves: Vec<Range<u64>>,
}

/// Exactly the tile roots and leaf hashes that [`Nodes::span_hash`] reads to hash each of
/// `spans` (empty spans need nothing).
pub fn needs(spans: &[Span]) -> Needs {
    let mut tiles = Vec::new();
    let mut leaves = Vec::new();
    for span in spans {
        for piece in pieces(*span) {
            match piece {
                Piece::Tiles(range) => tiles.push(range),
                Piece::Leaves(range) => leaves.push(range),
            }
        }
    }
    Needs {
        tiles: merge_ranges(tiles),
        leaves: merge_ranges(leaves),
    }
}

/// Sorts ranges and merges the overlapping or touching ones.
fn merge_ranges(mut ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    ranges.sort_unstable_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for range in ranges.into_iter().filter(|r| !r.is_empty()) {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// Which kind of stored hash a [`ProofError::Missing`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// The root of a complete 256-leaf tile, indexed by tile number.
    TileRoot,
    /// A leaf hash, indexed by leaf number.
    LeafHash,
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeKind::TileRoot => "tile root",
            NodeKind::LeafHash => "leaf hash",
        })
    }
}

/// Hashes stored by index as runs of consecutive indices, so a whole tree's leaves are one vector.
#[derive(Clone, Debug, Default)]
struct Runs {
    /// First index of each run -> its hashes. Runs never overlap or touch.
    runs: BTreeMap<u64, Vec<Hash>>,
}

impl Runs {
    /// The stored hashes for the indices in `range`, or the first index in it that is missing.
    /// Runs never touch, so a stored range always lies inside a single run.
    fn slice(&self, range: Range<u64>) -> Result<&[Hash], u64> {
        let Some((&first, run)) = self.runs.range(..=range.start).next_back() else {
            return Err(range.start);
        };
        let run_end = first + run.len() as u64;
        if range.start >= run_end {
            return Err(range.start);
        }
        if range.end > run_end {
            return Err(run_end);
        }
        // Both offsets are at most `run.len()`, a usize, so the casts are exact.
        Ok(&run[(range.start - first) as usize..(range.end - first) as usize])
    }

    /// Stores hashes for `first`, `first + 1`, ..., replacing any already there.
    fn insert(&mut self, first: u64, hashes: impl IntoIterator<Item = Hash>) {
        let mut new: Vec<Hash> = hashes.into_iter().collect();
        // Indices stop at u64::MAX - 1 (an `end` must fit in a u64); drop anything beyond.
        new.truncate(usize::try_from(u64::MAX - first).unwrap_or(usize::MAX));
        if new.is_empty() {
            return;
        }
        let end = first + new.len() as u64;
        // Runs overlapping or touching [first, end], in increasing order. Runs are disjoint, so
        // walking back from the last run starting at or before `end` finds them all.
        let mut touching: Vec<u64> = self
            .runs
            .range(..=end)
            .rev()
            .take_while(|(start, run)| *start + run.len() as u64 >= first)
            .map(|(start, _)| *start)
            .collect();
        touching.reverse();

        let mut base_start = first;
        let mut base = Vec::new();
        let mut rest = touching.as_slice();
        if let Some((&start, tail)) = touching.split_first() {
            if start <= first {
                if let Some(run) = self.runs.remove(&start) {
                    base_start = start;
                    base = run;
                }
                rest = tail;
            }
        }
        // Overwrite what `base` already holds at [first, end), then append the remainder.
        let offset = (first - base_start) as usize;
        let overlap = base.len().saturating_sub(offset).min(new.len());
        base[offset..offset + overlap].copy_from_slice(&new[..overlap]);
        base.extend_from_slice(&new[overlap..]);
        // Absorb later runs, keeping only the part beyond what `base` covers.
        for start in rest {
            if let Some(run) = self.runs.remove(start) {
                let covered = (base_start + base.len() as u64 - start) as usize;
                if let Some(beyond) = run.get(covered..) {
                    base.extend_from_slice(beyond);
                }
            }
        }
        self.runs.insert(base_start, base);
    }
}

/// Known tile roots and leaf hashes from which span hashes are computed.
#[derive(Clone, Debug, Default)]
pub struct Nodes {
    /// Tile roots by tile number.
    tiles: Runs,
    /// Leaf hashes by leaf number.
    leaves: Runs,
}

impl Nodes {
    /// Nothing known yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tile roots for tiles `first`, `first + 1`, ... (replacing any already added).
    pub fn add_tiles(&mut self, first: u64, hashes: impl IntoIterator<Item = Hash>) {
        self.tiles.insert(first, hashes);
    }

    /// Leaf hashes for indices `first`, `first + 1`, ... (replacing any already added).
    pub fn add_leaves(&mut self, first: u64, hashes: impl IntoIterator<Item = Hash>) {
        self.leaves.insert(first, hashes);
    }

    /// In-memory convenience: every leaf of a tree (tiles computed from them).
    pub fn from_leaves(leaves: &[Hash]) -> Self {
        let mut nodes = Self::new();
        nodes.add_leaves(0, leaves.iter().copied());
        nodes.add_tiles(0, tile_roots(leaves));
        nodes
    }

    /// The tree hash of the leaves in `span`, from tile roots where whole aligned tiles are
    /// covered and from leaf hashes elsewhere; reads exactly what [`needs`] lists for the span.
    ///
    /// # Errors
    ///
    /// [`ProofError::Missing`] naming the first tile root or leaf hash needed but not added;
    /// [`ProofError::EmptySpan`] if `span.start >= span.end`.
    pub fn span_hash(&self, span: Span) -> Result<Hash, ProofError> {
        let mut hashes = pieces(span)
            .into_iter()
            .map(|piece| self.piece_hash(piece))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(last) = hashes.pop() else {
            return Err(ProofError::EmptySpan {
                start: span.start,
                end: span.end,
            });
        };
        Ok(hashes
            .iter()
            .rev()
            .fold(last, |right, left| node_hash(left, &right)))
    }

    /// The hash of each of `spans`, in order (for example a proof from [`inclusion_spans`]).
    ///
    /// # Errors
    ///
    /// The first error of [`Nodes::span_hash`].
    pub fn hashes(&self, spans: &[Span]) -> Result<Vec<Hash>, ProofError> {
        spans.iter().map(|span| self.span_hash(*span)).collect()
    }

    /// The tree over the stored hashes of one piece.
    fn piece_hash(&self, piece: Piece) -> Result<Hash, ProofError> {
        let (store, kind, range) = match piece {
            Piece::Tiles(range) => (&self.tiles, NodeKind::TileRoot, range),
            Piece::Leaves(range) => (&self.leaves, NodeKind::LeafHash, range),
        };
        let hashes = store
            .slice(range)
            .map_err(|index| ProofError::Missing { kind, index })?;
        Ok(root(hashes))
    }
}

/// Verifies that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves with head `root`
/// (RFC 9162 §2.1.3.2).
///
/// # Errors
///
/// [`ProofError::IndexOutOfRange`] if `index >= size`, [`ProofError::WrongLength`] if the proof
/// does not have exactly the number of hashes such a proof has, [`ProofError::RootMismatch`] if
/// it does not lead to `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if proof.len() != inclusion_spans(index, size)?.len() {
        return Err(ProofError::WrongLength);
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `old_size` leaves with head `old_root` is a prefix of the tree of
/// `new_size` leaves with head `new_root` (RFC 9162 §2.1.4.2). When `old_size == new_size` the
/// proof must be empty and the roots equal; when `old_size == 0` the proof must be empty and the
/// trees are always consistent.
///
/// # Errors
///
/// [`ProofError::SizeOrder`] if `old_size > new_size`, [`ProofError::WrongLength`] if the proof
/// does not have exactly the number of hashes such a proof has, [`ProofError::RootMismatch`] if
/// it does not lead to both roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if proof.len() != consistency_spans(old_size, new_size)?.len() {
        return Err(ProofError::WrongLength);
    }
    if old_size == new_size {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if old_size == 0 {
        return Ok(());
    }
    // A power-of-two old tree is a node of the new tree, so its root starts the path.
    let mut path = proof.iter();
    let seed = if old_size.is_power_of_two() {
        *old_root
    } else {
        *path.next().ok_or(ProofError::WrongLength)?
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in path {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The leaves a span covers; spans from the proof functions lie within `leaves`.
fn covered(leaves: &[Hash], span: Span) -> &[Hash] {
    // Both ends are at most `leaves.len()`, a usize, so the casts are exact.
    &leaves[span.start as usize..span.end as usize]
}

/// Inclusion proof of leaf `index` in the tree of all of `leaves`, hashed straight from the
/// leaves. Convenience for in-memory trees (tests, offline tools).
///
/// # Errors
///
/// [`ProofError::IndexOutOfRange`] if `index >= leaves.len()`.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let spans = inclusion_spans(index, leaves.len() as u64)?;
    Ok(spans.iter().map(|s| root(covered(leaves, *s))).collect())
}

/// Consistency proof from the first `old` leaves to all of `leaves`, hashed straight from the
/// leaves. Convenience for in-memory trees (tests, offline tools).
///
/// # Errors
///
/// [`ProofError::SizeOrder`] if `old > leaves.len()`.
pub fn consistency_proof(leaves: &[Hash], old: u64) -> Result<Vec<Hash>, ProofError> {
    let spans = consistency_spans(old, leaves.len() as u64)?;
    Ok(spans.iter().map(|s| root(covered(leaves, *s))).collect())
}

/// Why a proof could not be built or did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The leaf index asked about.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder {
        /// The old (claimed prefix) tree size.
        old: u64,
        /// The new tree size.
        new: u64,
    },
    /// The proof does not have the number of hashes a proof for these sizes has.
    #[error("the proof has the wrong number of hashes for this tree size")]
    WrongLength,
    /// The proof does not lead to the expected root hash (or hashes).
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
    /// Hashing a span needs a stored hash that was not added to [`Nodes`].
    #[error("the {kind} at index {index} is needed but was not provided")]
    Missing {
        /// Tile root or leaf hash.
        kind: NodeKind,
        /// Tile number or leaf index.
        index: u64,
    },
    /// A span covers no leaves, so it has no tree hash.
    #[error("span [{start}, {end}) covers no leaves")]
    EmptySpan {
        /// The span's start.
        start: u64,
        /// The span's end.
        end: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Hash {
        let mut out = [0u8; 32];
        assert_eq!(s.len(), 64, "{s}");
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    /// Distinct leaf hashes for tests: the leaf hash of the index's bytes.
    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn the_empty_leaf_hash_matches_rfc_6962_test_vectors() {
        // SHA-256 of the single byte 0x00, the leaf hash of an empty entry.
        assert_eq!(
            hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn leaf_and_node_hashes_use_different_prefixes() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let mut joined = Vec::new();
        joined.extend_from_slice(&a);
        joined.extend_from_slice(&b);
        assert_ne!(node_hash(&a, &b), leaf_hash(&joined));
    }

    /// Straight from the RFC 6962 §2.1 definition, recursively: the reference the fast code is
    /// checked against.
    fn reference_mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(&reference_mth(&leaves[..k]), &reference_mth(&leaves[k..]))
            }
        }
    }

    // The RFC 6962 reference tree used by Certificate Transparency's test suites: leaves, the
    // root of every size 1..=8 and a few proofs, from transparency-dev/merkle
    // `proof/verify_test.go` (inherited from google/certificate-transparency-go). Its leaf
    // numbers are 1-based; the indices below are 0-based.
    const REFERENCE_ENTRIES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];

    const REFERENCE_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// (index, size, proof)
    const REFERENCE_INCLUSION: [(u64, u64, &[&str]); 5] = [
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// (old size, new size, proof)
    const REFERENCE_CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn reference_leaves() -> Vec<Hash> {
        REFERENCE_ENTRIES.iter().map(|e| leaf_hash(e)).collect()
    }

    fn unhex_all(hashes: &[&str]) -> Vec<Hash> {
        hashes.iter().map(|h| unhex(h)).collect()
    }

    #[test]
    fn the_empty_tree_root_is_the_sha256_of_the_empty_string() {
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(root(&[]), empty_root());
        assert_eq!(Frontier::new().root(), empty_root());
    }

    #[test]
    fn roots_of_the_rfc_6962_reference_tree_match_for_every_size_up_to_8() {
        let leaves = reference_leaves();
        let mut frontier = Frontier::new();
        for (size, expected) in (1..=8).zip(REFERENCE_ROOTS) {
            frontier.push(leaves[size - 1]);
            assert_eq!(hex(&root(&leaves[..size])), expected, "size {size}");
            assert_eq!(hex(&frontier.root()), expected, "size {size}");
            assert_eq!(frontier.size(), size as u64);
            let whole = Span {
                start: 0,
                end: size as u64,
            };
            let nodes = Nodes::from_leaves(&leaves[..size]);
            assert_eq!(hex(&nodes.span_hash(whole).unwrap()), expected);
        }
    }

    #[test]
    fn inclusion_proofs_match_the_rfc_6962_reference_vectors_and_verify() {
        let leaves = reference_leaves();
        for (index, size, expected) in REFERENCE_INCLUSION {
            let tree = &leaves[..size as usize];
            let proof = inclusion_proof(tree, index).unwrap();
            assert_eq!(proof, unhex_all(expected), "leaf {index} of {size}");
            let root = unhex(REFERENCE_ROOTS[size as usize - 1]);
            verify_inclusion(&leaves[index as usize], index, size, &proof, &root).unwrap();
        }
    }

    #[test]
    fn consistency_proofs_match_the_rfc_6962_reference_vectors_and_verify() {
        let leaves = reference_leaves();
        for (old, new, expected) in REFERENCE_CONSISTENCY {
            let proof = consistency_proof(&leaves[..new as usize], old).unwrap();
            assert_eq!(proof, unhex_all(expected), "{old} -> {new}");
            let old_root = unhex(REFERENCE_ROOTS[old as usize - 1]);
            let new_root = unhex(REFERENCE_ROOTS[new as usize - 1]);
            verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();
        }
    }

    #[test]
    fn the_reference_inclusion_proofs_reject_every_corruption() {
        let leaves = reference_leaves();
        for (index, size, expected) in REFERENCE_INCLUSION {
            let proof = unhex_all(expected);
            let root = unhex(REFERENCE_ROOTS[size as usize - 1]);
            for (what, bad) in
                inclusion_corruptions(&leaves[index as usize], index, size, &proof, &root)
            {
                assert!(
                    verify_inclusion(&bad.leaf, bad.index, bad.size, &bad.proof, &bad.root)
                        .is_err(),
                    "leaf {index} of {size}: {what} verified"
                );
            }
        }
    }

    #[test]
    fn the_reference_consistency_proofs_reject_every_corruption() {
        for (old, new, expected) in REFERENCE_CONSISTENCY {
            let proof = unhex_all(expected);
            if proof.is_empty() {
                continue;
            }
            let old_root = unhex(REFERENCE_ROOTS[old as usize - 1]);
            let new_root = unhex(REFERENCE_ROOTS[new as usize - 1]);
            for (what, bad) in consistency_corruptions(old, new, &old_root, &new_root, &proof) {
                assert!(
                    verify_consistency(bad.old, bad.new, &bad.old_root, &bad.new_root, &bad.proof)
                        .is_err(),
                    "{old} -> {new}: {what} verified"
                );
            }
        }
    }

    /// Arguments to `verify_inclusion`.
    struct InclusionCase {
        leaf: Hash,
        index: u64,
        size: u64,
        proof: Vec<Hash>,
        root: Hash,
    }

    /// Every way of getting an inclusion check wrong that must be rejected, after Certificate
    /// Transparency's `corruptInclusionProof`.
    fn inclusion_corruptions(
        leaf: &Hash,
        index: u64,
        size: u64,
        proof: &[Hash],
        root: &Hash,
    ) -> Vec<(String, InclusionCase)> {
        let case =
            |index: u64, size: u64, leaf: Hash, proof: Vec<Hash>, root: Hash| InclusionCase {
                leaf,
                index,
                size,
                proof,
                root,
            };
        let some_hash = leaf_hash(b"some other hash");
        let p = proof.to_vec();
        let mut out = vec![
            (
                "index - 1".to_string(),
                case(index.wrapping_sub(1), size, *leaf, p.clone(), *root),
            ),
            (
                "index + 1".to_string(),
                case(index + 1, size, *leaf, p.clone(), *root),
            ),
            (
                "index ^ 2".to_string(),
                case(index ^ 2, size, *leaf, p.clone(), *root),
            ),
            (
                "size * 2".to_string(),
                case(index, size * 2, *leaf, p.clone(), *root),
            ),
            (
                "size / 2".to_string(),
                case(index, size / 2, *leaf, p.clone(), *root),
            ),
            (
                "wrong leaf".to_string(),
                case(index, size, some_hash, p.clone(), *root),
            ),
            (
                "empty root".to_string(),
                case(index, size, *leaf, p.clone(), empty_root()),
            ),
            (
                "wrong root".to_string(),
                case(index, size, *leaf, p.clone(), some_hash),
            ),
            (
                "trailing root".to_string(),
                case(index, size, *leaf, [&p[..], &[*root]].concat(), *root),
            ),
            (
                "preceding root".to_string(),
                case(index, size, *leaf, [&[*root], &p[..]].concat(), *root),
            ),
        ];
        for i in 0..p.len() {
            for bit in [0, 3, 100, 255] {
                let mut bad = p.clone();
                bad[i][bit / 8] ^= 1 << (bit % 8);
                out.push((
                    format!("proof[{i}] bit {bit} flipped"),
                    case(index, size, *leaf, bad, *root),
                ));
            }
        }
        if !p.is_empty() {
            out.push((
                "last hash removed".to_string(),
                case(index, size, *leaf, p[..p.len() - 1].to_vec(), *root),
            ));
            out.push((
                "first hash removed".to_string(),
                case(index, size, *leaf, p[1..].to_vec(), *root),
            ));
        }
        if p.len() > 1 {
            let inserted = [&p[..1], &[some_hash], &p[1..]].concat();
            out.push((
                "hash inserted".to_string(),
                case(index, size, *leaf, inserted, *root),
            ));
        }
        out
    }

    /// Arguments to `verify_consistency`.
    struct ConsistencyCase {
        old: u64,
        new: u64,
        old_root: Hash,
        new_root: Hash,
        proof: Vec<Hash>,
    }

    /// Every way of getting a (non-trivial) consistency check wrong that must be rejected, after
    /// Certificate Transparency's `corruptConsistencyProof`.
    fn consistency_corruptions(
        old: u64,
        new: u64,
        old_root: &Hash,
        new_root: &Hash,
        proof: &[Hash],
    ) -> Vec<(String, ConsistencyCase)> {
        let case = |old: u64, new: u64, old_root: Hash, new_root: Hash, proof: Vec<Hash>| {
            ConsistencyCase {
                old,
                new,
                old_root,
                new_root,
                proof,
            }
        };
        let some_hash = leaf_hash(b"some other hash");
        let (o, n, p) = (*old_root, *new_root, proof.to_vec());
        let mut out = vec![
            ("old - 1".to_string(), case(old - 1, new, o, n, p.clone())),
            ("old + 1".to_string(), case(old + 1, new, o, n, p.clone())),
            ("old ^ 2".to_string(), case(old ^ 2, new, o, n, p.clone())),
            ("new * 2".to_string(), case(old, new * 2, o, n, p.clone())),
            ("new / 2".to_string(), case(old, new / 2, o, n, p.clone())),
            (
                "wrong old root".to_string(),
                case(old, new, some_hash, n, p.clone()),
            ),
            (
                "wrong new root".to_string(),
                case(old, new, o, some_hash, p.clone()),
            ),
            ("swapped roots".to_string(), case(old, new, n, o, p.clone())),
            ("empty proof".to_string(), case(old, new, o, n, Vec::new())),
            (
                "trailing old root".to_string(),
                case(old, new, o, n, [&p[..], &[o]].concat()),
            ),
            (
                "trailing new root".to_string(),
                case(old, new, o, n, [&p[..], &[n]].concat()),
            ),
            (
                "preceding old root".to_string(),
                case(old, new, o, n, [&[o], &p[..]].concat()),
            ),
            (
                "preceding new root".to_string(),
                case(old, new, o, n, [&[n], &p[..]].concat()),
            ),
            (
                "preceding proof[0]".to_string(),
                case(old, new, o, n, [&p[..1], &p[..]].concat()),
            ),
            (
                "last hash removed".to_string(),
                case(old, new, o, n, p[..p.len() - 1].to_vec()),
            ),
            (
                "first hash removed".to_string(),
                case(old, new, o, n, p[1..].to_vec()),
            ),
        ];
        for i in 0..p.len() {
            for bit in [0, 4, 100, 255] {
                let mut bad = p.clone();
                bad[i][bit / 8] ^= 1 << (bit % 8);
                out.push((
                    format!("proof[{i}] bit {bit} flipped"),
                    case(old, new, o, n, bad),
                ));
            }
        }
        out
    }

    /// ct-merkle 0.3 is generic over digest 0.11, while this crate uses sha2 0.10 (digest 0.10):
    /// this adapter presents sha2 0.10's SHA-256 through ct-merkle's re-exported digest 0.11
    /// traits, so the cross-check needs no extra dependency.
    mod ct {
        use ct_merkle::digest::{
            consts::U32, FixedOutput, HashMarker, Output, OutputSizeUser, Update,
        };

        #[derive(Clone, Default)]
        pub struct Sha256(sha2::Sha256);

        impl HashMarker for Sha256 {}

        impl OutputSizeUser for Sha256 {
            type OutputSize = U32;
        }

        impl Update for Sha256 {
            fn update(&mut self, data: &[u8]) {
                sha2::Digest::update(&mut self.0, data);
            }
        }

        impl FixedOutput for Sha256 {
            fn finalize_into(self, out: &mut Output<Self>) {
                out.copy_from_slice(&sha2::Digest::finalize(self.0));
            }
        }

        pub type Tree = ct_merkle::mem_backed_tree::MemoryBackedTree<Sha256, [u8; 8]>;
    }

    /// The entry whose leaf hash is `leaves(n)[i]`, for feeding ct-merkle the same tree.
    fn entry(i: u64) -> [u8; 8] {
        i.to_be_bytes()
    }

    fn flatten(hashes: &[Hash]) -> Vec<u8> {
        hashes.concat()
    }

    #[test]
    fn roots_and_inclusion_proofs_match_ct_merkle_for_every_position_up_to_300_leaves() {
        let all = leaves(300);
        let mut memo = SpanMemo::new(&all);
        let mut theirs = ct::Tree::new();
        for size in 1..=300u64 {
            theirs.push(entry(size - 1));
            let ours = &all[..size as usize];
            let our_root = root(ours);
            assert_eq!(&our_root[..], &theirs.root().as_bytes()[..], "size {size}");
            for index in 0..size {
                let spans = inclusion_spans(index, size).unwrap();
                let proof = memo.hashes(&spans);
                let their_proof = theirs.prove_inclusion(index as usize);
                assert_eq!(
                    flatten(&proof),
                    their_proof.as_bytes(),
                    "leaf {index} of {size}"
                );
                verify_inclusion(&ours[index as usize], index, size, &proof, &our_root).unwrap();
            }
            // The straight-from-leaves convenience agrees (checked on a sample: it rehashes).
            for index in [0, size / 3, size / 2, size - 1] {
                let expected = theirs.prove_inclusion(index as usize);
                let proof = inclusion_proof(ours, index).unwrap();
                assert_eq!(
                    flatten(&proof),
                    expected.as_bytes(),
                    "leaf {index} of {size}"
                );
            }
        }
    }

    /// Span hashes of one fixed list of leaves, each computed once with [`root`]: a span's hash
    /// depends only on the leaves it covers, so it is the same in every prefix of the list.
    struct SpanMemo<'a> {
        leaves: &'a [Hash],
        known: std::collections::HashMap<(u64, u64), Hash>,
    }

    impl<'a> SpanMemo<'a> {
        fn new(leaves: &'a [Hash]) -> Self {
            Self {
                leaves,
                known: std::collections::HashMap::new(),
            }
        }

        fn hashes(&mut self, spans: &[Span]) -> Vec<Hash> {
            spans
                .iter()
                .map(|s| {
                    *self
                        .known
                        .entry((s.start, s.end))
                        .or_insert_with(|| root(&self.leaves[s.start as usize..s.end as usize]))
                })
                .collect()
        }
    }
    #[test]
    fn consistency_proofs_match_ct_merkle_for_every_pair_of_sizes_up_to_64() {
        let all = leaves(64);
        let mut memo = SpanMemo::new(&all);
        let mut theirs = ct::Tree::new();
        for new in 1..=64u64 {
            theirs.push(entry(new - 1));
            let new_root = root(&all[..new as usize]);
            // ct-merkle has no proof from the empty tree; ours is empty and always consistent.
            assert!(consistency_proof(&all[..new as usize], 0)
                .unwrap()
                .is_empty());
            verify_consistency(0, new, &empty_root(), &new_root, &[]).unwrap();
            for old in 1..=new {
                let old_root = root(&all[..old as usize]);
                let proof = memo.hashes(&consistency_spans(old, new).unwrap());
                let their_proof = theirs.prove_consistency((new - old) as usize);
                assert_eq!(flatten(&proof), their_proof.as_bytes(), "{old} -> {new}");
                verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();
                let their_old_root = ct_merkle::RootHash::<ct::Sha256>::new(
                    ct_merkle::digest::Output::<ct::Sha256>::from(old_root),
                    old,
                );
                theirs
                    .root()
                    .verify_consistency(&their_old_root, &their_proof)
                    .unwrap();
                assert_eq!(
                    consistency_proof(&all[..new as usize], old).unwrap(),
                    proof,
                    "{old} -> {new}"
                );
            }
        }
    }

    #[test]
    fn every_corruption_of_every_inclusion_proof_up_to_40_leaves_is_rejected() {
        let all = leaves(41);
        let mut memo = SpanMemo::new(&all);
        for size in 1..=40u64 {
            let tree_root = root(&all[..size as usize]);
            for index in 0..size {
                let proof = memo.hashes(&inclusion_spans(index, size).unwrap());
                let leaf = all[index as usize];
                verify_inclusion(&leaf, index, size, &proof, &tree_root).unwrap();
                for (what, bad) in inclusion_corruptions(&leaf, index, size, &proof, &tree_root) {
                    assert!(
                        verify_inclusion(&bad.leaf, bad.index, bad.size, &bad.proof, &bad.root)
                            .is_err(),
                        "leaf {index} of {size}: {what} verified"
                    );
                }
                // Another leaf's hash at this index, or this leaf at another index, never
                // verifies with this proof.
                for other in (0..size).filter(|&o| o != index) {
                    assert!(verify_inclusion(
                        &all[other as usize],
                        index,
                        size,
                        &proof,
                        &tree_root
                    )
                    .is_err());
                    assert!(verify_inclusion(&leaf, other, size, &proof, &tree_root).is_err());
                }
            }
        }
    }

    #[test]
    fn every_corruption_of_every_consistency_proof_up_to_40_leaves_is_rejected() {
        let all = leaves(40);
        let mut memo = SpanMemo::new(&all);
        let roots: Vec<Hash> = (0..=40).map(|n| root(&all[..n])).collect();
        for new in 1..=40u64 {
            for old in 1..new {
                let proof = memo.hashes(&consistency_spans(old, new).unwrap());
                let (o, n) = (roots[old as usize], roots[new as usize]);
                verify_consistency(old, new, &o, &n, &proof).unwrap();
                for (what, bad) in consistency_corruptions(old, new, &o, &n, &proof) {
                    assert!(
                        verify_consistency(
                            bad.old,
                            bad.new,
                            &bad.old_root,
                            &bad.new_root,
                            &bad.proof
                        )
                        .is_err(),
                        "{old} -> {new}: {what} verified"
                    );
                }
                // The roots of other old sizes do not verify against this proof.
                for other in (1..new).filter(|&x| x != old) {
                    let r = roots[other as usize];
                    assert!(verify_consistency(old, new, &r, &n, &proof).is_err());
                }
            }
        }
    }

    #[test]
    fn indices_outside_the_tree_and_shrinking_trees_are_errors() {
        let all = leaves(5);
        let r = root(&all);
        assert_eq!(
            inclusion_spans(5, 5),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            inclusion_spans(0, 0),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            inclusion_proof(&all, 7),
            Err(ProofError::IndexOutOfRange { index: 7, size: 5 })
        );
        assert_eq!(
            verify_inclusion(&all[0], 5, 5, &[], &r),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            verify_inclusion(&all[0], 0, 0, &[], &empty_root()),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            consistency_spans(6, 5),
            Err(ProofError::SizeOrder { old: 6, new: 5 })
        );
        assert_eq!(
            consistency_proof(&all, 6),
            Err(ProofError::SizeOrder { old: 6, new: 5 })
        );
        assert_eq!(
            verify_consistency(6, 5, &r, &r, &[]),
            Err(ProofError::SizeOrder { old: 6, new: 5 })
        );
        assert_eq!(
            verify_inclusion(&all[0], u64::MAX - 1, u64::MAX, &[], &r),
            Err(ProofError::WrongLength)
        );
        assert_eq!(
            ProofError::IndexOutOfRange { index: 5, size: 5 }.to_string(),
            "leaf index 5 is outside a tree of 5 leaves"
        );
    }

    #[test]
    fn trivial_consistency_needs_an_empty_proof_and_equal_roots_when_sizes_are_equal() {
        // Mirrors the edge cases of transparency-dev/merkle's TestVerifyConsistency.
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        assert_eq!(consistency_spans(0, 0), Ok(vec![]));
        assert_eq!(consistency_spans(0, 9), Ok(vec![]));
        assert_eq!(consistency_spans(9, 9), Ok(vec![]));
        assert_eq!(verify_consistency(0, 0, &a, &a, &[]), Ok(()));
        assert_eq!(verify_consistency(1, 1, &b, &b, &[]), Ok(()));
        assert_eq!(verify_consistency(0, 1, &a, &b, &[]), Ok(()));
        assert_eq!(
            verify_consistency(0, 0, &a, &b, &[]),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(1, 1, &a, &b, &[]),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(1, 2, &a, &b, &[]),
            Err(ProofError::WrongLength)
        );
        for (old, new) in [(0, 0), (0, 1), (1, 1)] {
            assert_eq!(
                verify_consistency(old, new, &a, &a, &[a]),
                Err(ProofError::WrongLength),
                "{old} -> {new}"
            );
        }
    }

    /// Sizes on and around tile boundaries, and indices spread over each.
    const TILED_SIZES: [u64; 14] = [
        1, 2, 255, 256, 257, 511, 512, 513, 767, 1000, 1024, 1025, 2048, 3000,
    ];

    fn spread(size: u64) -> Vec<u64> {
        let mut picks = vec![0, 1, 127, 128, 255, 256, 257, 511, 512, 700, 1023, 1024];
        picks.extend([size / 3, size / 2, size.saturating_sub(2), size - 1]);
        picks.retain(|&i| i < size);
        picks.sort_unstable();
        picks.dedup();
        picks
    }

    /// A `Nodes` holding only the tile roots and leaf hashes that `needs(spans)` lists.
    fn nodes_for(all: &[Hash], tiles: &[Hash], spans: &[Span]) -> (Nodes, Needs) {
        let needed = needs(spans);
        let mut nodes = Nodes::new();
        for range in &needed.tiles {
            let hashes = &tiles[range.start as usize..range.end as usize];
            nodes.add_tiles(range.start, hashes.iter().copied());
        }
        for range in &needed.leaves {
            let hashes = &all[range.start as usize..range.end as usize];
            nodes.add_leaves(range.start, hashes.iter().copied());
        }
        (nodes, needed)
    }

    fn leaf_count(needed: &Needs) -> u64 {
        needed.leaves.iter().map(|r| r.end - r.start).sum()
    }

    #[test]
    fn proofs_resolved_from_only_the_needed_tiles_and_leaves_match_in_memory_proofs() {
        let all = leaves(3000);
        for size in TILED_SIZES {
            let tree = &all[..size as usize];
            let tiles = tile_roots(tree);
            assert_eq!(tiles.len() as u64, size / TILE_LEAVES);
            let tree_root = root(tree);

            let whole = [Span {
                start: 0,
                end: size,
            }];
            let (nodes, needed) = nodes_for(tree, &tiles, &whole);
            assert_eq!(nodes.span_hash(whole[0]), Ok(tree_root), "size {size}");
            assert!(leaf_count(&needed) < TILE_LEAVES, "size {size}: {needed:?}");

            for index in spread(size) {
                let spans = inclusion_spans(index, size).unwrap();
                let (nodes, needed) = nodes_for(tree, &tiles, &spans);
                assert!(
                    leaf_count(&needed) <= 2 * TILE_LEAVES,
                    "{index}/{size}: {needed:?}"
                );
                let proof = nodes.hashes(&spans).unwrap();
                assert_eq!(
                    proof,
                    inclusion_proof(tree, index).unwrap(),
                    "{index}/{size}"
                );
                verify_inclusion(&tree[index as usize], index, size, &proof, &tree_root).unwrap();
            }
            for old in spread(size).into_iter().map(|i| i + 1) {
                let spans = consistency_spans(old, size).unwrap();
                let (nodes, needed) = nodes_for(tree, &tiles, &spans);
                assert!(
                    leaf_count(&needed) <= 2 * TILE_LEAVES,
                    "{old}->{size}: {needed:?}"
                );
                let proof = nodes.hashes(&spans).unwrap();
                assert_eq!(
                    proof,
                    consistency_proof(tree, old).unwrap(),
                    "{old}->{size}"
                );
                let old_root = root(&tree[..old as usize]);
                verify_consistency(old, size, &old_root, &tree_root, &proof).unwrap();
            }
        }
    }

    #[test]
    fn a_span_hash_reads_exactly_what_needs_lists() {
        let all = leaves(3000);
        let tiles = tile_roots(&all);
        // Every listed tile root and leaf hash is needed: dropping any one of them fails.
        let spans = inclusion_spans(1300, 2900).unwrap();
        let (nodes, needed) = nodes_for(&all, &tiles, &spans);
        assert_eq!(nodes.hashes(&spans), inclusion_proof(&all[..2900], 1300));
        for tile in needed.tiles.iter().flat_map(|r| r.clone()) {
            let mut fewer = Nodes::new();
            for range in &needed.tiles {
                for t in range.clone().filter(|&t| t != tile) {
                    fewer.add_tiles(t, [tiles[t as usize]]);
                }
            }
            for range in &needed.leaves {
                fewer.add_leaves(
                    range.start,
                    all[range.start as usize..range.end as usize].to_vec(),
                );
            }
            assert!(
                matches!(fewer.hashes(&spans), Err(ProofError::Missing { kind: NodeKind::TileRoot, index }) if index == tile),
                "tile {tile} was listed but not read"
            );
        }
        for leaf in needed.leaves.iter().flat_map(|r| r.clone()) {
            let mut fewer = Nodes::new();
            for range in &needed.tiles {
                fewer.add_tiles(
                    range.start,
                    tiles[range.start as usize..range.end as usize].to_vec(),
                );
            }
            for range in &needed.leaves {
                for l in range.clone().filter(|&l| l != leaf) {
                    fewer.add_leaves(l, [all[l as usize]]);
                }
            }
            assert_eq!(
                fewer.hashes(&spans),
                Err(ProofError::Missing {
                    kind: NodeKind::LeafHash,
                    index: leaf
                }),
                "leaf {leaf} was listed but not read"
            );
        }
    }

    #[test]
    fn a_million_leaf_inclusion_proof_reads_at_most_two_tiles_of_leaves() {
        const SIZE: u64 = 1_000_000;
        // Synthetic leaf hashes, periodic per tile so that one tile root serves every complete
        // tile: hashing a million real leaves would take seconds in a debug build. The
        // tiles-versus-leaves agreement itself is checked on distinct leaves above.
        let leaf = |i: u64| -> Hash {
            let mut h = [0x5a; 32];
            h[..8].copy_from_slice(&(i % TILE_LEAVES).to_be_bytes());
            h
        };
        let one_tile: Vec<Hash> = (0..TILE_LEAVES).map(leaf).collect();
        let tile = root(&one_tile);
        let tile_count = SIZE / TILE_LEAVES;

        let mut whole_nodes = Nodes::new();
        whole_nodes.add_tiles(0, std::iter::repeat_n(tile, tile_count as usize));
        whole_nodes.add_leaves(
            tile_count * TILE_LEAVES,
            (tile_count * TILE_LEAVES..SIZE).map(leaf),
        );
        let tree_root = whole_nodes
            .span_hash(Span {
                start: 0,
                end: SIZE,
            })
            .unwrap();

        for index in [
            0,
            1,
            255,
            256,
            123_456,
            524_287,
            524_288,
            999_935,
            999_936,
            SIZE - 1,
        ] {
            let spans = inclusion_spans(index, SIZE).unwrap();
            let needed = needs(&spans);
            assert!(
                leaf_count(&needed) <= 2 * TILE_LEAVES,
                "leaf {index}: {needed:?}"
            );
            assert!(needed.leaves.len() <= 3, "leaf {index}: {needed:?}");
            let mut nodes = Nodes::new();
            for range in &needed.tiles {
                assert!(range.end <= tile_count);
                nodes.add_tiles(
                    range.start,
                    std::iter::repeat_n(tile, (range.end - range.start) as usize),
                );
            }
            for range in &needed.leaves {
                nodes.add_leaves(range.start, range.clone().map(leaf));
            }
            let proof = nodes.hashes(&spans).unwrap();
            verify_inclusion(&leaf(index), index, SIZE, &proof, &tree_root).unwrap();
            assert!(verify_inclusion(&leaf(index + 1), index, SIZE, &proof, &tree_root).is_err());
        }
    }

    #[test]
    fn tile_roots_cover_complete_aligned_tiles_only() {
        let all = leaves(700);
        let tiles = tile_roots(&all);
        assert_eq!(tiles, vec![root(&all[..256]), root(&all[256..512])]);
        assert!(tile_roots(&all[..255]).is_empty());
        assert!(tile_roots(&[]).is_empty());
    }

    #[test]
    fn span_hash_names_what_is_missing_and_rejects_empty_spans() {
        let all = leaves(600);
        let nodes = Nodes::new();
        assert_eq!(
            nodes.span_hash(Span { start: 0, end: 600 }),
            Err(ProofError::Missing {
                kind: NodeKind::TileRoot,
                index: 0
            })
        );
        assert_eq!(
            nodes.span_hash(Span { start: 3, end: 5 }),
            Err(ProofError::Missing {
                kind: NodeKind::LeafHash,
                index: 3
            })
        );
        let mut some = Nodes::new();
        some.add_leaves(0, all[..4].to_vec());
        assert_eq!(
            some.span_hash(Span { start: 2, end: 9 }),
            Err(ProofError::Missing {
                kind: NodeKind::LeafHash,
                index: 4
            })
        );
        assert_eq!(
            some.span_hash(Span { start: 4, end: 4 }),
            Err(ProofError::EmptySpan { start: 4, end: 4 })
        );
        assert_eq!(
            some.span_hash(Span { start: 5, end: 1 }),
            Err(ProofError::EmptySpan { start: 5, end: 1 })
        );
        assert_eq!(
            ProofError::Missing {
                kind: NodeKind::TileRoot,
                index: 7
            }
            .to_string(),
            "the tile root at index 7 is needed but was not provided"
        );
        assert_eq!(needs(&[Span { start: 4, end: 4 }]), Needs::default());
    }

    #[test]
    fn nodes_accept_hashes_added_in_any_order_and_overlapping() {
        let all = leaves(40);
        let whole = Span { start: 0, end: 40 };
        let expected = root(&all);
        // Chunks out of order, overlapping, with duplicates, and a stale value overwritten.
        let mut nodes = Nodes::new();
        nodes.add_leaves(30, all[30..40].to_vec());
        nodes.add_leaves(0, all[0..5].to_vec());
        nodes.add_leaves(12, [[0u8; 32]; 3]);
        nodes.add_leaves(10, all[10..20].to_vec());
        nodes.add_leaves(4, all[4..11].to_vec());
        nodes.add_leaves(25, all[25..31].to_vec());
        assert_eq!(
            nodes.span_hash(whole),
            Err(ProofError::Missing {
                kind: NodeKind::LeafHash,
                index: 20
            })
        );
        nodes.add_leaves(20, all[20..25].to_vec());
        assert_eq!(nodes.span_hash(whole), Ok(expected));
        // Inside an existing run, and one leaf at a time.
        nodes.add_leaves(7, all[7..9].to_vec());
        let mut single = Nodes::new();
        for i in (0..40).rev() {
            single.add_leaves(i, [all[i as usize]]);
        }
        assert_eq!(nodes.span_hash(whole), Ok(expected));
        assert_eq!(single.span_hash(whole), Ok(expected));
        // Nothing happens for nothing, or past the last addressable index.
        nodes.add_leaves(50, []);
        nodes.add_leaves(u64::MAX, all[..3].to_vec());
        assert_eq!(nodes.span_hash(whole), Ok(expected));
    }

    fn span(start: u64, end: u64) -> Span {
        Span { start, end }
    }

    /// A `Needs` from (start, end) pairs of tiles and of leaves.
    fn needing(tiles: &[(u64, u64)], leaves: &[(u64, u64)]) -> Needs {
        let ranges = |pairs: &[(u64, u64)]| pairs.iter().map(|&(a, b)| a..b).collect();
        Needs {
            tiles: ranges(tiles),
            leaves: ranges(leaves),
        }
    }

    #[test]
    fn needs_merges_and_sorts_ranges_across_spans() {
        let spans = [
            span(600, 603),
            span(0, 512),
            span(512, 600),
            span(1, 3),
            span(3, 5),
        ];
        assert_eq!(needs(&spans), needing(&[(0, 2)], &[(1, 5), (512, 603)]));
        // Unaligned spans are read leaf by leaf; an aligned ragged one peels off tile runs.
        assert_eq!(needs(&[span(100, 700)]), needing(&[], &[(100, 700)]));
        assert_eq!(
            needs(&[span(1024, 1024 + 256 * 3 + 5)]),
            needing(&[(4, 7)], &[(1792, 1797)])
        );
        // A whole tile is one tile root, however it is reached.
        assert_eq!(needs(&[span(256, 512)]), needing(&[(1, 2)], &[]));
        assert_eq!(needs(&[span(256, 600)]), needing(&[(1, 2)], &[(512, 600)]));
        // Cases proptest once found reading a sibling tile leaf by leaf.
        assert_eq!(
            needs(&inclusion_spans(0, 209_410).unwrap()),
            needing(&[(1, 818)], &[(1, 256), (209_408, 209_410)])
        );
        let needed = needs(&consistency_spans(3, 209_409).unwrap());
        assert!(leaf_count(&needed) <= 2 * TILE_LEAVES, "{needed:?}");
    }

    #[test]
    fn a_frontier_root_and_a_tiled_root_agree_on_a_large_tree() {
        // A smoke test of the streaming and tiled paths at scale (a million leaves in release,
        // fewer in debug where SHA-256 is unoptimised).
        let n: u64 = if cfg!(debug_assertions) {
            20_000
        } else {
            1_000_000
        };
        let all: Vec<Hash> = (0..n)
            .map(|i| {
                let mut h = [7u8; 32];
                h[..8].copy_from_slice(&i.to_be_bytes());
                h
            })
            .collect();
        let mut frontier = Frontier::new();
        for leaf in &all {
            frontier.push(*leaf);
        }
        assert_eq!(frontier.size(), n);
        let nodes = Nodes::from_leaves(&all);
        let whole = Span { start: 0, end: n };
        assert_eq!(nodes.span_hash(whole), Ok(frontier.root()));
        assert_eq!(root(&all), frontier.root());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn size_and_index(max: u64) -> impl Strategy<Value = (u64, u64)> {
            (1..=max).prop_flat_map(|size| (Just(size), 0..size))
        }

        fn old_and_new(max: u64) -> impl Strategy<Value = (u64, u64)> {
            (0..=max).prop_flat_map(|new| (0..=new, Just(new)))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn a_frontier_equals_the_recursive_rfc_definition_at_every_length(len in 0usize..700) {
                let all = leaves(len as u64);
                let mut frontier = Frontier::new();
                for (i, leaf) in all.iter().enumerate() {
                    frontier.push(*leaf);
                    if i % 37 == 0 {
                        prop_assert_eq!(frontier.root(), reference_mth(&all[..=i]));
                    }
                }
                prop_assert_eq!(frontier.size(), len as u64);
                prop_assert_eq!(frontier.root(), reference_mth(&all));
                prop_assert_eq!(root(&all), reference_mth(&all));
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn inclusion_spans_and_the_leaf_partition_the_tree_up_to_2_pow_40(
                (size, index) in size_and_index(1 << 40)
            ) {
                let spans = inclusion_spans(index, size).unwrap();
                prop_assert!(spans.len() <= 64);
                let mut pieces: Vec<Span> = spans.clone();
                pieces.push(Span { start: index, end: index + 1 });
                pieces.sort_by_key(|s| s.start);
                prop_assert_eq!(pieces[0].start, 0);
                prop_assert_eq!(pieces[pieces.len() - 1].end, size);
                for pair in pieces.windows(2) {
                    prop_assert_eq!(pair[0].end, pair[1].start);
                }
                for s in &spans {
                    // A complete subtree is aligned to its size; otherwise it is the right edge.
                    let len = s.end - s.start;
                    prop_assert!(len.is_power_of_two() && s.start % len == 0 || s.end == size);
                }
                let needed = needs(&spans);
                prop_assert!(leaf_count(&needed) <= 2 * TILE_LEAVES, "{:?}", needed);
                prop_assert!(needed.tiles.len() <= 2 * 64);
            }

            #[test]
            fn consistency_spans_are_tree_nodes_needing_at_most_two_tiles_of_leaves_up_to_2_pow_40(
                (old, new) in old_and_new(1 << 40)
            ) {
                let spans = consistency_spans(old, new).unwrap();
                prop_assert!(spans.len() <= 65);
                for s in &spans {
                    prop_assert!(s.start < s.end && s.end <= new);
                    let len = s.end - s.start;
                    prop_assert!(len.is_power_of_two() && s.start % len == 0 || s.end == new);
                }
                let needed = needs(&spans);
                prop_assert!(leaf_count(&needed) <= 2 * TILE_LEAVES, "{:?}", needed);
            }

            #[test]
            fn span_functions_never_panic_on_any_u64(a in any::<u64>(), b in any::<u64>(), h in any::<[u8; 32]>()) {
                for (x, y) in [(a, b), (b, a), (a, u64::MAX), (u64::MAX - 1, u64::MAX), (a % 4096, b % 4096)] {
                    if let Ok(spans) = inclusion_spans(x, y) {
                        let _ = needs(&spans);
                        prop_assert_eq!(verify_inclusion(&h, x, y, &[], &h).is_ok(), y == 1);
                    }
                    if let Ok(spans) = consistency_spans(x, y) {
                        let _ = needs(&spans);
                        let _ = verify_consistency(x, y, &h, &h, &[h]);
                    }
                    let span = Span { start: x, end: y };
                    let _ = needs(&[span]);
                    prop_assert!(Nodes::new().span_hash(span).is_err());
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]

            #[test]
            fn in_memory_proofs_verify_for_random_trees(
                (size, index) in size_and_index(600), old_frac in 0.0f64..=1.0
            ) {
                let all = leaves(size);
                let tree_root = root(&all);
                let proof = inclusion_proof(&all, index).unwrap();
                prop_assert_eq!(verify_inclusion(&all[index as usize], index, size, &proof, &tree_root), Ok(()));
                let old = ((size as f64) * old_frac) as u64;
                let old = old.min(size);
                let proof = consistency_proof(&all, old).unwrap();
                let old_root = root(&all[..old as usize]);
                prop_assert_eq!(verify_consistency(old, size, &old_root, &tree_root, &proof), Ok(()));
            }
        }
    }
}
