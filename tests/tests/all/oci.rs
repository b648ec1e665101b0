//! Plugins through a real OCI registry (Debian's `docker-registry` on loopback, started by
//! the test): push → install by tag and by digest → call; tampering in the registry;
//! a tag moved to an unsigned artifact; a registry that is down, slow, or serves a
//! manifest over the size cap. A failed pull leaves nothing in the store.

use std::path::Path;
use std::time::Duration;

use airlock::CallContext;
use airlock::trust::TrustError;
use airlock::trust::sign::sign_folder;
use airlock_server::oci::{Auth, OciError, OciOptions, OciRef, pull, push};
use airlock_tests::oci_registry::{DockerRegistry, LOGIN, free_port};
use airlock_tests::token_service::{self, TokenService};
use airlock_tests::{TempDir, copy_folder, guests, runtime, signing_key, trusting};
use serde_json::json;

fn reference(text: &str) -> OciRef {
    text.parse().expect("a valid reference")
}

/// What the store holds: plugin folders and leftover staging folders alike.
fn store_entries(store: &Path) -> Vec<String> {
    match std::fs::read_dir(store) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A signed copy of the calculator folder and the public key that signed it.
fn signed_calculator(label: &str) -> (TempDir, String) {
    let folder = copy_folder(guests::CALCULATOR_DIR, label);
    let (key, public, _) = signing_key();
    sign_folder(folder.path(), &key, None).unwrap();
    (folder, public)
}

async fn push_folder(dir: &Path, target: &str) -> String {
    push_as(dir, &reference(target), &Auth::Anonymous)
        .await
        .unwrap_or_else(|e| panic!("push {target}: {e}"))
        .digest
}

/// The OCI manifest `digest` of `plugins/calculator`, as the registry serves it.
async fn get_manifest(registry: &DockerRegistry, digest: &str) -> serde_json::Value {
    let path = format!("/v2/plugins/calculator/manifests/{digest}");
    let accept = [("accept", airlock_server::oci::OCI_MANIFEST_MEDIA_TYPE)];
    let got = airlock_tests::http::request(registry.address, "GET", &path, &accept, b"").await;
    assert_eq!(got.status, 200);
    got.json()
}

/// Stores `manifest` under `plugins/calculator:TAG` as it is (the registry checks only that
/// its blobs exist); returns the `oci://` reference.
async fn put_manifest(
    registry: &DockerRegistry,
    tag: &str,
    manifest: &serde_json::Value,
) -> String {
    let headers = [("content-type", airlock_server::oci::OCI_MANIFEST_MEDIA_TYPE)];
    let put = airlock_tests::http::request(
        registry.address,
        "PUT",
        &format!("/v2/plugins/calculator/manifests/{tag}"),
        &headers,
        &serde_json::to_vec(manifest).unwrap(),
    )
    .await;
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    registry.reference(&format!("plugins/calculator:{tag}"))
}

/// Pushes the plugin folder `dir` to `target` with `auth`.
async fn push_as(
    dir: &Path,
    target: &OciRef,
    auth: &Auth,
) -> Result<airlock_server::oci::Pushed, OciError> {
    push(&runtime(), dir, target, auth, &OciOptions::default()).await
}

async fn pull_into(
    source: &str,
    store: &Path,
    policy: &airlock::policy::Policy,
) -> Result<airlock_server::oci::Pulled, OciError> {
    pull(
        &reference(source),
        store,
        &policy.trust,
        &Auth::Anonymous,
        &OciOptions::default(),
    )
    .await
}

#[tokio::test]
async fn push_then_install_by_tag_and_by_digest_then_call() {
    let registry = DockerRegistry::start();
    let (folder, public) = signed_calculator("oci-push");
    let tag = registry.reference("plugins/calculator:0.1.0");
    let digest = push_folder(folder.path(), &tag).await;
    assert!(digest.starts_with("sha256:"), "{digest}");

    let home = TempDir::new("oci-host");
    let store = home.path().join("store");
    let policy = trusting(&[&public], true);
    let pulled = pull_into(&tag, &store, &policy).await.expect("pull by tag");
    assert_eq!(pulled.digest, digest);
    assert!(pulled.signature.as_ref().is_some_and(|s| s.verified));
    let by_digest = reference(&tag).at_digest(&digest).to_string();
    let again = pull_into(&by_digest, &store, &policy)
        .await
        .expect("pull by digest");
    assert_eq!(again.dir, pulled.dir);

    let registry_db = airlock_server::registry::Registry::open(
        &home.path().join("registry.db"),
        runtime(),
        policy.clone(),
    )
    .unwrap();
    let name = registry_db
        .install_from(&pulled.dir, &tag, &pulled.digest)
        .await
        .unwrap();
    let installed = &registry_db.installed().await.unwrap()[0];
    assert_eq!(installed.source.as_deref(), Some(tag.as_str()));
    assert_eq!(installed.source_digest.as_deref(), Some(digest.as_str()));
    registry_db
        .enable("default", &name, json!({}))
        .await
        .expect("the pulled plugin loads");
    let sum = registry_db
        .call_tool(
            "calculator.add",
            &json!({"a": 40, "b": 2}),
            &CallContext::default(),
        )
        .await
        .unwrap();
    assert_eq!(sum["result"], 42.0);

    // The audit of the installed folder names the source and the signer.
    let review = airlock::folder::review(&runtime(), &pulled.dir, &policy).await;
    assert_eq!(review.source.as_ref().unwrap()["digest"], json!(digest));
    assert!(review.signature.is_some_and(|s| s.verified));
}

#[tokio::test]
async fn a_layer_altered_in_the_registry_storage_is_refused() {
    let registry = DockerRegistry::start();
    let (folder, public) = signed_calculator("oci-altered");
    let tag = registry.reference("plugins/calculator:1");
    push_folder(folder.path(), &tag).await;
    let component = std::fs::read(folder.path().join("calculator.wasm")).unwrap();
    let blob = registry.blob_path(&format!(
        "sha256:{}",
        airlock::digest::Sha256::of(&component)
    ));
    let mut altered = std::fs::read(&blob).expect("the component blob is stored");
    let middle = altered.len() / 2;
    altered[middle] ^= 0xff;
    std::fs::write(&blob, altered).unwrap();

    let store = TempDir::new("oci-altered-store");
    let err = pull_into(&tag, store.path(), &trusting(&[&public], true))
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("application/wasm"), "{err}");
    assert!(
        store_entries(store.path()).is_empty(),
        "{:?}",
        store_entries(store.path())
    );
}

#[tokio::test]
async fn an_untrusted_signer_or_a_manifest_changed_after_signing_is_refused() {
    let registry = DockerRegistry::start();
    let (folder, _signer) = signed_calculator("oci-untrusted");
    let (_, trusted, _) = signing_key();
    let tag = registry.reference("plugins/calculator:untrusted");
    push_folder(folder.path(), &tag).await;
    let store = TempDir::new("oci-untrusted-store");
    let err = pull_into(&tag, store.path(), &trusting(&[&trusted], true))
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::Trust(TrustError::UnknownKey { .. })),
        "{err}"
    );
    assert!(store_entries(store.path()).is_empty());

    let (folder, signer) = signed_calculator("oci-edited");
    let manifest = folder.path().join("airlock.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("memory = \"16MiB\"", "memory = \"64MiB\""),
    )
    .unwrap();
    let tag = registry.reference("plugins/calculator:edited");
    push_folder(folder.path(), &tag).await;
    let err = pull_into(&tag, store.path(), &trusting(&[&signer], false))
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::Trust(TrustError::ManifestChanged { .. })),
        "{err}"
    );
    assert!(store_entries(store.path()).is_empty());
}

#[tokio::test]
async fn a_tag_moved_to_an_unsigned_artifact_changes_nothing_installed() {
    let registry = DockerRegistry::start();
    let (folder, public) = signed_calculator("oci-moved");
    let tag = registry.reference("plugins/calculator:stable");
    let signed_digest = push_folder(folder.path(), &tag).await;
    let home = TempDir::new("oci-moved-host");
    let policy = trusting(&[&public], true);
    let pulled = pull_into(&tag, &home.path().join("store"), &policy)
        .await
        .unwrap();
    let registry_db = airlock_server::registry::Registry::open(
        &home.path().join("registry.db"),
        runtime(),
        policy.clone(),
    )
    .unwrap();
    registry_db
        .install_from(&pulled.dir, &tag, &pulled.digest)
        .await
        .unwrap();

    // Someone moves the tag to an unsigned build.
    std::fs::remove_file(folder.path().join(airlock::trust::SIGNATURE_FILE)).unwrap();
    let unsigned_digest = push_folder(folder.path(), &tag).await;
    assert_ne!(unsigned_digest, signed_digest);

    // What is installed is what was pulled, and it still loads.
    let installed = &registry_db.installed().await.unwrap()[0];
    assert_eq!(
        installed.source_digest.as_deref(),
        Some(signed_digest.as_str())
    );
    registry_db
        .enable("default", "calculator", json!({}))
        .await
        .expect("still loads");
    // An explicit update pulls the moved tag, and the policy refuses it.
    let err = pull_into(&tag, &home.path().join("store"), &policy)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::Trust(TrustError::Unsigned { .. })),
        "{err}"
    );
    let installed = &registry_db.installed().await.unwrap()[0];
    assert_eq!(
        installed.source_digest.as_deref(),
        Some(signed_digest.as_str())
    );
}

#[tokio::test]
async fn a_registry_that_is_down_or_silent_gives_a_clear_error() {
    let store = TempDir::new("oci-down-store");
    let down = format!("oci://127.0.0.1:{}/plugins/calculator:1", free_port());
    let err = pull_into(&down, store.path(), &trusting(&[], false))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
    assert!(store_entries(store.path()).is_empty());

    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!(
        "oci://{}/plugins/calculator:1",
        listener.local_addr().unwrap()
    );
    let held = std::thread::spawn(move || {
        let connections: Vec<_> = listener.incoming().take(2).collect();
        std::thread::sleep(Duration::from_secs(3));
        drop(connections);
    });
    let options = OciOptions {
        timeout: Duration::from_millis(800),
        ..OciOptions::default()
    };
    let started = std::time::Instant::now();
    let err = pull(
        &reference(&silent),
        store.path(),
        &Default::default(),
        &Auth::Anonymous,
        &options,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OciError::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(store_entries(store.path()).is_empty());
    drop(held);
}

#[tokio::test]
async fn a_manifest_over_the_size_cap_is_refused_unread() {
    let registry = DockerRegistry::start();
    let (folder, public) = signed_calculator("oci-huge");
    let tag = registry.reference("plugins/calculator:ok");
    let digest = push_folder(folder.path(), &tag).await;
    // The same artifact's manifest, padded with a 300 KiB annotation, under another tag.
    let mut manifest = get_manifest(&registry, &digest).await;
    manifest["annotations"]["padding"] = json!("x".repeat(300 * 1024));
    let huge = put_manifest(&registry, "huge", &manifest).await;

    let store = TempDir::new("oci-huge-store");
    let err = pull_into(&huge, store.path(), &trusting(&[&public], true))
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("limit of 262144"), "{err}");
    assert!(store_entries(store.path()).is_empty());
}

#[tokio::test]
async fn a_registry_behind_a_login_takes_credentials_from_the_environment_or_docker_config() {
    let registry = DockerRegistry::start_with_login();
    let (folder, public) = signed_calculator("oci-login");
    let target = reference(&registry.reference("plugins/calculator:1"));
    let (user, password) = LOGIN;
    let options = OciOptions::default();

    // Anonymous: refused, with the ways to give credentials.
    let err = push_as(folder.path(), &target, &Auth::Anonymous)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::AccessDenied { .. }), "{err}");
    assert!(
        err.to_string().contains("AIRLOCK_REGISTRY_USERNAME")
            && err.to_string().contains(&registry.host()),
        "{err}"
    );

    // Basic credentials from the environment.
    let from_env = Auth::from_lookup(&registry.host(), |key| match key {
        "AIRLOCK_REGISTRY_USERNAME" => Some(user.to_string()),
        "AIRLOCK_REGISTRY_PASSWORD" => Some(password.to_string()),
        _ => None,
    });
    let pushed = push_as(folder.path(), &target, &from_env)
        .await
        .expect("push with the login from the environment");

    // The same login from a docker config.json (`auth` is base64 of `user:password`).
    let home = TempDir::new("oci-login-host");
    let auths = json!({"auths": {registry.host(): {"auth": "YWxpY2U6b3Blbi1zZXNhbWUtNDcxMQ=="}}});
    std::fs::write(home.path().join("config.json"), auths.to_string()).unwrap();
    let config_dir = home.path().display().to_string();
    let from_config = Auth::from_lookup(&registry.host(), |key| {
        (key == "DOCKER_CONFIG").then(|| config_dir.clone())
    });
    assert!(matches!(from_config, Auth::Basic { .. }), "{from_config:?}");
    let trust = trusting(&[&public], true).trust;
    let store = home.path().join("store");
    let pulled = pull(&target, &store, &trust, &from_config, &options)
        .await
        .expect("pull with the login from config.json");
    assert_eq!(pulled.digest, pushed.digest);

    // A wrong password: refused without echoing it, and nothing lands in the store.
    let wrong = Auth::Basic {
        username: user.to_string(),
        password: "not-the-password-93".to_string(),
    };
    assert!(!format!("{wrong:?}").contains("not-the-password-93"));
    let other_store = home.path().join("other-store");
    let err = pull(&target, &other_store, &trust, &wrong, &options)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::AccessDenied { .. }), "{err}");
    assert!(!err.to_string().contains("not-the-password-93"), "{err}");
    assert!(store_entries(&other_store).is_empty());
}

#[tokio::test]
async fn a_registry_with_a_token_service_gets_a_bearer_token_for_the_login() {
    let dir = TempDir::new("oci-token");
    let tokens = TokenService::start(dir.path());
    let registry = DockerRegistry::start_with_token_service(
        &tokens.realm(),
        token_service::SERVICE,
        token_service::ISSUER,
        &tokens.certificate,
    );
    let (folder, public) = signed_calculator("oci-token");
    let target = reference(&registry.reference("plugins/calculator:1"));
    let options = OciOptions::default();

    // Anonymous: the token service refuses, so the registry does.
    let err = push_as(folder.path(), &target, &Auth::Anonymous)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::AccessDenied { .. }), "{err}");
    assert_eq!(tokens.issued(), 0);

    // The login is exchanged for a bearer token the registry accepts.
    let (user, password) = LOGIN;
    let login = Auth::Basic {
        username: user.to_string(),
        password: password.to_string(),
    };
    let pushed = push_as(folder.path(), &target, &login)
        .await
        .expect("push with a login exchanged for a token");
    assert!(tokens.issued() >= 1);

    // A token already held (`AIRLOCK_REGISTRY_TOKEN`) is sent as it is, not exchanged.
    let token = tokens.token_for("repository:plugins/calculator:pull");
    let issued = tokens.issued();
    let bearer = Auth::from_lookup(&registry.host(), |key| {
        (key == "AIRLOCK_REGISTRY_TOKEN").then(|| token.clone())
    });
    assert!(matches!(bearer, Auth::Bearer(_)));
    let store = dir.path().join("store");
    let trust = trusting(&[&public], true).trust;
    let pulled = pull(&target, &store, &trust, &bearer, &options)
        .await
        .expect("pull with a bearer token");
    assert_eq!(pulled.digest, pushed.digest);
    assert_eq!(tokens.issued(), issued, "the given token was used as it is");

    // A token signed by a key the registry does not trust is refused.
    let forger = TokenService::start(&dir.path().join("forger"));
    let forged = Auth::Bearer(forger.token_for("repository:plugins/calculator:pull"));
    let err = pull(
        &target,
        &dir.path().join("store-2"),
        &trust,
        &forged,
        &options,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OciError::AccessDenied { .. }), "{err}");
}

#[tokio::test]
async fn an_artifact_that_is_not_an_airlock_plugin_is_refused_and_nothing_installed() {
    let registry = DockerRegistry::start();
    let (folder, public) = signed_calculator("oci-malformed");
    let tag = registry.reference("plugins/calculator:ok");
    let digest = push_folder(folder.path(), &tag).await;
    let original = get_manifest(&registry, &digest).await;

    // The same blobs under manifests that break the convention: no `airlock.toml` layer;
    // a container image's config instead of the wasm component config.
    let mut no_manifest = original.clone();
    no_manifest["layers"]
        .as_array_mut()
        .unwrap()
        .retain(|l| l["mediaType"] != airlock_server::oci::MANIFEST_MEDIA_TYPE);
    let mut image_config = original.clone();
    image_config["config"]["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    let store = TempDir::new("oci-malformed-store");
    for (tag_name, manifest, reason) in [
        ("no-manifest", no_manifest, "airlock.toml"),
        (
            "image-config",
            image_config,
            "application/vnd.oci.image.config.v1+json",
        ),
    ] {
        let source = put_manifest(&registry, tag_name, &manifest).await;
        let err = pull_into(&source, store.path(), &trusting(&[&public], true))
            .await
            .unwrap_err();
        assert!(matches!(err, OciError::Malformed { .. }), "{err}");
        assert!(err.to_string().contains(reason), "{err}");
        assert!(store_entries(store.path()).is_empty(), "{tag_name}");
    }
}
