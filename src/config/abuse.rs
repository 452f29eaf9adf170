//! The sections that defend against abuse: response rate limiting (`[rrl]`) and DNS Cookies
//! (`[cookies]`), with their defaults and the checks of their values.

use std::path::Path;

use serde::Deserialize;

use super::check_range;
use crate::error::Problem;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CookiesSpec {
    enabled: Option<bool>,
    secret: Option<String>,
    previous_secret: Option<String>,
}

/// DNS Cookies (`[cookies]`, RFC 7873 and RFC 9018), answered by default.
#[derive(Clone, PartialEq, Eq)]
pub struct Cookies {
    pub enabled: bool,
    /// The secret server cookies are made with (16 bytes, 32 hex digits). `None`: a random one
    /// made at start. Servers behind one anycast address share it.
    pub secret: Option<[u8; 16]>,
    /// The secret before it, still accepted during a rollover (RFC 9018 §5).
    pub previous_secret: Option<[u8; 16]>,
}

impl Default for Cookies {
    fn default() -> Self {
        Cookies {
            enabled: true,
            secret: None,
            previous_secret: None,
        }
    }
}

impl std::fmt::Debug for Cookies {
    // the secrets never reach a log
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cookies")
            .field("enabled", &self.enabled)
            .field("secret", &self.secret.map(|_| ".."))
            .field("previous_secret", &self.previous_secret.map(|_| ".."))
            .finish()
    }
}

impl Cookies {
    /// The secrets a snapshot answers with; `None` when cookies are off.
    pub fn secrets(&self) -> Option<crate::wire::cookie::Secrets> {
        self.enabled
            .then(|| crate::wire::cookie::Secrets::new(self.secret, self.previous_secret))
    }
}

/// A cookie secret: 32 hex digits.
fn secret(text: &str) -> Result<[u8; 16], String> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.trim().as_bytes())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .ok_or_else(|| "is not 32 hexadecimal digits (16 bytes)".to_string())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RrlSpec {
    responses_per_second: Option<u32>,
    slip: Option<u32>,
    ipv4_prefix: Option<u8>,
    ipv6_prefix: Option<u8>,
    exempt: Option<Vec<String>>,
    exempt_cookies: Option<bool>,
}

/// Response rate limiting (`[rrl]`), on by default with NSD's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrl {
    /// Responses per second per client network and response kind; 0 turns RRL off.
    pub responses_per_second: u32,
    /// Every `slip`-th limited response goes out truncated; 0: none does, 1: every one.
    pub slip: u32,
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    /// Networks never limited. Default: loopback (the kernel drops loopback sources arriving
    /// from outside, so they cannot be forged from the internet, and local tools are not
    /// throttled).
    pub exempt: Vec<crate::net::Net>,
    /// Queries with a valid server cookie are never limited: their source cannot be forged.
    pub exempt_cookies: bool,
}

impl Default for Rrl {
    /// NSD's defaults: 200 a second, slip 2, /24 and /56; loopback exempt.
    fn default() -> Self {
        Rrl {
            responses_per_second: 200,
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            exempt: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| crate::net::Net::parse(n).ok())
                .collect(),
            exempt_cookies: true,
        }
    }
}

impl Rrl {
    /// Takes the `[rrl]` table's values, reporting those out of range.
    pub(super) fn apply(
        &mut self,
        spec: RrlSpec,
        problems: &mut Vec<Problem>,
        path: &Path,
        key_line: &dyn Fn(&str) -> usize,
    ) {
        if let Some(n) = spec.responses_per_second {
            self.responses_per_second = n;
        }
        if let Some(n) = spec.slip {
            check_range(
                problems,
                path,
                key_line("slip"),
                "rrl.slip",
                u128::from(n),
                0,
                100,
                "",
            );
            self.slip = n.min(100);
        }
        if let Some(n) = spec.ipv4_prefix {
            check_range(
                problems,
                path,
                key_line("ipv4_prefix"),
                "rrl.ipv4_prefix",
                u128::from(n),
                0,
                32,
                "",
            );
            self.ipv4_prefix = n.min(32);
        }
        if let Some(n) = spec.ipv6_prefix {
            check_range(
                problems,
                path,
                key_line("ipv6_prefix"),
                "rrl.ipv6_prefix",
                u128::from(n),
                0,
                128,
                "",
            );
            self.ipv6_prefix = n.min(128);
        }
        if spec.exempt.is_some() {
            self.exempt.clear();
        }
        for n in spec.exempt.iter().flatten() {
            match crate::net::Net::parse(n) {
                Ok(net) => self.exempt.push(net),
                Err(e) => problems.push(Problem::new(
                    path,
                    key_line("exempt"),
                    format!("rrl.exempt: {e}"),
                )),
            }
        }
        if let Some(e) = spec.exempt_cookies {
            self.exempt_cookies = e;
        }
    }
}

impl Cookies {
    /// Takes the `[cookies]` table's values, reporting secrets that are not 16 bytes of hex.
    pub(super) fn apply(
        &mut self,
        spec: CookiesSpec,
        problems: &mut Vec<Problem>,
        path: &Path,
        key_line: &dyn Fn(&str) -> usize,
    ) {
        if let Some(e) = spec.enabled {
            self.enabled = e;
        }
        for (key, text, slot) in [
            ("secret", &spec.secret, &mut self.secret),
            (
                "previous_secret",
                &spec.previous_secret,
                &mut self.previous_secret,
            ),
        ] {
            if let Some(t) = text {
                match secret(t) {
                    Ok(s) => *slot = Some(s),
                    Err(e) => problems.push(Problem::new(
                        path,
                        key_line(key),
                        format!("cookies.{key} {e}"),
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Overrides};

    #[test]
    fn cookie_secrets_are_read_and_checked() {
        let d = crate::testutil::dir("config-cookies");
        let f = d.join("g.toml");
        std::fs::write(
            &f,
            "[cookies]\nsecret = \"E5E973E5A6B2A43F48E7DC849E37BFCF\"\n[rrl]\nexempt_cookies = false\n",
        )
        .unwrap();
        let c = Config::load(Some(&f), &Overrides::default()).unwrap();
        assert_eq!(c.cookies.secret.map(|s| s[0]), Some(0xe5));
        assert!(c.cookies.enabled && !c.rrl.exempt_cookies);
        // the secret never reaches a log
        assert!(!format!("{c:?}").contains("229"), "{c:?}");
        std::fs::write(
            &f,
            "[cookies]\nenabled = true\nsecret = \"e5e9\"\nprevious_secret = \"zz\"\n",
        )
        .unwrap();
        let e = Config::load(Some(&f), &Overrides::default()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("g.toml:3: cookies.secret is not 32 hexadecimal digits"),
            "{text}"
        );
        assert!(text.contains("g.toml:4: cookies.previous_secret"), "{text}");
    }
}
