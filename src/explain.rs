//! `geosteer explain`: why a client gets the answer it gets. The same text is available to the
//! HTTP endpoint, so it lives in the library.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};

use crate::engine::{self, Outcome, Source, Transport};
use crate::pool::{Family, PoolKind};
use crate::select::{self, AllUp, Client};
use crate::state::Snapshot;
use crate::wire::name::from_hickory;

/// The question to explain.
#[derive(Debug, Clone)]
pub struct Question {
    pub name: Name,
    pub qtype: RecordType,
    /// The resolver's (packet source) address.
    pub client: IpAddr,
    /// An EDNS Client Subnet, as a resolver would send it.
    pub ecs: Option<(IpAddr, u8)>,
}

/// Explains the answer `snap` gives to `q`, step by step.
pub fn explain(snap: &Snapshot, q: &Question) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "question: {} {} from {}", q.name, q.qtype, q.client);
    let addr = match q.ecs {
        Some((a, len)) if len > 0 => {
            let _ = writeln!(
                s,
                "client subnet (ECS): {}/{len}: locating {}",
                crate::pool::mask(a, len),
                crate::pool::mask(a, len)
            );
            crate::pool::mask(a, len)
        }
        _ => {
            let _ = writeln!(
                s,
                "no client subnet: locating the resolver's address {}",
                q.client
            );
            q.client
        }
    };
    let _ = writeln!(s, "\nGeoIP:");
    for line in snap.geo().describe(addr) {
        let _ = writeln!(s, "  {line}");
    }
    let loc = snap.geo().locate(addr);
    let mut fields = Vec::new();
    if let Some(c) = loc.continent {
        fields.push(format!(
            "continent {c}{}",
            if loc.derived_continent {
                " (from the country)"
            } else {
                ""
            }
        ));
    }
    if let Some(c) = loc.country {
        fields.push(format!("country {c}"));
    }
    if let Some(c) = loc.subdivision {
        fields.push(format!("subdivision {c}"));
    }
    if let Some(a) = loc.asn {
        fields.push(format!("AS{a}"));
    }
    if let Some((lat, lon)) = loc.coords {
        fields.push(format!(
            "location {lat:.2}, {lon:.2}{}",
            if loc.centroid {
                " (country centroid)"
            } else {
                ""
            }
        ));
    }
    let _ = writeln!(
        s,
        "  => {} (holds for /{})",
        if fields.is_empty() {
            "no location".to_string()
        } else {
            fields.join(", ")
        },
        loc.prefix_len
    );

    // the real answer, from the real engine
    let packet = crate::wire::query::build(
        0x4a11,
        &from_hickory(&q.name),
        u16::from(q.qtype),
        Some(1232),
        q.ecs,
    );
    let mut out = Vec::new();
    let src = SocketAddr::new(q.client, 53);
    let outcome = engine::respond(snap, &snap.limits, &packet, src, Transport::Udp, &mut out);
    let msg = match (outcome, Message::from_vec(&out)) {
        (Outcome::Reply { .. }, Ok(m)) => m,
        _ => {
            let _ = writeln!(s, "\nno answer");
            return s;
        }
    };

    // every pool that took part (the name itself, or a CNAME target on the way)
    let mut owners: Vec<Name> = vec![q.name.clone()];
    for r in &msg.answers {
        if !owners.contains(&r.name) {
            owners.push(r.name.clone());
        }
        if let hickory_proto::rr::RData::CNAME(c) = &r.data
            && !owners.contains(&c.0)
        {
            owners.push(c.0.clone());
        }
    }
    for owner in owners {
        let lc = from_hickory(&owner);
        let Some(zone) = snap.zones.find(&lc) else {
            continue;
        };
        let Some((_, node)) = zone.node(&lc) else {
            continue;
        };
        let Some(pi) = node.pool else { continue };
        let pool = &zone.pools[pi as usize];
        let family = match (pool.kind, q.qtype) {
            (PoolKind::Cname, _) => Family::Name,
            (_, RecordType::AAAA) => Family::V6,
            _ => Family::V4,
        };
        let _ = writeln!(
            s,
            "\n{owner} is answered by pool '{}' ({}:{}):",
            pool.name,
            pool.file.display(),
            pool.line
        );
        let client = Client {
            addr,
            loc: &loc,
            key: select::client_key(addr),
        };
        let mut trace = Vec::new();
        select::select(
            pool,
            &zone.datacenters,
            family,
            &client,
            &AllUp,
            Some(&mut trace),
        );
        for line in trace {
            let _ = writeln!(s, "  {line}");
        }
    }

    let _ = writeln!(
        s,
        "\nanswer: {}{}",
        msg.metadata.response_code,
        if msg.metadata.authoritative {
            ", authoritative"
        } else {
            ""
        }
    );
    for r in msg.answers.iter().chain(msg.authorities.iter()) {
        let _ = writeln!(s, "  {r}");
    }
    if let Some(edns) = &msg.edns
        && let Some(hickory_proto::rr::rdata::opt::EdnsOption::Subnet(sub)) =
            edns.option(hickory_proto::rr::rdata::opt::EdnsCode::Subnet)
    {
        let _ = writeln!(
            s,
            "  ECS scope /{} (the answer holds for {}/{})",
            sub.scope_prefix(),
            crate::pool::mask(sub.addr(), sub.scope_prefix()),
            sub.scope_prefix()
        );
    }
    s
}
