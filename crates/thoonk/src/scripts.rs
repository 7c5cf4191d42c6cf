//! The Lua scripts, one per state change, run as the functions of one Redis
//! function library.
//!
//! Each `lua/NAME.lua` becomes the function `thoonk_HASH_NAME` of the
//! library `thoonk_HASH` (HASH: of the library's text, so that two versions
//! of thoonk on one Redis each run their own), beside the shared preludes.
//! Redis creates the preludes' functions once, at `FUNCTION LOAD`, where an
//! `EVAL` script creates them again on every call: a claim and its finish
//! cost Redis about 8% fewer instructions so (callgrind, 7 jobs a call).
//! A server that does not have the library (new, flushed, restarted
//! without persistence) answers "Function not found"; the call then loads
//! it and runs once more.

use redis::aio::ConnectionLike;
use redis::{Cmd, FromRedisValue, RedisError, RedisResult, ToRedisArgs};
use std::sync::{LazyLock, OnceLock};

/// One script: its file, its source, and whether it writes.
pub(crate) struct Script {
    file: &'static str,
    body: &'static str,
    writes: bool,
    name: OnceLock<String>,
}

macro_rules! scripts {
    ($($name:ident: $file:literal, $writes:literal;)*) => {
        $(
            pub(crate) static $name: Script = Script {
                file: $file,
                body: include_str!(concat!("lua/", $file)),
                writes: $writes,
                name: OnceLock::new(),
            };
        )*
        static ALL: &[&Script] = &[$(&$name),*];
    };
}

// Those that write (true) take a request id, the last of their keys and
// arguments, and replay a call sent twice (`_once.lua`); those that only
// read are flagged `no-writes`, so that Redis runs them even when it
// refuses writes (out of memory, say).
scripts! {
    PUBLISH: "publish.lua", true;
    CLAIM: "claim.lua", true;
    FINISH: "finish.lua", true;
    CANCEL: "cancel.lua", true;
    STALL: "stall.lua", true;
    RETRY: "retry.lua", true;
    RETRACT: "retract.lua", true;
    EXTEND: "extend.lua", true;
    RECOVER: "recover.lua", true;
    RELEASE: "release.lua", true;
    RETRY_ALL: "retry_all.lua", true;
    CONFIGURE: "configure.lua", true;
    PROGRESS: "progress.lua", true;
    SCHEDULE: "schedule.lua", true;
    UNSCHEDULE: "unschedule.lua", true;
    FIRE_SCHEDULE: "fire_schedule.lua", true;
    LIST: "list.lua", false;
    INFO: "info.lua", false;
    DUE: "due.lua", false;
    STATS: "stats.lua", false;
    OUTCOME: "outcome.lua", false;
    WORKERS: "workers.lua", false;
    AT_WORK: "at_work.lua", false;
    MEMORY: "memory.lua", false;
    DUE_SCHEDULES: "due_schedules.lua", false;
    SCHEDULES: "schedules.lua", false;
    FINISHED: "finished.lua", false;
    TALLY: "tally.lua", false;
}

/// The preludes every function may use: `_once.lua` (a request id, and
/// the reply of a call sent twice), `_args.lua` (argument checks before a
/// script writes), `_batch.lua` (one variadic command per batch instead of
/// one per job), `_state.lua` (claims, and a job's state for refusals),
/// `_flow.lua` (pause, rate and running limits, in the claim), `_marks.lua`
/// (when the waiting jobs joined the line), `_schedules.lua` (a schedule's
/// record), `_history.lua` (the finished jobs a queue keeps), `_tally.lua`
/// (counts per minute and day, and run times). Each after those whose
/// functions it calls.
const PRELUDES: &str = concat!(
    include_str!("lua/_once.lua"),
    include_str!("lua/_args.lua"),
    include_str!("lua/_batch.lua"),
    include_str!("lua/_state.lua"),
    include_str!("lua/_flow.lua"),
    include_str!("lua/_marks.lua"),
    include_str!("lua/_schedules.lua"),
    include_str!("lua/_history.lua"),
    include_str!("lua/_tally.lua"),
);

/// The library: its name and its whole text, as `FUNCTION LOAD` takes it.
struct Library {
    name: String,
    text: String,
}

static LIBRARY: LazyLock<Library> = LazyLock::new(|| {
    // Named after a hash of everything below its first line, which names
    // the library and its functions after that same hash.
    let mut body = String::from("local KEYS, ARGV\n");
    body.push_str(PRELUDES);
    for script in ALL {
        let flags = if script.writes { "" } else { "'no-writes'" };
        // The script's top level becomes the function's body: KEYS and
        // ARGV are set as an EVAL script finds them, and a script that
        // writes first takes its request id off them.
        let once = if script.writes {
            "  local refused = take_request()\n  if refused then return refused end\n"
        } else {
            ""
        };
        body.push_str(&format!(
            "redis.register_function{{function_name = NAME .. '_{stem}', flags = {{{flags}}}, \
             callback = function(keys, args)\n  KEYS, ARGV = keys, args\n{once}{source}\nend}}\n",
            stem = stem(script.file),
            source = script.body,
        ));
    }
    let hash = redis::Script::new(&body).get_hash().to_string();
    let name = format!("thoonk_{}", &hash[..16]);
    let text = format!("#!lua name={name}\nlocal NAME = '{name}'\n{body}");
    Library { name, text }
});

/// A script file's name without `.lua`.
fn stem(file: &str) -> &str {
    file.strip_suffix(".lua").unwrap_or(file)
}

impl Script {
    /// The name of the script's function in the library.
    fn function(&self) -> &str {
        self.name
            .get_or_init(|| format!("{}_{}", LIBRARY.name, stem(self.file)))
    }

    /// A call of this script, its keys and arguments to be added.
    pub(crate) fn call(&'static self) -> Call {
        Call {
            script: self,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }

    /// A call with `key` as its first key.
    pub(crate) fn key<T: ToRedisArgs>(&'static self, key: T) -> Call {
        let mut call = self.call();
        call.key(key);
        call
    }
}

/// A script call being built: `FCALL` with its keys and arguments.
pub(crate) struct Call {
    script: &'static Script,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Call {
    /// Adds a key (or, given a list, each of its elements).
    pub(crate) fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    /// Adds an argument (or, given a list, each of its elements).
    pub(crate) fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    /// The call as one command, for a pipeline.
    pub(crate) fn cmd(&self) -> Cmd {
        let mut cmd = redis::cmd("FCALL");
        cmd.arg(self.script.function())
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        cmd
    }

    /// Runs the call; when the server does not have the library, loads it
    /// and runs the call again.
    pub(crate) async fn invoke_async<T: FromRedisValue>(
        &self,
        conn: &mut impl ConnectionLike,
    ) -> RedisResult<T> {
        match self.cmd().query_async(conn).await {
            Err(e) if is_unknown(&e) => {
                load(conn).await?;
                self.cmd().query_async(conn).await
            }
            done => done,
        }
    }
}

/// Loads the library into the server (every primary, on a cluster).
/// `REPLACE`, so that two processes loading it at once both succeed.
pub(crate) async fn load(conn: &mut impl ConnectionLike) -> RedisResult<()> {
    redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(&LIBRARY.text)
        .query_async(conn)
        .await
}

/// Whether `e` says the server does not have the library (yet). (Read
/// from the whole error: a cluster's pipeline reports it inside a
/// "Pipeline failure" of its own.)
pub(crate) fn is_unknown(e: &RedisError) -> bool {
    e.to_string().contains("Function not found")
}

/// The library's text and each script's function, for tests that drive
/// the scripts directly.
#[cfg(feature = "test-util")]
pub(crate) fn library() -> (&'static str, Vec<(&'static str, &'static str)>) {
    let functions = ALL.iter().map(|s| (s.file, s.function())).collect();
    (&LIBRARY.text, functions)
}
