//! A real OCI registry for tests: Debian's `docker-registry` (the CNCF distribution
//! registry) serving a temporary storage folder on a free loopback port, killed on drop.
//! Missing programs fail the test with the command that installs them; nothing skips.
//!
//! Std only: the CLI tests include this file by path as well.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fails the test unless `program` is on the PATH, naming the package to install.
pub fn require_program(program: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{program}` is missing; install it with `apt-get install -y {package}` (scripts/test.sh does when run as root)"
    );
}

/// A running `docker-registry serve` on 127.0.0.1; killed, and its storage removed, on drop.
pub struct DockerRegistry {
    child: Child,
    pub address: SocketAddr,
    /// The temporary folder: `config.yml`, `storage/`, `registry.log`.
    pub dir: PathBuf,
}

/// How a registry checks its clients (none: anonymous).
enum Auth {
    /// HTTP basic auth against an htpasswd file holding [`LOGIN`].
    Login,
    /// The `auth:` section for a token service.
    Token(String),
}

/// The one account of [`DockerRegistry::start_with_login`]: user, password.
pub const LOGIN: (&str, &str) = ("alice", "open-sesame-4711");

/// bcrypt (cost 4, the minimum: the test needs no strength) of `LOGIN.1`, the only hash
/// format the registry's htpasswd reader accepts.
const LOGIN_BCRYPT: &str = "$2b$04$OuznQWIAs0WdJkvQ7ToOtOxS/BUWZthZF64bscAymaVuEmRvBRaRi";

impl DockerRegistry {
    /// Starts a registry and waits until it answers (at most 10 s).
    pub fn start() -> DockerRegistry {
        DockerRegistry::start_with(None)
    }

    /// Starts a registry that answers only [`LOGIN`] (HTTP basic auth, `htpasswd`).
    pub fn start_with_login() -> DockerRegistry {
        DockerRegistry::start_with(Some(Auth::Login))
    }

    /// Starts a registry that wants bearer tokens from the token service at `realm`
    /// (`http://…/token`), signed by the certificate in the PEM file `certificate`: the
    /// Docker token authentication flow, with `service` and `issuer` as the tokens name them.
    pub fn start_with_token_service(
        realm: &str,
        service: &str,
        issuer: &str,
        certificate: &Path,
    ) -> DockerRegistry {
        DockerRegistry::start_with(Some(Auth::Token(format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
            certificate.display()
        ))))
    }

    fn start_with(auth: Option<Auth>) -> DockerRegistry {
        require_program("docker-registry", "docker-registry");
        let port = free_port();
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let dir =
            std::env::temp_dir().join(format!("airlock-registry-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
            dir.join("storage").display()
        );
        let config = match auth {
            None => config,
            Some(Auth::Token(section)) => format!("{config}{section}"),
            Some(Auth::Login) => {
                let htpasswd = dir.join("htpasswd");
                std::fs::write(&htpasswd, format!("{}:{LOGIN_BCRYPT}\n", LOGIN.0)).unwrap();
                format!(
                    "{config}auth:\n  htpasswd:\n    realm: airlock-test\n    path: {}\n",
                    htpasswd.display()
                )
            }
        };
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        let registry = DockerRegistry {
            child,
            address,
            dir,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        while TcpStream::connect(self.address).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "docker-registry did not listen on {} within 10 s; log: {}",
                self.address,
                std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.address.to_string()
    }

    /// `oci://127.0.0.1:PORT/REPO_AND_TAG`.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        format!("oci://{}/{repo_and_tag}", self.address)
    }

    /// Where the registry keeps the blob with `digest` (`sha256:…`).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn storage(&self) -> &Path {
        &self.dir
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
