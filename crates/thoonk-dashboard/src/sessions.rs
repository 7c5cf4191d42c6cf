//! The browsers logged in: one random id per login, held in memory with an
//! expiry and a bound on how many, so that logging out ends that login
//! (its cookie opens nothing any more) and a stolen cookie lasts no longer
//! than its session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a login lasts (also the cookie's `Max-Age`): a working day,
/// after which the browser is sent to the login form again.
pub(crate) const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The most logins held at once: each costs about 100 bytes, so a flood of
/// logins (each needs the token) costs at most a few MB. Past it, the
/// login closest to its end makes room.
const MOST: usize = 10_000;

/// The live logins, by id.
#[derive(Default)]
pub(crate) struct Sessions {
    /// Each login's id and when it ends.
    ends: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    /// A new login: its id, for the cookie. Three of thoonk's random ids:
    /// about 210 bits from the thread's CSPRNG, past any guessing.
    pub(crate) fn start(&self) -> String {
        let id = format!(
            "{}{}{}",
            thoonk::new_id(),
            thoonk::new_id(),
            thoonk::new_id()
        );
        let now = Instant::now();
        let mut ends = self.ends.lock().expect("sessions lock");
        if ends.len() >= MOST {
            ends.retain(|_, end| *end > now);
        }
        if ends.len() >= MOST {
            let soonest = ends
                .iter()
                .min_by_key(|(_, end)| **end)
                .map(|(id, _)| id.clone());
            soonest.map(|id| ends.remove(&id));
        }
        ends.insert(id.clone(), now + LIFETIME);
        id
    }

    /// Whether `id` is a login that has not ended.
    pub(crate) fn is_live(&self, id: &str) -> bool {
        let mut ends = self.ends.lock().expect("sessions lock");
        match ends.get(id) {
            Some(end) if *end > Instant::now() => true,
            Some(_) => {
                ends.remove(id);
                false
            }
            None => false,
        }
    }

    /// Ends the login `id` (logout).
    pub(crate) fn end(&self, id: &str) {
        self.ends.lock().expect("sessions lock").remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_lives_until_it_is_ended() {
        let sessions = Sessions::default();
        let (a, b) = (sessions.start(), sessions.start());
        assert_ne!(a, b);
        assert!(sessions.is_live(&a) && sessions.is_live(&b));
        sessions.end(&a);
        assert!(!sessions.is_live(&a), "logged out");
        assert!(sessions.is_live(&b), "another login goes on");
        assert!(!sessions.is_live("made-up"));
    }

    #[test]
    fn the_count_is_bounded() {
        let sessions = Sessions::default();
        let first = sessions.start();
        for _ in 0..MOST {
            sessions.start();
        }
        assert_eq!(sessions.ends.lock().unwrap().len(), MOST);
        assert!(!sessions.is_live(&first), "the oldest made room");
    }
}
