//! Fuzz target `exec_pattern`: exec grant patterns (`{ command, args }` with `*` and `**`)
//! and matching a program's argv against them, the check that stands between a plugin and
//! starting a host program.
//!
//! Input: up to three lines of tab-separated fields: the policy's allowance
//! (`command\targ…`), the manifest's request, and the argv the plugin asks to run. Checks:
//! no panic; `matches` agrees with an independent model of the grammar (`*` one operand,
//! never an option; `**` the rest, last only; anything else itself); an allowance that
//! covers a request matches every argv the request matches (a grant never widens); and
//! `exec::grant` grants exactly the covered requests.

#![no_main]

use airlock::capabilities::exec::{self, ExecPattern};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let mut next = || fields(lines.next().unwrap_or_default());
    let (allow, request, argv) = (pattern(next()), pattern(next()), next());
    let (command, args) = argv
        .split_first()
        .map_or(("", &[][..]), |(c, a)| (c.as_str(), a));

    for p in [&allow, &request] {
        if exec::validate(p).is_ok() {
            assert_eq!(
                p.matches(command, args),
                model(p, command, args),
                "{p} vs {argv:?}"
            );
        }
    }
    if exec::validate(&allow).is_err() || exec::validate(&request).is_err() {
        return;
    }
    if allow.covers(&request) && request.matches(command, args) {
        assert!(
            allow.matches(command, args),
            "`{allow}` covers `{request}` but refuses {argv:?}, which the request allows"
        );
    }
    let (granted, missing) = exec::grant(std::slice::from_ref(&request), &[allow.clone()], "p");
    match allow.covers(&request) {
        true => assert!(granted == [request.clone()] && missing.is_empty()),
        false => assert!(granted.is_empty() && missing.len() == 1),
    }
});

fn fields(line: &str) -> Vec<String> {
    line.split('\t').map(str::to_owned).collect()
}

fn pattern(mut fields: Vec<String>) -> ExecPattern {
    let command = fields.remove(0);
    ExecPattern {
        command,
        args: fields,
    }
}

/// The grammar, written independently of the host's matcher: recursion over the patterns.
fn model(pattern: &ExecPattern, command: &str, args: &[String]) -> bool {
    fn rest(patterns: &[String], args: &[String]) -> bool {
        match (patterns.split_first(), args.split_first()) {
            (None, None) => true,
            (Some((p, _)), _) if p == "**" => true,
            (Some((p, more)), Some((a, others))) if p == "*" => {
                !a.starts_with('-') && rest(more, others)
            }
            (Some((p, more)), Some((a, others))) => p == a && rest(more, others),
            _ => false,
        }
    }
    pattern.command == command && rest(&pattern.args, args)
}
