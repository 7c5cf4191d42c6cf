//! Jobs put where the tests want them: failed with a reason of the test's
//! ([`fail`]), or held by a worker until the test opens a gate
//! ([`GATED`]); and a claim as refusals name it ([`claim_named`]).

use super::{block_on, Redis};
use thoonk::Cancel;

/// A `thoonk work` command for jobs that hold on until the test opens the
/// gate (creates the file `$GATE`), or their worker is gone (so that none
/// outlives its test).
pub(crate) const GATED: &str =
    r#"cat >/dev/null; while [ ! -e "$GATE" ] && kill -0 "$PPID" 2>/dev/null; do sleep 0.05; done"#;

/// A claim as a refusal names it: its token without the claim time
/// (`N-MS.ID…` reads `N.ID…`).
pub(crate) fn claim_named(token: &str) -> String {
    match token.split_once('.') {
        Some((n, rest)) => format!("{}.{rest}", n.split('-').next().unwrap_or(n)),
        None => token.to_string(),
    }
}

/// Claims every job of `queue` and ends those `ends` names (id, stall?,
/// reason): stalled, or cancelled back to the queue, with the reason; the
/// others stay claimed.
pub(crate) fn fail(redis: &Redis, queue: &str, ends: &[(&str, bool, &str)]) {
    block_on(async {
        let thoonk = thoonk::Thoonk::connect(&redis.url()).await.unwrap();
        let q = thoonk.queue(queue).unwrap();
        for job in q.claim(100).await.unwrap() {
            let Some((_, stall, reason)) = ends.iter().find(|e| e.0 == job.id) else {
                continue;
            };
            if *stall {
                q.stall_with(&job, reason).await.unwrap();
            } else {
                q.cancel_with(&job, Cancel::new().reason(*reason))
                    .await
                    .unwrap();
            }
        }
    });
}
