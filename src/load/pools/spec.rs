//! The pool file as written: serde types with `deny_unknown_fields` and spans for line numbers.
//! Values that take two shapes (a member as a string or a table, a tier as a datacenter or a
//! split) have hand-written visitors rather than untagged enums, so spans survive.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcSpec {
    pub location: Option<Spanned<Vec<f64>>>,
    pub bias_km: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub port: Option<Spanned<i64>>,
    pub path: Option<String>,
    pub host: Option<String>,
    pub expect: Option<Spanned<Vec<i64>>>,
    pub body: Option<String>,
    pub ca: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub qtype: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub rise: Option<Spanned<i64>>,
    pub fall: Option<Spanned<i64>>,
    pub jitter: Option<Spanned<String>>,
    pub initial: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    pub names: Spanned<Vec<Spanned<String>>>,
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    pub ttl: Option<Spanned<i64>>,
    pub ttl_degraded: Option<Spanned<i64>>,
    pub max_answers: Option<Spanned<i64>>,
    pub on_all_down: Option<Spanned<OnAllDownSpec>>,
    pub min_healthy: Option<Spanned<f64>>,
    pub check: Option<Spanned<String>>,
    pub members: Spanned<BTreeMap<String, Spanned<Vec<Spanned<MemberSpec>>>>>,
    pub route: Option<Spanned<RouteSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    pub default: Option<Spanned<TierList>>,
    #[serde(default)]
    pub continents: BTreeMap<String, Spanned<TierList>>,
    #[serde(default)]
    pub countries: BTreeMap<String, Spanned<TierList>>,
    #[serde(default)]
    pub subdivisions: BTreeMap<String, Spanned<TierList>>,
    #[serde(default)]
    pub asns: BTreeMap<String, Spanned<TierList>>,
    #[serde(default)]
    pub networks: BTreeMap<String, Spanned<TierList>>,
}

/// A member: `"192.0.2.1"` or `{ address = "192.0.2.1", weight = 3 }` (`name` for CNAME pools).
#[derive(Debug)]
pub struct MemberSpec {
    pub value: String,
    pub weight: Option<f64>,
}

/// `"all"`, `"nodata"`, `"servfail"` or `{ pool = "other" }`.
#[derive(Debug)]
pub enum OnAllDownSpec {
    Word(String),
    Pool(String),
}

/// A tier: a datacenter name, `"nearest"`, or a split `{ ams = 90, sin = 10 }`.
#[derive(Debug)]
pub enum TierSpec {
    Name(String),
    Split(Vec<(String, f64)>),
}

/// A route value: a list of tiers, or a single tier written alone (`default = "nearest"`).
#[derive(Debug)]
pub struct TierList(pub Vec<Spanned<TierSpec>>);

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = MemberSpec;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an address or name, or a table { address = \"…\", weight = N }")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<MemberSpec, E> {
        Ok(MemberSpec {
            value: v.to_string(),
            weight: None,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<MemberSpec, A::Error> {
        let mut value = None;
        let mut weight = None;
        while let Some(k) = m.next_key::<String>()? {
            match k.as_str() {
                "address" | "name" => value = Some(m.next_value::<String>()?),
                "weight" => weight = Some(m.next_value::<f64>()?),
                other => {
                    return Err(de::Error::unknown_field(
                        other,
                        &["address", "name", "weight"],
                    ));
                }
            }
        }
        let value = value.ok_or_else(|| de::Error::missing_field("address"))?;
        Ok(MemberSpec { value, weight })
    }
}

impl<'de> Deserialize<'de> for MemberSpec {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MemberVisitor)
    }
}

struct OnAllDownVisitor;

impl<'de> Visitor<'de> for OnAllDownVisitor {
    type Value = OnAllDownSpec;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("\"all\", \"nodata\", \"servfail\" or { pool = \"name\" }")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<OnAllDownSpec, E> {
        Ok(OnAllDownSpec::Word(v.to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<OnAllDownSpec, A::Error> {
        let mut pool = None;
        while let Some(k) = m.next_key::<String>()? {
            match k.as_str() {
                "pool" => pool = Some(m.next_value::<String>()?),
                other => return Err(de::Error::unknown_field(other, &["pool"])),
            }
        }
        pool.map(OnAllDownSpec::Pool)
            .ok_or_else(|| de::Error::missing_field("pool"))
    }
}

impl<'de> Deserialize<'de> for OnAllDownSpec {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OnAllDownVisitor)
    }
}

struct TierVisitor;

impl<'de> Visitor<'de> for TierVisitor {
    type Value = TierSpec;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a datacenter name, \"nearest\", or a split such as { ams = 90, sin = 10 }")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<TierSpec, E> {
        Ok(TierSpec::Name(v.to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<TierSpec, A::Error> {
        let mut parts = Vec::new();
        while let Some(k) = m.next_key::<String>()? {
            let v = m.next_value::<f64>()?;
            parts.push((k, v));
        }
        Ok(TierSpec::Split(parts))
    }
}

impl<'de> Deserialize<'de> for TierSpec {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TierVisitor)
    }
}

struct TierListVisitor;

impl<'de> Visitor<'de> for TierListVisitor {
    type Value = TierList;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of datacenters (an ordered failover list), or \"nearest\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<TierList, E> {
        // a lone value: its span is the list's, which the caller has
        Ok(TierList(vec![Spanned::new(
            0..0,
            TierSpec::Name(v.to_string()),
        )]))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<TierList, A::Error> {
        let mut v = Vec::new();
        while let Some(t) = s.next_element::<Spanned<TierSpec>>()? {
            v.push(t);
        }
        Ok(TierList(v))
    }
}

impl<'de> Deserialize<'de> for TierList {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TierListVisitor)
    }
}
