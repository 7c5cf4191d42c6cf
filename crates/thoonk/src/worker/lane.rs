//! One queue of a worker ([`Lane`]): what it knows of the queue, its
//! finishers, its watcher and its ticker.

use super::finisher::{self, Finisher, Refill};
use super::state::LaneState;
use super::ticker;
use super::watcher::{Watcher, Woke};
use crate::pubsub::{Listener, Notice};
use crate::{Queue, Result, Thoonk};
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};
use tokio_util::task::AbortOnDropHandle;

/// One queue of a worker.
pub(crate) struct Lane {
    pub(crate) queue: Queue,
    pub(crate) state: Arc<LaneState>,
    /// Its finishing tasks, one per finishing connection; a job started
    /// from a refill goes back to the finisher that claimed it.
    pub(crate) finishers: Vec<Finisher>,
    /// Asks its watcher to wait for work.
    pub(crate) armed: Arc<Notify>,
    /// The watcher's task: aborted (its wait and claim dropped) at shutdown.
    pub(crate) watcher: AbortOnDropHandle<()>,
    /// Fires the queue's due schedules (`ticker`): aborted at shutdown.
    pub(crate) ticker: AbortOnDropHandle<()>,
    /// Hears that the queue's rate window is full (see `hear_holds`);
    /// held for its drop, which stops the task with the lane.
    _holds: AbortOnDropHandle<()>,
}

/// Where a lane's parts report to the worker.
pub(crate) struct Outlets {
    /// Jobs finishers claimed in place of finished ones.
    pub(crate) refills: mpsc::UnboundedSender<Refill>,
    /// Jobs watchers claimed after a wait.
    pub(crate) woke: mpsc::UnboundedSender<Woke>,
}

impl Lane {
    /// Starts the parts of the worker `worker`'s `lane`-th queue:
    /// a finisher on each of the `finishing` connections (claiming refills
    /// when `refilling`), and a watcher, idle until armed.
    pub(crate) async fn start(
        worker: &str,
        lane: usize,
        queue: &Queue,
        finishing: &[Thoonk],
        refilling: bool,
        outlets: &Outlets,
    ) -> Result<Lane> {
        let state = Arc::new(LaneState::new(refilling));
        let finishers = finishing
            .iter()
            .enumerate()
            .map(|(i, thoonk)| {
                Finisher::start(finisher::Context {
                    queue: queue.on(thoonk),
                    lane,
                    finisher: i,
                    id: worker.to_string(),
                    state: state.clone(),
                    refills: outlets.refills.clone(),
                })
            })
            .collect();
        let armed = Arc::new(Notify::new());
        let watcher = Watcher {
            queue: queue.clone(),
            lane,
            worker: worker.to_string(),
            config: queue.keys.channel("config"),
            notices: queue
                .thoonk
                .subscribe(vec![
                    queue.keys.channel("delay"),
                    queue.keys.channel("config"),
                ])
                .await
                .map_err(queue.at("subscribe to delay and config events"))?,
            armed: armed.clone(),
            state: state.clone(),
            woke: outlets.woke.clone(),
        };
        let held = queue
            .thoonk
            .subscribe(vec![queue.keys.channel("held")])
            .await
            .map_err(queue.at("subscribe to held events"))?;
        let holds = AbortOnDropHandle::new(tokio::spawn(hear_holds(held, state.clone())));
        let ticker = ticker::start(queue).await?;
        Ok(Lane {
            ticker,
            _holds: holds,
            queue: queue.clone(),
            state,
            finishers,
            armed,
            watcher: AbortOnDropHandle::new(tokio::spawn(watcher.run())),
        })
    }
}

/// Holds the lane's claims back whenever another claim filled the queue's
/// rate window (`event.job.held`, payload the hold in ms): the worker then
/// learns it without asking the full window itself.
async fn hear_holds(mut held: Listener, state: Arc<LaneState>) {
    while let Some(notice) = held.recv().await {
        let Notice::Message { payload, .. } = notice else {
            continue;
        };
        if let Some(ms) = std::str::from_utf8(&payload)
            .ok()
            .and_then(|text| text.parse().ok())
        {
            state.hold_for(ms);
        }
    }
}
