//! HyperKitty's and Mailman's `Message-ID-Hash`: the base32 (RFC 4648, upper
//! case; no padding is needed for 20 bytes) of the SHA-1 of the Message-ID
//! without its angle brackets.
//!
//! SHA-1 comes from ring and base32 from data-encoding, both already in the
//! dependency tree (through rustls and hickory).

use data_encoding::BASE32;
use ring::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};

/// The Message-ID-Hash of `message_id` (with or without angle brackets).
pub fn message_id_hash(message_id: &str) -> String {
    let bare = message_id.trim();
    let bare = bare.strip_prefix('<').unwrap_or(bare);
    let bare = bare.strip_suffix('>').unwrap_or(bare);
    base32(&sha1(bare.as_bytes()))
}

/// RFC 4648 base32, upper case, `=` padded.
fn base32(bytes: &[u8]) -> String {
    BASE32.encode(bytes)
}

/// SHA-1 digest of `data` (20 bytes). Mailman chose SHA-1 for a name, not
/// for security; hence ring's "legacy use only" algorithm.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(digest(&SHA1_FOR_LEGACY_USE_ONLY, data).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha1_known_vectors() {
        // FIPS 180-2 examples.
        let cases: &[(&[u8], &str)] = &[
            (b"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            (b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(hex(&sha1(input)), *want);
        }
        assert_eq!(hex(&sha1(&vec![b'a'; 1_000_000])), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    }

    #[test]
    fn base32_rfc4648_vectors() {
        for (input, want) in [("", ""), ("f", "MY======"), ("fo", "MZXQ===="), ("foo", "MZXW6==="), ("foob", "MZXW6YQ="), ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI======")] {
            assert_eq!(base32(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn message_id_hash_matches_mailman() {
        // Mailman 3's documented example: Message-ID <ant> has hash MS6QLWERIJLGCRF44J7USBFDELMNT2BW.
        assert_eq!(message_id_hash("<ant>"), "MS6QLWERIJLGCRF44J7USBFDELMNT2BW");
        assert_eq!(message_id_hash("ant"), "MS6QLWERIJLGCRF44J7USBFDELMNT2BW");
        // A probe's Message-ID (checked against Python's hashlib and base64).
        assert_eq!(message_id_hash("<mailflow.1-2.3@probe.test>"), "NZFDU3HRO3VYZ337PJ2W7XKF45C2FWFS");
    }
}
