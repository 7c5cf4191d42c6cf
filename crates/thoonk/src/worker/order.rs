//! Which of a worker's queues gets a free slot first ([`Order`]).

use rand::Rng;

/// Which of a worker's queues gets a free slot first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// In the order given: a queue gets a slot only while every queue
    /// before it has nothing to claim.
    Strict,
    /// At random, each queue as often as its weight (one per queue, in the
    /// order given) says, among the queues with work: with weights 3 and 1,
    /// about three jobs of the first to one of the second while both have
    /// work, and all slots to either while the other is empty. A queue of
    /// weight 0 is served only while all the others are empty.
    Weighted(Vec<u32>),
}

impl Order {
    /// The queues to offer free slots to, first first.
    pub(crate) fn pick(&self, lanes: usize) -> Vec<usize> {
        match self {
            Order::Strict => (0..lanes).collect(),
            Order::Weighted(weights) => weighted_draw(weights, lanes),
        }
    }

    /// Whether the queue at `lane` claims refills for the slots its own
    /// finishes free. In strict order only the first queue does: a later
    /// queue's refill would keep the slot from the claim round that asks
    /// the earlier queues first. By weight none does: refills would keep
    /// each queue at the share it happened to get first. Their freed slots
    /// go back to the claim loop.
    pub(crate) fn refills(&self, lane: usize) -> bool {
        lane == 0 && matches!(self, Order::Strict)
    }
}

/// The lanes in a random order, each drawn as often as its weight says
/// (a weighted draw without replacement).
fn weighted_draw(weights: &[u32], lanes: usize) -> Vec<usize> {
    let mut left: Vec<usize> = (0..lanes).collect();
    let mut order = Vec::with_capacity(lanes);
    let mut rng = rand::rng();
    while !left.is_empty() {
        let total: u64 = left.iter().map(|&i| u64::from(weights[i])).sum();
        let mut ticket = rng.random_range(0..total.max(1));
        let at = left
            .iter()
            .position(|&i| {
                let w = u64::from(weights[i]);
                if ticket < w {
                    return true;
                }
                ticket -= w;
                false
            })
            .unwrap_or(0);
        order.push(left.remove(at));
    }
    order
}
