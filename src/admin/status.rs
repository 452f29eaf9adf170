//! `/status`: the served configuration as JSON (generation, hash, reload, overrides, every
//! member's state, zones, GeoIP databases).

use std::fmt::Write as _;

use crate::reload::{self, Handle};
use crate::state::State;

pub(super) fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The reload status as a JSON object.
pub(super) fn reload_json(s: &reload::Status) -> String {
    let last = match &s.last {
        None => "null".to_string(),
        Some(a) => {
            let problems: Vec<String> = a.problems.iter().map(|p| json_str(p)).collect();
            let restart: Vec<String> = a.needs_restart.iter().map(|k| json_str(k)).collect();
            format!(
                "{{\"finished_unix\":{},\"trigger\":{},\"ok\":{},\"millis\":{},\"changes\":{},\"problems\":[{}],\"needs_restart\":[{}]}}",
                a.finished_unix,
                json_str(&a.trigger),
                a.ok,
                a.millis,
                json_str(&a.changes),
                problems.join(","),
                restart.join(",")
            )
        }
    };
    format!(
        "{{\"reloads\":{},\"reloading\":{},\"installed_unix\":{},\"last\":{last}}}",
        s.reloads,
        s.started > s.finished,
        s.installed_unix
    )
}

/// One member's state for `/status`: what decides it (an override, its health check, or
/// nothing: up) and the check's last probe.
fn member_json(
    snap: &crate::state::Snapshot,
    z: &crate::model::Zone,
    pool: &crate::model::Pool,
    dc: &str,
    m: &crate::model::Member,
) -> String {
    let zone = z.position();
    let (up, _, decider) = crate::health::state(&snap.overlay, Some(&snap.health), zone, m.id);
    let by = match decider {
        crate::health::Decider::Override(o) => {
            format!("override {} {}", o.target, o.state.as_str())
        }
        crate::health::Decider::Feed(f) => format!("feed {}", f.state),
        crate::health::Decider::Check(_) => "check".to_string(),
        crate::health::Decider::Nothing => "no check".to_string(),
    };
    // a drained member is still checked: show its check whatever decides
    let slot = snap.health.slot(zone, m.id);
    let detail = (slot != crate::health::UNCHECKED)
        .then(|| snap.health.table.detail(slot))
        .flatten();
    let check = match detail {
        None => "null".to_string(),
        Some(d) => format!(
            "{{\"target\":{},\"up\":{},\"since\":{},\"reason\":{},\"last_ok\":{},\"last_ms\":{},\"probes\":{}}}",
            json_str(&d.target),
            d.up,
            json_str(&crate::time::format_rfc3339(d.since_unix)),
            json_str(&d.reason),
            d.last_ok.map_or("null".to_string(), |b| b.to_string()),
            d.last_ms,
            d.probes
        ),
    };
    format!(
        "{{\"zone\":{},\"pool\":{},\"datacenter\":{},\"member\":{},\"up\":{up},\"decided_by\":{},\"check\":{check}}}",
        json_str(z.origin()),
        json_str(pool.name()),
        json_str(dc),
        json_str(&m.text),
        json_str(&by)
    )
}

/// The `/status` document: generation, configuration hash, the last reload, every zone served.
pub fn status_json(state: &State, reload: &Handle) -> String {
    let rs = reload.status();
    let snap = state.load();
    let zones: Vec<String> = snap
        .zones
        .zones()
        .iter()
        .map(|z| {
            let pools: Vec<String> = z.pools().iter().map(|p| json_str(&p.name)).collect();
            format!(
                "{{\"zone\":{},\"serial\":{},\"names\":{},\"file\":{},\"pools\":[{}]}}",
                json_str(z.origin()),
                z.serial(),
                z.nodes().len(),
                json_str(&z.file().display().to_string()),
                pools.join(",")
            )
        })
        .collect();
    let overrides: Vec<String> = snap
        .overlay
        .active()
        .iter()
        .map(|a| {
            format!(
                "{{\"target\":{},\"state\":{},\"until\":{},\"reason\":{},\"members\":{},\"file\":{},\"line\":{}}}",
                json_str(&a.rule.target.to_string()),
                json_str(a.rule.state.as_str()),
                a.rule
                    .until
                    .map_or("null".to_string(), |u| json_str(&crate::time::format_rfc3339(u))),
                json_str(&a.rule.reason),
                a.members,
                json_str(&a.rule.file.display().to_string()),
                a.rule.line
            )
        })
        .collect();
    let mut members = Vec::new();
    for z in snap.zones.zones() {
        for pool in z.pools() {
            for pdc in &pool.dcs {
                let dc = z.datacenters().get(pdc.dc).map_or("?", |d| d.name.as_str());
                for m in pdc.v4.iter().chain(&pdc.v6).chain(&pdc.names) {
                    members.push(member_json(&snap, z, pool, dc, m));
                }
            }
        }
    }
    let dbs: Vec<String> = snap
        .geo
        .databases
        .iter()
        .map(|d| {
            format!(
                "{{\"file\":{},\"type\":{},\"build_epoch\":{}}}",
                json_str(&d.path.display().to_string()),
                json_str(&d.kind),
                d.build_epoch()
            )
        })
        .collect();
    format!(
        "{{\"version\":{},\"generation\":{},\"config_hash\":{},\"reload\":{},\"overrides\":[{}],\"members\":[{}],\"zones\":[{}],\"geoip\":[{}]}}\n",
        json_str(env!("CARGO_PKG_VERSION")),
        snap.generation,
        json_str(&rs.config_hash),
        reload_json(&rs),
        overrides.join(","),
        members.join(","),
        zones.join(","),
        dbs.join(",")
    )
}
