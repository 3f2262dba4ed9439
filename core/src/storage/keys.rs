//! Key encoding: parts joined by 0xFF, a byte that never occurs in UTF-8, so that prefix
//! scans over `user\xFFdevice` can never match a user whose id merely starts the same way.

/// Separator between the parts of a compound key.
pub const SEPARATOR: u8 = 0xFF;

/// Joins key parts with [`SEPARATOR`].
pub fn compound_key(parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(parts.iter().map(|part| part.len() + 1).sum());
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            key.push(SEPARATOR);
        }
        key.extend_from_slice(part);
    }
    key
}

/// Splits a compound key back into its parts.
pub fn split_key(key: &[u8]) -> Vec<&[u8]> {
    key.split(|byte| *byte == SEPARATOR).collect()
}

/// The smallest key greater than every key that starts with `prefix`, or `None` when there is
/// none (the prefix is all 0xFF bytes).
pub fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_keys_round_trip() {
        let key = compound_key(&[b"@alice:localhost", b"DEVICE"]);
        assert_eq!(
            split_key(&key),
            vec![&b"@alice:localhost"[..], &b"DEVICE"[..]]
        );
    }

    #[test]
    fn upper_bound_skips_trailing_max_bytes() {
        assert_eq!(prefix_upper_bound(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_upper_bound(&[b'a', 0xFF]), Some(b"b".to_vec()));
        assert_eq!(prefix_upper_bound(&[0xFF, 0xFF]), None);
    }
}
