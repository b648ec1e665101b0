//! Fuzz target `network_grant`: network grant entries (`host:port`, the Spin/Deno grammar),
//! allowance-covers-request matching, the address blocklist and the check run on every
//! socket a plugin opens.
//!
//! Input lines: the policy's allowance, the manifest's request, a socket address
//! (`1.2.3.4:80`, `[::1]:443`), then any number of `block CIDR` / `allow CIDR` (policy
//! `[network] block` / `allow-local`) lines. Checks: no panic; a parsed entry prints back
//! to itself; an error quotes the entry; `covers` is reflexive, and an allowance that covers
//! a request admits every address the request admits; every address in a `block` entry is
//! blocked (an IPv4 address and its IPv4-mapped IPv6 form alike); a default-blocked local
//! address is blocked unless exempted; and the per-socket check admits a connection exactly
//! when the blocklist lets the address through and a granted entry matches it, never binds
//! except the implicit one of an outgoing connection, and never anything else. Host names
//! are parsed and covered, but not connected to: that check resolves names (DNS).

#![no_main]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use airlock::capabilities::network::{
    AddressCheck, Blocklist, HostPattern, LOCAL_RANGES, NetPattern,
};
use airlock_fuzz::poll_once;
use libfuzzer_sys::fuzz_target;
use wasmtime_wasi::sockets::SocketAddrUse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let allow = parse(lines.next().unwrap_or_default());
    let request = parse(lines.next().unwrap_or_default());
    let address: Option<SocketAddr> = lines.next().and_then(|l| l.parse().ok());
    let blocklist = blocklist(lines);

    if let (Some(allow), Some(request)) = (&allow, &request) {
        if allow.covers(request)
            && let Some(addr) = address
            && admits(request, addr)
        {
            assert!(
                admits(allow, addr),
                "{allow} covers {request} but not {addr}"
            );
        }
    }
    check_blocklist(&blocklist, address.map(|a| a.ip()));
    if let (Some(addr), Some(allow)) = (address, allow) {
        check_socket(&blocklist, allow, addr);
    }
});

/// Parses one entry and checks what parsing promises.
fn parse(text: &str) -> Option<NetPattern> {
    match text.parse::<NetPattern>() {
        Ok(pattern) => {
            let printed = pattern.to_string();
            assert_eq!(
                printed.parse::<NetPattern>(),
                Ok(pattern.clone()),
                "{text} → {printed}"
            );
            assert!(pattern.covers(&pattern), "{pattern} does not cover itself");
            Some(pattern)
        }
        Err(message) => {
            assert!(
                message.contains(text),
                "the error does not quote `{text}`: {message}"
            );
            None
        }
    }
}

fn blocklist<'a>(lines: impl Iterator<Item = &'a str>) -> Blocklist {
    let mut list = Blocklist::default();
    for line in lines {
        let (kind, net) = line.split_once(' ').unwrap_or((line, ""));
        let Ok(net) = net.parse() else { continue };
        match kind {
            "block" => list.block.push(net),
            "allow" => list.allow_local.push(net),
            _ => {}
        }
    }
    list
}

/// Whether `pattern` admits a connection to `addr`, by the grammar (host names never do:
/// they would be resolved).
fn admits(pattern: &NetPattern, addr: SocketAddr) -> bool {
    let port = match pattern.port {
        airlock::capabilities::network::PortPattern::Any => true,
        airlock::capabilities::network::PortPattern::Range(low, high) => {
            (low..=high).contains(&addr.port())
        }
    };
    let host = match &pattern.host {
        HostPattern::Any => true,
        HostPattern::Net(net) => net.contains(&canonical(addr.ip())),
        HostPattern::Name(_) | HostPattern::Subdomains(_) => false,
    };
    port && host
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The two forms of an address the check must treat alike: as given, and IPv4 ↔
/// IPv4-mapped IPv6.
fn both_forms(ip: IpAddr) -> [IpAddr; 2] {
    match ip {
        IpAddr::V4(v4) => [ip, IpAddr::V6(v4.to_ipv6_mapped())],
        IpAddr::V6(v6) => [ip, v6.to_ipv4_mapped().map_or(ip, IpAddr::V4)],
    }
}

fn check_blocklist(list: &Blocklist, fuzzed: Option<IpAddr>) {
    let mut addresses: Vec<IpAddr> = list
        .block
        .iter()
        .chain(&list.allow_local)
        .flat_map(|net| [net.network(), net.broadcast()])
        .collect();
    addresses.extend(fuzzed);
    let local: Vec<ipnet::IpNet> = LOCAL_RANGES.iter().map(|r| r.parse().unwrap()).collect();
    for ip in addresses {
        let [given, other] = both_forms(ip);
        let blocked = list.blocks(given);
        assert_eq!(
            blocked,
            list.blocks(other),
            "{given} and {other} are treated apart"
        );
        let in_any = |nets: &[ipnet::IpNet]| {
            nets.iter()
                .any(|n| n.contains(&given) || n.contains(&other))
        };
        if in_any(&list.block) {
            assert!(blocked, "{given} is inside a block entry but not blocked");
        }
        if in_any(&local) && !in_any(&list.allow_local) {
            assert!(blocked, "local address {given} is not blocked");
        }
    }
}

fn check_socket(list: &Blocklist, allow: NetPattern, addr: SocketAddr) {
    if matches!(allow.host, HostPattern::Name(_)) {
        return;
    }
    let check = AddressCheck {
        granted: Arc::from(vec![allow.clone()]),
        blocklist: Arc::new(list.clone()),
    };
    let ask = |usage| poll_once(check.allows(addr, usage)).expect("decided without waiting");
    let connect = ask(SocketAddrUse::TcpConnect);
    let expected = !list.blocks(addr.ip()) && admits(&allow, addr);
    assert_eq!(
        connect, expected,
        "connect to {addr} under {allow} with {list:?}"
    );
    let bind = ask(SocketAddrUse::TcpBind);
    assert_eq!(
        bind,
        addr.ip().is_unspecified() && addr.port() == 0,
        "bind {addr}"
    );
    for usage in [
        SocketAddrUse::TcpListen,
        SocketAddrUse::TcpAccept,
        SocketAddrUse::UdpBind,
        SocketAddrUse::UdpSend,
    ] {
        assert!(!ask(usage), "{usage:?} allowed for {addr}");
    }
}
