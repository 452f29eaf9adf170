//! `/metrics`: every counter of [`crate::metrics`], the health checks' counts, the member states
//! the snapshot decides, and the reload status, in the Prometheus text format (or OpenMetrics,
//! when the scraper asks for it), through the prometheus-client crate's encoders.
//!
//! Everything is read at scrape time: counters from their atomics, gauges from the snapshot and
//! the reload status. Labels come only from the configuration (zones, pools, datacenters,
//! members, checks) and fixed lists (query types, response codes, transports, reasons), never from
//! a query.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::health::PROBE_BUCKETS_MS;
use crate::metrics::{self, Histogram, Metrics, TRANSPORTS};
use crate::reload::Status;
use crate::state::Snapshot;

/// The Prometheus text format's content type.
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The OpenMetrics text format's content type.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One scrape's view: the counters, the snapshot served, the reload status.
#[derive(Debug)]
struct Scrape {
    metrics: Arc<Metrics>,
    snap: Arc<Snapshot>,
    status: Status,
}

/// The scrape body and its content type.
pub(super) fn render(
    metrics: &Arc<Metrics>,
    snap: &Arc<Snapshot>,
    status: &Status,
    openmetrics: bool,
) -> (&'static str, String) {
    let mut registry = Registry::with_prefix("geosteer");
    registry.register_collector(Box::new(Scrape {
        metrics: metrics.clone(),
        snap: snap.clone(),
        status: status.clone(),
    }));
    let mut out = String::with_capacity(16 * 1024);
    let r = if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
    };
    if r.is_err() {
        tracing::warn!("encoding the metrics failed");
    }
    (if openmetrics { OPENMETRICS } else { PROMETHEUS }, out)
}

/// One metric family being written.
struct Family<'a> {
    enc: prometheus_client::encoding::MetricEncoder<'a>,
}

fn family<'a>(
    enc: &'a mut DescriptorEncoder<'_>,
    name: &'a str,
    help: &str,
    kind: MetricType,
) -> Result<Family<'a>, std::fmt::Error> {
    Ok(Family {
        enc: enc.encode_descriptor(name, help, None, kind)?,
    })
}

impl Family<'_> {
    fn counter<const N: usize>(
        &mut self,
        labels: [(&str, &str); N],
        v: u64,
    ) -> Result<(), std::fmt::Error> {
        self.enc
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(&v, None)
    }

    fn gauge<const N: usize>(
        &mut self,
        labels: [(&str, &str); N],
        v: f64,
    ) -> Result<(), std::fmt::Error> {
        self.enc.encode_family(&labels)?.encode_gauge(&v)
    }

    fn histogram<const N: usize>(
        &mut self,
        labels: [(&str, &str); N],
        (sum, count, buckets): (f64, u64, Vec<(f64, u64)>),
    ) -> Result<(), std::fmt::Error> {
        self.enc
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn histograms(
        &mut self,
        by_transport: impl Fn(&metrics::TransportCells) -> &Histogram,
        m: &Metrics,
    ) -> Result<(), std::fmt::Error> {
        for (t, cells) in TRANSPORTS.iter().zip(&m.common().transports) {
            self.histogram([("transport", t)], by_transport(cells).snapshot())?;
        }
        Ok(())
    }
}

fn load(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(std::sync::atomic::Ordering::Relaxed)
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge, Histogram as Hist};
        let m = &*self.metrics;
        let snap = &*self.snap;

        // queries and responses, by zone
        let mut per_zone = Vec::new();
        m.each_zone(|zone, cells| {
            cells.each(|q, r, t, v| per_zone.push((zone.to_string(), q, r, t, v)));
        });
        {
            let mut f = family(
                &mut e,
                "queries",
                "Queries answered, by zone, query type and transport (dropped packets are in queries_dropped).",
                Counter,
            )?;
            let mut sums: std::collections::BTreeMap<(&str, usize, usize), u64> =
                std::collections::BTreeMap::new();
            for (zone, q, _, t, v) in &per_zone {
                *sums.entry((zone.as_str(), *q, *t)).or_default() += v;
            }
            for ((zone, q, t), v) in sums {
                f.counter(
                    [
                        ("zone", zone),
                        ("qtype", metrics::qtype_label(q)),
                        ("transport", TRANSPORTS.get(t).unwrap_or(&"?")),
                    ],
                    v,
                )?;
            }
        }
        {
            let mut f = family(
                &mut e,
                "responses",
                "Responses sent, by zone, query type, response code and transport.",
                Counter,
            )?;
            for (zone, q, r, t, v) in &per_zone {
                f.counter(
                    [
                        ("zone", zone.as_str()),
                        ("qtype", metrics::qtype_label(*q)),
                        ("rcode", metrics::rcode_label(*r)),
                        ("transport", TRANSPORTS.get(*t).unwrap_or(&"?")),
                    ],
                    *v,
                )?;
            }
        }
        let c = m.common();
        {
            let mut f = family(
                &mut e,
                "queries_dropped",
                "Packets not answered: too short to be DNS, a response, or garbage on TCP.",
                Counter,
            )?;
            for (t, cells) in TRANSPORTS.iter().zip(&c.transports) {
                f.counter([("transport", t)], load(&cells.dropped))?;
            }
        }
        {
            let mut f = family(
                &mut e,
                "responses_truncated",
                "Responses sent with TC=1 (too large for the client's UDP payload size).",
                Counter,
            )?;
            for (t, cells) in TRANSPORTS.iter().zip(&c.transports) {
                f.counter([("transport", t)], load(&cells.truncated))?;
            }
        }
        family(
            &mut e,
            "query_duration_seconds",
            "Time from reading a query to its response ready to send.",
            Hist,
        )?
        .histograms(|t| &t.latency, m)?;
        family(
            &mut e,
            "request_size_bytes",
            "Size of the query packets.",
            Hist,
        )?
        .histograms(|t| &t.request_size, m)?;
        family(
            &mut e,
            "response_size_bytes",
            "Size of the responses sent.",
            Hist,
        )?
        .histograms(|t| &t.response_size, m)?;

        // pool decisions
        {
            let mut f = family(
                &mut e,
                "pool_decisions",
                "Pool answers by the route rule that matched the client and how the datacenter was chosen (first, nearest, split, failover, fallback, fail_open) or why none was (geofence, no_members, all_down).",
                Counter,
            )?;
            let mut rows = Vec::new();
            m.each_pool(|zone, pool, cells| {
                cells.each(|rule, reason, v| {
                    rows.push((zone.to_string(), pool.to_string(), rule, reason, v));
                });
            });
            for (zone, pool, rule, reason, v) in &rows {
                f.counter(
                    [
                        ("zone", zone.as_str()),
                        ("pool", pool.as_str()),
                        ("rule", rule.name()),
                        ("reason", reason.name()),
                    ],
                    *v,
                )?;
            }
        }
        {
            let mut f = family(
                &mut e,
                "pool_answers",
                "Pool answers by the datacenter that answered (a fallback pool's datacenter counts under the pool asked).",
                Counter,
            )?;
            // the pool's own datacenters always (at zero too), others once they answered
            let own: std::collections::BTreeSet<(String, String, String)> = snap
                .zones
                .zones()
                .iter()
                .flat_map(|z| {
                    z.pools().iter().flat_map(move |p| {
                        p.dcs.iter().filter_map(move |pdc| {
                            let dc = z.datacenters().get(pdc.dc)?;
                            Some((z.origin().to_string(), p.name.clone(), dc.name.clone()))
                        })
                    })
                })
                .collect();
            let mut rows = Vec::new();
            m.each_answer(|zone, pool, dc, v| {
                let key = (zone.to_string(), pool.to_string(), dc.to_string());
                if v > 0 || own.contains(&key) {
                    rows.push((key, v));
                }
            });
            for ((zone, pool, dc), v) in &rows {
                f.counter(
                    [
                        ("zone", zone.as_str()),
                        ("pool", pool.as_str()),
                        ("datacenter", dc.as_str()),
                    ],
                    *v,
                )?;
            }
        }
        {
            let mut f = family(
                &mut e,
                "ecs_queries",
                "Queries with a usable EDNS Client Subnet option, by the subnet's family.",
                Counter,
            )?;
            for (fam, cell) in ["ipv4", "ipv6"].iter().zip(&c.ecs) {
                f.counter([("family", fam)], load(cell))?;
            }
        }
        {
            let mut f = family(
                &mut e,
                "ecs_responses",
                "Responses to ECS queries by the scope prefix length returned.",
                Counter,
            )?;
            for (fam, scopes) in ["ipv4", "ipv6"].iter().zip(&c.ecs_scope) {
                for (scope, cell) in scopes.iter().enumerate() {
                    let v = load(cell);
                    if v > 0 {
                        f.counter([("family", fam), ("scope", &scope.to_string())], v)?;
                    }
                }
            }
        }
        family(
            &mut e,
            "geoip_misses",
            "Pool answers for clients the GeoIP databases know nothing of (they follow the default route).",
            Counter,
        )?
        .counter([], load(&c.geoip_misses))?;
        {
            let mut f = family(
                &mut e,
                "query_log_lines",
                "Query log lines written, and dropped (queue full or write failed).",
                Counter,
            )?;
            f.counter([("result", "written")], load(&c.query_log_written))?;
            f.counter([("result", "dropped")], load(&c.query_log_dropped))?;
        }

        {
            let mut f = family(
                &mut e,
                "rrl_responses",
                "UDP responses response rate limiting sent truncated (slipped), dropped, sent as BADCOOKIE (the client sent a cookie), or let through for a valid server cookie (cookie_exempt).",
                Counter,
            )?;
            f.counter([("action", "slipped")], load(&c.rrl_slipped))?;
            f.counter([("action", "dropped")], load(&c.rrl_dropped))?;
            f.counter([("action", "badcookie")], load(&c.rrl_badcookie))?;
            f.counter([("action", "cookie_exempt")], load(&c.rrl_cookie_exempt))?;
        }
        {
            let mut f = family(
                &mut e,
                "cookies",
                "Queries with a DNS cookie, by what it proved: client cookie only, a valid server cookie, an invalid or expired one.",
                Counter,
            )?;
            for v in crate::wire::cookie::Verdict::ALL {
                if let Some(n) = c.cookies.get(v as usize) {
                    f.counter([("result", v.as_str())], load(n))?;
                }
            }
        }
        family(
            &mut e,
            "worker_panics",
            "Queries (over UDP, batches of them) whose answering panicked: dropped, and the worker goes on (a bug: please report it).",
            Counter,
        )?
        .counter([], load(&c.worker_panics))?;

        // members and health checks
        {
            let mut f = family(
                &mut e,
                "member_up",
                "1 when a pool member is in service (its override, the feed, or its health check say so), else 0.",
                Gauge,
            )?;
            for z in snap.zones.zones() {
                for pool in z.pools() {
                    for pdc in &pool.dcs {
                        let dc = z.datacenters().get(pdc.dc).map_or("?", |d| d.name.as_str());
                        for mem in pdc.v4.iter().chain(&pdc.v6).chain(&pdc.names) {
                            let (up, _, _) = crate::health::state(
                                &snap.overlay,
                                Some(&snap.health),
                                z.position(),
                                mem.id,
                            );
                            f.gauge(
                                [
                                    ("zone", z.origin()),
                                    ("pool", pool.name.as_str()),
                                    ("datacenter", dc),
                                    ("member", mem.text.as_str()),
                                ],
                                if up { 1.0 } else { 0.0 },
                            )?;
                        }
                    }
                }
            }
        }
        let details: Vec<crate::health::Detail> = snap
            .health
            .used_slots()
            .into_iter()
            .filter_map(|s| snap.health.table.detail(s))
            .filter(|d| !d.check.is_empty())
            .collect();
        {
            let mut f = family(
                &mut e,
                "health_target_up",
                "1 when a health check's target is up by its own probes (overrides aside).",
                Gauge,
            )?;
            for d in &details {
                f.gauge(
                    [("check", d.check.as_str()), ("target", d.address.as_str())],
                    if d.up { 1.0 } else { 0.0 },
                )?;
            }
        }
        {
            let mut f = family(
                &mut e,
                "health_probes",
                "Health check probes by result.",
                Counter,
            )?;
            for d in &details {
                let l = |r| {
                    [
                        ("check", d.check.as_str()),
                        ("target", d.address.as_str()),
                        ("result", r),
                    ]
                };
                f.counter(l("ok"), d.probes - d.failures)?;
                f.counter(l("fail"), d.failures)?;
            }
        }
        {
            let mut f = family(
                &mut e,
                "health_transitions",
                "Health check targets changing state, by the state they changed to.",
                Counter,
            )?;
            for d in &details {
                let l = |to| {
                    [
                        ("check", d.check.as_str()),
                        ("target", d.address.as_str()),
                        ("to", to),
                    ]
                };
                f.counter(l("up"), d.ups)?;
                f.counter(l("down"), d.downs)?;
            }
        }
        {
            let mut f = family(
                &mut e,
                "health_probe_duration_seconds",
                "Health check probe durations.",
                Hist,
            )?;
            for d in &details {
                let buckets = d
                    .ms_buckets
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| {
                        let bound = PROBE_BUCKETS_MS
                            .get(i)
                            .map_or(f64::INFINITY, |&b| b as f64 / 1000.0);
                        (bound, n)
                    })
                    .collect();
                f.histogram(
                    [("check", d.check.as_str()), ("target", d.address.as_str())],
                    (d.ms_sum as f64 / 1000.0, d.probes, buckets),
                )?;
            }
        }
        family(
            &mut e,
            "overrides_active",
            "Overrides (drain, down, up) in force, from the overrides file and the feed.",
            Gauge,
        )?
        .gauge([], snap.overlay.active().len() as f64)?;

        // configuration and reloads
        let s = &self.status;
        {
            let mut f = family(
                &mut e,
                "reloads",
                "Reloads attempted, by result (an automatic trigger that finds nothing changed is not counted).",
                Counter,
            )?;
            f.counter([("result", "ok")], s.succeeded)?;
            f.counter([("result", "failed")], s.reloads - s.succeeded)?;
        }
        family(
            &mut e,
            "reload_last_success_timestamp_seconds",
            "When the configuration being served was installed (Unix time).",
            Gauge,
        )?
        .gauge([], s.installed_unix as f64)?;
        family(
            &mut e,
            "reload_last_attempt_successful",
            "0 when the last reload attempt failed (the previous configuration keeps serving), else 1.",
            Gauge,
        )?
        .gauge([], if s.last.as_ref().is_none_or(|a| a.ok) { 1.0 } else { 0.0 })?;
        family(
            &mut e,
            "config_generation",
            "The generation of the configuration being served (1 at start, +1 per reload installed).",
            Gauge,
        )?
        .gauge([], snap.generation as f64)?;
        family(
            &mut e,
            "config_info",
            "The content hash of the configuration being served: equal on every node that serves the same files.",
            Gauge,
        )?
        .gauge([("config_hash", s.config_hash.as_str())], 1.0)?;
        {
            let mut f = family(
                &mut e,
                "zone_serial",
                "The SOA serial of each zone served.",
                Gauge,
            )?;
            for z in snap.zones.zones() {
                f.gauge([("zone", z.origin())], f64::from(z.serial()))?;
            }
        }
        {
            let mut f = family(
                &mut e,
                "geoip_build_timestamp_seconds",
                "When each GeoIP database was built (Unix time, from its metadata).",
                Gauge,
            )?;
            for db in &snap.geo.databases {
                f.gauge(
                    [
                        ("database", &db.path.display().to_string()),
                        ("type", db.kind.as_str()),
                    ],
                    db.build_epoch() as f64,
                )?;
            }
        }
        family(
            &mut e,
            "build_info",
            "The geosteer version running (always 1).",
            Gauge,
        )?
        .gauge([("version", env!("CARGO_PKG_VERSION"))], 1.0)?;
        family(
            &mut e,
            "start_time_seconds",
            "When the process started (Unix time).",
            Gauge,
        )?
        .gauge([], m.started_unix() as f64)?;
        Ok(())
    }
}
