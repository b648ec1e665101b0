//! App Factory's example (`examples/systems/app-factory`) set up for a test: its three plugin
//! folders (pinned, as `airlock pin` leaves them) copied into a temporary folder, the
//! operator's policy serving its contracts and granting exactly what each needs, and the
//! small OpenAI-compatible server (`openai_server.py`) the LLM plugin talks to.
//! The programs it wraps must be installed (`espeak-ng`, `pocketsphinx` + `pocketsphinx-en-us`,
//! `python3`): a missing one fails the test with the command that installs it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::oci_registry::require_program;
use crate::{TempDir, guests};

/// The example's folder.
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/systems/app-factory")
}

/// The plugins, as App Factory names its contracts: `tts`, `stt`, `llm`.
pub const TTS: &str = "tts-espeak";
pub const STT: &str = "stt-pocketsphinx";
pub const LLM: &str = "llm-openai";

/// The example ready to enable: folders, policy, server.
pub struct AppFactory {
    /// Holds `policy.toml` and the three plugin folders (named as the plugins).
    pub dir: TempDir,
    /// `dir/policy.toml`.
    pub policy: PathBuf,
    /// The OpenAI-compatible server the LLM plugin is configured for.
    pub server: OpenAiServer,
}

impl AppFactory {
    /// Copies the folders, writes the policy, starts the server.
    pub fn start() -> AppFactory {
        require_program("espeak-ng", "espeak-ng");
        require_program("pocketsphinx_continuous", "pocketsphinx pocketsphinx-en-us");
        assert!(
            Path::new("/usr/share/pocketsphinx/model/en-us/en-us.lm.bin").exists(),
            "PocketSphinx's English model is missing; install it with `apt-get install -y pocketsphinx-en-us` (scripts/test.sh does when run as root)"
        );
        let dir = TempDir::new("app-factory");
        for (name, source) in [
            (TTS, guests::APPFACTORY_TTS_DIR),
            (STT, guests::APPFACTORY_STT_DIR),
            (LLM, guests::APPFACTORY_LLM_DIR),
        ] {
            let folder = dir.path().join(name);
            std::fs::create_dir_all(&folder).unwrap();
            for entry in std::fs::read_dir(source).expect("the example folder is built") {
                let path = entry.unwrap().path();
                std::fs::copy(&path, folder.join(path.file_name().unwrap())).unwrap();
            }
        }
        std::fs::create_dir_all(dir.path().join(STT).join("scratch")).unwrap();
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, policy_text(dir.path())).unwrap();
        AppFactory {
            dir,
            policy,
            server: OpenAiServer::start(),
        }
    }

    /// The plugin folder `name`.
    pub fn folder(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The configuration each plugin is enabled with (the rest from the schemas' defaults).
    pub fn config(&self, name: &str) -> Value {
        match name {
            STT => json!({"scratch_dir": self.folder(STT).join("scratch")}),
            LLM => json!({"base_url": self.server.base_url}),
            _ => json!({}),
        }
    }

    /// The operator's policy, parsed.
    pub fn parsed_policy(&self) -> airlock::policy::Policy {
        airlock::policy::Policy::from_file(&self.policy).expect("the example policy parses")
    }
}

/// The example's policy (`examples/systems/app-factory/policy.toml`), as an operator deploys
/// it with the plugin folders in `dir`: its paths rewritten to there.
fn policy_text(dir: &Path) -> String {
    deployed_policy(dir)
}

/// `policy.toml` of the example with the plugin folders at `dir` and its contracts' WIT by
/// absolute path (the policy is written elsewhere than the example).
pub fn deployed_policy(dir: &Path) -> String {
    let text = std::fs::read_to_string(example_dir().join("policy.toml")).unwrap();
    let wit = example_dir().join("wit");
    let deployed = text
        .replace("/srv/airlock/plugins", dir.to_str().unwrap())
        .replace("wit = [\"wit\"]", &format!("wit = [{:?}]", wit));
    assert_ne!(
        text, deployed,
        "the example policy names /srv/airlock/plugins"
    );
    deployed
}

/// `openai_server.py` on a free loopback port; killed on drop.
pub struct OpenAiServer {
    child: Child,
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
}

impl OpenAiServer {
    pub fn start() -> OpenAiServer {
        let mut child = Command::new("python3")
            .arg(example_dir().join("openai_server.py"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs (it is part of the test requirements)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("http://"), "the server said {line:?}");
        OpenAiServer {
            child,
            base_url: line.trim().to_string(),
        }
    }
}

impl Drop for OpenAiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
