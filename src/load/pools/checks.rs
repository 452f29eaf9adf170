//! `[checks.NAME]`: health checks, reusable by name within a pool file.

use std::collections::HashMap;
use std::sync::Arc;

use super::Ctx;
use super::spec::CheckSpec;
use crate::load::rdata::type_code;
use crate::model::{Check, Probe};
use crate::time::parse_duration;
use crate::wire::name::{lowercased, parse as parse_name};
use crate::wire::rtype;

/// Validates every check; the valid ones by name.
pub(super) fn build(
    cx: &mut Ctx<'_>,
    specs: Vec<(String, std::ops::Range<usize>, CheckSpec)>,
    apex: &[u8],
) -> HashMap<String, Arc<Check>> {
    let mut out = HashMap::new();
    for (name, span, s) in specs {
        let before = cx.problems.len();
        let kind = s.kind.get_ref().to_ascii_lowercase();
        let default_port = match kind.as_str() {
            "tcp" => None,
            "http" => Some(80),
            "dns" => Some(53),
            "https" => Some(443),
            other => {
                cx.at(
                    s.kind.span(),
                    format!("check '{name}': type '{other}' is not \"tcp\", \"http\", \"https\" or \"dns\""),
                );
                None
            }
        };
        let port = match (&s.port, default_port) {
            (Some(p), _) => match u16::try_from(*p.get_ref()) {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    cx.at(p.span(), format!("check '{name}': port must be 1–65535"));
                    None
                }
            },
            (None, Some(p)) => Some(p),
            (None, None) => {
                if kind == "tcp" {
                    cx.at(
                        span.clone(),
                        format!("check '{name}': a tcp check needs a port"),
                    );
                }
                None
            }
        };
        let mut duration = |v: &Option<toml::Spanned<String>>, key: &str, default: u64| match v {
            None => default,
            Some(d) => match parse_duration(d.get_ref()) {
                Some(x) if !x.is_zero() => u64::try_from(x.as_millis()).unwrap_or(u64::MAX),
                _ => {
                    cx.at(
                        d.span(),
                        format!(
                            "check '{name}': {key} '{}' is not a duration like 5s or 500ms",
                            d.get_ref()
                        ),
                    );
                    default
                }
            },
        };
        let interval_ms = duration(&s.interval, "interval", 5_000);
        let timeout_ms = duration(&s.timeout, "timeout", 2_000);
        if timeout_ms > interval_ms {
            cx.at(span.clone(), format!("check '{name}': timeout ({timeout_ms} ms) is longer than interval ({interval_ms} ms)"));
        }
        let mut count = |v: &Option<toml::Spanned<i64>>, key: &str, default: u32| match v {
            None => default,
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    cx.at(n.span(), format!("check '{name}': {key} must be 1–100"));
                    default
                }
            },
        };
        let rise = count(&s.rise, "rise", 2);
        let fall = count(&s.fall, "fall", 3);
        let jitter_pct = match &s.jitter {
            None => 10,
            Some(j) => {
                match j
                    .get_ref()
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse::<u32>().ok())
                {
                    Some(n) if n <= 50 => n,
                    _ => {
                        cx.at(j.span(), format!("check '{name}': jitter must be a percentage of the interval, 0%–50%"));
                        10
                    }
                }
            }
        };
        let initial_up = match s.initial.as_ref().map(|i| i.get_ref().as_str()) {
            None | Some("up") => true,
            Some("down") => false,
            Some(other) => {
                if let Some(i) = &s.initial {
                    cx.at(
                        i.span(),
                        format!("check '{name}': initial '{other}' is not \"up\" or \"down\""),
                    );
                }
                true
            }
        };
        let web = kind == "http" || kind == "https";
        let http_only = |cx: &mut Ctx<'_>, set: bool, key: &str| {
            if set && !web {
                cx.at(
                    span.clone(),
                    format!("check '{name}': {key} applies to http checks only"),
                );
            }
        };
        http_only(cx, s.path.is_some(), "path");
        http_only(cx, s.host.is_some(), "host");
        http_only(cx, s.expect.is_some(), "expect");
        http_only(cx, s.body.is_some(), "body");
        if s.ca.is_some() && kind != "https" {
            cx.at(
                span.clone(),
                format!("check '{name}': ca applies to https checks only"),
            );
        }
        let ca_pem = match &s.ca {
            None => None,
            Some(p) => {
                let path = cx
                    .file
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join(p.get_ref());
                match std::fs::read(&path) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        cx.at(
                            p.span(),
                            format!(
                                "check '{name}': cannot read the CA file {}: {e}",
                                path.display()
                            ),
                        );
                        None
                    }
                }
            }
        };
        let probe = match kind.as_str() {
            "http" | "https" => {
                let expect = match &s.expect {
                    None => vec![200],
                    Some(e) => {
                        let codes: Vec<u16> = e
                            .get_ref()
                            .iter()
                            .filter_map(|c| {
                                u16::try_from(*c).ok().filter(|c| (100..600).contains(c))
                            })
                            .collect();
                        if codes.len() != e.get_ref().len() || codes.is_empty() {
                            cx.at(
                                e.span(),
                                format!(
                                    "check '{name}': expect must list HTTP status codes (100–599)"
                                ),
                            );
                        }
                        codes
                    }
                };
                let path = s.path.clone().unwrap_or_else(|| "/".into());
                if !path.starts_with('/') {
                    cx.at(
                        span.clone(),
                        format!("check '{name}': path must start with '/'"),
                    );
                }
                Some(Probe::Http {
                    path,
                    host: s.host.clone(),
                    expect,
                    body: s.body.clone(),
                    tls: kind == "https",
                    ca_pem,
                })
            }
            "dns" => {
                let qname = match &s.name {
                    None => Some(apex.to_vec()),
                    Some(n) => match parse_name(n.get_ref(), Some(apex)) {
                        Ok(w) => Some(lowercased(&w)),
                        Err(m) => {
                            cx.at(n.span(), format!("check '{name}': {m}"));
                            None
                        }
                    },
                };
                let qtype = match &s.qtype {
                    None => Some(rtype::SOA),
                    Some(t) => {
                        let c = type_code(t.get_ref());
                        if c.is_none() {
                            cx.at(
                                t.span(),
                                format!("check '{name}': unknown record type '{}'", t.get_ref()),
                            );
                        }
                        c
                    }
                };
                qname
                    .zip(qtype)
                    .map(|(name, qtype)| Probe::Dns { name, qtype })
            }
            _ => Some(Probe::Tcp),
        };
        if (s.name.is_some() || s.qtype.is_some()) && kind != "dns" {
            cx.at(
                span.clone(),
                format!("check '{name}': name and qtype apply to dns checks only"),
            );
        }
        if cx.problems.len() > before {
            continue;
        }
        if let (Some(probe), Some(port)) = (probe, port) {
            out.insert(
                name.clone(),
                Arc::new(Check {
                    name,
                    probe,
                    port,
                    interval_ms,
                    timeout_ms,
                    rise,
                    fall,
                    jitter_pct,
                    initial_up,
                }),
            );
        }
    }
    out
}
