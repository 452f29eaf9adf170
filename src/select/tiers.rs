//! Step 2: the datacenter, the first available one in failover order.

use super::score::score;
use super::{Client, Health, MAX_NEAREST, Reason, Trace, family_name, trace};
use crate::geo::distance_km;
use crate::model::{Datacenter, Family, Pool, Tier, Tiers};

/// The datacenter that answers.
pub(super) struct Choice {
    /// Index into the pool's `dcs`.
    pub dc: usize,
    /// 0 for the first choice; more when a failover decided.
    pub rank: usize,
    /// A split tier chose it per client network.
    pub sticky: bool,
    /// How: the first choice of a fixed tier, nearest, a split, or a failover.
    pub reason: Reason,
}

/// The datacenter's name (`i`: index into the pool's `dcs`).
pub(super) fn dc_name<'d>(pool: &Pool, dcs: &'d [Datacenter], i: usize) -> &'d str {
    pool.dcs
        .get(i)
        .and_then(|d| dcs.get(d.dc))
        .map_or("?", |d| d.name.as_str())
}

/// A tier in words, for traces.
pub(super) fn describe(pool: &Pool, dcs: &[Datacenter], t: &Tier) -> String {
    match t {
        Tier::Dc(i) => dc_name(pool, dcs, *i).to_string(),
        Tier::Nearest => "nearest".to_string(),
        Tier::Split(parts) => {
            let p: Vec<String> = parts
                .iter()
                .map(|(i, pct)| format!("{} {pct}%", dc_name(pool, dcs, *i)))
                .collect();
            format!("split {{{}}}", p.join(", "))
        }
    }
}

/// Whether a datacenter can answer for the family: some member is up, and the up members carry
/// at least `min_healthy` of the weight.
fn available<H: Health>(pool: &Pool, dc: usize, family: Family, health: &H) -> bool {
    let members = pool.dcs.get(dc).map_or(&[][..], |d| d.members(family));
    let (mut up, mut total) = (0.0, 0.0);
    for (m, member) in members.iter().enumerate() {
        total += member.weight;
        if let Some(factor) = health.serving(pool, dc, family, m) {
            up += member.weight * factor;
        }
    }
    up > 0.0 && up >= pool.min_healthy * total
}

/// For traces: the members of a datacenter that are not up, and why.
pub(super) fn out_of_service<H: Health>(
    pool: &Pool,
    dc: usize,
    family: Family,
    health: &H,
) -> String {
    let members = pool.dcs.get(dc).map_or(&[][..], |d| d.members(family));
    let list: Vec<String> = members
        .iter()
        .enumerate()
        .filter(|(m, _)| !health.up(pool, dc, family, *m))
        .map(|(m, member)| {
            let why = health
                .why(pool, dc, family, m)
                .unwrap_or_else(|| "down".into());
            format!("{} ({why})", member.text)
        })
        .collect();
    if list.is_empty() {
        String::new()
    } else {
        format!(": {}", list.join(", "))
    }
}

/// Walks the tiers in order; the first with an available datacenter decides.
pub(super) fn choose<H: Health>(
    pool: &Pool,
    dcs: &[Datacenter],
    tiers: &Tiers,
    family: Family,
    client: &Client<'_>,
    health: &H,
    trace: &mut Option<&mut Trace>,
) -> Option<Choice> {
    for (ti, tier) in tiers.iter().enumerate() {
        match tier {
            Tier::Dc(i) => {
                if available(pool, *i, family, health) {
                    return Some(Choice {
                        dc: *i,
                        rank: ti,
                        sticky: false,
                        reason: if ti == 0 {
                            Reason::First
                        } else {
                            Reason::Failover
                        },
                    });
                }
                trace!(
                    trace,
                    "tier {}: {} has no available {} members{}",
                    ti + 1,
                    describe(pool, dcs, tier),
                    family_name(family),
                    out_of_service(pool, *i, family, health)
                );
            }
            Tier::Split(parts) => {
                let best = parts
                    .iter()
                    .filter(|(i, _)| available(pool, *i, family, health))
                    .map(|&(i, pct)| (i, score(client.key, pool.seed ^ 0x5bd1_e995, i as u64, pct)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((i, _)) = best {
                    trace!(
                        trace,
                        "tier {}: {} → {} (sticky for the client's network)",
                        ti + 1,
                        describe(pool, dcs, tier),
                        dc_name(pool, dcs, i)
                    );
                    return Some(Choice {
                        dc: i,
                        rank: ti,
                        sticky: true,
                        reason: if ti == 0 {
                            Reason::Split
                        } else {
                            Reason::Failover
                        },
                    });
                }
                trace!(
                    trace,
                    "tier {}: {}: no datacenter available",
                    ti + 1,
                    describe(pool, dcs, tier)
                );
            }
            Tier::Nearest => {
                let mut order = [(0.0, 0); MAX_NEAREST];
                let n = pool.dcs.len().min(MAX_NEAREST);
                for (i, (slot, pdc)) in order.iter_mut().zip(&pool.dcs).enumerate() {
                    let dist = match (client.loc.coords, dcs.get(pdc.dc)) {
                        (Some(c), Some(dc)) => match dc.location {
                            Some(l) => distance_km(c, l) - dc.bias_km,
                            None => i as f64,
                        },
                        // no client coordinates: keep the declaration order
                        _ => i as f64,
                    };
                    *slot = (dist, i);
                }
                let order = order.get_mut(..n).unwrap_or_default();
                order.sort_by(|a, b| a.0.total_cmp(&b.0));
                if trace.is_some() {
                    let list: Vec<String> = order
                        .iter()
                        .map(|&(dist, i)| match client.loc.coords {
                            Some(_) => format!("{} {:.0} km", dc_name(pool, dcs, i), dist),
                            None => dc_name(pool, dcs, i).to_string(),
                        })
                        .collect();
                    let how = match (client.loc.coords, client.loc.centroid) {
                        (None, _) => "no client location: datacenter order".to_string(),
                        (Some(c), true) => format!(
                            "from the country centroid {:.2}, {:.2}, after bias",
                            c.0, c.1
                        ),
                        (Some(c), false) => format!("from {:.2}, {:.2}, after bias", c.0, c.1),
                    };
                    trace!(
                        trace,
                        "tier {}: nearest ({how}): {}",
                        ti + 1,
                        list.join(", ")
                    );
                }
                for (rank, &(_, i)) in order.iter().enumerate() {
                    if available(pool, i, family, health) {
                        return Some(Choice {
                            dc: i,
                            rank: ti + rank,
                            sticky: false,
                            reason: if ti + rank == 0 {
                                Reason::Nearest
                            } else {
                                Reason::Failover
                            },
                        });
                    }
                    trace!(
                        trace,
                        "  {} has no available {} members",
                        dc_name(pool, dcs, i),
                        family_name(family)
                    );
                }
            }
        }
    }
    None
}
