//! Signed plugin folders (`[trust]`): a folder signed by a trusted key loads; every way a
//! signature can fail refuses the load with its own reason, before the component is
//! compiled.

use airlock::folder::review;
use airlock::trust::{TrustError, sign::sign_folder};
use airlock::{CallContext, LoadError, LoadOptions};
use airlock_tests::{copy_folder, guests, runtime, signing_key, trusting};
use serde_json::json;

/// The trust error a review of `dir` under `policy` refused with; also checks that nothing
/// was compiled (no world was detected).
async fn refusal(dir: &std::path::Path, policy: &airlock::policy::Policy) -> TrustError {
    let review = review(&runtime(), dir, policy).await;
    assert!(review.world.is_none(), "the component was compiled");
    let mut errors = review.errors.into_iter();
    match errors.next() {
        Some(LoadError::Trust(e)) => e,
        other => panic!("expected a trust refusal first, got {other:?}"),
    }
}

#[tokio::test]
async fn a_folder_signed_by_a_trusted_key_loads_and_names_its_signer() {
    let folder = copy_folder(guests::CALCULATOR_DIR, "signed");
    let (key, public, id) = signing_key();
    sign_folder(
        folder.path(),
        &key,
        Some("release 0.1.0 by the examples team"),
    )
    .unwrap();
    let policy = trusting(&[&public], true);

    let review = review(&runtime(), folder.path(), &policy).await;
    assert!(review.loads(), "{:?}", review.errors);
    let signature = review.signature.expect("signature info");
    assert_eq!(signature.key_id.as_deref(), Some(id.as_str()));
    assert!(signature.verified);
    assert_eq!(
        signature.trusted_comment.as_deref(),
        Some("release 0.1.0 by the examples team")
    );

    let plugin = runtime()
        .load_dir(folder.path(), &policy, LoadOptions::default())
        .await
        .expect("a signed folder loads");
    let sum = plugin
        .call_tool("add", &json!({"a": 40, "b": 2}), &CallContext::default())
        .await
        .unwrap();
    assert_eq!(sum["result"], 42.0);
}

#[tokio::test]
async fn an_unsigned_folder_is_refused_only_where_a_signature_is_required() {
    let folder = copy_folder(guests::CALCULATOR_DIR, "unsigned");
    let (_, public, _) = signing_key();
    let e = refusal(folder.path(), &trusting(&[&public], true)).await;
    assert!(matches!(e, TrustError::Unsigned { .. }), "{e}");
    assert!(
        e.to_string().contains("[trust] require-signature = true"),
        "{e}"
    );

    // Per plugin: required for the calculator only.
    let mut policy = trusting(&[&public], false);
    policy.trust.plugins.insert(
        "calculator".into(),
        airlock::trust::PluginTrust {
            require_signature: Some(true),
            signers: None,
        },
    );
    let e = refusal(folder.path(), &policy).await;
    assert!(
        e.to_string()
            .contains("[trust.plugins.calculator] require-signature = true"),
        "{e}"
    );
    // Not required: an unsigned folder loads as before.
    let review = review(&runtime(), folder.path(), &trusting(&[&public], false)).await;
    assert!(review.loads(), "{:?}", review.errors);
    assert!(review.signature.is_none());
}

#[tokio::test]
async fn a_signature_by_an_unknown_or_unlisted_key_is_refused() {
    let folder = copy_folder(guests::CALCULATOR_DIR, "unknown-key");
    let (key, _, id) = signing_key();
    let (_, other_public, _) = signing_key();
    sign_folder(folder.path(), &key, None).unwrap();
    let e = refusal(folder.path(), &trusting(&[&other_public], true)).await;
    match &e {
        TrustError::UnknownKey { key_id, .. } => assert_eq!(key_id, &id),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("[trust] keys"), "{e}");
    // Where signatures are not required, an unknown signer is reported, not trusted, and
    // the plugin loads as an unsigned one would.
    let review = review(
        &runtime(),
        folder.path(),
        &trusting(&[&other_public], false),
    )
    .await;
    assert!(review.loads(), "{:?}", review.errors);
    let signature = review.signature.expect("signature info");
    assert_eq!(signature.key_id.as_deref(), Some(id.as_str()));
    assert!(!signature.verified);

    // Trusted, but not among the calculator's allowed signers.
    let (_, public, _) = signing_key();
    let mut policy = trusting(&[&public, &other_public], false);
    let (signer, signer_public, _) = signing_key();
    let trust = policy.trust.clone().trust(&signer_public).unwrap();
    policy = policy.with_trust(trust);
    policy.trust.plugins.insert(
        "calculator".into(),
        airlock::trust::PluginTrust {
            require_signature: None,
            signers: Some(vec![other_public.clone()]),
        },
    );
    sign_folder(folder.path(), &signer, None).unwrap();
    let e = refusal(folder.path(), &policy).await;
    assert!(matches!(e, TrustError::SignerNotAllowed { .. }), "{e}");
}

#[tokio::test]
async fn a_manifest_edited_after_signing_is_refused() {
    let folder = copy_folder(guests::CALCULATOR_DIR, "edited");
    let (key, public, _) = signing_key();
    sign_folder(folder.path(), &key, None).unwrap();
    let manifest = folder.path().join("airlock.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    // A harmless-looking edit: more fuel.
    std::fs::write(
        &manifest,
        text.replace("fuel = 100000000", "fuel = 900000000"),
    )
    .unwrap();
    let e = refusal(folder.path(), &trusting(&[&public], false)).await;
    assert!(matches!(e, TrustError::ManifestChanged { .. }), "{e}");
    assert!(e.to_string().contains("edited after it was signed"), "{e}");
}

#[tokio::test]
async fn a_component_swapped_after_signing_is_refused_before_compiling() {
    let folder = copy_folder(guests::CALCULATOR_DIR, "swapped");
    let (key, public, _) = signing_key();
    sign_folder(folder.path(), &key, None).unwrap();
    // Not even WebAssembly: compiling it would report that instead.
    std::fs::write(
        folder.path().join("calculator.wasm"),
        b"not the reviewed component",
    )
    .unwrap();
    let e = refusal(folder.path(), &trusting(&[&public], false)).await;
    assert!(matches!(e, TrustError::ComponentSwapped { .. }), "{e}");
}

#[tokio::test]
async fn a_damaged_signature_is_refused() {
    let folder = copy_folder(guests::CALCULATOR_DIR, "damaged");
    let (key, public, _) = signing_key();
    sign_folder(folder.path(), &key, None).unwrap();
    let path = folder.path().join(airlock::trust::SIGNATURE_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    // Change the trusted comment: the global signature no longer matches it.
    let forged = text.replace(
        "trusted comment: ",
        "trusted comment: approved by security ",
    );
    std::fs::write(&path, forged).unwrap();
    let e = refusal(folder.path(), &trusting(&[&public], false)).await;
    assert!(matches!(e, TrustError::BadSignature { .. }), "{e}");

    std::fs::write(&path, "untrusted comment: x\nnot base64\n").unwrap();
    let e = refusal(folder.path(), &trusting(&[&public], false)).await;
    assert!(e.to_string().contains("not a minisign signature"), "{e}");
}

#[test]
fn the_policy_file_reads_keys_key_files_and_per_plugin_rules() {
    let dir = airlock_tests::TempDir::new("trust-policy");
    let pair = airlock::trust::sign::generate().unwrap();
    let other = airlock::trust::sign::generate().unwrap();
    std::fs::write(dir.path().join("release.pub"), &other.public_file).unwrap();
    let text = format!(
        "[trust]\nkeys = [\"{}\"]\nkey-files = [\"release.pub\"]\nrequire-signature = true\n\n\
         [trust.plugins.calculator]\nsigners = [\"{}\"]\n",
        pair.public, other.id
    );
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, &text).unwrap();
    let policy = airlock::policy::Policy::from_file(&path).unwrap();
    let ids: Vec<&str> = policy.trust.keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, [pair.id.as_str(), other.id.as_str()]);
    assert!(policy.trust.require_signature);

    std::fs::write(&path, "[trust]\nkeys = [\"RWnotakey\"]\n").unwrap();
    let err = airlock::policy::Policy::from_file(&path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[trust] keys[0]") && err.contains("not a minisign public key"),
        "{err}"
    );
}
