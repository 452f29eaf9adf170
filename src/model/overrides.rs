//! The on-call engineer's overrides: `up`, `down` or `drain` for a member, a datacenter of one
//! pool, or a datacenter everywhere, each with an optional expiry and a reason; and the
//! [`Overlay`] they resolve to against a zone set: the state of every member, looked up by the
//! query path without a lock (it is part of the immutable snapshot).

use std::path::PathBuf;

use crate::error::Problem;
use crate::model::{Pool, ZoneSet};

/// What an override does to the members it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideState {
    /// Up whatever the health checks say.
    Up,
    /// Down whatever the health checks say.
    Down,
    /// No new traffic (weight 0), still checked: for maintenance.
    Drain,
}

impl OverrideState {
    /// The word in the overrides file.
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideState::Up => "up",
            OverrideState::Down => "down",
            OverrideState::Drain => "drain",
        }
    }
}

/// Which members an override names: `DC` everywhere (`*/ams`), a datacenter of a pool
/// (`web/ams`), or one member of it (`web/ams/192.0.2.10`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `None`: every pool.
    pub pool: Option<String>,
    pub dc: String,
    /// A member's address or name, as the pool file writes it.
    pub member: Option<String>,
}

impl Target {
    /// Parses `*/dc`, `dc` (the same), `pool/dc`, `pool/dc/member`, or a member's address
    /// alone (that member in every pool and datacenter).
    pub fn parse(s: &str) -> Result<Target, String> {
        if let Ok(ip) = s.parse::<std::net::IpAddr>() {
            return Ok(Target {
                pool: None,
                dc: "*".into(),
                member: Some(ip.to_string()),
            });
        }
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            format!(
                "target '{s}' is not DATACENTER, */DATACENTER, POOL/DATACENTER or POOL/DATACENTER/MEMBER"
            )
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let pool = |p: &str| (p != "*").then(|| p.to_string());
        match parts.as_slice() {
            [dc] => Ok(Target {
                pool: None,
                dc: dc.to_string(),
                member: None,
            }),
            [p, dc] => Ok(Target {
                pool: pool(p),
                dc: dc.to_string(),
                member: None,
            }),
            [p, dc, m] => Ok(Target {
                pool: pool(p),
                dc: dc.to_string(),
                member: Some(m.trim_end_matches('.').to_string()),
            }),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let (None, "*", Some(m)) = (&self.pool, self.dc.as_str(), &self.member) {
            return f.write_str(m);
        }
        write!(f, "{}/{}", self.pool.as_deref().unwrap_or("*"), self.dc)?;
        if let Some(m) = &self.member {
            write!(f, "/{m}")?;
        }
        Ok(())
    }
}

/// One entry of the overrides file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub target: Target,
    pub state: OverrideState,
    /// Seconds since the epoch after which the entry no longer applies.
    pub until: Option<i64>,
    pub reason: String,
    pub file: PathBuf,
    pub line: usize,
}

/// What the external feed says of a member: up, down, or a weight factor for load shedding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeedState {
    Up,
    Down,
    /// 0 to 1: the member's weight is multiplied by it (0: no traffic).
    Weight(f64),
}

impl std::fmt::Display for FeedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedState::Up => f.write_str("up"),
            FeedState::Down => f.write_str("down"),
            FeedState::Weight(w) => write!(f, "weight × {w}"),
        }
    }
}

/// One line of the feed file.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    pub target: Target,
    pub state: FeedState,
    pub file: PathBuf,
    pub line: usize,
}

/// An override in force, with how many members it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Active {
    pub rule: Override,
    pub members: usize,
}

/// The state overrides give every member of every zone.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// Per zone (by position), per member id: the index of the override in force, if any.
    members: Vec<Box<[Option<u16>]>>,
    active: Vec<Active>,
    /// When the next override expires (seconds since the epoch).
    pub next_expiry: Option<i64>,
    /// Per zone, per member id: the feed's entry (index into `feed_entries`), if any.
    feed: Vec<Box<[Option<u32>]>>,
    feed_entries: Vec<FeedEntry>,
}

impl Overlay {
    /// Resolves `overrides` in force at `now` against `zones`. The last entry naming a member
    /// wins. An entry that names nothing is a mistake worth stopping for (a typo would silently
    /// keep a datacenter in service).
    pub fn resolve(
        zones: &ZoneSet,
        overrides: &[Override],
        now: i64,
    ) -> Result<Overlay, Vec<Problem>> {
        let mut members: Vec<Box<[Option<u16>]>> = per_member(zones);
        let mut active = Vec::new();
        let mut problems = Vec::new();
        let mut next_expiry: Option<i64> = None;
        for o in overrides {
            if o.until.is_some_and(|u| u <= now) {
                continue;
            }
            let Ok(index) = u16::try_from(active.len()) else {
                problems.push(Problem::new(&o.file, o.line, "more than 65535 overrides"));
                break;
            };
            let count = assign(zones, &o.target, &mut members, index);
            if count == 0 {
                problems.push(Problem::new(
                    &o.file,
                    o.line,
                    format!("the override of {} names no member of any pool", o.target),
                ));
                continue;
            }
            if let Some(u) = o.until {
                next_expiry = Some(next_expiry.map_or(u, |n| n.min(u)));
            }
            active.push(Active {
                rule: o.clone(),
                members: count,
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Overlay {
            members,
            active,
            next_expiry,
            feed: Vec::new(),
            feed_entries: Vec::new(),
        })
    }

    /// Adds the external feed's entries (the last naming a member wins). An entry that names
    /// no member is an error, as for overrides.
    pub fn with_feed(
        mut self,
        zones: &ZoneSet,
        entries: Vec<FeedEntry>,
    ) -> Result<Overlay, Vec<Problem>> {
        let mut feed: Vec<Box<[Option<u32>]>> = per_member(zones);
        let mut problems = Vec::new();
        for (index, e) in entries.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            if assign(zones, &e.target, &mut feed, index) == 0 {
                problems.push(Problem::new(
                    &e.file,
                    e.line,
                    format!(
                        "the feed entry for {} names no member of any pool",
                        e.target
                    ),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        self.feed = feed;
        self.feed_entries = entries;
        Ok(self)
    }

    /// The feed's entry for a member of the zone at `zone`, if any.
    #[inline]
    pub fn feed_of(&self, zone: usize, member: u32) -> Option<&FeedEntry> {
        let i = (*self.feed.get(zone)?.get(member as usize)?)?;
        self.feed_entries.get(i as usize)
    }

    /// The feed's entries.
    pub fn feed(&self) -> &[FeedEntry] {
        &self.feed_entries
    }

    /// The override in force for a member of the zone at `zone` (its position), if any.
    #[inline]
    pub fn of(&self, zone: usize, member: u32) -> Option<&Override> {
        let i = (*self.members.get(zone)?.get(member as usize)?)?;
        self.active.get(usize::from(i)).map(|a| &a.rule)
    }

    /// The overrides in force, in file order.
    pub fn active(&self) -> &[Active] {
        &self.active
    }
}

/// An empty entry for every member of every zone.
fn per_member<T: Clone>(zones: &ZoneSet) -> Vec<Box<[Option<T>]>> {
    zones
        .zones()
        .iter()
        .map(|z| vec![None; member_count(z.pools())].into_boxed_slice())
        .collect()
}

/// Sets `value` for every member `target` names (in `table`, per zone and member id); returns how
/// many it named.
fn assign<T: Copy>(
    zones: &ZoneSet,
    target: &Target,
    table: &mut [Box<[Option<T>]>],
    value: T,
) -> usize {
    let mut count = 0;
    for (zi, z) in zones.zones().iter().enumerate() {
        for_members(z, target, |id| {
            if let Some(slot) = table.get_mut(zi).and_then(|s| s.get_mut(id as usize)) {
                *slot = Some(value);
                count += 1;
            }
        });
    }
    count
}

/// Calls `f` with the id of every member of `zone` that `target` names.
fn for_members(zone: &crate::model::Zone, target: &Target, mut f: impl FnMut(u32)) {
    for pool in zone.pools() {
        if target.pool.as_ref().is_some_and(|p| *p != pool.name) {
            continue;
        }
        for pdc in &pool.dcs {
            let Some(dc) = zone.datacenters().get(pdc.dc) else {
                continue;
            };
            if target.dc != "*" && dc.name != target.dc {
                continue;
            }
            for m in pdc.v4.iter().chain(&pdc.v6).chain(&pdc.names) {
                if target
                    .member
                    .as_ref()
                    .is_none_or(|t| m.text.trim_end_matches('.').eq_ignore_ascii_case(t))
                {
                    f(m.id);
                }
            }
        }
    }
}

/// How many members a zone's pools hold (ids run from 0 to this).
fn member_count(pools: &[Pool]) -> usize {
    pools
        .iter()
        .flat_map(|p| p.dcs.iter())
        .flat_map(|d| d.v4.iter().chain(&d.v6).chain(&d.names))
        .map(|m| m.id as usize + 1)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("ams").unwrap();
        assert_eq!((t.pool, t.dc.as_str(), t.member), (None, "ams", None));
        assert_eq!(Target::parse("*/ams").unwrap().to_string(), "*/ams");
        assert_eq!(
            Target::parse("web/ams").unwrap().pool.as_deref(),
            Some("web")
        );
        assert_eq!(
            Target::parse("web/ams/192.0.2.10")
                .unwrap()
                .member
                .as_deref(),
            Some("192.0.2.10")
        );
        assert!(Target::parse("web//x").is_err());
        assert!(Target::parse("a/b/c/d").is_err());
    }
}
