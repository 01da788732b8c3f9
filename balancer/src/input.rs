//! What every front door checks before a key or a value reaches the
//! cluster, in the domain's words: each front door answers an
//! [`Invalid`] its own way (HTTP: 400 or 413 with a code; RESP: `-ERR`).
//! Pure.

use crate::config::Limits;

/// Longest accepted time to live: 100 years, well inside what Redis can
/// store.
pub const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// Why a key or value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The key is the empty string.
    #[error("key must not be empty")]
    EmptyKey,
    /// The key is longer than `max_key_bytes`.
    #[error("key is {bytes} bytes; the limit is {max}")]
    KeyTooLong {
        /// The key's length.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The value's JSON text is longer than `max_value_bytes`.
    #[error("value is {bytes} bytes; the limit is {max}")]
    ValueTooLarge {
        /// The value's length.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}

/// Checks a key against the limits.
pub fn check_key(key: &str, limits: &Limits) -> Result<(), Invalid> {
    if key.is_empty() {
        return Err(Invalid::EmptyKey);
    }
    if key.len() > limits.max_key_bytes {
        return Err(Invalid::KeyTooLong {
            bytes: key.len(),
            max: limits.max_key_bytes,
        });
    }
    Ok(())
}

/// Checks a value's JSON text against the limits.
pub fn check_value(json: &str, limits: &Limits) -> Result<(), Invalid> {
    if json.len() > limits.max_value_bytes {
        return Err(Invalid::ValueTooLarge {
            bytes: json.len(),
            max: limits.max_value_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_bounded() {
        let limits = Limits {
            max_key_bytes: 3,
            max_value_bytes: 4,
        };
        assert_eq!(check_key("", &limits), Err(Invalid::EmptyKey));
        assert_eq!(check_key("abc", &limits), Ok(()));
        assert_eq!(
            check_key("abcd", &limits),
            Err(Invalid::KeyTooLong { bytes: 4, max: 3 })
        );
        assert_eq!(check_value("1234", &limits), Ok(()));
        assert_eq!(
            check_value("12345", &limits).unwrap_err().to_string(),
            "value is 5 bytes; the limit is 4"
        );
    }
}
