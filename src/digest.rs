//! SHA-256 digests as lower-case hex: of rendered files (ownership manifest, drift), of the
//! spec, and of CA material (the digests an ExternalSecret records). A leaf module.

use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes`, as 64 lower-case hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
