//! Step 1: the route rule that matches the client, and the ECS scope it implies.

use super::{Client, Rule, Trace, trace};
use crate::model::{Pool, Tier, Tiers};
use crate::net::common_prefix;

/// The tiers of the most specific matching rule (networks > ASN > subdivision > country >
/// continent > default), and the prefix length of the network rule when one matched.
pub(super) fn matching<'p>(
    pool: &'p Pool,
    client: &Client<'_>,
    trace: &mut Option<&mut Trace>,
) -> (&'p Tiers, Option<u8>, Rule) {
    let r = &pool.route;
    let a = client.addr;
    if let Some((net, t)) = r.networks.iter().find(|(n, _)| n.contains(a)) {
        trace!(trace, "route: network {net} matches {a}");
        return (t, Some(net.len), Rule::Network);
    }
    let loc = client.loc;
    if let Some((n, t)) = loc.asn.and_then(|n| Some((n, r.asns.get(&n)?))) {
        trace!(trace, "route: asns AS{n} matches");
        return (t, None, Rule::Asn);
    }
    for (kind, rule, code, map) in [
        (
            "subdivisions",
            Rule::Subdivision,
            loc.subdivision,
            &r.subdivisions,
        ),
        ("countries", Rule::Country, loc.country, &r.countries),
        ("continents", Rule::Continent, loc.continent, &r.continents),
    ] {
        if let Some((c, t)) = code.and_then(|c| Some((c, map.get(&c)?))) {
            trace!(trace, "route: {kind} {c} matches");
            return (t, None, rule);
        }
    }
    trace!(
        trace,
        "route: no network, ASN, subdivision, country or continent rule matches: default"
    );
    (&r.default, None, Rule::Default)
}

/// The scope before stickiness: the answer holds for the matched rule network, or else for the
/// database network (when any geo rule or `nearest` could have decided); and it must not reach
/// into a more specific network rule that does not contain the client.
pub(super) fn scope(pool: &Pool, tiers: &Tiers, net_match: Option<u8>, client: &Client<'_>) -> u8 {
    let addr = client.addr;
    let r = &pool.route;
    let mut scope = match net_match {
        Some(len) => len,
        None => {
            let geo_used = !(r.asns.is_empty()
                && r.subdivisions.is_empty()
                && r.countries.is_empty()
                && r.continents.is_empty())
                || tiers.contains(&Tier::Nearest);
            if geo_used { client.loc.prefix_len } else { 0 }
        }
    };
    for (net, _) in &r.networks {
        if net.addr.is_ipv4() == addr.is_ipv4() && !net.contains(addr) {
            scope = scope.max(common_prefix(addr, net.addr) + 1);
        }
    }
    scope
}
