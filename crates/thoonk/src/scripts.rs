//! The Lua scripts, one per state change, each held once in a static.
//!
//! `redis::Script` hashes its source once and calls `EVALSHA`, loading the
//! script by itself when Redis answers `NOSCRIPT`.

use redis::Script;
use std::sync::LazyLock;

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<Script> =
            LazyLock::new(|| Script::new(include_str!(concat!("lua/", $file))));
    };
    // Scripts that refuse a job in the wrong state share a prelude.
    ($name:ident, $file:literal, with_state) => {
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(
                include_str!("lua/_state.lua"),
                include_str!(concat!("lua/", $file))
            ))
        });
    };
}

script!(PUBLISH, "publish.lua");
script!(CLAIM, "claim.lua");
script!(FINISH, "finish.lua", with_state);
script!(CANCEL, "cancel.lua", with_state);
script!(STALL, "stall.lua", with_state);
script!(RETRY, "retry.lua", with_state);
script!(RETRACT, "retract.lua");
script!(EXTEND, "extend.lua");
script!(RECOVER, "recover.lua");
script!(RELEASE, "release.lua");
script!(LIST, "list.lua");
