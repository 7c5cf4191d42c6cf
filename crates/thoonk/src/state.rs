//! The states a job can be in ([`State`]): it is in exactly one at every
//! instant.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// The states a job can be in. A job is in exactly one at every instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting in the queue to be claimed.
    Available,
    /// Held by a worker, under a lease.
    Claimed,
    /// Set aside: not handed out until retried.
    Stalled,
    /// Waiting for its due time, then available.
    Delayed,
}

impl State {
    /// Every state.
    pub const ALL: [State; 4] = [
        State::Available,
        State::Claimed,
        State::Stalled,
        State::Delayed,
    ];

    /// The state's name, as the CLI and the scripts spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Available => "available",
            State::Claimed => "claimed",
            State::Stalled => "stalled",
            State::Delayed => "delayed",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!("unknown state {s:?} (expected available, claimed, stalled or delayed)")
            })
    }
}
