//! The Lua scripts, one per state change, each held once in a static.
//!
//! `redis::Script` hashes its source once and calls `EVALSHA`, loading the
//! script by itself when Redis answers `NOSCRIPT`.

use redis::Script;
use std::sync::LazyLock;

macro_rules! script {
    // A script, after the shared preludes it uses (named without `lua/`).
    ($name:ident, $file:literal $(, $prelude:literal)*) => {
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(
                $(include_str!(concat!("lua/", $prelude)),)*
                include_str!(concat!("lua/", $file))
            ))
        });
    };
}

// `_state.lua` names a job's state for refusals; `_batch.lua` runs one
// variadic command per batch instead of one per job.
/// The publish script's text, for where it goes whole (`EVAL`): beside a
/// `WAIT`, a `NOSCRIPT` and a second try would wait twice.
pub(crate) const PUBLISH_SOURCE: &str = concat!(
    include_str!("lua/_batch.lua"),
    include_str!("lua/publish.lua")
);
pub(crate) static PUBLISH: LazyLock<Script> = LazyLock::new(|| Script::new(PUBLISH_SOURCE));
script!(CLAIM, "claim.lua", "_batch.lua");
script!(FINISH, "finish.lua", "_state.lua", "_batch.lua");
script!(CANCEL, "cancel.lua", "_state.lua");
script!(STALL, "stall.lua", "_state.lua");
script!(RETRY, "retry.lua", "_state.lua");
script!(RETRACT, "retract.lua");
script!(EXTEND, "extend.lua");
script!(RECOVER, "recover.lua", "_state.lua");
script!(RELEASE, "release.lua");
script!(LIST, "list.lua");
script!(INFO, "info.lua", "_state.lua");
script!(WORKERS, "workers.lua", "_state.lua", "_batch.lua");
script!(RETRY_ALL, "retry_all.lua", "_batch.lua");
