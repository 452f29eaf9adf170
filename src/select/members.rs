//! Step 3: the members of the chosen datacenter, the top `max_answers` by weighted rendezvous
//! score among those the health view says are up.

use super::score::score;
use super::{Client, Health, Trace, trace};
use crate::model::pool::MAX_ANSWERS;
use crate::model::{Family, Member, Pool};

/// Fills `picks` (best first) and returns whether the choice was sticky (more members up than
/// answered, so the client's network decided).
pub(super) fn pick<'p, H: Health>(
    pool: &'p Pool,
    dc: usize,
    family: Family,
    client: &Client<'_>,
    health: &H,
    picks: &mut [Option<&'p Member>; MAX_ANSWERS],
    trace: &mut Option<&mut Trace>,
) -> bool {
    let members = pool.dcs.get(dc).map_or(&[][..], |d| d.members(family));
    if let ([m], None) = (members, trace.as_ref()) {
        // one member: no score, no ranking; it is the answer when it is up
        if health
            .serving(pool, dc, family, 0)
            .is_some_and(|factor| m.weight * factor > 0.0)
            && let Some(p) = picks.first_mut()
        {
            *p = Some(m);
        }
        return false;
    }
    let mut best: [(f64, usize); MAX_ANSWERS] = [(f64::NEG_INFINITY, usize::MAX); MAX_ANSWERS];
    let k = pool.max_answers.clamp(1, MAX_ANSWERS);
    let top = best.get_mut(..k).unwrap_or_default();
    let mut up_count = 0;
    // a single member needs no score: it is the answer when it is up
    let single = members.len() == 1;
    for (mi, m) in members.iter().enumerate() {
        let Some(factor) = health.serving(pool, dc, family, mi) else {
            continue;
        };
        let weight = m.weight * factor;
        if weight <= 0.0 {
            continue;
        }
        up_count += 1;
        let s = if single {
            0.0
        } else {
            score(client.key, pool.seed, m.key, weight)
        };
        // insert into the sorted top-k
        if top.last().is_some_and(|l| s > l.0) {
            let mut j = k - 1;
            while j > 0 && top.get(j - 1).is_some_and(|p| p.0 < s) {
                top.swap(j, j - 1);
                j -= 1;
            }
            if let Some(slot) = top.get_mut(j) {
                *slot = (s, mi);
            }
        }
    }
    for (slot, &(_, mi)) in picks.iter_mut().zip(top.iter()) {
        *slot = members.get(mi);
    }
    if trace.is_some() {
        let list: Vec<String> = picks
            .iter()
            .flatten()
            .map(|m| format!("{} (weight {})", m.text, m.weight))
            .collect();
        trace!(
            trace,
            "members: {} of {} answered (max_answers {k}), {up_count} up: {}",
            list.len(),
            members.len(),
            list.join(", ")
        );
    }
    if trace.is_some() {
        let out = super::tiers::out_of_service(pool, dc, family, health);
        if !out.is_empty() {
            trace!(trace, "not answered{out}");
        }
    }
    up_count > k
}
