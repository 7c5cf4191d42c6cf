//! The Lua scripts, one per state change, each held once in a static.
//!
//! `redis::Script` hashes its source once and calls `EVALSHA`, loading the
//! script by itself when Redis answers `NOSCRIPT`.

use redis::Script;
use std::sync::LazyLock;

macro_rules! scripts {
    // Each script, after the shared preludes it uses (named without
    // `lua/`): its source as a constant, and its `Script` in a static.
    ($($name:ident, $source:ident: $file:literal $(, $prelude:literal)*;)*) => {
        $(
            pub(crate) const $source: &str = concat!(
                $(include_str!(concat!("lua/", $prelude)),)*
                include_str!(concat!("lua/", $file))
            );
            pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| Script::new($source));
        )*

        /// Every script's file name and whole source, preludes included.
        #[cfg(feature = "test-util")]
        pub(crate) const SOURCES: &[(&str, &str)] = &[$(($file, $source)),*];
    };
}

// `_once.lua` (first, in every script that writes) takes off the request
// id and replays the reply of a call sent twice; `_args.lua` checks
// arguments before a script writes; `_batch.lua` runs
// one variadic command per batch instead of one per job; `_state.lua`
// reads claims and names a job's state for refusals (after `_batch.lua`,
// whose functions it calls). The publish script's source also goes
// whole (`EVAL`) beside a `WAIT`, where a `NOSCRIPT` and a second try
// would wait twice.
scripts! {
    PUBLISH, PUBLISH_SOURCE: "publish.lua", "_once.lua", "_args.lua", "_batch.lua";
    CLAIM, CLAIM_SOURCE: "claim.lua", "_once.lua", "_args.lua", "_batch.lua", "_state.lua";
    FINISH, FINISH_SOURCE: "finish.lua", "_once.lua", "_args.lua", "_batch.lua", "_state.lua";
    CANCEL, CANCEL_SOURCE: "cancel.lua", "_once.lua", "_args.lua", "_batch.lua", "_state.lua";
    STALL, STALL_SOURCE: "stall.lua", "_once.lua", "_args.lua", "_batch.lua", "_state.lua";
    RETRY, RETRY_SOURCE: "retry.lua", "_once.lua", "_args.lua", "_batch.lua", "_state.lua";
    RETRACT, RETRACT_SOURCE: "retract.lua", "_once.lua", "_args.lua", "_batch.lua", "_state.lua";
    EXTEND, EXTEND_SOURCE: "extend.lua", "_once.lua", "_args.lua", "_batch.lua", "_state.lua";
    RECOVER, RECOVER_SOURCE: "recover.lua", "_once.lua", "_args.lua", "_batch.lua", "_state.lua";
    RELEASE, RELEASE_SOURCE: "release.lua", "_once.lua", "_args.lua", "_batch.lua", "_state.lua";
    LIST, LIST_SOURCE: "list.lua", "_args.lua", "_batch.lua";
    INFO, INFO_SOURCE: "info.lua", "_batch.lua", "_state.lua";
    DUE, DUE_SOURCE: "due.lua", "_args.lua";
    STATS, STATS_SOURCE: "stats.lua";
    OUTCOME, OUTCOME_SOURCE: "outcome.lua";
    WORKERS, WORKERS_SOURCE: "workers.lua", "_args.lua", "_batch.lua", "_state.lua";
    RETRY_ALL, RETRY_ALL_SOURCE: "retry_all.lua", "_once.lua", "_args.lua", "_batch.lua";
}
