//! Queue names and job ids: what is accepted, and the ids we generate.

use crate::{Error, Result};
use rand::Rng;

/// Longest queue name accepted, in bytes. Every key repeats the name.
pub const MAX_NAME_LEN: usize = 256;
/// Longest job id accepted, in bytes.
pub const MAX_ID_LEN: usize = 1024;

pub(crate) fn check_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else if name.len() > MAX_NAME_LEN {
        "it is longer than 256 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        name: name.to_string(),
        reason,
    })
}

/// The hash tag of a queue name, as Redis Cluster finds it in each of the
/// queue's keys: between the first `{` and the first `}` after it, when
/// that is not empty. Every key is `job.<noun>:NAME…` or
/// `event.job.<verb>:NAME`, with no brace before the name, so a tag found
/// in the name is the tag of every key (a kept result's id comes after the
/// name, after the tag's `}`).
pub(crate) fn hash_tag(name: &str) -> Option<&str> {
    let open = name.find('{')?;
    let len = name[open + 1..].find('}')?;
    (len > 0).then(|| &name[open + 1..open + 1 + len])
}

pub(crate) fn check_id(queue: &str, id: &str) -> Result<()> {
    // NUL separates id from result in the v1 finish event.
    let reason = if id.is_empty() {
        "it is empty"
    } else if id.contains('\0') {
        "it contains a NUL byte (v1 finish events use NUL to end the id)"
    } else if id.len() > MAX_ID_LEN {
        "it is longer than 1024 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidId {
        queue: queue.to_string(),
        id: id.to_string(),
        reason,
    })
}

/// A new job id: 12 characters of base 62, about 71 random bits.
///
/// Ids need only differ among jobs that exist at the same time (a finished
/// job is deleted): with ten million jobs in a queue, a new id meets one of
/// them with odds of about 1 in 10^14, and if it ever did, publish refuses
/// it rather than queue one job twice. Twelve characters, because Redis
/// stores a string of up to 12 bytes in a 16-byte allocation and a longer
/// one in 32, and each queued job keeps its id in such a string (the key
/// of its `job.items` entry; `job.ids` packs it inline).
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn refuses_names_that_cannot_work() {
        assert!(check_name("mail").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a\0b").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        let long = check_name(&"x".repeat(1 << 20)).unwrap_err().to_string();
        assert!(long.len() < 200, "error line stays short: {long}");
    }

    #[test]
    fn hash_tags_are_found_as_redis_finds_them() {
        assert_eq!(hash_tag("{mail}"), Some("mail"));
        assert_eq!(hash_tag("{mail}.high"), Some("mail"));
        assert_eq!(hash_tag("x{a}{b}"), Some("a"));
        assert_eq!(hash_tag("mail"), None);
        assert_eq!(hash_tag("{}mail"), None);
        assert_eq!(
            hash_tag("{}{mail}"),
            None,
            "Redis looks no further than the first {{"
        );
        assert_eq!(hash_tag("{mail"), None);
        assert_eq!(hash_tag("mail}"), None);
    }

    #[test]
    fn refuses_ids_that_cannot_work() {
        assert!(check_id("q", "7f3a").is_ok());
        assert!(check_id("q", "").is_err());
        assert!(check_id("q", "a\0").is_err());
        assert!(check_id("q", &"x".repeat(MAX_ID_LEN + 1)).is_err());
    }

    #[test]
    fn generated_ids_are_short_and_distinct() {
        let ids: HashSet<String> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|id| id.len() == 12 && check_id("q", id).is_ok()));
    }
}
