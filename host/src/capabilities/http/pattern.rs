//! The http grant grammar, and what a request is matched on.
//!
//! An entry is a URL pattern, or a table adding methods:
//!
//! ```toml
//! http = [
//!     "https://api.example.com/v1",                       # any method, paths under /v1
//!     { url = "https://*.example.org:8443", methods = ["GET"] },
//! ]
//! ```
//!
//! `scheme://host[:port][/path-prefix]`:
//! - scheme: `http` or `https`;
//! - host: an exact name, `*.domain` (subdomains only, not the apex), `*` (any host), an IP
//!   (`10.0.0.1`, `[::1]`) or a CIDR (`10.0.0.0/8`, `[fd00::/8]`): an IPv4 address followed
//!   by `/N` is a CIDR, so a path on a bare IPv4 host is written after its port
//!   (`http://10.0.0.1:80/8`). IP and CIDR hosts match IP-literal URLs only (names are not
//!   resolved to match them);
//! - port: a number, a range `8000-8999`, `*`, or omitted for the scheme's default (80, 443);
//! - path prefix: matched on segment boundaries (`/v1` allows `/v1` and `/v1/x`, not `/v10`),
//!   written plainly (no `%`, `.` or `..` segments, `?` or `#`); a trailing `/` is ignored.
//!
//! A request's path is normalised before it is matched and sent as normalised (RFC 3986
//! §6.2.2: percent-encoded unreserved characters decoded, dot segments removed — §5.2.4), so
//! what was checked is what the server receives. Paths a server might read differently from
//! the check are refused outright: an encoded `/` or `\` (`%2F`, `%5C`), a raw `\`, an
//! empty segment (`//`, which some servers merge before resolving `..`) and a malformed
//! `%` escape.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::capabilities::network::{self, HostPattern, PortPattern};

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// The port a URL without one uses (RFC 9110 §4.2.1, §4.2.2).
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    fn parse(text: &str) -> Option<Scheme> {
        match text.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        })
    }
}

/// `scheme://host[:port][/path-prefix]` (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPattern {
    pub scheme: Scheme,
    pub host: HostPattern,
    /// `None`: the scheme's default port.
    pub port: Option<PortPattern>,
    /// Segments joined by `/`, starting with `/`; empty for every path.
    pub path: String,
}

impl UrlPattern {
    /// The ports this pattern allows.
    pub fn ports(&self) -> PortPattern {
        let default = self.scheme.default_port();
        self.port.unwrap_or(PortPattern::Range(default, default))
    }

    /// Does this pattern allow everything `other` allows?
    pub fn covers(&self, other: &UrlPattern) -> bool {
        self.scheme == other.scheme
            && self.host.covers(&other.host)
            && self.ports().covers(other.ports())
            && under(&other.path, &self.path)
    }

    /// Does this pattern allow `target` (its path already normalised)?
    pub fn matches(&self, target: &Target<'_>) -> bool {
        self.scheme == target.scheme
            && self.ports().matches(target.port)
            && host_matches(&self.host, &target.host)
            && under(target.path, &self.path)
    }
}

/// Is `path` equal to `prefix` or below it, on a segment boundary?
fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

fn host_matches(pattern: &HostPattern, host: &TargetHost<'_>) -> bool {
    match (pattern, host) {
        (HostPattern::Any, _) => true,
        (HostPattern::Name(name), TargetHost::Name(host)) => name == host,
        (HostPattern::Subdomains(domain), TargetHost::Name(host)) => host
            .strip_suffix(domain.as_str())
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        (HostPattern::Net(net), TargetHost::Ip(ip)) => net.contains(&network::canonical(*ip)),
        _ => false,
    }
}

impl FromStr for UrlPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "`{text}` is not an http entry ({why}); expected scheme://host[:port][/path], e.g. https://api.example.com/v1, https://*.example.org:*, http://10.0.0.0/8:8080"
            )
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("missing scheme://"))?;
        let scheme = Scheme::parse(scheme).ok_or_else(|| bad("the scheme is http or https"))?;
        let (host, rest) = split_host(rest).map_err(|why| bad(&why))?;
        let host = network::parse_host(host).map_err(|why| bad(&why))?;
        let (port, path) = match rest.strip_prefix(':') {
            Some(rest) => {
                let end = rest.find('/').unwrap_or(rest.len());
                let port = network::parse_port(&rest[..end]).map_err(|why| bad(&why))?;
                (Some(port), &rest[end..])
            }
            None => (None, rest),
        };
        let path = pattern_path(path).map_err(|why| bad(&why))?;
        Ok(UrlPattern {
            scheme,
            host,
            port,
            path,
        })
    }
}

/// Splits `host…` from what follows it (`:port`, `/path` or nothing): `[…]` for IPv6, an
/// IPv4 CIDR `a.b.c.d/N`, or up to the first `:` or `/`.
fn split_host(text: &str) -> Result<(&str, &str), String> {
    if let Some(rest) = text.strip_prefix('[') {
        let end = rest.find(']').ok_or("an IPv6 host needs [addr]")?;
        if !rest[..end].contains(':') {
            return Err("only an IPv6 address or network goes in brackets".into());
        }
        return Ok((&rest[..end], &rest[end + 1..]));
    }
    let end = text.find([':', '/']).unwrap_or(text.len());
    let (host, rest) = text.split_at(end);
    if host.parse::<std::net::Ipv4Addr>().is_ok()
        && let Some(after) = rest.strip_prefix('/')
    {
        let digits = after.find([':', '/']).unwrap_or(after.len());
        if digits > 0 && digits <= 2 && after[..digits].bytes().all(|b| b.is_ascii_digit()) {
            let cidr_end = end + 1 + digits;
            return Ok((&text[..cidr_end], &text[cidr_end..]));
        }
    }
    if host.is_empty() {
        return Err("no host".into());
    }
    Ok((host, rest))
}

/// A pattern's path prefix: plain segments only; `""` for every path.
fn pattern_path(path: &str) -> Result<String, String> {
    if !path.is_empty() && !path.starts_with('/') {
        return Err(format!(
            "`{path}` follows the host: expected `:port` or `/path`"
        ));
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    for segment in trimmed.split('/').skip(1) {
        let plain = segment
            .bytes()
            .all(|b| unreserved(b) || b"!$&'()*+,;=:@".contains(&b));
        if segment.is_empty() || segment == "." || segment == ".." || !plain {
            return Err(format!(
                "path segment `{segment}`: write the path plainly (no `%`, `?`, `#`, `\\`, empty, `.` or `..` segments)"
            ));
        }
    }
    Ok(trimmed.to_string())
}

/// RFC 3986 §2.3 unreserved characters.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

impl fmt::Display for UrlPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        // A lone IPv4 address prints bare, and `IPv4/N` reads as a CIDR: keep the `/32`
        // when a path would follow it directly.
        if let HostPattern::Net(ipnet::IpNet::V4(net)) = &self.host
            && net.prefix_len() == 32
            && self.port.is_none()
            && !self.path.is_empty()
        {
            f.write_str("/32")?;
        }
        match self.port {
            Some(PortPattern::Any) => f.write_str(":*")?,
            Some(PortPattern::Range(low, high)) if low == high => write!(f, ":{low}")?,
            Some(PortPattern::Range(low, high)) => write!(f, ":{low}-{high}")?,
            None => {}
        }
        f.write_str(&self.path)
    }
}

/// One `http` entry: a URL pattern and, optionally, the methods it allows (all when unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRule {
    pub url: UrlPattern,
    /// Upper-case method names; `None` allows every method.
    pub methods: Option<Vec<String>>,
}

impl HttpRule {
    /// Does this allowance cover that request (URL and methods)?
    pub fn covers(&self, request: &HttpRule) -> bool {
        let methods = match (&self.methods, &request.methods) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(allowed), Some(asked)) => asked.iter().all(|m| allowed.contains(m)),
        };
        methods && self.url.covers(&request.url)
    }

    /// Does this entry allow `target`?
    pub fn matches(&self, target: &Target<'_>) -> bool {
        let method = match &self.methods {
            None => true,
            Some(methods) => methods.iter().any(|m| m == target.method),
        };
        method && self.url.matches(target)
    }

    /// This entry as TOML (a string, or an inline table when it names methods), for the
    /// policy lines refusals print.
    pub fn to_toml(&self) -> String {
        let url = super::super::toml_string(&self.url.to_string());
        match &self.methods {
            None => url,
            Some(methods) => {
                let methods: Vec<String> = methods
                    .iter()
                    .map(|m| super::super::toml_string(m))
                    .collect();
                format!("{{ url = {url}, methods = [{}] }}", methods.join(", "))
            }
        }
    }
}

impl fmt::Display for HttpRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.methods {
            None => write!(f, "{}", self.url),
            Some(methods) => write!(f, "{} {}", methods.join(","), self.url),
        }
    }
}

/// A method name: an RFC 9110 §5.6.2 token, compared upper-cased.
fn method(text: &str) -> Result<String, String> {
    let token = !text.is_empty()
        && text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    token
        .then(|| text.to_ascii_uppercase())
        .ok_or_else(|| format!("`{text}` is not an HTTP method (e.g. GET, POST)"))
}

impl<'de> Deserialize<'de> for HttpRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            url: String,
            methods: Option<Vec<String>>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Entry {
            Url(String),
            Table(Table),
        }
        let entry = Entry::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "an http entry is a URL pattern string or a table { url = \"…\", methods = [\"GET\", …] }",
            )
        })?;
        let (url, methods) = match entry {
            Entry::Url(url) => (url, None),
            Entry::Table(table) => (table.url, table.methods),
        };
        let methods = match methods {
            None => None,
            Some(names) if names.is_empty() => {
                return Err(serde::de::Error::custom(
                    "`methods = []` allows nothing; leave it out to allow every method",
                ));
            }
            Some(names) => Some(
                names
                    .iter()
                    .map(|m| method(m))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(serde::de::Error::custom)?,
            ),
        };
        let url = url.parse().map_err(serde::de::Error::custom)?;
        Ok(HttpRule { url, methods })
    }
}

impl Serialize for HttpRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match &self.methods {
            None => s.collect_str(&self.url),
            Some(methods) => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("url", &self.url.to_string())?;
                map.serialize_entry("methods", methods)?;
                map.end()
            }
        }
    }
}

/// What one outgoing request is matched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    pub scheme: Scheme,
    pub host: TargetHost<'a>,
    pub port: u16,
    /// Normalised (see [`normalise_path`]).
    pub path: &'a str,
    /// Upper-case.
    pub method: &'a str,
}

/// A request's host: a name (lower-case, without a trailing dot) or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost<'a> {
    Name(&'a str),
    Ip(IpAddr),
}

/// `host` as written in a URL's authority (`[…]` for IPv6), normalised for matching; `None`
/// when it is neither a host name nor an IP literal.
pub fn target_host(host: &str) -> Option<(String, Option<IpAddr>)> {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: IpAddr = v6.parse().ok()?;
        return Some((v6.to_string(), Some(ip)));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some((host.to_string(), Some(ip)));
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then_some((name, None))
}

/// Why a request path is refused before any matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRefused(pub &'static str);

impl fmt::Display for PathRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A request's path (without its query), normalised: `%XX` of unreserved characters
/// decoded (hex upper-cased otherwise), `.` and `..` segments removed. Refuses what a
/// server might resolve differently (see the module docs).
pub fn normalise_path(path: &str) -> Result<String, PathRefused> {
    if path.is_empty() {
        return Ok("/".into());
    }
    if !path.starts_with('/') {
        return Err(PathRefused("the path does not start with `/`"));
    }
    if path.contains('\\') {
        return Err(PathRefused("the path holds a `\\`"));
    }
    let decoded = decode_unreserved(path)?;
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded[1..].split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "" if i == last => out.push(""),
            "" => return Err(PathRefused("the path has an empty segment (`//`)")),
            "." if i == last => out.push(""),
            "." => {}
            ".." => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            segment => out.push(segment),
        }
    }
    Ok(format!("/{}", out.join("/")))
}

/// Decodes `%XX` escapes of unreserved characters; keeps the others (hex upper-cased);
/// refuses `%2F`, `%5C` and malformed escapes.
fn decode_unreserved(path: &str) -> Result<String, PathRefused> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or(PathRefused("the path has a malformed `%` escape"))?;
        match hex {
            b'/' | b'\\' => return Err(PathRefused("the path has an encoded `/` or `\\`")),
            b if unreserved(b) => out.push(b),
            b => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
        i += 3;
    }
    // Only ASCII bytes were decoded or added, and whole UTF-8 sequences kept: still UTF-8.
    String::from_utf8(out).map_err(|_| PathRefused("the path is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(text: &str) -> UrlPattern {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn target<'a>(url: &'a UrlPattern, path: &'a str) -> Target<'a> {
        let host = match &url.host {
            HostPattern::Name(n) => TargetHost::Name(n),
            HostPattern::Net(net) => TargetHost::Ip(net.addr()),
            _ => unreachable!(),
        };
        Target {
            scheme: url.scheme,
            host,
            port: match url.ports() {
                PortPattern::Range(low, _) => low,
                PortPattern::Any => 1,
            },
            path,
            method: "GET",
        }
    }

    #[test]
    fn parses_and_prints_the_grammar() {
        for text in [
            "https://api.example.com/v1",
            "https://api.example.com",
            "http://*.example.org:*",
            "http://10.0.0.0/8:8080/x",
            "http://10.0.0.0/8",
            "http://10.0.0.1:80/8",
            "https://[::1]:8443/a/b",
            "https://[fd00::/8]",
            "http://*:8000-8999",
            "https://api.example.com/v1/users:search",
            // Found by the `http_grant` fuzz target: printed bare, the address and a path
            // of one or two digits read back as a CIDR.
            "http://10.1.0.0/32/8:*",
        ] {
            assert_eq!(u(text).to_string(), text);
        }
        assert_eq!(
            u("HTTPS://API.example.com/v1/").to_string(),
            "https://api.example.com/v1"
        );
        assert_eq!(
            u("http://10.0.0.1/8").host,
            u("http://10.0.0.0/8").host,
            "a CIDR"
        );
        for bad in [
            "api.example.com/v1",
            "ftp://example.com",
            "https://",
            "https://exa mple.com",
            "https://example.com:99999",
            "https://example.com/v1/../admin",
            "https://example.com/v1/%2e%2e",
            "https://example.com/v1//x",
            "https://example.com/v1?x=1",
            "https://[::1",
            "https://*./",
            // Found by the `http_grant` fuzz target: a name in brackets, and text after
            // the host that is neither a port nor a path, were taken as a host and a path.
            "https://[OSP]1",
            "https://[::1]x",
            "https://[example.com]",
        ] {
            assert!(bad.parse::<UrlPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_match_on_segment_boundaries() {
        let v1 = u("https://api.example.com/v1");
        assert!(v1.matches(&target(&v1, "/v1")));
        assert!(v1.matches(&target(&v1, "/v1/")));
        assert!(v1.matches(&target(&v1, "/v1/x")));
        assert!(!v1.matches(&target(&v1, "/v10")));
        assert!(!v1.matches(&target(&v1, "/admin")));
        assert!(u("https://api.example.com").matches(&target(&v1, "/anything")));
    }

    #[test]
    fn allowances_cover_narrower_requests_only() {
        assert!(u("https://*.example.com").covers(&u("https://api.example.com/v1")));
        assert!(!u("https://*.example.com").covers(&u("https://example.com")));
        assert!(u("https://api.example.com/v1").covers(&u("https://api.example.com/v1/x")));
        assert!(!u("https://api.example.com/v1").covers(&u("https://api.example.com/v10")));
        assert!(!u("https://api.example.com/v1").covers(&u("https://api.example.com")));
        assert!(!u("http://api.example.com").covers(&u("https://api.example.com")));
        assert!(u("https://api.example.com:443").covers(&u("https://api.example.com")));
        assert!(!u("https://api.example.com").covers(&u("https://api.example.com:8443")));
        assert!(u("https://api.example.com:*").covers(&u("https://api.example.com:8443")));
        assert!(u("http://10.0.0.0/8:*").covers(&u("http://10.1.2.3:80")));
    }

    #[test]
    fn normalising_resolves_dots_and_refuses_ambiguity() {
        for (raw, normal) in [
            ("", "/"),
            ("/", "/"),
            ("/v1/x", "/v1/x"),
            ("/v1/./x", "/v1/x"),
            ("/v1/../admin", "/admin"),
            ("/v1/%2e%2e/admin", "/admin"),
            ("/v1/%2E%2E/admin", "/admin"),
            ("/%76%31/x", "/v1/x"),
            ("/v1/x/..", "/v1/"),
            ("/../../etc", "/etc"),
            ("/v1/a%20b", "/v1/a%20b"),
            ("/v1/a%3f", "/v1/a%3F"),
            // Found by the `http_grant` fuzz target: non-ASCII was re-encoded byte by byte.
            ("/a/..\u{d1}\u{94}", "/a/..\u{d1}\u{94}"),
        ] {
            assert_eq!(normalise_path(raw).as_deref(), Ok(normal), "{raw}");
        }
        for refused in [
            "/v1%2F..%2Fadmin",
            "/v1/%5c..",
            "/v1\\..\\admin",
            "/v1//../admin",
            "/%zz",
            "/%4",
            "v1",
        ] {
            assert!(normalise_path(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn hosts_are_normalised_for_matching() {
        assert_eq!(
            target_host("API.Example.com."),
            Some(("api.example.com".into(), None))
        );
        assert_eq!(
            target_host("[::1]").unwrap().1,
            Some("::1".parse().unwrap())
        );
        assert_eq!(
            target_host("127.0.0.1").unwrap().1,
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(target_host("a b"), None);
        assert_eq!(target_host("[nope]"), None);
        let sub = HostPattern::Subdomains("example.com".into());
        assert!(host_matches(&sub, &TargetHost::Name("a.example.com")));
        assert!(!host_matches(&sub, &TargetHost::Name("example.com")));
        assert!(!host_matches(&sub, &TargetHost::Name("badexample.com")));
    }

    #[test]
    fn entries_read_as_strings_or_tables() {
        #[derive(Deserialize)]
        struct Doc {
            http: Vec<HttpRule>,
        }
        let doc: Doc = toml::from_str(
            r#"http = ["https://a.example.com/v1", { url = "https://b.example.com", methods = ["get", "POST"] }]"#,
        )
        .unwrap();
        assert_eq!(doc.http[0].methods, None);
        assert_eq!(
            doc.http[1].methods.as_deref(),
            Some(&["GET".to_string(), "POST".to_string()][..])
        );
        assert_eq!(
            doc.http[1].to_toml(),
            r#"{ url = "https://b.example.com", methods = ["GET", "POST"] }"#
        );
        for bad in [
            r#"http = [{ url = "https://a", methods = [] }]"#,
            r#"http = [{ url = "https://a", method = ["GET"] }]"#,
            r#"http = [{ url = "https://a", methods = ["G T"] }]"#,
            r#"http = [42]"#,
        ] {
            assert!(toml::from_str::<Doc>(bad).is_err(), "{bad}");
        }
        let get = |m: &str| HttpRule {
            url: u("https://b.example.com/x"),
            methods: Some(vec![m.to_string()]),
        };
        assert!(doc.http[1].covers(&get("GET")));
        assert!(!doc.http[1].covers(&get("DELETE")));
        assert!(!get("GET").covers(&HttpRule {
            url: u("https://b.example.com/x"),
            methods: None
        }));
    }
}
