//! Host group membership by rule (Zabbix auto-registration, Nightingale's ident tags): a host
//! group takes, besides the hosts it lists, every host of its tenant that one of its rules
//! matches, from what the host's agent reported in its heartbeats (name, IP address, tags). Web
//! expands the rules into the group's member list when it builds the tenant's model, so judges
//! and transfers only ever see lists.

use crate::validate::ValidationError;
use crate::Tags;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One membership rule of a host group. Every part it gives must match (an empty part matches
/// anything); a group's rules are alternatives. A rule giving no part is refused: it would take
/// every host of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct HostRule {
    /// Glob over the host name: `*` any run of characters (also none), `?` exactly one; every
    /// other character stands for itself. E.g. `web-*.prod`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Tags the host's agent reports (`[tags]` of its config file), each equal.
    #[serde(skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// The range (CIDR, IPv4 or IPv6, e.g. `10.1.0.0/16`) holding the IP address the agent
    /// reports. A host that reported none never matches.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cidr: String,
}

/// What a rule is matched against: the host as web knows it from its heartbeats.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    /// The host (endpoint) name.
    pub name: String,
    /// The IP address it reported, if any (and if it parsed).
    pub ip: Option<IpAddr>,
    /// The tags its agent reported.
    pub tags: Tags,
}

impl HostRule {
    /// Checks the rule; the error's field is relative to the rule (`name`, `cidr`, `tags`, or
    /// empty for the rule as a whole).
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.name.is_empty() && self.tags.is_empty() && self.cidr.is_empty() {
            return Err(ValidationError::new(
                "",
                "a rule without name, tags or cidr would take every host: give at least one",
            ));
        }
        // A host name's characters, and the two wildcards.
        if let Some(c) = self
            .name
            .chars()
            .find(|c| !matches!(c, '*' | '?') && crate::validate::bad_name_char(*c))
        {
            return Err(ValidationError::new(
                "name",
                format!(
                    "a glob over host names may hold letters, digits, . _ - : / @ % and the \
                     wildcards * and ?; found {c:?} (regular expressions are not taken)"
                ),
            ));
        }
        if self.name.len() > 255 {
            return Err(ValidationError::new("name", "must be at most 255 bytes"));
        }
        // Tags as an agent may report them: another value could never match.
        crate::validate::validate_tags(&self.tags, &crate::validate::Limits::default())?;
        if !self.cidr.is_empty() {
            Cidr::parse(&self.cidr).map_err(|e| ValidationError::new("cidr", e))?;
        }
        Ok(())
    }

    /// True when `host` matches every part of the rule. A rule that does not check never
    /// matches.
    pub fn matches(&self, host: &HostFacts) -> bool {
        if !self.name.is_empty() && !glob_match(&self.name, &host.name) {
            return false;
        }
        if !host.tags.contains_all(&self.tags) {
            return false;
        }
        if !self.cidr.is_empty() {
            let Ok(net) = Cidr::parse(&self.cidr) else {
                return false;
            };
            if !host.ip.is_some_and(|ip| net.contains(ip)) {
                return false;
            }
        }
        true
    }
}

/// True when any of `rules` matches `host`.
pub fn any_matches(rules: &[HostRule], host: &HostFacts) -> bool {
    rules.iter().any(|r| r.matches(host))
}

/// An IP range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `v6::addr/n`. Host bits set are refused (`10.1.2.3/8`): the user
    /// most likely meant another range than the one it would name.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = s.split_once('/').ok_or_else(|| {
            format!("{s:?} is not a CIDR range: write address/prefix, e.g. 10.0.0.0/8")
        })?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{a:?} is not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("prefix {p:?} must be a number from 0 to {max}"))?;
        let c = Cidr { addr, prefix };
        if c.network() != bits(addr) {
            return Err(format!(
                "{s:?} has host bits set: the range is {}/{prefix}",
                c.network_addr()
            ));
        }
        Ok(c)
    }

    fn mask(&self) -> u128 {
        let width = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == 0 {
            0
        } else {
            (u128::MAX << (width - self.prefix as u32)) & (u128::MAX >> (128 - width))
        }
    }

    fn network(&self) -> u128 {
        bits(self.addr) & self.mask()
    }

    fn network_addr(&self) -> IpAddr {
        let n = self.network();
        match self.addr {
            IpAddr::V4(_) => IpAddr::from((n as u32).to_be_bytes()),
            IpAddr::V6(_) => IpAddr::from(n.to_be_bytes()),
        }
    }

    /// True when `ip` is in the range. An IPv4 address is in no IPv6 range and the other way
    /// round, except that an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) counts as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        ip.is_ipv4() == self.addr.is_ipv4() && bits(ip) & self.mask() == self.network()
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Glob match of `text` by `pat` (`*` any run, `?` one character), in time linear in their
/// lengths times the stars (the classic greedy match with one backtrack point).
pub fn glob_match(pat: &str, text: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            // Let the last star take one more character and retry from there.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, ip: &str, tags: &[(&str, &str)]) -> HostFacts {
        HostFacts {
            name: name.into(),
            ip: ip.parse().ok(),
            tags: Tags::from_pairs(tags.iter().copied()),
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("web-*", "web-01"));
        assert!(glob_match("web-*", "web-"));
        assert!(!glob_match("web-*", "db-01"));
        assert!(glob_match("*.prod", "a.b.prod"));
        assert!(!glob_match("*.prod", "a.prod.x"));
        assert!(glob_match("w?b*0?", "web-01"));
        assert!(!glob_match("w?b*0?", "web-010"));
        assert!(!glob_match("w?b", "wb"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYbZc"));
        assert!(!glob_match("a*b*c", "aXXbYYbZ"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exact1"));
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(!c.contains("fd00::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("192.0.2.1".parse().unwrap()));
        assert!(Cidr::parse("192.0.2.7/32")
            .unwrap()
            .contains("192.0.2.7".parse().unwrap()));
        let v6 = Cidr::parse("fd00:1::/32").unwrap();
        assert!(v6.contains("fd00:1::5".parse().unwrap()));
        assert!(!v6.contains("fd00:2::5".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let e = Cidr::parse("10.1.2.3/8").unwrap_err();
        assert!(e.contains("host bits") && e.contains("10.0.0.0/8"), "{e}");
        assert!(Cidr::parse("10.0.0.0/33").unwrap_err().contains("0 to 32"));
        assert!(Cidr::parse("10.0.0.0")
            .unwrap_err()
            .contains("address/prefix"));
        assert!(Cidr::parse("10.0.0/8").unwrap_err().contains("not an IPv4"));
    }

    #[test]
    fn rules_match_every_part_they_give() {
        let r = HostRule {
            name: "web-*".into(),
            tags: Tags::from_pairs([("env", "prod")]),
            cidr: "10.0.0.0/8".into(),
        };
        r.check().unwrap();
        assert!(r.matches(&host("web-1", "10.3.3.3", &[("env", "prod"), ("dc", "a")])));
        assert!(!r.matches(&host("web-1", "10.3.3.3", &[("env", "dev")])));
        assert!(!r.matches(&host("web-1", "192.168.0.1", &[("env", "prod")])));
        assert!(!r.matches(&host("web-1", "", &[("env", "prod")])));
        assert!(!r.matches(&host("db-1", "10.3.3.3", &[("env", "prod")])));
        let only_tags = HostRule {
            tags: Tags::from_pairs([("env", "prod")]),
            ..Default::default()
        };
        assert!(only_tags.matches(&host("anything", "", &[("env", "prod")])));
        assert!(any_matches(
            &[r, only_tags],
            &host("db-1", "", &[("env", "prod")])
        ));
    }

    #[test]
    fn bad_rules_name_their_field() {
        let e = HostRule::default().check().unwrap_err();
        assert_eq!(e.field, "");
        let e = HostRule {
            name: "^web-.*$".into(),
            ..Default::default()
        }
        .check()
        .unwrap_err();
        assert_eq!(e.field, "name");
        assert!(e.reason.contains("'^'"), "{}", e.reason);
        let e = HostRule {
            cidr: "10.0.0.0/40".into(),
            ..Default::default()
        }
        .check()
        .unwrap_err();
        assert_eq!(e.field, "cidr");
    }

    #[test]
    fn reads_and_writes_the_documented_shape() {
        let r: HostRule = serde_json::from_str(
            r#"{"name": "web-*", "tags": {"env": "prod"}, "cidr": "10.0.0.0/8"}"#,
        )
        .unwrap();
        assert_eq!(r.tags.get("env"), Some("prod"));
        let only: HostRule = serde_json::from_str(r#"{"tags": {"env": "prod"}}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&only).unwrap(),
            r#"{"tags":{"env":"prod"}}"#
        );
        assert!(serde_json::from_str::<HostRule>(r#"{"regex": "x"}"#).is_err());
    }
}
