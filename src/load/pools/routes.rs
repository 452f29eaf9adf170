//! A pool's route: rules by network, ASN, subdivision, country and continent, each a list of
//! tiers in failover order.

use std::collections::HashMap;

use toml::Spanned;

use super::spec::{RouteSpec, TierList, TierSpec};
use super::{Ctx, PoolBuilder};
use crate::geo::country;
use crate::model::{PoolDc, Route, Tier, Tiers};
use crate::net::{CONTINENTS, Code, Net};

impl PoolBuilder<'_> {
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

    pub(super) fn route(
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
            if let Some(c) = Code::new(&code) {
                route.continents.insert(c, t);
            }
        }
        for (k, v) in &r.countries {
            let code = k.to_ascii_uppercase();
            if country(&code).is_none() {
                cx.at(v.span(), format!("pool '{pool}': unknown country code '{k}' (ISO 3166-1 alpha-2, like DE or JP)"));
                continue;
            }
            let t = self.tiers(cx, pool, dcs, dc_of, v);
            if let Some(c) = Code::new(&code) {
                route.countries.insert(c, t);
            }
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
            if let Some(c) = Code::new(&code) {
                route.subdivisions.insert(c, t);
            }
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
