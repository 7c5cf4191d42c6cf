//! Slows down token guessing: each client address has a few wrong tokens
//! free, then every further one shuts it out for twice as long as the last
//! (1 s, 2 s, 4 s, … up to 15 min), during which its tries are refused
//! (429 with `Retry-After`) without even being compared. A right token
//! clears its record. The table is bounded: a flood of addresses cannot
//! grow it past [`MOST`] entries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong tries an address has before it is shut out: room for typos.
const FREE: u32 = 5;
/// The longest shut-out.
const LONGEST: Duration = Duration::from_secs(15 * 60);
/// A record with no wrong try for this long is forgotten.
const FORGET: Duration = Duration::from_secs(3600);
/// The most addresses remembered (about 50 bytes each). Past it, the
/// record that is quietest the longest makes room: a guesser spread over
/// that many addresses can only be slowed by the token's length.
pub(crate) const MOST: usize = 10_000;

/// The wrong tries of one address.
struct Record {
    wrong: u32,
    /// Its tries are refused until then.
    shut_until: Instant,
    /// Its last wrong try.
    last: Instant,
}

/// Wrong tries per client address.
#[derive(Default)]
pub(crate) struct Throttle {
    records: Mutex<HashMap<IpAddr, Record>>,
}

impl Throttle {
    /// `Err(wait)` while `client` is shut out.
    pub(crate) fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let records = self.records.lock().expect("throttle lock");
        match records.get(&key(client)) {
            Some(r) if r.shut_until > now => Err(r.shut_until - now),
            _ => Ok(()),
        }
    }

    /// Notes a wrong token from `client`; `Some(wait)` when that shuts it
    /// out.
    pub(crate) fn wrong(&self, client: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut records = self.records.lock().expect("throttle lock");
        if records.len() >= MOST && !records.contains_key(&key(client)) {
            records.retain(|_, r| now.duration_since(r.last) < FORGET);
            if records.len() >= MOST {
                let quietest = records.iter().min_by_key(|(_, r)| r.last).map(|(k, _)| *k);
                quietest.map(|k| records.remove(&k));
            }
        }
        let record = records.entry(key(client)).or_insert(Record {
            wrong: 0,
            shut_until: now,
            last: now,
        });
        if now.duration_since(record.last) >= FORGET {
            record.wrong = 0;
        }
        record.wrong += 1;
        record.last = now;
        let over = record.wrong.checked_sub(FREE)?.checked_sub(1)?;
        let wait = Duration::from_secs(1u64 << over.min(10)).min(LONGEST);
        record.shut_until = now + wait;
        Some(wait)
    }

    /// A right token from `client`: its wrong tries are forgotten.
    pub(crate) fn right(&self, client: IpAddr) {
        self.records
            .lock()
            .expect("throttle lock")
            .remove(&key(client));
    }
}

/// What one client is: its address, or for IPv6 its /64 (one host
/// usually has a whole /64 to pick addresses from).
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_wrong_tries_are_free_then_each_shuts_out_longer() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..FREE {
            assert_eq!(t.wrong(ip), None);
            assert!(t.check(ip).is_ok());
        }
        assert_eq!(t.wrong(ip), Some(Duration::from_secs(1)));
        assert!(t.check(ip).is_err(), "shut out");
        assert_eq!(t.wrong(ip), Some(Duration::from_secs(2)));
        assert_eq!(t.wrong(ip), Some(Duration::from_secs(4)));
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(t.check(other).is_ok(), "another address is not");
        t.right(ip);
        assert!(t.check(ip).is_ok());
        for _ in 0..20 {
            t.wrong(ip);
        }
        assert_eq!(t.wrong(ip), Some(LONGEST));
    }

    #[test]
    fn one_ipv6_host_is_its_64() {
        let t = Throttle::default();
        for i in 0..=FREE {
            let ip: IpAddr = format!("2001:db8::{i:x}").parse().unwrap();
            t.wrong(ip);
        }
        assert!(t.check("2001:db8::ffff".parse().unwrap()).is_err());
        assert!(t.check("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn the_table_is_bounded() {
        let t = Throttle::default();
        for i in 0..(MOST as u32 + 100) {
            t.wrong(IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(t.records.lock().unwrap().len(), MOST);
    }
}
