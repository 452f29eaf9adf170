//! The snapshot the query path reads, the settings it answers with, and the one place it is
//! swapped.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::geo::Geo;
use crate::health::HealthMap;
use crate::metrics::Handles;
use crate::model::ZoneSet;
use crate::model::overrides::Overlay;

/// Settings of the query path that come from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest UDP response we send, whatever the client advertises (RFC 9715 suggests 1232 to
    /// avoid IP fragmentation). Also the payload size we advertise in our OPT record.
    pub udp_payload: u16,
    /// Use the EDNS Client Subnet option to locate clients (and echo it). When off, the option is
    /// ignored and clients are located by the packet's source address.
    pub ecs: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            udp_payload: 1232,
            ecs: true,
        }
    }
}

/// Who this server is, for anycast fleets: `id.server`/`hostname.bind` and `version.bind` in
/// class CH, and the NSID option (RFC 5001). Each `None` is switched off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The TXT RDATA of `id.server` and `hostname.bind` (one character string).
    pub id_txt: Option<Box<[u8]>>,
    /// The TXT RDATA of `version.bind` and `version.server`.
    pub version_txt: Option<Box<[u8]>>,
    /// The NSID payload.
    pub nsid: Option<Box<[u8]>>,
}

impl Identity {
    /// An identity answering with `id` and `version` (empty: off), NSID when `nsid`.
    pub fn new(id: &str, version: &str, nsid: bool) -> Identity {
        let txt = |s: &str| {
            let b = s.as_bytes();
            let b = b.get(..255).unwrap_or(b);
            (!b.is_empty()).then(|| {
                let mut v = Vec::with_capacity(b.len() + 1);
                v.push(u8::try_from(b.len()).unwrap_or(255));
                v.extend_from_slice(b);
                v.into_boxed_slice()
            })
        };
        Identity {
            id_txt: txt(id),
            version_txt: txt(version),
            nsid: (nsid && !id.is_empty()).then(|| id.as_bytes().into()),
        }
    }
}

/// Everything one query needs, immutable once built.
#[derive(Debug)]
pub struct Snapshot {
    pub zones: ZoneSet,
    /// Shared between snapshots while the database files do not change.
    pub geo: Arc<Geo>,
    pub limits: Limits,
    /// The state the on-call engineer's overrides give the members.
    pub overlay: Overlay,
    /// Which health check decides each member, and the table of their states.
    pub health: HealthMap,
    /// Who this server is (CH TXT, NSID).
    pub identity: Identity,
    /// Increases by one with every installed snapshot ([`State::install`] sets it).
    pub generation: u64,
    /// The metrics cells this snapshot's queries count into; `None`: not counted.
    pub metrics: Option<Arc<Handles>>,
    /// Whose ECS option is believed; `None`: everyone's.
    pub ecs_trusted: Option<Arc<[crate::net::Net]>>,
    /// The secrets of DNS server cookies; `None`: cookies are not answered.
    pub cookies: Option<crate::wire::cookie::Secrets>,
}

impl Snapshot {
    /// A snapshot of zones and databases with no override and no health check.
    pub fn plain(zones: ZoneSet, geo: Arc<Geo>, limits: Limits) -> Snapshot {
        Snapshot {
            zones,
            geo,
            limits,
            overlay: Overlay::default(),
            health: HealthMap::default(),
            identity: Identity::default(),
            generation: 0,
            metrics: None,
            ecs_trusted: None,
            cookies: None,
        }
    }
}

/// The live snapshot, shared by every transport. Readers never block: a load is an atomic
/// reference-count increment; a reload replaces the whole snapshot at once.
#[derive(Debug)]
pub struct State {
    current: ArcSwap<Snapshot>,
}

impl State {
    /// Starts serving `zones`.
    pub fn new(zones: ZoneSet, geo: Arc<Geo>, limits: Limits) -> Arc<State> {
        State::start(Snapshot::plain(zones, geo, limits))
    }

    /// Starts serving a snapshot, as generation 1.
    pub fn start(mut first: Snapshot) -> Arc<State> {
        first.generation = 1;
        Arc::new(State {
            current: ArcSwap::from_pointee(first),
        })
    }

    /// Installs a new snapshot in one atomic step and returns its generation. Only `reload`
    /// calls this, from one task at a time; queries in flight finish on the snapshot they loaded.
    pub fn install(&self, mut next: Snapshot) -> u64 {
        next.generation = self.current.load().generation + 1;
        let generation = next.generation;
        self.current.store(Arc::new(next));
        generation
    }

    /// The snapshot, owned (for work that outlives a query: a scrape, a query log line).
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The snapshot to answer from.
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }
}
