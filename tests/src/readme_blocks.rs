//! Finding a fenced code block of the README, shared by everything that runs the README's
//! snippets (issue #20): `tests/build.rs` (the Rust host snippets), `tests/all/readme.rs`
//! (the TOML examples) and, included by path, the CLI's `tests/all/readme.rs` and
//! `new_build.rs` (the shell blocks and the plugin code).

/// The one ```` ```lang ```` block of `readme` whose text contains `marker`. Panics naming
/// the marker when none or several do, so a README edit that breaks the lookup says so.
pub fn block<'a>(readme: &'a str, lang: &str, marker: &str) -> &'a str {
    let found: Vec<&str> = readme
        .split(&format!("```{lang}\n"))
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .filter(|block| block.contains(marker))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one ```{lang} block of README.md contains `{marker}`"
    );
    found[0]
}
