//! The status page at `/`, for people: every pool's datacenters and members with their state and
//! what decided it, each datacenter's share of the pool's answers over the last minutes, the
//! GeoIP databases and their age, and the last reload with its problems. Server-rendered HTML
//! with its style inline: no script, no outside asset, so it works from a jump host's text
//! browser as well as in a real one.
// The recent-answers ring is touched by the sampler every few seconds and by page renders, never
// by the query path.
#![allow(clippy::disallowed_types)]

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::health::Decider;
use crate::metrics::Metrics;
use crate::model::overrides::OverrideState;
use crate::reload::Status;
use crate::state::Snapshot;

/// How far back "recent" answer shares look.
pub(super) const WINDOW: Duration = Duration::from_secs(300);
/// How often the answer counts are sampled.
const EVERY: Duration = Duration::from_secs(10);

type Counts = BTreeMap<(String, String, String), u64>;

/// Samples of the answer counters over the last [`WINDOW`].
#[derive(Debug, Default)]
pub(super) struct Recent {
    samples: Mutex<VecDeque<(Instant, Counts)>>,
}

fn counts(m: &Metrics) -> Counts {
    let mut c = Counts::new();
    m.each_answer(|z, p, d, v| {
        c.insert((z.to_string(), p.to_string(), d.to_string()), v);
    });
    c
}

impl Recent {
    /// Samples the counters every few seconds, for as long as the endpoint runs.
    pub(super) async fn sample(self: Arc<Self>, m: Arc<Metrics>) {
        loop {
            {
                let mut s = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                s.push_back((now, counts(&m)));
                while s
                    .front()
                    .is_some_and(|(t, _)| now.duration_since(*t) > WINDOW + EVERY)
                {
                    s.pop_front();
                }
            }
            tokio::time::sleep(EVERY).await;
        }
    }

    /// Answers per (zone, pool, datacenter) since the oldest sample, and how long that is.
    fn since_oldest(&self, now: &Counts) -> (Counts, Duration) {
        let s = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        match s.front() {
            None => (now.clone(), Duration::ZERO),
            Some((t, old)) => {
                let d = now
                    .iter()
                    .map(|(k, v)| (k.clone(), v.saturating_sub(*old.get(k).unwrap_or(&0))))
                    .collect();
                (d, t.elapsed())
            }
        }
    }
}

/// `<`, `>`, `&`, `"` and `'` escaped.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// "3 h 20 min", "12 s".
fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} days", s / 86_400),
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}h3{font-size:1em;margin:1.2em 0 .3em}\
table{border-collapse:collapse;margin:.3em 0}th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}\
th{background:#f4f4f4}.up{color:#196c2e;font-weight:600}.down{color:#b3261e;font-weight:600}\
.drained{color:#8a5a00;font-weight:600}.degraded{color:#8a5a00}.muted{color:#777}\
.bar{display:inline-block;height:.7em;background:#4a7bd0;vertical-align:middle}\
code{background:#f4f4f4;padding:0 .2em}";

/// The page.
pub(super) fn render(
    snap: &Snapshot,
    status: &Status,
    metrics: Option<&Metrics>,
    recent: &Recent,
) -> String {
    let now = crate::time::now_unix();
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <meta http-equiv=\"refresh\" content=\"15\">\
         <title>geosteer status</title><style>{STYLE}</style></head><body>\n\
         <h1>geosteer {}</h1>\n<p>generation <b>{}</b>, configuration <code>{}</code>, installed {} ago. \
         <a href=\"/metrics\">metrics</a> · <a href=\"/status\">status (JSON)</a></p>\n",
        esc(env!("CARGO_PKG_VERSION")),
        snap.generation,
        esc(&status.config_hash),
        age(now - i64::try_from(status.installed_unix).unwrap_or(now)),
    );

    // the last reload
    h.push_str("<h2>Last reload</h2>\n");
    match &status.last {
        None => h.push_str("<p class=\"muted\">none since the server started</p>\n"),
        Some(a) => {
            let _ = writeln!(
                h,
                "<p id=\"reload\" class=\"{}\">{} ({}), {} ago, {} ms</p>",
                if a.ok { "up" } else { "down" },
                if a.ok {
                    "succeeded"
                } else {
                    "failed: the previous configuration keeps serving"
                },
                esc(&a.trigger),
                age(now - i64::try_from(a.finished_unix).unwrap_or(now)),
                a.millis
            );
            if !a.changes.is_empty() {
                let _ = writeln!(h, "<p>{}</p>", esc(&a.changes));
            }
            if !a.problems.is_empty() {
                h.push_str("<ul>");
                for p in &a.problems {
                    let _ = write!(h, "<li><code>{}</code></li>", esc(p));
                }
                h.push_str("</ul>\n");
            }
        }
    }

    // pools
    let (recent_counts, span) = match metrics {
        Some(m) => {
            let (c, d) = recent.since_oldest(&counts(m));
            (Some(c), d)
        }
        None => (None, Duration::ZERO),
    };
    h.push_str("<h2>Pools</h2>\n");
    for z in snap.zones.zones() {
        for pool in z.pools() {
            let _ = write!(
                h,
                "<h3 id=\"pool-{0}-{1}\">{1} <span class=\"muted\">in {0}</span></h3>\n\
                 <table><tr><th>datacenter</th><th>state</th><th>answers, last {2}</th><th>member</th><th>member state</th><th>decided by</th><th>why</th></tr>\n",
                esc(z.origin()),
                esc(&pool.name),
                if span.is_zero() {
                    "minutes".to_string()
                } else {
                    age(i64::try_from(span.as_secs()).unwrap_or(0))
                }
            );
            let total: u64 = recent_counts.as_ref().map_or(0, |c| {
                c.iter()
                    .filter(|((zz, p, _), _)| zz == z.origin() && *p == pool.name)
                    .map(|(_, v)| v)
                    .sum()
            });
            for pdc in &pool.dcs {
                let dc = z.datacenters().get(pdc.dc).map_or("?", |d| d.name.as_str());
                let members: Vec<_> = pdc.v4.iter().chain(&pdc.v6).chain(&pdc.names).collect();
                let states: Vec<_> = members
                    .iter()
                    .map(|m| {
                        crate::health::state(&snap.overlay, Some(&snap.health), z.position(), m.id)
                    })
                    .collect();
                let up = states.iter().filter(|s| s.0).count();
                let drained = !states.is_empty()
                    && states.iter().all(
                        |s| matches!(s.2, Decider::Override(o) if o.state == OverrideState::Drain),
                    );
                let (class, word) = if drained {
                    ("drained", "drained".to_string())
                } else if up == 0 {
                    ("down", "down".to_string())
                } else if up < states.len() {
                    (
                        "degraded",
                        format!("degraded ({up} of {} up)", states.len()),
                    )
                } else {
                    ("up", "in service".to_string())
                };
                let n = recent_counts.as_ref().map_or(0, |c| {
                    *c.get(&(z.origin().to_string(), pool.name.clone(), dc.to_string()))
                        .unwrap_or(&0)
                });
                let share = if total > 0 {
                    n as f64 * 100.0 / total as f64
                } else {
                    0.0
                };
                let rows = members.len().max(1);
                let _ = write!(
                    h,
                    "<tr class=\"dc\" data-dc=\"{0}\"><td rowspan=\"{rows}\"><b>{0}</b></td><td rowspan=\"{rows}\" class=\"{class}\">{1}</td>\
                     <td rowspan=\"{rows}\"><span class=\"bar\" style=\"width:{2:.0}px\"></span> {3:.0}% <span class=\"muted\">({n})</span></td>",
                    esc(dc),
                    esc(&word),
                    share.max(0.0),
                    share
                );
                if members.is_empty() {
                    h.push_str("<td colspan=\"4\" class=\"muted\">no members</td></tr>\n");
                }
                for (i, (m, (mup, _, decider))) in members.iter().zip(&states).enumerate() {
                    if i > 0 {
                        h.push_str("<tr>");
                    }
                    let (by, why) = match decider {
                        Decider::Override(o) => (
                            format!("override: {} {}", o.state.as_str(), o.target),
                            format!(
                                "{}{}",
                                o.reason,
                                o.until.map_or(String::new(), |u| format!(
                                    " (until {})",
                                    crate::time::format_rfc3339(u)
                                ))
                            ),
                        ),
                        Decider::Feed(f) => (format!("feed: {}", f.state), String::new()),
                        Decider::Check(slot) => {
                            let d = snap.health.table.detail(*slot).unwrap_or_default();
                            (
                                format!("check: {}", d.check),
                                if d.up {
                                    d.last_ok.map_or("not probed yet".to_string(), |_| {
                                        format!("last probe {} ms", d.last_ms)
                                    })
                                } else {
                                    d.reason.clone()
                                },
                            )
                        }
                        Decider::Nothing => ("no check".to_string(), String::new()),
                    };
                    let _ = writeln!(
                        h,
                        "<td><code>{}</code></td><td class=\"member {}\">{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&m.text),
                        if *mup { "up" } else { "down" },
                        if *mup { "up" } else { "down" },
                        esc(&by),
                        esc(&why)
                    );
                }
            }
            h.push_str("</table>\n");
        }
    }
    if snap.zones.zones().iter().all(|z| z.pools().is_empty()) {
        h.push_str("<p class=\"muted\">no pools configured</p>\n");
    }

    // overrides
    let active = snap.overlay.active();
    if !active.is_empty() {
        h.push_str("<h2>Overrides in force</h2>\n<table><tr><th>target</th><th>state</th><th>until</th><th>reason</th><th>members</th><th>file</th></tr>\n");
        for a in active {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}:{}</code></td></tr>",
                esc(&a.rule.target.to_string()),
                esc(a.rule.state.as_str()),
                a.rule
                    .until
                    .map_or("removed by hand".to_string(), crate::time::format_rfc3339),
                esc(&a.rule.reason),
                a.members,
                esc(&a.rule.file.display().to_string()),
                a.rule.line
            );
        }
        h.push_str("</table>\n");
    }

    // zones and GeoIP
    h.push_str("<h2>Zones</h2>\n<table><tr><th>zone</th><th>serial</th><th>names</th><th>pools</th><th>file</th></tr>\n");
    for z in snap.zones.zones() {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(z.origin()),
            z.serial(),
            z.nodes().len(),
            z.pools().len(),
            esc(&z.file().display().to_string())
        );
    }
    h.push_str("</table>\n<h2>GeoIP databases</h2>\n");
    if snap.geo.databases.is_empty() {
        h.push_str("<p class=\"down\">none loaded: clients follow network rules or the default route</p>\n");
    } else {
        h.push_str("<table><tr><th>file</th><th>type</th><th>built</th><th>age</th></tr>\n");
        for db in &snap.geo.databases {
            let built = i64::try_from(db.build_epoch()).unwrap_or(0);
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&db.path.display().to_string()),
                esc(&db.kind),
                crate::time::format_rfc3339(built),
                age(now - built)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</body></html>\n");
    h
}
