//! Reading `zones/<zone>.pools.toml` and validating it against its zone: the pools, their
//! datacenters ([`datacenters`]), owner names and members ([`members`]) and routes ([`routes`]).
//!
//! Every problem is reported with file and line. Each top-level entry (a datacenter, a pool) is
//! deserialised on its own, so a mistake in one pool does not hide mistakes in another. The result
//! is a [`PoolSet`] that [`crate::model::ZoneBuilder::freeze`] binds into the zone.

mod checks;
mod datacenters;
mod members;
mod routes;
mod spec;

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use spec::{CheckSpec, DcSpec, OnAllDownSpec, PoolSpec};

use crate::error::{Problem, line_of};
use crate::model::{Datacenter, OnAllDown, Pool, PoolKind, ZoneBuilder};
use crate::net::stable_hash;
use crate::wire::name::to_text;

/// What a pool file adds to its zone: datacenters, pools, and the owner names each pool answers.
#[derive(Debug, Default)]
pub struct PoolSet {
    pub datacenters: Vec<Datacenter>,
    pub pools: Vec<Pool>,
    /// (lower-case wire owner name, index into `pools`)
    pub bindings: Vec<(Vec<u8>, u32)>,
}

/// TTL of pool answers unless the pool sets one.
pub const DEFAULT_TTL: u32 = 60;
/// Datacenters one pool may span (`nearest` orders them on the stack).
pub const MAX_POOL_DCS: usize = 64;

/// The pool file that belongs to a zone file: `example.com.zone` → `example.com.pools.toml`.
pub fn pool_file_for(zone_file: &Path) -> std::path::PathBuf {
    let stem = zone_file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    zone_file.with_file_name(format!("{stem}.pools.toml"))
}

pub(super) struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    problems: &'a mut Vec<Problem>,
}

impl Ctx<'_> {
    pub(super) fn at(&mut self, span: std::ops::Range<usize>, msg: impl Into<String>) {
        let line = line_of(self.text, span.start);
        self.problems.push(Problem::new(self.file, line, msg));
    }

    pub(super) fn serde(&mut self, e: toml::de::Error, fallback: std::ops::Range<usize>) {
        let span = e.span().unwrap_or(fallback);
        let line = line_of(self.text, span.start);
        let text = self.text.lines().nth(line.saturating_sub(1)).unwrap_or("");
        let msg = crate::error::friendly_serde(e.message(), text);
        self.at(span, msg);
    }
}

pub(super) fn deserialize<'a, T: Deserialize<'a>>(
    v: &Spanned<DeValue<'a>>,
) -> Result<T, toml::de::Error> {
    T::deserialize(ValueDeserializer::from(v.clone()))
}

/// Reads the pool file of `zone` and validates it against the zone. Problems are appended;
/// `None` when there was any.
pub fn read(zone: &ZoneBuilder, path: &Path, problems: &mut Vec<Problem>) -> Option<PoolSet> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(Problem::new(path, 0, format!("cannot read: {e}")));
            return None;
        }
    };
    let start = problems.len();
    let mut cx = Ctx {
        file: path,
        text: &text,
        problems,
    };
    let root = match DeTable::parse(&text) {
        Ok(r) => r,
        Err(e) => {
            cx.serde(e, 0..0);
            return None;
        }
    };
    let mut version = None;
    let mut dc_specs: Vec<(String, std::ops::Range<usize>, DcSpec)> = Vec::new();
    let mut pool_specs: Vec<(String, std::ops::Range<usize>, PoolSpec)> = Vec::new();
    let mut check_specs: Vec<(String, std::ops::Range<usize>, CheckSpec)> = Vec::new();
    for (k, v) in root.get_ref().iter() {
        match k.get_ref().as_ref() {
            "version" => match deserialize::<i64>(v) {
                Ok(1) => version = Some(1),
                Ok(n) => cx.at(
                    v.span(),
                    format!("version {n} is not supported (this geosteer reads version = 1)"),
                ),
                Err(e) => cx.serde(e, v.span()),
            },
            "datacenters" => match v.get_ref() {
                DeValue::Table(t) => {
                    for (name, dv) in t.iter() {
                        match deserialize::<DcSpec>(dv) {
                            Ok(s) => dc_specs.push((name.get_ref().to_string(), dv.span(), s)),
                            Err(e) => cx.serde(e, dv.span()),
                        }
                    }
                }
                _ => cx.at(v.span(), "datacenters must be a table: [datacenters]"),
            },
            "checks" => match v.get_ref() {
                DeValue::Table(t) => {
                    for (name, cv) in t.iter() {
                        match deserialize::<CheckSpec>(cv) {
                            Ok(s) => check_specs.push((name.get_ref().to_string(), cv.span(), s)),
                            Err(e) => cx.serde(e, cv.span()),
                        }
                    }
                }
                _ => cx.at(v.span(), "checks must be a table: [checks.NAME]"),
            },
            "pools" => match v.get_ref() {
                DeValue::Table(t) => {
                    for (name, pv) in t.iter() {
                        match deserialize::<PoolSpec>(pv) {
                            Ok(s) => pool_specs.push((name.get_ref().to_string(), pv.span(), s)),
                            Err(e) => cx.serde(e, pv.span()),
                        }
                    }
                }
                _ => cx.at(v.span(), "pools must be a table: [pools.NAME]"),
            },
            other => cx.at(
                k.span(),
                format!("unknown key '{other}' (expected version, datacenters, checks, pools)"),
            ),
        }
    }
    if version.is_none() && !root.get_ref().contains_key("version") {
        cx.at(0..0, "missing 'version = 1' at the top of the pool file");
    }

    let datacenters = datacenters::build(&mut cx, dc_specs);
    let checks = checks::build(&mut cx, check_specs, zone.apex());
    let dc_index: HashMap<&str, usize> = datacenters
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.as_str(), i))
        .collect();
    let pool_index: HashMap<String, usize> = pool_specs
        .iter()
        .enumerate()
        .map(|(i, (n, _, _))| (n.clone(), i))
        .collect();
    let fallbacks: Vec<(String, Option<String>, usize)> = pool_specs
        .iter()
        .map(|(n, span, spec)| {
            let fb = match spec.on_all_down.as_ref().map(|o| o.get_ref()) {
                Some(OnAllDownSpec::Pool(p)) => Some(p.clone()),
                _ => None,
            };
            (n.clone(), fb, line_of(&text, span.start))
        })
        .collect();
    check_fallback_cycles(&mut cx, &fallbacks);
    let mut pools = Vec::new();
    let mut owners: Vec<(Vec<u8>, usize)> = Vec::new();
    let mut claimed: HashMap<Vec<u8>, String> = HashMap::new();
    let next_id = std::cell::Cell::new(0);
    for (name, span, spec) in pool_specs {
        let b = PoolBuilder {
            zone,
            datacenters: &datacenters,
            dc_index: &dc_index,
            pool_index: &pool_index,
            next_id: &next_id,
            checks: &checks,
        };
        if let Some((pool, names)) = b.build(&mut cx, &name, span, spec) {
            let idx = pools.len();
            for (n, nspan) in names {
                if let Some(other) = claimed.get(&n) {
                    cx.at(
                        nspan,
                        format!("{} is already answered by pool '{other}'", to_text(&n)),
                    );
                    continue;
                }
                claimed.insert(n.clone(), name.clone());
                owners.push((n, idx));
            }
            pools.push(pool);
        }
    }
    if cx.problems.len() > start {
        return None;
    }
    Some(PoolSet {
        datacenters,
        pools,
        bindings: owners
            .into_iter()
            .map(|(n, i)| (n, u32::try_from(i).unwrap_or(u32::MAX)))
            .collect(),
    })
}

pub(super) struct PoolBuilder<'a> {
    pub(super) zone: &'a ZoneBuilder,
    pub(super) datacenters: &'a [Datacenter],
    pub(super) dc_index: &'a HashMap<&'a str, usize>,
    pub(super) pool_index: &'a HashMap<String, usize>,
    /// The next member id of the zone.
    pub(super) next_id: &'a std::cell::Cell<u32>,
    /// The file's checks by name.
    pub(super) checks: &'a HashMap<String, std::sync::Arc<crate::model::Check>>,
}

pub(super) type Owners = Vec<(Vec<u8>, std::ops::Range<usize>)>;

impl PoolBuilder<'_> {
    pub(super) fn build(
        &self,
        cx: &mut Ctx<'_>,
        name: &str,
        span: std::ops::Range<usize>,
        spec: PoolSpec,
    ) -> Option<(Pool, Owners)> {
        let before = cx.problems.len();
        let kind = match &spec.kind {
            None => PoolKind::Address,
            Some(k) => {
                match k.get_ref().to_ascii_uppercase().as_str() {
                    "A" | "ADDRESS" => PoolKind::Address,
                    "CNAME" => PoolKind::Cname,
                    other => {
                        cx.at(
                        k.span(),
                        format!("pool '{name}': type '{other}' is not \"A\" (addresses) or \"CNAME\""),
                    );
                        PoolKind::Address
                    }
                }
            }
        };
        let ttl = self.ttl(cx, name, "ttl", &spec.ttl).unwrap_or(DEFAULT_TTL);
        let ttl_degraded = self
            .ttl(cx, name, "ttl_degraded", &spec.ttl_degraded)
            .unwrap_or(ttl.min(10));
        if ttl_degraded > ttl {
            let s = spec
                .ttl_degraded
                .as_ref()
                .map_or(span.clone(), |t| t.span());
            cx.at(
                s,
                format!("pool '{name}': ttl_degraded ({ttl_degraded}) is larger than ttl ({ttl})"),
            );
        }
        let max_answers = match &spec.max_answers {
            None => 1,
            Some(m) if (1..=crate::model::pool::MAX_ANSWERS as i64).contains(m.get_ref()) => {
                *m.get_ref() as usize
            }
            Some(m) => {
                cx.at(
                    m.span(),
                    format!(
                        "pool '{name}': max_answers must be 1–{}",
                        crate::model::pool::MAX_ANSWERS
                    ),
                );
                1
            }
        };

        let owners = self.owners(cx, name, kind, &spec.names);
        let dcs = self.members(cx, name, kind, &spec.members);
        let dc_of: HashMap<&str, usize> = dcs
            .iter()
            .enumerate()
            .map(|(i, d)| (self.datacenters[d.dc].name.as_str(), i))
            .collect();
        let route = self.route(cx, name, &dcs, &dc_of, spec.route.as_ref());
        let on_all_down = match &spec.on_all_down {
            None => OnAllDown::All,
            Some(o) => match o.get_ref() {
                OnAllDownSpec::Word(w) => match w.as_str() {
                    "all" => OnAllDown::All,
                    "nodata" => OnAllDown::NoData,
                    "servfail" => OnAllDown::ServFail,
                    other => {
                        cx.at(o.span(), format!("pool '{name}': on_all_down '{other}' is not \"all\", \"nodata\", \"servfail\" or {{ pool = \"…\" }}"));
                        OnAllDown::All
                    }
                },
                OnAllDownSpec::Pool(p) => match self.pool_index.get(p) {
                    Some(&i) => OnAllDown::Pool(i),
                    None => {
                        cx.at(o.span(), format!("pool '{name}': on_all_down names the pool '{p}', which this file does not define"));
                        OnAllDown::All
                    }
                },
            },
        };
        let min_healthy = match &spec.min_healthy {
            None => 0.0,
            Some(m) if (0.0..=1.0).contains(m.get_ref()) => *m.get_ref(),
            Some(m) => {
                cx.at(
                    m.span(),
                    format!("pool '{name}': min_healthy must be a fraction from 0 to 1 (0.5: half the weight)"),
                );
                0.0
            }
        };
        let check = match &spec.check {
            None => None,
            Some(c) => match self.checks.get(c.get_ref()) {
                Some(chk) if kind == PoolKind::Cname => {
                    cx.at(
                        c.span(),
                        format!("pool '{name}': a CNAME pool's members are names, which check '{}' cannot probe", chk.name),
                    );
                    None
                }
                Some(chk) => Some(chk.clone()),
                None => {
                    cx.at(
                        c.span(),
                        format!(
                            "pool '{name}': unknown check '{}' (define it under [checks.{}])",
                            c.get_ref(),
                            c.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        if cx.problems.len() > before {
            return None;
        }
        let line = line_of(cx.text, span.start);
        Some((
            Pool {
                name: name.to_string(),
                kind,
                ttl,
                ttl_degraded,
                max_answers,
                on_all_down,
                min_healthy,
                check,
                dcs,
                route,
                seed: stable_hash(&[self.zone.origin().as_bytes(), name.as_bytes()]),
                file: cx.file.to_path_buf(),
                line,
            },
            owners,
        ))
    }

    fn ttl(
        &self,
        cx: &mut Ctx<'_>,
        pool: &str,
        key: &str,
        v: &Option<Spanned<i64>>,
    ) -> Option<u32> {
        let v = v.as_ref()?;
        if (0..=i64::from(i32::MAX)).contains(v.get_ref()) {
            Some(*v.get_ref() as u32)
        } else {
            cx.at(
                v.span(),
                format!("pool '{pool}': {key} must be 0–2147483647 seconds"),
            );
            None
        }
    }
}

/// Reports each cycle of `{ pool = … }` fallbacks once, at the first of its pools in the file.
fn check_fallback_cycles(cx: &mut Ctx<'_>, fallbacks: &[(String, Option<String>, usize)]) {
    let index: HashMap<&str, usize> = fallbacks
        .iter()
        .enumerate()
        .map(|(i, f)| (f.0.as_str(), i))
        .collect();
    for (start, (name, _, line)) in fallbacks.iter().enumerate() {
        let mut path = vec![start];
        let mut cur = start;
        while let Some(next) = fallbacks[cur]
            .1
            .as_deref()
            .and_then(|n| index.get(n))
            .copied()
        {
            if next == start {
                let first = path.iter().map(|&i| fallbacks[i].2).min().unwrap_or(*line);
                if first == *line {
                    let names: Vec<&str> = path
                        .iter()
                        .chain(std::iter::once(&start))
                        .map(|&i| fallbacks[i].0.as_str())
                        .collect();
                    cx.problems.push(Problem::new(
                        cx.file,
                        *line,
                        format!(
                            "pool '{name}': on_all_down fallbacks form a cycle: {}",
                            names.join(" → ")
                        ),
                    ));
                }
                break;
            }
            if path.contains(&next) {
                break; // a cycle that does not pass through `start`: reported from its own pools
            }
            path.push(next);
            cur = next;
        }
    }
}
