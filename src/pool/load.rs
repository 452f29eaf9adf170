//! Reading `zones/<zone>.pools.toml`, validating it against its zone, and attaching the pools.
//!
//! Every problem is reported with file and line. Each top-level entry (a datacenter, a pool) is
//! deserialised on its own, so a mistake in one pool does not hide mistakes in another.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use hickory_proto::rr::Name;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::spec::{DcSpec, MemberSpec, OnAllDownSpec, PoolSpec, RouteSpec, TierList, TierSpec};
use super::{
    Datacenter, Member, Net, OnAllDown, Pool, PoolDc, PoolKind, Route, Tier, Tiers, stable_hash,
};
use crate::config::line_of;
use crate::error::Problem;
use crate::geo::{Code, country};
use crate::model::{Rdata, Zone, rtype};
use crate::wire::name::{from_hickory, is_subdomain, to_text};

/// TTL of pool answers unless the pool sets one.
pub const DEFAULT_TTL: u32 = 60;
/// Datacenters one pool may span (`nearest` orders them on the stack).
pub const MAX_POOL_DCS: usize = crate::select::MAX_NEAREST;
/// Continent codes as GeoIP databases write them.
const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// The pool file that belongs to a zone file: `example.com.zone` → `example.com.pools.toml`.
pub fn pool_file_for(zone_file: &Path) -> std::path::PathBuf {
    let stem = zone_file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    zone_file.with_file_name(format!("{stem}.pools.toml"))
}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    problems: &'a mut Vec<Problem>,
}

impl Ctx<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, msg: impl Into<String>) {
        let line = line_of(self.text, span.start);
        self.problems.push(Problem::new(self.file, line, msg));
    }

    fn serde(&mut self, e: toml::de::Error, fallback: std::ops::Range<usize>) {
        let span = e.span().unwrap_or(fallback);
        let msg = e.message().trim().replace('\n', " ");
        self.at(span, msg);
    }
}

fn deserialize<'a, T: Deserialize<'a>>(v: &Spanned<DeValue<'a>>) -> Result<T, toml::de::Error> {
    T::deserialize(ValueDeserializer::from(v.clone()))
}

/// Reads the pool file of `zone` (if there is one) and attaches its pools. Problems are appended.
pub fn attach(zone: &mut Zone, path: &Path, problems: &mut Vec<Problem>) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(Problem::new(path, 0, format!("cannot read: {e}")));
            return;
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
            return;
        }
    };
    let mut version = None;
    let mut dc_specs: Vec<(String, std::ops::Range<usize>, DcSpec)> = Vec::new();
    let mut pool_specs: Vec<(String, std::ops::Range<usize>, PoolSpec)> = Vec::new();
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
                format!("unknown key '{other}' (expected version, datacenters, pools)"),
            ),
        }
    }
    if version.is_none() && !root.get_ref().contains_key("version") {
        cx.at(0..0, "missing 'version = 1' at the top of the pool file");
    }

    let datacenters = datacenters(&mut cx, dc_specs);
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
    let origin = Name::from_ascii(&zone.origin).expect("zone origins are valid names");
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
    for (name, span, spec) in pool_specs {
        let b = PoolBuilder {
            zone,
            origin: &origin,
            datacenters: &datacenters,
            dc_index: &dc_index,
            pool_index: &pool_index,
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
        return;
    }
    zone.datacenters = datacenters;
    for (n, idx) in owners {
        let i = zone.insert_node(&n);
        zone.nodes[i as usize].pool = Some(idx as u32);
    }
    zone.pools = pools;
}

fn datacenters(
    cx: &mut Ctx<'_>,
    specs: Vec<(String, std::ops::Range<usize>, DcSpec)>,
) -> Vec<Datacenter> {
    let mut out = Vec::new();
    for (name, span, s) in specs {
        let mut location = None;
        if let Some(loc) = &s.location {
            match loc.get_ref().as_slice() {
                [lat, lon] if (-90.0..=90.0).contains(lat) && (-180.0..=180.0).contains(lon) => {
                    location = Some((*lat, *lon))
                }
                _ => cx.at(
                    loc.span(),
                    format!("datacenter '{name}': location must be [latitude, longitude] in degrees (−90…90, −180…180)"),
                ),
            }
        }
        let bias_km = match &s.bias_km {
            Some(b) if b.get_ref().is_finite() && b.get_ref().abs() < 20_000.0 => *b.get_ref(),
            Some(b) => {
                cx.at(
                    b.span(),
                    format!("datacenter '{name}': bias_km must be between −20000 and 20000"),
                );
                0.0
            }
            None => 0.0,
        };
        if s.bias_km.is_some() && location.is_none() {
            cx.at(
                span.clone(),
                format!("datacenter '{name}': bias_km needs a location"),
            );
        }
        out.push(Datacenter {
            name,
            location,
            bias_km,
        });
    }
    out
}

struct PoolBuilder<'a> {
    zone: &'a Zone,
    origin: &'a Name,
    datacenters: &'a [Datacenter],
    dc_index: &'a HashMap<&'a str, usize>,
    pool_index: &'a HashMap<String, usize>,
}

type Owners = Vec<(Vec<u8>, std::ops::Range<usize>)>;

impl PoolBuilder<'_> {
    fn build(
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
            Some(m) if (1..=super::MAX_ANSWERS as i64).contains(m.get_ref()) => {
                *m.get_ref() as usize
            }
            Some(m) => {
                cx.at(
                    m.span(),
                    format!(
                        "pool '{name}': max_answers must be 1–{}",
                        super::MAX_ANSWERS
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
                dcs,
                route,
                seed: stable_hash(&[self.zone.origin.as_bytes(), name.as_bytes()]),
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

    fn owners(
        &self,
        cx: &mut Ctx<'_>,
        pool: &str,
        kind: PoolKind,
        names: &Spanned<Vec<Spanned<String>>>,
    ) -> Owners {
        let mut out = Vec::new();
        if names.get_ref().is_empty() {
            cx.at(
                names.span(),
                format!("pool '{pool}': names is empty: the pool answers no name"),
            );
        }
        let apex = &self.zone.apex;
        for n in names.get_ref() {
            let text = n.get_ref();
            let parsed = if text == "@" {
                Ok(self.origin.clone())
            } else {
                crate::zone::parse::parse_name(text, Some(self.origin))
            };
            let wire = match parsed {
                Ok(name) => from_hickory(&name),
                Err(m) => {
                    cx.at(n.span(), format!("pool '{pool}': {m}"));
                    continue;
                }
            };
            if !is_subdomain(&wire, apex) {
                cx.at(
                    n.span(),
                    format!(
                        "pool '{pool}': {} is outside the zone {}",
                        to_text(&wire),
                        self.zone.origin
                    ),
                );
                continue;
            }
            if let Some((_, node)) = self.zone.node(&wire) {
                let clash = node.rrsets.iter().find(|s| match kind {
                    PoolKind::Address => matches!(s.rtype, rtype::A | rtype::AAAA | rtype::CNAME),
                    PoolKind::Cname => true,
                });
                if let Some(s) = clash {
                    cx.at(
                        n.span(),
                        format!(
                            "pool '{pool}': {} also has static {} data in the zone file; a pool name's {} answers come from the pool only",
                            to_text(&wire),
                            hickory_proto::rr::RecordType::from(s.rtype),
                            if kind == PoolKind::Cname { "" } else { "A/AAAA/CNAME" }
                        ),
                    );
                    continue;
                }
            }
            // at or below a zone cut the child zone answers, not this one
            let mut p = 0;
            let mut delegated = false;
            while wire.len() - p > apex.len() {
                if self
                    .zone
                    .node(&wire[p..])
                    .is_some_and(|(_, n)| n.delegation)
                {
                    delegated = true;
                }
                p += wire[p] as usize + 1;
            }
            if delegated {
                cx.at(
                    n.span(),
                    format!(
                        "pool '{pool}': {} is at or below a delegation",
                        to_text(&wire)
                    ),
                );
                continue;
            }
            out.push((wire, n.span()));
        }
        out
    }

    fn members(
        &self,
        cx: &mut Ctx<'_>,
        pool: &str,
        kind: PoolKind,
        members: &Spanned<BTreeMap<String, Spanned<Vec<Spanned<MemberSpec>>>>>,
    ) -> Vec<PoolDc> {
        let mut out = Vec::new();
        if members.get_ref().is_empty() {
            cx.at(members.span(), format!("pool '{pool}': no members"));
        }
        // keep the datacenters' declaration order, so failover by declaration is predictable
        let mut entries: Vec<_> = members.get_ref().iter().collect();
        entries.sort_by_key(|(dc, _)| {
            self.dc_index
                .get(dc.as_str())
                .copied()
                .unwrap_or(usize::MAX)
        });
        for (dc, list) in entries {
            let Some(&di) = self.dc_index.get(dc.as_str()) else {
                cx.at(
                    list.span(),
                    format!(
                        "pool '{pool}': unknown datacenter '{dc}' (define it under [datacenters])"
                    ),
                );
                continue;
            };
            if list.get_ref().is_empty() {
                cx.at(
                    list.span(),
                    format!("pool '{pool}': datacenter '{dc}' has an empty member list"),
                );
                continue;
            }
            let mut pdc = PoolDc {
                dc: di,
                ..Default::default()
            };
            for m in list.get_ref() {
                let spec = m.get_ref();
                let weight = spec.weight.unwrap_or(1.0);
                if !(weight > 0.0 && weight.is_finite()) {
                    cx.at(m.span(), format!("pool '{pool}': member '{}' has weight {weight}; weights must be greater than 0", spec.value));
                    continue;
                }
                let addr = spec.value.parse::<std::net::IpAddr>();
                match (kind, addr) {
                    (PoolKind::Address, Ok(ip)) => {
                        let bytes: Box<[u8]> = match ip {
                            std::net::IpAddr::V4(v) => v.octets().into(),
                            std::net::IpAddr::V6(v) => v.octets().into(),
                        };
                        let member = Member {
                            key: stable_hash(&[&bytes]),
                            rdata: Rdata { ttl: 0, bytes },
                            weight,
                            text: ip.to_string(),
                        };
                        if ip.is_ipv4() {
                            pdc.v4.push(member)
                        } else {
                            pdc.v6.push(member)
                        }
                    }
                    (PoolKind::Address, Err(_)) => cx.at(
                        m.span(),
                        format!("pool '{pool}': member '{}' is not an IP address (a pool of names needs type = \"CNAME\")", spec.value),
                    ),
                    (PoolKind::Cname, Ok(_)) => cx.at(
                        m.span(),
                        format!("pool '{pool}': member '{}' is an address, but the pool has type = \"CNAME\" (its members are names)", spec.value),
                    ),
                    (PoolKind::Cname, Err(_)) => {
                        match crate::zone::parse::parse_name(&spec.value, Some(self.origin)) {
                            Ok(n) => {
                                let bytes: Box<[u8]> = from_hickory(&n).into();
                                pdc.names.push(Member {
                                    key: stable_hash(&[&bytes]),
                                    rdata: Rdata { ttl: 0, bytes },
                                    weight,
                                    text: n.to_string(),
                                });
                            }
                            Err(e) => cx.at(m.span(), format!("pool '{pool}': {e}")),
                        }
                    }
                }
            }
            out.push(pdc);
        }
        if out.len() > MAX_POOL_DCS {
            cx.at(
                members.span(),
                format!(
                    "pool '{pool}': {} datacenters; a pool may have at most {MAX_POOL_DCS}",
                    out.len()
                ),
            );
        }
        out
    }

    fn tiers(
        &self,
        cx: &mut Ctx<'_>,
        pool: &str,
        dcs: &[PoolDc],
        dc_of: &HashMap<&str, usize>,
        list: &Spanned<TierList>,
    ) -> Tiers {
        let mut out = Vec::new();
        for t in &list.get_ref().0 {
            let span = if t.span().is_empty() {
                list.span()
            } else {
                t.span()
            };
            match t.get_ref() {
                TierSpec::Name(n) if n == "nearest" => {
                    for d in dcs {
                        let dc = &self.datacenters[d.dc];
                        if dc.location.is_none() {
                            cx.at(span.clone(), format!("pool '{pool}': \"nearest\" needs a location for datacenter '{}'", dc.name));
                        }
                    }
                    out.push(Tier::Nearest);
                }
                TierSpec::Name(n) => match self.dc_of(cx, pool, dc_of, n, span.clone()) {
                    Some(i) => out.push(Tier::Dc(i)),
                    None => continue,
                },
                TierSpec::Split(parts) => {
                    let mut split = Vec::new();
                    let mut sum = 0.0;
                    for (n, pct) in parts {
                        if !(*pct > 0.0 && pct.is_finite()) {
                            cx.at(
                                span.clone(),
                                format!(
                                    "pool '{pool}': split share of '{n}' must be greater than 0"
                                ),
                            );
                        }
                        sum += pct;
                        if let Some(i) = self.dc_of(cx, pool, dc_of, n, span.clone()) {
                            split.push((i, *pct));
                        }
                    }
                    if (sum - 100.0).abs() > 1e-6 {
                        cx.at(
                            span.clone(),
                            format!("pool '{pool}': split percentages sum to {sum}, not 100"),
                        );
                    }
                    out.push(Tier::Split(split));
                }
            }
        }
        out
    }

    fn dc_of(
        &self,
        cx: &mut Ctx<'_>,
        pool: &str,
        dc_of: &HashMap<&str, usize>,
        n: &str,
        span: std::ops::Range<usize>,
    ) -> Option<usize> {
        if let Some(&i) = dc_of.get(n) {
            return Some(i);
        }
        if self.dc_index.contains_key(n) {
            cx.at(
                span,
                format!("pool '{pool}': datacenter '{n}' has no members in this pool"),
            );
        } else {
            cx.at(span, format!("pool '{pool}': unknown datacenter '{n}'"));
        }
        None
    }

    fn route(
        &self,
        cx: &mut Ctx<'_>,
        pool: &str,
        dcs: &[PoolDc],
        dc_of: &HashMap<&str, usize>,
        spec: Option<&Spanned<RouteSpec>>,
    ) -> Route {
        let empty = RouteSpec::default();
        let r = spec.map_or(&empty, |s| s.get_ref());
        let mut route = Route {
            default: match &r.default {
                Some(d) => self.tiers(cx, pool, dcs, dc_of, d),
                // no default: nearest when every datacenter has a location, else the order of
                // [datacenters]
                None if dcs
                    .iter()
                    .all(|d| self.datacenters[d.dc].location.is_some()) =>
                {
                    vec![Tier::Nearest]
                }
                None => (0..dcs.len()).map(Tier::Dc).collect(),
            },
            ..Default::default()
        };
        for (k, v) in &r.continents {
            let code = k.to_ascii_uppercase();
            if !CONTINENTS.contains(&code.as_str()) {
                cx.at(
                    v.span(),
                    format!(
                        "pool '{pool}': unknown continent '{k}' (use {})",
                        CONTINENTS.join(", ")
                    ),
                );
                continue;
            }
            let t = self.tiers(cx, pool, dcs, dc_of, v);
            route.continents.insert(Code::new(&code).expect("valid"), t);
        }
        for (k, v) in &r.countries {
            let code = k.to_ascii_uppercase();
            if country(&code).is_none() {
                cx.at(v.span(), format!("pool '{pool}': unknown country code '{k}' (ISO 3166-1 alpha-2, like DE or JP)"));
                continue;
            }
            let t = self.tiers(cx, pool, dcs, dc_of, v);
            route.countries.insert(Code::new(&code).expect("valid"), t);
        }
        for (k, v) in &r.subdivisions {
            let code = k.to_ascii_uppercase();
            let ok = code
                .split_once('-')
                .is_some_and(|(c, s)| country(c).is_some() && (1..=3).contains(&s.len()));
            if !ok {
                cx.at(
                    v.span(),
                    format!(
                        "pool '{pool}': '{k}' is not a subdivision code (ISO 3166-2, like US-CA)"
                    ),
                );
                continue;
            }
            let t = self.tiers(cx, pool, dcs, dc_of, v);
            route
                .subdivisions
                .insert(Code::new(&code).expect("valid"), t);
        }
        for (k, v) in &r.asns {
            let n = k
                .trim_start_matches("AS")
                .trim_start_matches("as")
                .parse::<u32>();
            let Ok(n) = n else {
                cx.at(
                    v.span(),
                    format!("pool '{pool}': '{k}' is not an AS number"),
                );
                continue;
            };
            let t = self.tiers(cx, pool, dcs, dc_of, v);
            route.asns.insert(n, t);
        }
        for (k, v) in &r.networks {
            match Net::parse(k) {
                Ok(net) => {
                    let t = self.tiers(cx, pool, dcs, dc_of, v);
                    route.networks.push((net, t));
                }
                Err(m) => cx.at(v.span(), format!("pool '{pool}': {m}")),
            }
        }
        route.networks.sort_by_key(|n| std::cmp::Reverse(n.0.len));
        route
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
