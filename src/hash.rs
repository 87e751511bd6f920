//! The hash that identifies a bundle's files (`sha256` and `plan.sha256` in its manifest).

use sha2::{Digest, Sha256};

/// Lowercase hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
