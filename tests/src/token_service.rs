//! A Docker token service for tests, so the registry's bearer-token flow runs for real: a
//! registry started with [`crate::oci_registry::DockerRegistry::start_with_token_service`]
//! answers 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the client asks
//! this service for a token with its basic credentials; the service checks them against
//! [`crate::oci_registry::LOGIN`] and issues a JWT (ES256, its certificate in the `x5c`
//! header) granting the scopes asked for, which the registry verifies against the same
//! certificate as its root.
//!
//! The flow and the token's claims: <https://distribution.github.io/distribution/spec/auth/token/>
//! and `…/spec/auth/jwt/`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};

use crate::oci_registry::LOGIN;

/// The `service` and `issuer` the registry and the tokens agree on.
pub const SERVICE: &str = "airlock-test-registry";
pub const ISSUER: &str = "airlock-test-token-service";

/// A token service on 127.0.0.1, serving until the test process ends.
pub struct TokenService {
    pub address: SocketAddr,
    /// The PEM certificate the registry trusts as its root (written in a temp folder).
    pub certificate: PathBuf,
    issued: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

struct Signer {
    key: EcdsaKeyPair,
    certificate_der: Vec<u8>,
}

impl TokenService {
    /// Generates a P-256 key and a self-signed certificate, writes the certificate to `dir`,
    /// and starts serving `GET /token`.
    pub fn start(dir: &Path) -> TokenService {
        let key_pair = rcgen::KeyPair::generate().expect("a P-256 key");
        let params = rcgen::CertificateParams::new(vec!["airlock-test-token".to_string()])
            .expect("certificate parameters");
        let certificate = params.self_signed(&key_pair).expect("a certificate");
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join("token-service.pem");
        std::fs::write(&path, certificate.pem()).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &SystemRandom::new(),
        )
        .expect("ring reads rcgen's PKCS#8 key");
        let signer = Arc::new(Signer {
            key,
            certificate_der: certificate.der().to_vec(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let service = TokenService {
            address: listener.local_addr().unwrap(),
            certificate: path,
            issued: Arc::default(),
            refused: Arc::default(),
        };
        let (issued, refused) = (service.issued.clone(), service.refused.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                answer(stream, &signer, (&issued, &refused));
            }
        });
        service
    }

    /// `http://127.0.0.1:PORT/token`, the realm the registry sends clients to.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.address)
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    /// Requests refused so far (no or wrong credentials).
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// A token for `scope` (`repository:NAME:pull,push`), as a client that already has one
    /// would hold it (`AIRLOCK_REGISTRY_TOKEN`).
    pub fn token_for(&self, scope: &str) -> String {
        let mut stream = TcpStream::connect(self.address).unwrap();
        let (user, password) = LOGIN;
        let basic = STANDARD.encode(format!("{user}:{password}"));
        write!(
            stream,
            "GET /token?service={SERVICE}&scope={scope} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {basic}\r\nConnection: close\r\n\r\n",
            self.address
        )
        .unwrap();
        let reply = std::io::read_to_string(stream).unwrap();
        let body = reply.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        let answer: Value = serde_json::from_str(body).expect("a token answer");
        answer["token"].as_str().unwrap().to_string()
    }
}

/// Reads one request and answers it, counting it as issued or refused before the answer
/// goes out (a client that read the answer sees the count).
fn answer(stream: TcpStream, signer: &Signer, (issued, refused): (&AtomicUsize, &AtomicUsize)) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_string());
        }
    }
    let target = request_line.split(' ').nth(1).unwrap_or_default();
    let scopes = query_values(target, "scope");
    let subject = authorization.as_deref().and_then(basic_user);
    let (status, body) = match subject {
        Some(user) if target.starts_with("/token") => {
            let token = signer.token(&user, &scopes);
            (
                "200 OK",
                json!({"token": token, "access_token": token, "expires_in": 300}),
            )
        }
        _ => (
            "401 Unauthorized",
            json!({"errors": [{"code": "UNAUTHORIZED"}]}),
        ),
    };
    let counter = if status.starts_with("200") {
        issued
    } else {
        refused
    };
    counter.fetch_add(1, Ordering::SeqCst);
    let body = body.to_string();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The user of a `Basic …` header when its credentials are [`LOGIN`].
fn basic_user(header: &str) -> Option<String> {
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    (user == LOGIN.0 && password == LOGIN.1).then(|| user.to_string())
}

/// Every value of `key` in the query of `target`, percent-decoded.
fn query_values(target: &str, key: &str) -> Vec<String> {
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Signer {
    /// A JWT for `subject` granting `scopes` (`repository:NAME:ACTIONS` each), valid 5 min.
    fn token(&self, subject: &str, scopes: &[String]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let access: Vec<Value> = scopes
            .iter()
            .filter_map(|scope| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
            })
            .collect();
        let header =
            json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.certificate_der)]});
        let claims = json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": format!("{now}-{}", access.len()), "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .expect("ES256 signs");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}
