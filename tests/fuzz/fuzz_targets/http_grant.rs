//! Fuzz target `http_grant`: http grant entries (`scheme://host[:port][/path-prefix]`),
//! allowance-covers-request matching, request path normalisation and the per-request match.
//!
//! Input lines: the policy's allowance, the manifest's request (each a URL pattern,
//! optionally prefixed by `METHOD,METHOD `), then a request as `METHOD URL`. Checks: no
//! panic; a parsed entry prints back to itself; an error quotes the entry; `covers` is
//! reflexive; a normalised path starts with `/`, holds no `.`/`..`/empty segment and no
//! encoded `/` or `\`, and normalising it again changes nothing; and an allowance that
//! covers a request admits every request that request admits.

#![no_main]

use airlock::capabilities::http::pattern::{
    HttpRule, Scheme, Target, TargetHost, UrlPattern, normalise_path, target_host,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let allow = rule(lines.next().unwrap_or_default());
    let request = rule(lines.next().unwrap_or_default());
    let Some((method, url)) = lines.next().and_then(|l| l.split_once(' ')) else {
        return;
    };
    let Some((scheme, host, ip, port, path)) = split_url(url) else {
        return;
    };
    let Ok(path) = normalise_path(path) else {
        return;
    };
    check_normalised(&path);
    let target = Target {
        scheme,
        host: match ip {
            Some(ip) => TargetHost::Ip(ip),
            None => TargetHost::Name(&host),
        },
        port,
        path: &path,
        method,
    };
    if let (Some(allow), Some(request)) = (&allow, &request)
        && allow.covers(request)
        && request.matches(&target)
    {
        assert!(allow.matches(&target), "{allow} covers {request} but not {target:?}");
    }
});

/// Parses `[METHODS ]URL` and checks what parsing promises.
fn rule(text: &str) -> Option<HttpRule> {
    let (methods, url) = match text.split_once(' ') {
        Some((methods, url)) => (Some(methods), url),
        None => (None, text),
    };
    let pattern = match url.parse::<UrlPattern>() {
        Ok(pattern) => pattern,
        Err(message) => {
            assert!(message.contains(url), "the error does not quote `{url}`: {message}");
            return None;
        }
    };
    let printed = pattern.to_string();
    assert_eq!(printed.parse::<UrlPattern>(), Ok(pattern.clone()), "{url} → {printed}");
    let methods = methods.map(|m| m.split(',').map(|m| m.to_ascii_uppercase()).collect());
    let rule = HttpRule { url: pattern, methods };
    assert!(rule.covers(&rule), "{rule} does not cover itself");
    Some(rule)
}

fn check_normalised(path: &str) {
    assert!(path.starts_with('/'), "{path}");
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        assert!(*segment != "." && *segment != "..", "{path}");
        assert!(!segment.is_empty() || i == last, "{path}");
    }
    let upper = path.to_ascii_uppercase();
    assert!(!upper.contains("%2F") && !upper.contains("%5C") && !path.contains('\\'), "{path}");
    assert_eq!(normalise_path(path).as_deref(), Ok(path), "normalising {path} again");
}

type Parts<'a> = (Scheme, String, Option<std::net::IpAddr>, u16, &'a str);

/// `scheme://host[:port]path` split as the host splits a request's URL.
fn split_url(url: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return None,
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], authority[i + 1..].parse().ok()?),
        _ => (authority, scheme.default_port()),
    };
    let (host, ip) = target_host(host)?;
    Some((scheme, host, ip, port, path))
}
