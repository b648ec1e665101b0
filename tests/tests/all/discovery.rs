//! Discovery over real plugin folders: first on the path wins, clashes and broken folders are
//! reported, and a plugin that fails to load is skipped while the rest load.

use airlock::LoadOptions;
use airlock::policy::Policy;
use airlock_server::discovery::{discover, load_all};
use airlock_tests::{TempDir, guests, plugin_folder, runtime};

fn copy_folder(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_folder_wins_and_broken_ones_are_reported_and_skipped() {
    let first = TempDir::new("root-a");
    let second = TempDir::new("root-b");
    copy_folder(
        std::path::Path::new(guests::CALCULATOR_DIR),
        &first.path().join("calculator"),
    );
    copy_folder(
        std::path::Path::new(guests::REDACT_DIR),
        &first.path().join("redact"),
    );
    copy_folder(
        std::path::Path::new(guests::CALCULATOR_DIR),
        &second.path().join("calc-copy"),
    );
    std::fs::create_dir_all(second.path().join("broken")).unwrap();
    std::fs::write(
        second.path().join("broken/airlock.toml"),
        "[plugin]\nname = 1\n",
    )
    .unwrap();
    // Loads its manifest fine, but asks for a grant nobody gives: refused at load.
    let greedy = plugin_folder(
        "prober",
        guests::PROBER,
        "[capabilities]\nenv = [\"HOME\"]\n",
    );
    copy_folder(greedy.path(), &second.path().join("prober"));

    let discovery = discover(&[
        first.path().to_path_buf(),
        second.path().to_path_buf(),
        "/nonexistent".into(),
    ]);
    let names: Vec<_> = discovery.found.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["calculator", "redact", "prober"]);
    assert_eq!(discovery.clashes.len(), 1);
    assert_eq!(discovery.clashes[0].kept, first.path().join("calculator"));
    assert_eq!(
        discovery.clashes[0].shadowed,
        second.path().join("calc-copy")
    );
    assert_eq!(discovery.broken.len(), 1);
    assert!(
        discovery.broken[0]
            .to_string()
            .contains("broken/airlock.toml"),
        "{}",
        discovery.broken[0]
    );

    let (loaded, failed) = load_all(
        &runtime(),
        &discovery,
        &Policy::default(),
        &LoadOptions::default(),
    )
    .await;
    let loaded: Vec<_> = loaded.iter().map(|p| p.name().to_string()).collect();
    assert_eq!(loaded, ["calculator", "redact"]);
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .1
            .to_string()
            .contains("env `HOME` is not granted"),
        "{}",
        failed[0].1
    );
}
