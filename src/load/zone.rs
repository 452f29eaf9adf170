//! Validating the records of one zone and building its `Zone`: the checks `geosteer check`
//! reports, and the pre-encoding that makes the query path a matter of copying bytes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::error::Problem;
use crate::load::rdata::type_name;
use crate::load::zonefile::RawRecord;
use crate::model::{RRset, Rdata, ZoneBuilder};
use crate::wire::name::{is_subdomain, to_text};
use crate::wire::rtype;

/// One record after the first pass: its place in the files and its encoded RDATA.
struct Rec {
    file: Arc<Path>,
    line: usize,
    ttl: u32,
    rdata: Box<[u8]>,
    /// The domain name inside the RDATA that additional-section processing follows.
    target: Option<Vec<u8>>,
    /// Position in the file: RRsets keep the order they first appear in (ANY answers the first,
    /// as NSD does).
    seq: usize,
}

/// Validates and builds one zone (without its pools). Every problem found is appended to
/// `problems`; `None` is returned when there was any.
pub fn build_zone(
    file: &Path,
    origin: &[u8],
    records: Vec<RawRecord>,
    problems: &mut Vec<Problem>,
) -> Option<ZoneBuilder> {
    let start = problems.len();
    let apex = origin.to_vec();
    let origin_text = to_text(&apex);

    // owner (lower-case wire) → type → records, in name order for stable reports
    let mut names: BTreeMap<Vec<u8>, BTreeMap<u16, Vec<Rec>>> = BTreeMap::new();
    let mut signed = false;
    for (seq, r) in records.into_iter().enumerate() {
        let owner = r.owner.clone();
        let rt = r.rtype;
        let here = |m: String| Problem::new(&r.file, r.line, m);
        if !is_subdomain(&owner, &apex) {
            problems.push(here(format!(
                "{} is outside the zone {origin_text}",
                to_text(&owner)
            )));
            continue;
        }
        if rt == rtype::DNAME {
            problems.push(here("DNAME records are not supported".into()));
            continue;
        }
        if rt == rtype::RRSIG && !signed {
            // a validating resolver given these records without their signatures fails them
            signed = true;
            problems.push(here(format!(
                "{origin_text} is a signed zone (it holds RRSIG records): geosteer does not serve DNSSEC yet, and serving the zone without its signatures would make validating resolvers reject its answers; serve the unsigned zone instead"
            )));
            continue;
        }
        let rdata = r.rdata.clone();
        let set = names.entry(owner).or_default().entry(rt).or_default();
        // identical records are one record (RFC 2181 §5)
        if set.iter().any(|x| x.rdata == rdata) {
            continue;
        }
        set.push(Rec {
            file: r.file.clone(),
            line: r.line,
            ttl: r.ttl,
            target: r.target.clone(),
            rdata,
            seq,
        });
    }

    // apex: exactly one SOA, at least one NS
    match names.get(&apex).and_then(|t| t.get(&rtype::SOA)) {
        None => problems.push(Problem::new(
            file,
            0,
            format!("the zone {origin_text} has no SOA record at its apex"),
        )),
        Some(soas) if soas.len() > 1 => problems.push(Problem::new(
            &soas[1].file,
            soas[1].line,
            format!("a second SOA record for {origin_text}: a zone has exactly one"),
        )),
        Some(_) => {}
    }
    if names.get(&apex).and_then(|t| t.get(&rtype::NS)).is_none() {
        problems.push(Problem::new(
            file,
            0,
            format!("the zone {origin_text} has no NS records at its apex"),
        ));
    }

    // zone cuts: names below the apex that own NS records
    let cuts: Vec<Vec<u8>> = names
        .iter()
        .filter(|(n, t)| **n != apex && t.contains_key(&rtype::NS))
        .map(|(n, _)| n.clone())
        .collect();
    let below_cut = |n: &[u8]| cuts.iter().find(|c| n != &c[..] && is_subdomain(n, c));

    for (owner, types) in &names {
        let text = to_text(owner);
        for (&t, recs) in types {
            for r in recs {
                let here = |m: String| Problem::new(&r.file, r.line, m);
                if t == rtype::SOA && *owner != apex {
                    problems.push(here(format!(
                        "SOA record at {text}, which is not the zone apex {origin_text}"
                    )));
                }
                if let Some(cut) = below_cut(owner) {
                    if t != rtype::A && t != rtype::AAAA {
                        problems.push(here(format!(
                            "{text} is below the delegation {}: only glue (A/AAAA) may be there",
                            to_text(cut)
                        )));
                    }
                } else if cuts.iter().any(|c| c == owner)
                    && !matches!(t, rtype::NS | rtype::DS | rtype::A | rtype::AAAA)
                {
                    problems.push(here(format!(
                        "{text} is a delegation point: it may only hold NS, DS and glue, not {}",
                        type_name(t)
                    )));
                }
            }
        }
        if let Some(cnames) = types.get(&rtype::CNAME) {
            if let Some(second) = cnames.get(1) {
                problems.push(Problem::new(
                    &second.file,
                    second.line,
                    format!("{text} has more than one CNAME record"),
                ));
            }
            if let Some((&other, recs)) = types.iter().find(|(t, _)| **t != rtype::CNAME) {
                let c = &cnames[0];
                problems.push(Problem::new(
                    &c.file,
                    c.line,
                    format!(
                        "{text} has a CNAME and other data ({} at line {}): a CNAME must be alone at its name (RFC 1034 §3.6.2)",
                        type_name(other),
                        recs[0].line
                    ),
                ));
            }
        }
    }

    // glue: a name server inside the zone it serves needs an address here
    for cut in &cuts {
        for ns in &names[cut][&rtype::NS] {
            let target = ns.target.as_deref().unwrap_or_default();
            let needs_glue = is_subdomain(target, cut);
            let has_addr = names
                .get(target)
                .is_some_and(|t| t.contains_key(&rtype::A) || t.contains_key(&rtype::AAAA));
            if needs_glue && !has_addr {
                problems.push(Problem::new(
                    &ns.file,
                    ns.line,
                    format!(
                        "the delegation {} names the server {}, which is inside the delegated zone, but there is no glue (A/AAAA) for it",
                        to_text(cut),
                        to_text(target)
                    ),
                ));
            }
        }
    }

    if problems.len() > start {
        return None;
    }
    Some(assemble(file, apex, names, &cuts))
}

/// Turns validated records into nodes, adding empty non-terminals and resolving additional-section
/// targets.
fn assemble(
    file: &Path,
    apex: Vec<u8>,
    names: BTreeMap<Vec<u8>, BTreeMap<u16, Vec<Rec>>>,
    cuts: &[Vec<u8>],
) -> ZoneBuilder {
    let mut zone = ZoneBuilder::new(&apex, file);
    zone.reserve_nodes(names.len());
    let mut targets: Vec<(u32, usize, Vec<Vec<u8>>)> = Vec::new();
    for (owner, types) in names {
        let i = zone.insert_node(&owner);
        let delegation = cuts.iter().any(|c| c == &owner);
        let mut types: Vec<(u16, Vec<Rec>)> = types.into_iter().collect();
        types.sort_by_key(|(_, recs)| recs.first().map_or(usize::MAX, |r| r.seq));
        // exact sizes: a collect in place would keep the records' larger allocation
        zone.reserve_rrsets(i, types.len());
        for (t, recs) in types {
            let tg: Vec<Vec<u8>> = recs.iter().filter_map(|r| r.target.clone()).collect();
            let mut rdata = Vec::with_capacity(recs.len());
            rdata.extend(recs.into_iter().map(|r| Rdata::new(r.ttl, r.rdata)));
            let set = zone.add_rrset(i, RRset::new(t, rdata), delegation);
            if !tg.is_empty() {
                targets.push((i, set, tg));
            }
        }
    }
    for (node, set, tg) in targets {
        let found: Vec<u32> = tg
            .iter()
            .filter_map(|t| {
                let n = zone.node(t)?;
                let has_addr = n.rrset(rtype::A).is_some() || n.rrset(rtype::AAAA).is_some();
                has_addr.then(|| zone.index_of(t)).flatten()
            })
            .collect();
        zone.set_additional(node, set, found);
    }
    zone
}
