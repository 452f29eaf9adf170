//! The snapshot the query path reads, and the one place it is swapped.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::engine::{Limits, Source};
use crate::geo::Geo;
use crate::model::ZoneSet;

/// Everything one query needs, immutable once built.
#[derive(Debug)]
pub struct Snapshot {
    pub zones: ZoneSet,
    /// Shared between snapshots while the database files do not change.
    pub geo: Arc<Geo>,
    pub limits: Limits,
    /// Increases by one with every installed snapshot.
    pub generation: u64,
}

impl Source for Snapshot {
    #[inline]
    fn zones(&self) -> &ZoneSet {
        &self.zones
    }
    #[inline]
    fn geo(&self) -> &Geo {
        &self.geo
    }
}

/// The live snapshot, shared by every transport. Readers never block: a load is an atomic
/// reference-count increment. (Hot reload, a later milestone, swaps in new snapshots here.)
#[derive(Debug)]
pub struct State {
    current: ArcSwap<Snapshot>,
}

impl State {
    /// Starts serving `zones`.
    pub fn new(zones: ZoneSet, geo: Arc<Geo>, limits: Limits) -> Arc<State> {
        Arc::new(State {
            current: ArcSwap::from_pointee(Snapshot {
                zones,
                geo,
                limits,
                generation: 1,
            }),
        })
    }

    /// The snapshot to answer from.
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }
}
