//! Selection rules, one by one, on pools compiled from a real pool file.

use std::net::IpAddr;

use super::*;
use crate::model::ZoneSet;
use crate::net::{Code, mix};

const ZONE: &str = "$ORIGIN p.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

const POOLS: &str = r#"
version = 1
[datacenters]
ams = { location = [52.37, 4.90] }
iad = { location = [38.95, -77.45] }
sin = { location = [1.35, 103.82] }
fra = { location = [50.11, 8.68], bias_km = -1000 }

[pools.web]
names = ["www"]
ttl = 60
ttl_degraded = 10
max_answers = 1
[pools.web.members]
ams = [{ address = "192.0.2.10", weight = 3 }, "192.0.2.11"]
iad = ["198.51.100.10", "2001:db8:b::10"]
sin = ["203.0.113.10", "2001:db8:c::10"]
fra = ["192.0.2.20"]
[pools.web.route]
default = ["iad", "ams"]
continents = { EU = ["ams", "iad"], AS = ["nearest"], OC = [] }
countries = { DE = [{ ams = 50, iad = 50 }, "sin"], JP = ["sin", "iad"] }
subdivisions = { "US-CA" = ["sin", "iad"] }
asns = { "64500" = ["iad"] }
networks = { "10.0.0.0/8" = ["sin"], "10.1.0.0/16" = ["iad"] }

[pools.near]
names = ["near"]
[pools.near.members]
ams = ["192.0.2.10"]
iad = ["198.51.100.10"]
sin = ["203.0.113.10"]
fra = ["192.0.2.20"]

[pools.spread]
names = ["spread"]
max_answers = 2
[pools.spread.members]
ams = [{ address = "192.0.2.1", weight = 1 }, { address = "192.0.2.2", weight = 2 }, { address = "192.0.2.3", weight = 3 }, { address = "192.0.2.4", weight = 4 }]
[pools.spread.route]
default = ["ams"]

[pools.cdn]
names = ["static"]
type = "CNAME"
[pools.cdn.members]
ams = ["eu.cdn.example.net."]
iad = ["us.cdn.example.net."]
[pools.cdn.route]
default = ["iad"]
continents = { EU = ["ams", "iad"] }

[pools.guarded]
names = ["guarded"]
min_healthy = 0.5
on_all_down = "nodata"
[pools.guarded.members]
ams = [{ address = "192.0.2.61", weight = 3 }, "192.0.2.62"]
iad = ["198.51.100.61"]
[pools.guarded.route]
default = ["ams", "iad"]

[pools.failsafe]
names = ["failsafe"]
on_all_down = "servfail"
members = { ams = ["192.0.2.71"] }

[pools.open]
names = ["open"]
members = { ams = ["192.0.2.81"], iad = ["198.51.100.81"] }
route = { default = ["ams", "iad"] }

[pools.primary]
names = ["primary"]
on_all_down = { pool = "backup" }
members = { ams = ["192.0.2.91"] }

[pools.backup]
names = ["backup"]
ttl = 300
members = { iad = ["198.51.100.91"] }

[pools.four]
names = ["four"]
members = { ams = ["192.0.2.101", "192.0.2.102", "192.0.2.103", "192.0.2.104"] }
"#;

fn zones() -> ZoneSet {
    let dir = crate::testutil::dir("select");
    std::fs::write(dir.join("p.test.zone"), ZONE).unwrap();
    std::fs::write(dir.join("p.test.pools.toml"), POOLS).unwrap();
    crate::load::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"))
}

fn loc(continent: &str, country: &str) -> Location {
    Location {
        continent: Code::new(continent),
        country: Code::new(country),
        found: true,
        prefix_len: 16,
        ..Default::default()
    }
}

struct Ask<'z> {
    zones: &'z ZoneSet,
}

impl<'z> Ask<'z> {
    fn pool(&self, name: &str) -> &'z crate::model::Pool {
        self.zones.zones()[0]
            .pools()
            .iter()
            .find(|p| p.name == name)
            .unwrap()
    }
    fn go(
        &self,
        pool: &str,
        family: Family,
        addr: &str,
        l: &Location,
    ) -> (Option<String>, Vec<String>, Decision<'z>) {
        let z = &self.zones.zones()[0];
        let p = self.pool(pool);
        let addr: IpAddr = addr.parse().unwrap();
        let c = Client {
            addr,
            loc: l,
            key: client_key(addr),
        };
        let d = select(p, z.pools(), z.datacenters(), family, &c, &AllUp, None);
        let dc = d.dc.map(|i| z.datacenters()[p.dcs[i].dc].name.clone());
        let picks = d.picks().map(|m| m.text.clone()).collect();
        (dc, picks, d)
    }
    /// The steps of a decision, one per line.
    fn trace(&self, pool: &str, family: Family, addr: &str, l: &Location) -> String {
        let addr: IpAddr = addr.parse().unwrap();
        let c = Client {
            addr,
            loc: l,
            key: client_key(addr),
        };
        let mut t = Trace::new();
        let dcs = self.zones.zones()[0].datacenters();
        let pools = self.zones.zones()[0].pools();
        select(
            self.pool(pool),
            pools,
            dcs,
            family,
            &c,
            &AllUp,
            Some(&mut t),
        );
        t.steps().join("\n")
    }
}

#[test]
fn most_specific_rule_wins() {
    let z = zones();
    let a = Ask { zones: &z };
    let dc = |addr: &str, l: Location| a.go("web", Family::V4, addr, &l).0.unwrap();
    // network beats everything; the longest prefix wins
    assert_eq!(dc("10.2.3.4", loc("EU", "DE")), "sin");
    assert_eq!(dc("10.1.3.4", loc("EU", "DE")), "iad");
    // ASN beats geography
    let mut l = loc("EU", "GB");
    l.asn = Some(64500);
    assert_eq!(dc("192.0.2.99", l), "iad");
    // subdivision beats country
    let mut l = loc("NA", "US");
    l.subdivision = Code::new("US-CA");
    assert_eq!(dc("192.0.2.99", l), "sin");
    // country beats continent
    assert_eq!(dc("192.0.2.99", loc("AS", "JP")), "sin");
    assert_eq!(dc("192.0.2.99", loc("EU", "GB")), "ams");
    // no rule: default; an address in no database: default
    assert_eq!(dc("192.0.2.99", loc("SA", "BR")), "iad");
    assert_eq!(dc("192.0.2.99", Location::default()), "iad");
}

#[test]
fn nearest_with_and_without_bias() {
    let z = zones();
    let a = Ask { zones: &z };
    // continent AS routes to "nearest": Singapore for Thailand
    let mut l = loc("AS", "TH");
    l.coords = Some((15.0, 100.0));
    assert_eq!(a.go("web", Family::V4, "192.0.2.9", &l).0.unwrap(), "sin");
    // the pool "near" has no route: nearest. A client in Frankfurt is nearer to fra, but fra's
    // bias of −1000 km pushes it behind ams
    let mut l = loc("EU", "DE");
    l.coords = Some((50.11, 8.68));
    let (dc, _, _) = a.go("near", Family::V4, "192.0.2.9", &l);
    assert_eq!(dc.unwrap(), "ams");
    // from Lisbon, ams is 1,860 km and fra 1,900 km + 1000 bias: ams
    // from Prague (ams 710 km, fra 410 km + 1000): ams; from Warsaw (ams 1,100, fra 890 + 1000): ams
    // without bias (the pool "web" DE route is a split, so use coordinates near Frankfurt with
    // a pool whose fra bias is zero): check the plain distance order on iad vs ams
    let mut l = loc("NA", "US");
    l.coords = Some((40.7, -74.0));
    assert_eq!(a.go("near", Family::V4, "192.0.2.9", &l).0.unwrap(), "iad");
    let mut l = loc("OC", "AU");
    l.coords = Some((-33.9, 151.2));
    assert_eq!(a.go("near", Family::V4, "192.0.2.9", &l).0.unwrap(), "sin");
}

#[test]
fn geofence_failover_and_families() {
    let z = zones();
    let a = Ask { zones: &z };
    let (dc, picks, d) = a.go("web", Family::V4, "192.0.2.9", &loc("OC", "NZ"));
    assert_eq!((dc, picks.len(), d.outcome), (None, 0, Outcome::Geofence));
    // AAAA: ams has no IPv6 members, so an EU client fails over to iad with the degraded TTL
    let (dc, picks, d) = a.go("web", Family::V6, "192.0.2.9", &loc("EU", "GB"));
    assert_eq!(dc.unwrap(), "iad");
    assert_eq!(picks, ["2001:db8:b::10"]);
    assert_eq!(d.ttl, 10);
    let (_, _, d) = a.go("web", Family::V4, "192.0.2.9", &loc("EU", "GB"));
    assert_eq!(d.ttl, 60);
    // the pool "spread" only has IPv4: AAAA is NODATA
    let (_, _, d) = a.go("spread", Family::V6, "192.0.2.9", &loc("EU", "GB"));
    assert_eq!(d.outcome, Outcome::NoMembers);
}

#[test]
fn cname_pools() {
    let z = zones();
    let a = Ask { zones: &z };
    let (_, picks, _) = a.go("cdn", Family::Name, "192.0.2.9", &loc("EU", "FR"));
    assert_eq!(picks, ["eu.cdn.example.net."]);
    let (_, picks, _) = a.go("cdn", Family::Name, "192.0.2.9", &loc("NA", "US"));
    assert_eq!(picks, ["us.cdn.example.net."]);
}

#[test]
fn split_tiers_follow_their_percentages_and_stick() {
    let z = zones();
    let a = Ask { zones: &z };
    let mut ams = 0;
    for i in 0..20_000u32 {
        let addr = format!("{}.{}.{}.7", 1 + (i >> 16) % 200, (i >> 8) & 255, i & 255);
        let (dc, _, d) = a.go("web", Family::V4, &addr, &loc("EU", "DE"));
        let again = a.go("web", Family::V4, &addr, &loc("EU", "DE")).0;
        assert_eq!(dc, again, "sticky");
        assert!(d.scope >= 24, "a sticky answer holds for the /24 only");
        if dc.as_deref() == Some("ams") {
            ams += 1;
        }
    }
    let share = f64::from(ams) / 20_000.0;
    assert!((share - 0.5).abs() < 0.02, "ams share {share}");
}

/// Acceptance 3: over 100,000 random clients each member's share of first answers is within two
/// percentage points of its weight share.
#[test]
fn weighted_shares_over_100k_clients() {
    let z = zones();
    let a = Ask { zones: &z };
    let pool = a.pool("spread");
    let dcs = z.zones()[0].datacenters();
    let mut counts = [0u32; 4];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let l = Location::default();
    for _ in 0..100_000 {
        x = mix(x);
        let addr = IpAddr::V4(((x >> 32) as u32).into());
        let c = Client {
            addr,
            loc: &l,
            key: client_key(addr),
        };
        let d = select(
            pool,
            z.zones()[0].pools(),
            dcs,
            Family::V4,
            &c,
            &AllUp,
            None,
        );
        let first = d.picks().next().unwrap();
        let i = (first
            .text
            .rsplit('.')
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap())
            - 1;
        counts[i] += 1;
        assert_eq!(d.picks().count(), 2);
    }
    for (i, &c) in counts.iter().enumerate() {
        let want = (i + 1) as f64 / 10.0;
        let got = f64::from(c) / 100_000.0;
        assert!(
            (got - want).abs() < 0.02,
            "member {} share {got}, weight share {want}",
            i + 1
        );
    }
}

#[test]
fn scope_covers_the_rule_and_avoids_more_specific_rules() {
    let z = zones();
    let a = Ask { zones: &z };
    // matched 10.0.0.0/8 but 10.1.0.0/16 is inside it: 10.2.3.4 shares 14 bits with it
    let (_, _, d) = a.go("web", Family::V4, "10.2.3.4", &Location::default());
    assert_eq!(d.scope, 15);
    let (_, _, d) = a.go("web", Family::V4, "10.1.3.4", &Location::default());
    assert_eq!(d.scope, 16);
    // geography: the database network (16 here) when one member answers
    let (_, _, d) = a.go("web", Family::V4, "192.0.2.9", &loc("AS", "JP"));
    assert_eq!(d.scope, 16);
    // ...and at least the sticky /24 when the pick among several members depends on the client
    let (_, _, d) = a.go("web", Family::V4, "192.0.2.9", &loc("EU", "GB"));
    assert_eq!(d.scope, 24);
    // only a default route and one member: the same for everyone
    let (_, _, d) = a.go("cdn", Family::Name, "192.0.2.9", &Location::default());
    assert_eq!(d.scope, 0);
}

#[test]
fn the_trace_tells_the_whole_story() {
    let z = zones();
    let a = Ask { zones: &z };
    let text = a.trace("web", Family::V4, "192.0.2.9", &loc("EU", "GB"));
    assert!(text.contains("route: continents EU matches"), "{text}");
    assert!(text.contains("tiers: [ams, iad]"), "{text}");
    assert!(text.contains("datacenter: ams"), "{text}");
    assert!(text.contains("ttl 60, scope /24"), "{text}");
}

/// Issue 6: the members line says how many answered, how many exist and how many are up.
#[test]
fn the_members_line_counts_answered_and_up_members() {
    let z = zones();
    let a = Ask { zones: &z };
    let text = a.trace("spread", Family::V4, "192.0.2.9", &Location::default());
    assert!(
        text.contains("members: 2 of 4 answered (max_answers 2), 4 up"),
        "{text}"
    );
}

/// Members listed here are down.
struct Down<'a>(&'a [&'a str]);

impl Health for Down<'_> {
    fn up(&self, pool: &Pool, dc: usize, family: Family, member: usize) -> bool {
        let m = &pool.dcs[dc].members(family)[member];
        !self.0.contains(&m.text.as_str())
    }
}

impl Ask<'_> {
    fn with(
        &self,
        pool: &str,
        addr: &str,
        down: &[&str],
    ) -> (Option<String>, Vec<String>, Outcome, u32, String) {
        let z = &self.zones.zones()[0];
        let p = self.pool(pool);
        let addr: IpAddr = addr.parse().unwrap();
        let l = Location::default();
        let c = Client {
            addr,
            loc: &l,
            key: client_key(addr),
        };
        let mut t = Trace::new();
        let d = select(
            p,
            z.pools(),
            z.datacenters(),
            Family::V4,
            &c,
            &Down(down),
            Some(&mut t),
        );
        // the datacenter of the first pick (a fallback decides in another pool)
        let dc = d.picks().next().and_then(|m| {
            z.pools()
                .iter()
                .flat_map(|p| p.dcs.iter())
                .find(|pd| pd.v4.iter().any(|x| std::ptr::eq(x, m)))
                .map(|pd| z.datacenters()[pd.dc].name.clone())
        });
        let picks = d.picks().map(|m| m.text.clone()).collect();
        (dc, picks, d.outcome, d.ttl, t.steps().join("\n"))
    }
}

#[test]
fn down_members_are_skipped_and_a_down_datacenter_fails_over() {
    let z = zones();
    let a = Ask { zones: &z };
    let (dc, picks, _, ttl, _) = a.with("open", "192.0.2.9", &[]);
    assert_eq!(
        (dc.as_deref(), picks, ttl),
        (Some("ams"), vec!["192.0.2.81".to_string()], 60)
    );
    let (dc, picks, _, ttl, trace) = a.with("open", "192.0.2.9", &["192.0.2.81"]);
    assert_eq!(dc.as_deref(), Some("iad"), "{trace}");
    assert_eq!(picks, ["198.51.100.81"]);
    assert_eq!(ttl, 10, "a failover answers with ttl_degraded");
}

#[test]
fn min_healthy_counts_weight() {
    let z = zones();
    let a = Ask { zones: &z };
    // the weight-1 member down: 3 of 4 up, above 0.5
    let (dc, picks, ..) = a.with("guarded", "192.0.2.9", &["192.0.2.62"]);
    assert_eq!(
        (dc.as_deref(), picks),
        (Some("ams"), vec!["192.0.2.61".to_string()])
    );
    // the weight-3 member down: 1 of 4 up, below 0.5: the datacenter counts as down
    let (dc, picks, _, _, trace) = a.with("guarded", "192.0.2.9", &["192.0.2.61"]);
    assert_eq!(dc.as_deref(), Some("iad"), "{trace}");
    assert_eq!(picks, ["198.51.100.61"]);
}

#[test]
fn on_all_down_in_its_four_forms() {
    let z = zones();
    let a = Ask { zones: &z };
    // all: fail open with the first choice's members, ttl_degraded
    let (dc, picks, outcome, ttl, trace) =
        a.with("open", "192.0.2.9", &["192.0.2.81", "198.51.100.81"]);
    assert_eq!(outcome, Outcome::Answer);
    assert_eq!(
        (dc.as_deref(), picks),
        (Some("ams"), vec!["192.0.2.81".to_string()]),
        "{trace}"
    );
    assert_eq!(ttl, 10);
    assert!(trace.contains("failing open"), "{trace}");
    // nodata
    let (_, picks, outcome, ..) = a.with(
        "guarded",
        "192.0.2.9",
        &["192.0.2.61", "192.0.2.62", "198.51.100.61"],
    );
    assert_eq!((outcome, picks.len()), (Outcome::AllDownNoData, 0));
    // servfail
    let (_, _, outcome, ..) = a.with("failsafe", "192.0.2.9", &["192.0.2.71"]);
    assert_eq!(outcome, Outcome::ServFail);
    // another pool, with the first pool's ttl_degraded
    let (_, picks, outcome, ttl, trace) = a.with("primary", "192.0.2.9", &["192.0.2.91"]);
    assert_eq!(outcome, Outcome::Answer);
    assert_eq!(picks, ["198.51.100.91"], "{trace}");
    assert_eq!(ttl, 10);
    assert!(trace.contains("falling back to pool 'backup'"), "{trace}");
}

/// Acceptance 5 (issue 8): when one of four members goes down, only the clients it served move.
#[test]
fn only_the_clients_of_a_down_member_move() {
    let z = zones();
    let a = Ask { zones: &z };
    let mut x: u64 = 0x1234_5678;
    let (mut served_by_down, mut moved_others) = (0, 0);
    for _ in 0..10_000 {
        x = mix(x);
        let addr = std::net::Ipv4Addr::from(((x >> 32) as u32) & 0xffff_ff00).to_string();
        let before = a.with("four", &addr, &[]).1;
        let after = a.with("four", &addr, &["192.0.2.102"]).1;
        if before == ["192.0.2.102"] {
            served_by_down += 1;
            assert_ne!(after, before);
        } else if after != before {
            moved_others += 1;
        }
    }
    assert_eq!(moved_others, 0, "clients of healthy members moved");
    assert!(
        (2_000..3_000).contains(&served_by_down),
        "{served_by_down} of 10,000 on the down member"
    );
}

/// A weight factor (the external feed's load shedding) moves traffic in proportion.
#[test]
fn a_weight_factor_sheds_load() {
    struct Half;
    impl Health for Half {
        fn up(&self, _: &Pool, _: usize, _: Family, _: usize) -> bool {
            true
        }
        fn factor(&self, pool: &Pool, dc: usize, family: Family, member: usize) -> f64 {
            if pool.dcs[dc].members(family)[member].text == "192.0.2.101" {
                0.25
            } else {
                1.0
            }
        }
    }
    let z = zones();
    let a = Ask { zones: &z };
    let p = a.pool("four");
    let zone = &z.zones()[0];
    let l = Location::default();
    let mut x: u64 = 0x5151;
    let mut first = 0;
    for _ in 0..20_000 {
        x = mix(x);
        let addr = IpAddr::V4(((x >> 32) as u32).into());
        let c = Client {
            addr,
            loc: &l,
            key: client_key(addr),
        };
        let d = select(
            p,
            zone.pools(),
            zone.datacenters(),
            Family::V4,
            &c,
            &Half,
            None,
        );
        if d.picks().next().unwrap().text == "192.0.2.101" {
            first += 1;
        }
    }
    // weights 0.25 : 1 : 1 : 1 → 0.25 / 3.25 ≈ 7.7 %
    let share = f64::from(first) / 20_000.0;
    assert!((share - 0.25 / 3.25).abs() < 0.015, "{share}");
}
