//! `airlock audit` and `airlock pin`: the reviewer's view of a plugin folder, and pinning a
//! reviewed component's digest into its manifest.

use std::path::Path;
use std::process::ExitCode;

use airlock::Runtime;
use airlock::folder::{AuditReport, Review, plugin_dir, review_config};
use airlock::manifest::{FILE_NAME, Manifest};
use airlock::policy::Policy;
use airlock::text::{self, Untrusted};
use airlock::units;
use anyhow::{Context, Result};
use serde_json::Value;

/// Reviews the folder at `path` on the runtime the registry loads with
/// ([`runtime_for`]), with the configuration `config` (`--config`, default `{}`).
pub async fn audit(
    path: &Path,
    policy: &Policy,
    config: &Value,
    as_json: bool,
) -> Result<ExitCode> {
    let runtime = runtime_for(policy)?;
    let review = review_config(&runtime, path, policy, config).await;
    let report = AuditReport::from(&review);
    if as_json {
        println!("{}", text::to_json_pretty(&report)?);
    } else {
        print_report(&review, &report);
    }
    Ok(if review.loads() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The report as a table. Everything the plugin's folder chose (manifest text, requested
/// capabilities, import names, errors quoting them) is escaped: a description must not be
/// able to clear the screen and print a verdict of its own.
fn print_report(review: &Review, report: &AuditReport) {
    match &review.manifest {
        Some(m) if m.plugin.description.is_empty() => println!(
            "Plugin   {} {}",
            Untrusted(&m.plugin.name),
            m.plugin.version
        ),
        Some(m) => println!(
            "Plugin   {} {} — {}",
            Untrusted(&m.plugin.name),
            m.plugin.version,
            Untrusted(&m.plugin.description)
        ),
        None => println!("Plugin   (manifest unreadable)"),
    }
    println!("Folder   {}", Untrusted(&review.dir.display().to_string()));
    let digest = review
        .digest
        .map_or_else(|| "(component unreadable)".to_string(), |d| d.to_string());
    let status = if review.digest_verified {
        "verified: matches the manifest's pin"
    } else {
        "NOT verified"
    };
    println!("sha256   {digest}  {status}");
    print_signature(review);
    if let Some(world) = review.world {
        println!("World    {world}");
    }
    for contract in &review.contracts {
        let verdict = match contract.problems.is_empty() {
            true => "implemented".to_string(),
            false => format!("NOT implemented: {}", contract.problems.join("; ")),
        };
        println!(
            "Contract {} {}",
            Untrusted(&contract.name),
            Untrusted(&verdict)
        );
    }
    if !report.keys.is_empty() {
        println!("Keys     {}", Untrusted(&report.keys.join(", ")));
    }
    if let Some(m) = &review.manifest {
        let meaning = match m.plugin.isolation {
            airlock::Isolation::Reuse => "instances live across calls",
            airlock::Isolation::Fresh => "a new instance for every call",
        };
        println!("Isolation {} ({meaning})", m.plugin.isolation);
    }
    if !review.imports.is_empty() {
        println!("\nImports (each mapped to the capability that covers it)");
        for import in &review.imports {
            println!(
                "  {:<44} {}",
                Untrusted(&import.import),
                import.capability.unwrap_or("NONE — refused")
            );
        }
    }
    println!(
        "\n{:<10} {:<28} {:<28} effective",
        "Capability", "requested", "allowed by policy"
    );
    if let Value::Object(caps) = &report.capabilities {
        for (name, row) in caps {
            let cell = |key: &str| list(&row[key]);
            println!(
                "  {:<8} {:<28} {:<28} {}",
                Untrusted(name),
                cell("requested"),
                cell("allowed"),
                cell("effective")
            );
        }
    }
    println!(
        "\n{:<14} {:<14} {:<14} effective",
        "Limit", "requested", "policy cap"
    );
    let limits = &report.limits;
    for (key, label) in [
        ("fuel", "fuel"),
        ("deadline_ms", "deadline"),
        ("memory", "memory"),
        ("output", "output"),
        ("http_body", "http-body"),
    ] {
        // Every figure with its unit: the JSON report keeps plain numbers.
        let cell = |part: &str| match (&limits[part][key], key) {
            (Value::Null, _) => "-".to_string(),
            (Value::Number(n), "deadline_ms") => {
                n.as_u64().map_or(n.to_string(), units::show_millis)
            }
            (Value::Number(n), "fuel") => n.to_string(),
            (Value::Number(n), _) => n.as_u64().map_or(n.to_string(), units::show_bytes),
            (v, _) => v.to_string(),
        };
        println!(
            "  {:<12} {:<14} {:<14} {}",
            label,
            cell("requested"),
            cell("caps"),
            cell("effective")
        );
    }
    println!();
    for warning in &report.warnings {
        println!("WARNING  {warning}");
    }
    if review.loads() {
        println!("Verdict  LOADS: it can reach exactly the effective column, nothing else.");
        if review.lifecycle {
            println!(
                "         (The plugin's own `init` runs at load: it may still refuse the configuration.)"
            );
        }
    } else {
        println!("Verdict  REFUSED");
        for error in &review.errors {
            println!("  - {}", text::escape_lines(&error.to_string(), "    "));
        }
    }
}

/// The signer and, for a folder pulled from a registry, where it came from. The trusted
/// comment is the publisher's text and the reference may quote it: both are escaped.
fn print_signature(review: &Review) {
    match &review.signature {
        Some(s) => println!(
            "Signed   by key {}{}  {}\n         trusted comment: {}",
            text::escape(s.key_id.as_deref().unwrap_or("(unreadable)")),
            s.trusted_by
                .as_deref()
                .map(|by| format!(" ({})", text::escape(by)))
                .unwrap_or_default(),
            if s.verified {
                "verified"
            } else {
                "NOT verified"
            },
            text::escape(s.trusted_comment.as_deref().unwrap_or("-")),
        ),
        None => println!("Signed   no (no airlock.toml.minisig)"),
    }
    if let Some(source) = &review.source {
        println!(
            "Source   {} ({})",
            text::escape(source["reference"].as_str().unwrap_or("?")),
            text::escape(source["digest"].as_str().unwrap_or("?"))
        );
    }
}

/// A report cell as text, escaped (it may hold what the manifest requested).
fn list(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::Array(items) if items.is_empty() => "(none)".into(),
        Value::Array(items) => items
            .iter()
            .map(|i| match i.as_str() {
                Some(s) => text::escape(s).into_owned(),
                None => compact(i),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::String(s) => text::escape(s).into_owned(),
        other => text::escape(&other.to_string()).into_owned(),
    }
}

fn compact(value: &Value) -> String {
    match value {
        // An exec entry reads as the command line it allows (its keys sort `args` first).
        Value::Object(map) if map.contains_key("command") => {
            let words = map.get("args").and_then(Value::as_array);
            std::iter::once(&map["command"])
                .chain(words.into_iter().flatten())
                .map(list)
                .collect::<Vec<_>>()
                .join(" ")
        }
        Value::Object(map) => map.values().map(list).collect::<Vec<_>>().join(" "),
        other => text::escape(&other.to_string()).into_owned(),
    }
}

/// Writes the component's sha256 into the folder's manifest.
pub fn pin(path: &Path) -> Result<ExitCode> {
    let dir = plugin_dir(path);
    let manifest_path = dir.join(FILE_NAME);
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = Manifest::parse(&text, &manifest_path)?;
    let component = dir.join(&manifest.plugin.component);
    let bytes =
        std::fs::read(&component).with_context(|| format!("reading {}", component.display()))?;
    let digest = airlock::digest::Sha256::of(&bytes);
    let pinned = airlock::manifest::pin_text(&text, &manifest_path, &digest)?;
    std::fs::write(&manifest_path, pinned)?;
    println!(
        "pinned {} to sha256 {digest}",
        Untrusted(&manifest.plugin.name)
    );
    Ok(ExitCode::SUCCESS)
}

/// The runtime plugin folders are reviewed and loaded on: its instance pool fitted to the
/// policy's caps. `airlock audit` and the registry (`plugins`, `serve`, `mcp`) share it, so
/// the limits, pool checks and cache keys an audit reports are the ones a load meets.
pub fn runtime_for(policy: &Policy) -> Result<Runtime> {
    Ok(Runtime::builder().fit_policy(policy).build()?)
}

/// The policy from `--policy` (`flag`), else `$AIRLOCK_POLICY`, else the config file's
/// (see [`crate::settings`]); an empty one (nothing allowed) when none is set.
pub fn load_policy(flag: Option<&Path>) -> Result<Policy> {
    Ok(match crate::settings::policy(flag)? {
        Some(found) => Policy::from_file(&found.value)?,
        None => Policy::default(),
    })
}
