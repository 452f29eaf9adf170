//! A pool's owner names and its members per datacenter.

use std::collections::BTreeMap;
use std::net::IpAddr;

use toml::Spanned;

use super::spec::MemberSpec;
use super::{Ctx, MAX_POOL_DCS, Owners, PoolBuilder};
use crate::model::{Member, PoolDc, PoolKind, Rdata};
use crate::net::stable_hash;
use crate::wire::name::{is_subdomain, lowercased as lower, parse as parse_name, to_text};
use crate::wire::rtype;

impl PoolBuilder<'_> {
    pub(super) fn owners(
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
        let apex = self.zone.apex();
        for n in names.get_ref() {
            let text = n.get_ref();
            let wire = match parse_name(text, Some(self.zone.apex())) {
                Ok(name) => lower(&name),
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
                        self.zone.origin()
                    ),
                );
                continue;
            }
            if let Some(node) = self.zone.node(&wire) {
                let clash = node.rrsets().iter().find(|s| match kind {
                    PoolKind::Address => matches!(s.rtype(), rtype::A | rtype::AAAA | rtype::CNAME),
                    PoolKind::Cname => true,
                });
                if let Some(s) = clash {
                    cx.at(
                        n.span(),
                        format!(
                            "pool '{pool}': {} also has static {} data in the zone file; a pool name's {} answers come from the pool only",
                            to_text(&wire),
                            crate::load::rdata::type_name(s.rtype()),
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
                    .is_some_and(|n| n.is_delegation())
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

    pub(super) fn members(
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
                let addr = spec.value.parse::<IpAddr>();
                let (list, bytes, text): (&mut Vec<Member>, Box<[u8]>, String) = match (kind, addr)
                {
                    (PoolKind::Address, Ok(IpAddr::V4(v))) => {
                        (&mut pdc.v4, v.octets().into(), v.to_string())
                    }
                    (PoolKind::Address, Ok(IpAddr::V6(v))) => {
                        (&mut pdc.v6, v.octets().into(), v.to_string())
                    }
                    (PoolKind::Address, Err(_)) => {
                        cx.at(
                            m.span(),
                            format!("pool '{pool}': member '{}' is not an IP address (a pool of names needs type = \"CNAME\")", spec.value),
                        );
                        continue;
                    }
                    (PoolKind::Cname, Ok(_)) => {
                        cx.at(
                            m.span(),
                            format!("pool '{pool}': member '{}' is an address, but the pool has type = \"CNAME\" (its members are names)", spec.value),
                        );
                        continue;
                    }
                    (PoolKind::Cname, Err(_)) => {
                        match parse_name(&spec.value, Some(self.zone.apex())) {
                            Ok(n) => (&mut pdc.names, lower(&n).into(), to_text(&n)),
                            Err(e) => {
                                cx.at(m.span(), format!("pool '{pool}': {e}"));
                                continue;
                            }
                        }
                    }
                };
                // the same member twice (however it is written) would count its weight twice
                if list.iter().any(|o| o.rdata.bytes() == &bytes[..]) {
                    cx.at(
                        m.span(),
                        format!(
                            "pool '{pool}': member '{}' appears twice in datacenter '{dc}' (give it one entry with a weight instead)",
                            spec.value
                        ),
                    );
                    continue;
                }
                let id = self.next_id.get();
                self.next_id.set(id + 1);
                list.push(Member {
                    key: stable_hash(&[&bytes]),
                    rdata: Rdata::new(0, bytes),
                    weight,
                    text,
                    id,
                });
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
}
