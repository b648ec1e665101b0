//! Network: outbound TCP to granted `host:port` entries only. Covers `wasi:sockets/*`.
//!
//! Grammar (Spin's and Deno's, which users know): host is an exact name, `*.domain`
//! (subdomains only, not the apex), an IP, a CIDR (`10.0.0.0/8`, `[fd00::/8]`), or `*`;
//! port is a number, a range `8000-8999`, or `*`. Binding and listening are never allowed
//! (only the implicit bind of an outgoing connection), UDP is off, and name lookup is on only
//! when a granted entry names hosts (never for IP/CIDR-only grants). A blocklist always wins:
//! private, loopback, link-local and reserved ranges (and IPv6 forms embedding IPv4) are
//! blocked unless the policy exempts them, plus whatever it blocks.
//!
//! Raw sockets carry no host name, so a connection is matched by IP: exact host names are
//! resolved by the host at connect time; `*.domain` entries cannot be checked this way and
//! never match a raw socket (they are kept for name-aware transports).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::bindings::sockets;
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSockets, WasiSocketsView};

use super::{Capability, Missing, Prepare, Scope};
use crate::store::InstanceState;

pub const NAME: &str = "network";
pub const IMPORTS: &[&str] = &["wasi:sockets/"];

/// The network capability (see the module docs).
pub struct Network;

/// Granted entries, and the policy's blocklist that applies whatever they say.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetworkGrant {
    pub entries: Vec<NetPattern>,
    pub blocklist: Blocklist,
}

impl Capability for Network {
    const NAME: &'static str = NAME;
    const IMPORTS: &'static [&'static str] = IMPORTS;
    type Request = Vec<NetPattern>;
    type Allow = Vec<NetPattern>;
    type Grant = NetworkGrant;
    type Instance = ();

    fn grant(
        requests: &Vec<NetPattern>,
        allows: &Vec<NetPattern>,
        scope: &Scope<'_>,
    ) -> (NetworkGrant, Vec<Missing>) {
        let (entries, missing) = grant(requests, allows, scope.plugin);
        let blocklist = scope.blocklist.clone();
        (NetworkGrant { entries, blocklist }, missing)
    }

    fn link(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
        let view = InstanceState::sockets;
        sockets::tcp::add_to_linker::<_, WasiSockets>(linker, view)?;
        sockets::tcp_create_socket::add_to_linker::<_, WasiSockets>(linker, view)?;
        sockets::udp::add_to_linker::<_, WasiSockets>(linker, view)?;
        sockets::udp_create_socket::add_to_linker::<_, WasiSockets>(linker, view)?;
        sockets::instance_network::add_to_linker::<_, WasiSockets>(linker, view)?;
        sockets::network::add_to_linker::<_, WasiSockets>(linker, &Default::default(), view)?;
        sockets::ip_name_lookup::add_to_linker::<_, WasiSockets>(linker, view)
    }

    fn prepare(grant: &NetworkGrant, instance: &mut Prepare<'_>) -> wasmtime::Result<()> {
        let check = (!grant.entries.is_empty()).then(|| AddressCheck {
            granted: Arc::from(grant.entries.as_slice()),
            blocklist: Arc::new(grant.blocklist.clone()),
        });
        apply(check.as_ref(), instance.wasi);
        Ok(())
    }

    /// The effective column lists the granted entries (the blocklist is the policy's own
    /// `[network]` section).
    fn audit(
        requests: &Vec<NetPattern>,
        allows: &Vec<NetPattern>,
        grant: Option<&NetworkGrant>,
    ) -> Option<super::AuditRow> {
        let effective = grant.map(|g| &g.entries);
        Some(super::AuditRow::new(requests, allows, effective))
    }
}

/// The host of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// `*`: any host.
    Any,
    /// `*.domain`: subdomains of the domain (lower-case), not the domain itself.
    Subdomains(String),
    /// An exact host name (lower-case).
    Name(String),
    /// An IP (a one-address network) or a CIDR.
    Net(IpNet),
}

/// The port of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortPattern {
    /// `*`: any port.
    Any,
    /// `low-high`, inclusive (a single port is `Range(p, p)`).
    Range(u16, u16),
}

/// One `host:port` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetPattern {
    pub host: HostPattern,
    pub port: PortPattern,
}

impl FromStr for NetPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "`{text}` is not a network entry ({why}); expected host:port, e.g. api.example.com:443, *.example.com:*, 10.0.0.0/8:5432, [::1]:80"
            )
        };
        let (host, port) = match text.strip_prefix('[') {
            Some(rest) => {
                let (host, port) = rest
                    .split_once("]:")
                    .ok_or_else(|| bad("an IPv6 address needs [addr]:port"))?;
                (host, port)
            }
            None => text.rsplit_once(':').ok_or_else(|| bad("missing :port"))?,
        };
        Ok(NetPattern {
            host: parse_host(host).map_err(|why| bad(&why))?,
            port: parse_port(port).map_err(|why| bad(&why))?,
        })
    }
}

/// A host entry: `*`, `*.domain`, a CIDR, an IP or a name (shared with `http` entries).
pub(crate) fn parse_host(host: &str) -> Result<HostPattern, String> {
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if let Some(domain) = host.strip_prefix("*.") {
        return valid_name(domain).map(|d| HostPattern::Subdomains(d.to_ascii_lowercase()));
    }
    if let Ok(net) = host.parse::<IpNet>() {
        return Ok(HostPattern::Net(net.trunc()));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(HostPattern::Net(IpNet::from(ip)));
    }
    valid_name(host).map(|h| HostPattern::Name(h.to_ascii_lowercase()))
}

fn valid_name(name: &str) -> Result<&str, String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    ok.then_some(name)
        .ok_or_else(|| format!("`{name}` is not a host name"))
}

/// A port entry: a number, a range `low-high` or `*` (shared with `http` entries).
pub(crate) fn parse_port(port: &str) -> Result<PortPattern, String> {
    let number = |p: &str| p.parse::<u16>().map_err(|_| format!("`{p}` is not a port"));
    match port {
        "*" => Ok(PortPattern::Any),
        _ => match port.split_once('-') {
            Some((low, high)) if number(low)? <= number(high)? => {
                Ok(PortPattern::Range(number(low)?, number(high)?))
            }
            Some(_) => Err(format!("port range `{port}` is empty")),
            None => number(port).map(|p| PortPattern::Range(p, p)),
        },
    }
}

/// As written in entries: `*`, `*.domain`, a name, an IP (`[…]` for IPv6) or a CIDR.
impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Any => f.write_str("*"),
            HostPattern::Subdomains(d) => write!(f, "*.{d}"),
            HostPattern::Name(n) => f.write_str(n),
            HostPattern::Net(net) if net.prefix_len() == net.max_prefix_len() => match net.addr() {
                IpAddr::V6(ip) => write!(f, "[{ip}]"),
                ip => write!(f, "{ip}"),
            },
            HostPattern::Net(IpNet::V6(net)) => write!(f, "[{net}]"),
            HostPattern::Net(net) => write!(f, "{net}"),
        }
    }
}

impl fmt::Display for NetPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.host)?;
        match self.port {
            PortPattern::Any => f.write_str(":*"),
            PortPattern::Range(low, high) if low == high => write!(f, ":{low}"),
            PortPattern::Range(low, high) => write!(f, ":{low}-{high}"),
        }
    }
}

impl Serialize for NetPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NetPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl PortPattern {
    /// Does this allow every port `other` allows?
    pub fn covers(self, other: PortPattern) -> bool {
        match (self, other) {
            (PortPattern::Any, _) => true,
            (PortPattern::Range(..), PortPattern::Any) => false,
            (PortPattern::Range(a, b), PortPattern::Range(c, d)) => a <= c && d <= b,
        }
    }

    /// Does this allow `port`?
    pub fn matches(self, port: u16) -> bool {
        self.covers(PortPattern::Range(port, port))
    }
}

impl HostPattern {
    /// Does this allow every host `other` allows?
    pub fn covers(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (HostPattern::Any, _) => true,
            (_, HostPattern::Any) => false,
            (HostPattern::Subdomains(d), HostPattern::Subdomains(e)) => {
                e == d || e.ends_with(&format!(".{d}"))
            }
            (HostPattern::Subdomains(d), HostPattern::Name(n)) => n.ends_with(&format!(".{d}")),
            (HostPattern::Name(a), HostPattern::Name(b)) => a == b,
            (HostPattern::Net(a), HostPattern::Net(b)) => a.contains(b),
            _ => false,
        }
    }
}

impl NetPattern {
    /// Does this allowance cover that request?
    pub fn covers(&self, request: &NetPattern) -> bool {
        self.host.covers(&request.host) && self.port.covers(request.port)
    }
}

pub fn grant(
    requests: &[NetPattern],
    allows: &[NetPattern],
    plugin: &str,
) -> (Vec<NetPattern>, Vec<Missing>) {
    let covered = |request: &NetPattern| allows.iter().any(|a| a.covers(request));
    super::intersect(NAME, requests, covered, |request| {
        super::policy_line(plugin, "network", &super::toml_string(&request.to_string()))
    })
}

/// Ranges blocked unless the policy exempts them: private, loopback, link-local,
/// unspecified, carrier-grade NAT, benchmarking, IETF and reserved IPv4; unique-local and
/// link-local IPv6; and the IPv6 forms that embed an IPv4 address (IPv4-compatible, NAT64,
/// 6to4), which could otherwise reach a private IPv4 host.
pub const LOCAL_RANGES: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "0.0.0.0/8",
    "100.64.0.0/10",
    "198.18.0.0/15",
    "192.0.0.0/24",
    "240.0.0.0/4",
    "::/96",
    "fc00::/7",
    "fe80::/10",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "2002::/16",
];

/// [`LOCAL_RANGES`], parsed once rather than on every connection.
fn local_ranges() -> &'static [IpNet] {
    static PARSED: std::sync::LazyLock<Vec<IpNet>> = std::sync::LazyLock::new(|| {
        LOCAL_RANGES
            .iter()
            .map(|r| r.parse().expect("valid range"))
            .collect()
    });
    &PARSED
}

/// What the operator blocks, whatever is granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Blocklist {
    /// Always blocked.
    pub block: Vec<IpNet>,
    /// Local ranges exempted from the default block.
    pub allow_local: Vec<IpNet>,
}

impl Blocklist {
    /// Is a connection to `ip` refused whatever is granted? An IPv4 address and its
    /// IPv4-mapped IPv6 form are one address: an entry written in either form (`block`
    /// or `allow-local`) applies to both.
    pub fn blocks(&self, ip: IpAddr) -> bool {
        let forms = both_forms(ip);
        let listed = |nets: &[IpNet]| nets.iter().any(|net| forms.iter().any(|f| net.contains(f)));
        if listed(&self.block) {
            return true;
        }
        let local = local_ranges()
            .iter()
            .any(|net| net.contains(&canonical(ip)));
        local && !listed(&self.allow_local)
    }
}

/// IPv4-mapped IPv6 addresses are checked as the IPv4 address they carry.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// `ip` as the IPv4 address and as the IPv4-mapped IPv6 address, where it has both forms
/// (otherwise twice itself).
fn both_forms(ip: IpAddr) -> [IpAddr; 2] {
    match canonical(ip) {
        IpAddr::V4(v4) => [IpAddr::V4(v4), IpAddr::V6(v4.to_ipv6_mapped())],
        v6 => [v6, v6],
    }
}

/// The check run on every socket operation of a plugin with a network grant.
#[derive(Debug, Clone)]
pub struct AddressCheck {
    pub granted: Arc<[NetPattern]>,
    pub blocklist: Arc<Blocklist>,
}

impl AddressCheck {
    pub async fn allows(&self, addr: SocketAddr, usage: SocketAddrUse) -> bool {
        match usage {
            // The implicit bind of an outgoing connection uses the unspecified address and
            // port 0; any other bind, and listening, is refused.
            SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
            SocketAddrUse::TcpConnect => self.may_connect(addr).await,
            _ => false,
        }
    }

    async fn may_connect(&self, addr: SocketAddr) -> bool {
        let ip = canonical(addr.ip());
        if self.blocklist.blocks(ip) {
            tracing::info!(%addr, "connection refused: address is blocked by policy");
            return false;
        }
        for pattern in self.granted.iter().filter(|p| p.port.matches(addr.port())) {
            let matched = match &pattern.host {
                HostPattern::Any => true,
                HostPattern::Net(net) => net.contains(&ip),
                HostPattern::Name(name) => resolves_to(name, ip).await,
                HostPattern::Subdomains(_) => false,
            };
            if matched {
                return true;
            }
        }
        tracing::info!(%addr, "connection refused: no network grant covers it");
        false
    }
}

async fn resolves_to(name: &str, ip: IpAddr) -> bool {
    match tokio::net::lookup_host((name, 0)).await {
        Ok(addrs) => addrs.map(|a| canonical(a.ip())).any(|a| a == ip),
        Err(_) => false,
    }
}

pub fn apply(check: Option<&AddressCheck>, builder: &mut WasiCtxBuilder) {
    let Some(check) = check.cloned() else {
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        return;
    };
    // Name lookup is itself a channel out (queries to any domain), so it is on only when a
    // granted entry names hosts.
    let names = check
        .granted
        .iter()
        .any(|p| !matches!(p.host, HostPattern::Net(_)));
    builder
        .allow_tcp(true)
        .allow_udp(false)
        .allow_ip_name_lookup(names);
    builder.socket_addr_check(move |addr, usage| {
        let check = check.clone();
        Box::pin(async move { check.allows(addr, usage).await })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> NetPattern {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_the_grammar() {
        for text in [
            "api.example.com:443",
            "*.example.com:*",
            "10.0.0.0/8:5432",
            "[::1]:80",
            "*:8000-8999",
            "127.0.0.1:9000",
        ] {
            assert_eq!(p(text).to_string(), text);
        }
        for bad in [
            "example.com",
            "exa mple.com:80",
            "host:99999",
            "host:9-1",
            "[::1:80",
            "*.:80",
        ] {
            assert!(bad.parse::<NetPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn allowances_cover_narrower_requests_only() {
        assert!(p("*.example.com:*").covers(&p("api.example.com:443")));
        assert!(
            !p("*.example.com:*").covers(&p("example.com:443")),
            "subdomains only"
        );
        assert!(p("10.0.0.0/8:*").covers(&p("10.1.2.3:5432")));
        assert!(!p("api.example.com:443").covers(&p("api.example.com:*")));
        assert!(
            p("*:1000-2000").covers(&p("x.org:1500")) && !p("*:1000-2000").covers(&p("x.org:2500"))
        );
    }

    #[test]
    fn the_blocklist_wins_and_local_ranges_need_an_exemption() {
        let default = Blocklist::default();
        assert!(default.blocks("127.0.0.1".parse().unwrap()));
        assert!(
            default.blocks("::ffff:192.168.1.1".parse().unwrap()),
            "IPv4-mapped IPv6 is checked as IPv4"
        );
        assert!(!default.blocks("93.184.216.34".parse().unwrap()));
        let exempt = Blocklist {
            block: vec!["127.0.0.2/32".parse().unwrap()],
            allow_local: vec!["127.0.0.0/8".parse().unwrap()],
        };
        assert!(!exempt.blocks("127.0.0.1".parse().unwrap()));
        assert!(exempt.blocks("127.0.0.2".parse().unwrap()));
    }

    /// Found with the fuzz targets' blocklist invariant (`network_grant`, `policy`): a
    /// `block` entry written as IPv4-mapped IPv6 did not block the address it names, since
    /// a connection is checked as IPv4.
    #[test]
    fn entries_in_ipv4_mapped_form_apply_to_both_forms_of_the_address() {
        let mapped = Blocklist {
            block: vec!["::ffff:203.0.113.0/120".parse().unwrap()],
            allow_local: vec!["::ffff:10.0.0.0/104".parse().unwrap()],
        };
        for blocked in ["::ffff:203.0.113.9", "203.0.113.9"] {
            assert!(mapped.blocks(blocked.parse().unwrap()), "{blocked}");
        }
        for exempt in ["::ffff:10.1.2.3", "10.1.2.3"] {
            assert!(!mapped.blocks(exempt.parse().unwrap()), "{exempt}");
        }
        let plain = Blocklist {
            block: vec!["203.0.113.0/24".parse().unwrap()],
            allow_local: vec![],
        };
        assert!(plain.blocks("::ffff:203.0.113.9".parse().unwrap()));
        assert!(!plain.blocks("::ffff:93.184.216.34".parse().unwrap()));
    }
}
