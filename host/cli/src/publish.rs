//! `airlock keygen`, `sign`, `verify`, `push`, and `plugins install oci://…`: signing plugin
//! folders with minisign keys and moving them through OCI registries. Exit codes: 0 done,
//! 1 a signature that does not verify, 2 bad input or a failed push or pull.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airlock::Runtime;
use airlock::folder::plugin_dir;
use airlock::manifest::{self, Manifest};
use airlock::policy::Policy;
use airlock::text;
use airlock::trust::{self, TrustPolicy, TrustedKey};
use airlock_server::oci::{Auth, OciOptions, OciRef};
use airlock_server::registry::Registry;
use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the key pair: PATH.key (secret, mode 0600) and PATH.pub.
    #[arg(long, default_value = "airlock")]
    out: PathBuf,
    /// Replace existing key files.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub struct SignArgs {
    /// The plugin folder (or its airlock.toml); its manifest must pin the component.
    plugin: PathBuf,
    /// The minisign secret key (from `airlock keygen` or `minisign -G`); an encrypted one
    /// is opened with `$AIRLOCK_KEY_PASSWORD`, or asked for.
    #[arg(long)]
    key: PathBuf,
    /// The trusted comment signed with it (default: name, version, component digest).
    #[arg(long)]
    comment: Option<String>,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The plugin folder (or its airlock.toml).
    plugin: PathBuf,
    /// Trust these public keys (`RW…`) or minisign .pub files, besides the policy's.
    #[arg(long = "key")]
    keys: Vec<String>,
    /// The operator policy whose [trust] keys and rules apply.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct PushArgs {
    /// The plugin folder (or its airlock.toml).
    plugin: PathBuf,
    /// Where to: oci://HOST[:PORT]/REPO:TAG.
    reference: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn keygen(args: KeygenArgs) -> Result<ExitCode> {
    let secret = args.out.with_extension("key");
    let public = args.out.with_extension("pub");
    for path in [&secret, &public] {
        if path.exists() && !args.force {
            bail!("{} exists; pass --force to replace it", path.display());
        }
    }
    let pair = trust::sign::generate()?;
    write_private(&secret, &pair.secret_file)?;
    std::fs::write(&public, &pair.public_file)
        .with_context(|| format!("writing {}", public.display()))?;
    println!("secret key  {} (keep it private)", secret.display());
    println!("public key  {}", public.display());
    println!("key id      {}", pair.id);
    println!(
        "trust it with, in the policy:\n  [trust]\n  keys = [\"{}\"]",
        pair.public
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes a secret file readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

pub fn sign(args: SignArgs) -> Result<ExitCode> {
    let password = std::env::var("AIRLOCK_KEY_PASSWORD").ok();
    let key = trust::sign::read_secret_key(&args.key, password)?;
    let signed = trust::sign::sign_folder(&args.plugin, &key, args.comment.as_deref())?;
    println!(
        "signed {} with key {}\n  trusted comment: {}",
        signed.signature_path.display(),
        signed.key_id,
        signed.trusted_comment
    );
    Ok(ExitCode::SUCCESS)
}

pub fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let policy = crate::audit::load_policy(args.policy.as_deref())?;
    let mut trust = policy.trust.clone();
    for (i, key) in args.keys.iter().enumerate() {
        trust.keys.push(given_key(key, i)?);
    }
    let dir = plugin_dir(&args.plugin);
    let manifest_path = dir.join(manifest::FILE_NAME);
    let bytes = std::fs::read(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = Manifest::parse(&String::from_utf8_lossy(&bytes), &manifest_path)?;
    let component = dir.join(&manifest.plugin.component);
    let component_bytes =
        std::fs::read(&component).with_context(|| format!("reading {}", component.display()))?;
    let signed = trust::Signed {
        plugin: &manifest.plugin.name,
        manifest_bytes: &bytes,
        pinned: manifest.plugin.sha256.as_ref(),
        component_digest: &airlock::digest::Sha256::of(&component_bytes),
    };
    // `verify` is asked about the signature: a missing one is a failure here.
    let trust = TrustPolicy {
        require_signature: true,
        ..trust
    };
    let outcome = trust::check(&dir, &signed, &trust);
    let (code, report) = match &outcome {
        Ok(Some(info)) => (
            ExitCode::SUCCESS,
            json!({"verified": true, "signature": info}),
        ),
        Ok(None) => unreachable!("a signature is required"),
        Err(e) => (
            ExitCode::FAILURE,
            json!({"verified": false, "kind": e.kind(), "reason": e.to_string(), "signature": trust::unverified_info(&dir)}),
        ),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(code);
    }
    match outcome {
        // The comment and key id come from the signature file the publisher wrote.
        Ok(Some(info)) => println!(
            "verified: {} is signed by key {} ({})\n  trusted comment: {}",
            dir.display(),
            text::escape(&info.key_id.unwrap_or_default()),
            text::escape(&info.trusted_by.unwrap_or_default()),
            text::escape(&info.trusted_comment.unwrap_or_default())
        ),
        Ok(None) => {}
        Err(e) => eprintln!(
            "NOT verified [{}]: {}",
            e.kind(),
            text::escape_lines(&e.to_string(), "  ")
        ),
    }
    Ok(code)
}

/// A `--key`: a public key (`RW…`) or the path of a minisign .pub file.
fn given_key(key: &str, index: usize) -> Result<TrustedKey> {
    let path = Path::new(key);
    let parsed = match path.is_file() {
        true => TrustedKey::from_pub_file(&std::fs::read_to_string(path)?, key),
        false => TrustedKey::from_base64(key, &format!("--key #{}", index + 1)),
    };
    parsed.map_err(anyhow::Error::msg)
}

pub async fn push(args: PushArgs) -> Result<ExitCode> {
    let target: OciRef = args.reference.parse()?;
    let auth = Auth::for_registry(target.registry());
    let runtime = Runtime::new()?;
    let dir = plugin_dir(&args.plugin);
    if !dir.join(trust::SIGNATURE_FILE).is_file() {
        eprintln!(
            "airlock: note: {} is not signed; hosts that require signatures will refuse it (`airlock sign`)",
            dir.display()
        );
    }
    let pushed =
        airlock_server::oci::push(&runtime, &dir, &target, &auth, &OciOptions::from_env()).await?;
    let pinned = target.at_digest(&pushed.digest);
    let report = json!({"pushed": target.to_string(), "digest": pushed.digest, "by_digest": pinned.to_string(), "signed": pushed.signed});
    match args.json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => println!(
            "pushed {target}\n  digest {}\n  pinned {pinned}",
            pushed.digest
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// The reference when `target` is `oci://…`.
pub fn oci_target(target: &Path) -> Option<&str> {
    target.to_str().filter(|t| t.starts_with("oci://"))
}

/// Where pulled plugins go: `$AIRLOCK_PLUGIN_STORE`, else `oci/` beside the registry
/// database.
pub fn store_dir(registry_path: &Path) -> PathBuf {
    // A database on a server has no folder here: pulled plugins go beside the default one.
    let local = match registry_path.to_str() {
        Some(url) if airlock_server::registry::is_postgres(url) => {
            airlock_server::registry::Registry::default_path()
        }
        _ => registry_path.to_path_buf(),
    };
    std::env::var_os("AIRLOCK_PLUGIN_STORE")
        .map(PathBuf::from)
        .unwrap_or_else(|| local.parent().unwrap_or(Path::new(".")).join("oci"))
}

/// `plugins install oci://…`: pull, verify under the registry's policy, install.
pub async fn install(
    registry: &Registry,
    store: &Path,
    reference: &str,
) -> Result<serde_json::Value> {
    let source: OciRef = reference.parse()?;
    let auth = Auth::for_registry(source.registry());
    let policy: &Policy = registry.policy();
    let pulled = airlock_server::oci::pull(
        &source,
        store,
        &policy.trust,
        &auth,
        &OciOptions::from_env(),
    )
    .await?;
    let name = registry
        .install_from(&pulled.dir, &source.to_string(), &pulled.digest)
        .await?;
    Ok(json!({
        "installed": name,
        "version": pulled.version,
        "source": source.to_string(),
        "digest": pulled.digest,
        "dir": pulled.dir,
        "signature": pulled.signature,
    }))
}
