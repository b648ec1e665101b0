//! The web console in a real browser: `airlock serve --http` with the example plugins, a
//! runaway plugin (`hostile`, capped at 50M fuel) and `garish` (every text it
//! controls carries `<script>` and `<img onerror>`), driven through headless Chromium by
//! `tests/console/console.mjs` (playwright-core with Debian's `chromium`; see that file for
//! the steps). `bash scripts/test.sh` installs both; without them this fails, naming the
//! command to run. With `AIRLOCK_CONSOLE_SCREENSHOTS=DIR` it also saves screenshots of the
//! main pages there (`scripts/console-screenshots.sh` does, into `docs/console/`).
//!
//! Also here, without a browser: the console's security headers and the refusal of
//! cross-site requests.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use airlock_guests as guests;

use crate::hostile_text::{PAYLOAD, SHOWN};
use crate::support::{
    airlock, enable, fresh_dir, listening_address, plugin_folder, token, toml_escape,
};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The browser: `$AIRLOCK_CHROMIUM`, else Debian's.
fn chromium() -> PathBuf {
    let path = std::env::var_os("AIRLOCK_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "the console tests need Chromium at {}: run `apt-get install -y chromium` (or set \
         $AIRLOCK_CHROMIUM); `bash scripts/test.sh` does",
        path.display()
    );
    path
}

/// The driver's folder, with playwright-core installed.
fn driver() -> PathBuf {
    let dir = root().join("tests/console");
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .exists(),
        "the console tests need playwright-core: run `npm ci --prefix tests/console \
         --ignore-scripts`; `bash scripts/test.sh` does"
    );
    dir
}

/// A server for tenant `console` and its admin and caller tokens.
struct Console {
    server: Child,
    address: String,
    admin: String,
    caller: String,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn console(label: &str) -> Console {
    let dir = fresh_dir(label);
    let db = dir.join("registry.db");
    let runaway = plugin_folder(
        &format!("{label}-runaway"),
        "hostile",
        guests::HOSTILE,
        "description = \"Loops on request\"\n[limits]\nfuel = 50000000\n",
    );
    let garish = hostile_schema_folder(label);
    let folders = [
        guests::CALCULATOR_DIR,
        guests::COUNT_VOWELS_DIR,
        guests::REDACT_DIR,
        runaway.to_str().unwrap(),
        garish.to_str().unwrap(),
    ];
    enable(&db, "console", &folders);
    let (admin, caller) = (
        token(&db, "console", "admin"),
        token(&db, "console", "caller"),
    );
    let mut server = airlock()
        .args([
            "serve",
            "--no-watch",
            "--tenant",
            "console",
            "--http",
            "127.0.0.1:0",
        ])
        .arg("--registry")
        .arg(&db)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let address = listening_address(&mut server);
    Console {
        server,
        address,
        admin,
        caller,
    }
}

/// `garish` with the payload in its manifest's description and all over its `[config]`
/// schema: titles, descriptions, a property name, and what the form library would turn into
/// markup or links if it saw them (an object-valued enum holding a `<meta http-equiv=refresh>`,
/// `links`, a header template).
fn hostile_schema_folder(label: &str) -> PathBuf {
    let manifest = format!(
        "description = \"{}\"\n[config]\nschema-file = \"config.schema.json\"",
        toml_escape(PAYLOAD)
    );
    let dir = plugin_folder(
        &format!("{label}-garish"),
        "garish",
        guests::GARISH,
        &manifest,
    );
    let refresh = r#"<meta http-equiv="refresh" content="0;url=https://evil.example/">"#;
    let schema = serde_json::json!({
        "type": "object",
        "title": PAYLOAD,
        "description": PAYLOAD,
        "properties": {
            "<img src=x onerror=pwned(4)>": {"type": "string", "description": PAYLOAD},
            "mode": {"type": "object", "enum": [{refresh: 1}], "description": PAYLOAD},
            "link": {
                "type": "string",
                "links": [{"href": "javascript:window.pwned=3", "rel": "x"}],
                "headerTemplate": "<img src=x>{{self}}",
                "format": "html"
            }
        }
    });
    std::fs::write(dir.join("config.schema.json"), schema.to_string()).unwrap();
    dir
}

#[test]
fn the_console_works_in_a_real_browser() {
    let (browser, driver) = (chromium(), driver());
    let console = console("console-browser");
    let mut run = Command::new("node");
    run.arg(driver.join("console.mjs"))
        .env("AIRLOCK_URL", &console.address)
        .env("AIRLOCK_ADMIN", &console.admin)
        .env("AIRLOCK_CALLER", &console.caller)
        .env("AIRLOCK_SHOWN", SHOWN)
        .env("AIRLOCK_PAYLOAD", PAYLOAD)
        .env("AIRLOCK_CHROMIUM", browser);
    if let Some(shots) = std::env::var_os("AIRLOCK_CONSOLE_SCREENSHOTS") {
        run.env("AIRLOCK_SHOTS", shots);
    }
    let out = run.output().expect("node runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the console failed in Chromium:\n{report}"
    );
    assert_eq!(
        report.lines().filter(|l| l.starts_with("ok - ")).count(),
        11,
        "every step ran:\n{report}"
    );
}

/// One raw HTTP/1.1 request; the response's status line and headers, lower-cased, then
/// (for a JSON error) its body.
fn request(address: &str, head: &str) -> String {
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "{head}Host: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (headers, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let body = if body.starts_with("{\"error\"") {
        body
    } else {
        ""
    };
    format!("{}\r\n\r\n{body}", headers.to_ascii_lowercase())
}

#[test]
fn the_console_is_served_with_a_strict_policy_and_cross_site_requests_are_refused() {
    let console = console("console-headers");
    let page = request(&console.address, "GET / HTTP/1.1\r\n");
    assert!(page.starts_with("http/1.1 200"), "{page}");
    for header in [
        "content-security-policy: default-src 'none'; script-src 'self';",
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
    ] {
        assert!(page.contains(header), "missing {header:?}:\n{page}");
    }
    let script = request(&console.address, "GET /console/app.js HTTP/1.1\r\n");
    assert!(script.contains("content-type: text/javascript"), "{script}");
    let missing = request(&console.address, "GET /console/nothing.js HTTP/1.1\r\n");
    assert!(missing.starts_with("http/1.1 404"), "{missing}");

    // Another site's page calling the API with a stolen token is still refused.
    let bearer = format!("Authorization: Bearer {}\r\n", console.admin);
    let call = |extra: &str| {
        request(
            &console.address,
            &format!(
                "POST /api/v1/plugins/calculator/disable HTTP/1.1\r\n{bearer}{extra}Content-Length: 0\r\n"
            ),
        )
    };
    for refused in [
        "Origin: http://evil.example\r\n",
        "Origin: null\r\n",
        "Sec-Fetch-Site: cross-site\r\n",
    ] {
        let answer = call(refused);
        assert!(answer.starts_with("http/1.1 403"), "{refused}: {answer}");
        assert!(
            answer.contains("\"code\":\"cross-origin\""),
            "{refused}: {answer}"
        );
    }
    // A link from another site opens the console (its files are public); the API stays shut.
    let linked = request(
        &console.address,
        "GET / HTTP/1.1\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: navigate\r\n",
    );
    assert!(linked.starts_with("http/1.1 200"), "{linked}");
    let same = console.address.trim_start_matches("http://");
    let own = call(&format!(
        "Origin: http://{same}\r\nSec-Fetch-Site: same-origin\r\n"
    ));
    assert!(
        own.starts_with("http/1.1 200"),
        "the console's own origin: {own}"
    );
}
