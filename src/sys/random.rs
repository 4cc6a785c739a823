//! Randomness from the operating system, read in one place.
//!
//! Callers decide what a failure means: grading refuses to run without a nonce (the
//! metrics' authenticity rests on it), while unique names may fall back to zeros.

use std::io::{self, Read};
use std::path::Path;

/// The kernel's non-blocking random source.
pub const OS_RANDOM_SOURCE: &str = "/dev/urandom";

/// Fills `buf` from the operating system's random source.
pub fn fill_random(buf: &mut [u8]) -> io::Result<()> {
    fill_random_from(Path::new(OS_RANDOM_SOURCE), buf)
}

/// Fills `buf` from the file at `source`: [`fill_random`] with the source injected, so
/// tests can make the read fail.
pub fn fill_random_from(source: &Path, buf: &mut [u8]) -> io::Result<()> {
    std::fs::File::open(source)?.read_exact(buf)
}

/// A random `u64` from the operating system.
pub fn random_u64() -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    fill_random(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// A random `u32` from the operating system.
pub fn random_u32() -> io::Result<u32> {
    let mut bytes = [0u8; 4];
    fill_random(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// `n_bytes` random bytes from `source`, as `2 * n_bytes` lowercase hex digits.
pub fn random_hex_from(source: &Path, n_bytes: usize) -> io::Result<String> {
    let mut bytes = vec![0u8; n_bytes];
    fill_random_from(source, &mut bytes)?;
    Ok(to_hex(&bytes))
}

/// `n_bytes` random bytes from the operating system, as lowercase hex (a nonce).
pub fn random_hex(n_bytes: usize) -> io::Result<String> {
    random_hex_from(Path::new(OS_RANDOM_SOURCE), n_bytes)
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_has_two_digits_per_byte() {
        assert_eq!(to_hex(&[0, 0xab, 0x0f]), "00ab0f");
        let nonce = random_hex(16).expect("the OS has randomness");
        assert_eq!(nonce.len(), 32);
        assert!(nonce.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn a_missing_source_is_an_error_not_zeros() {
        let missing = Path::new("/nonexistent/mlgym-random-source");
        let mut buf = [0u8; 4];
        assert!(fill_random_from(missing, &mut buf).is_err());
        assert!(random_hex_from(missing, 8).is_err());
    }

    #[test]
    fn a_short_source_is_an_error() {
        // An empty file cannot fill the buffer: `read_exact` must fail, not pad.
        let mut buf = [0u8; 4];
        assert!(fill_random_from(Path::new("/dev/null"), &mut buf).is_err());
    }
}
