//! How a plan takes rows: any number at once, or groups of the batch size its graph fixes.

/// How many rows a plan takes at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// Any number: the batch dimension is a symbol.
    Any,
    /// Exactly this many: the graph fixes its batch size, so rows go through in groups of it (the
    /// last group padded with zero rows, their outputs dropped).
    Fixed(usize),
}
