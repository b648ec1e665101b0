//! Extracts the README's Rust host snippets (embedding, hook pipelines, the registry) into
//! `$OUT_DIR/readme_<name>.rs`, each wrapped in a block that ends with the values the test
//! checks, so `tests/all/readme.rs` compiles and runs them against this workspace as
//! written (issue #20). The only rewrites are the file paths a reader's machine has and
//! the test's temporary folder has instead; each is listed in `SNIPPETS`.

use std::path::PathBuf;

#[path = "src/readme_blocks.rs"]
mod readme_blocks;

/// One snippet: the file it goes to, a line only it contains, the value its block ends
/// with, and the `(as written, as compiled)` rewrites of paths.
struct Snippet {
    name: &'static str,
    marker: &'static str,
    tail: &'static str,
    rewrites: &'static [(&'static str, &'static str)],
}

const SNIPPETS: &[Snippet] = &[
    Snippet {
        name: "embed",
        marker: "runtime.load_file(",
        tail: "(sum, outcome)",
        rewrites: &[
            ("\"calculator.wasm\"", "CALCULATOR_WASM"),
            ("\"redact.wasm\"", "REDACT_WASM"),
        ],
    },
    Snippet {
        name: "dynamic",
        marker: "runtime.load_component(",
        tail: "sum",
        rewrites: &[("\"typed.wasm\"", "TYPED_WASM")],
    },
    Snippet {
        name: "progress",
        marker: "with_progress(events,",
        tail: "result",
        rewrites: &[],
    },
    Snippet {
        name: "pipeline",
        marker: "Pipeline::new()",
        tail: "result",
        rewrites: &[],
    },
    Snippet {
        name: "registry",
        marker: "Registry::open(",
        tail: "(sum, dispatch)",
        rewrites: &[
            ("&Registry::default_path()", "&registry_path"),
            ("\"plugins/redact\"", "REDACT_DIR"),
            ("\"plugins/calculator\"", "CALCULATOR_DIR"),
        ],
    },
];

fn main() {
    let readme = "../README.md";
    println!("cargo:rerun-if-changed={readme}");
    let text = std::fs::read_to_string(readme).expect("README.md is readable");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for snippet in SNIPPETS {
        let mut code = readme_blocks::block(&text, "rust", snippet.marker).to_string();
        for (written, compiled) in snippet.rewrites {
            assert!(
                code.contains(written),
                "the README's {} snippet no longer contains {written}",
                snippet.name
            );
            code = code.replace(written, compiled);
        }
        let wrapped = format!("{{\n{code}\n{}\n}}\n", snippet.tail);
        std::fs::write(out.join(format!("readme_{}.rs", snippet.name)), wrapped)
            .expect("OUT_DIR is writable");
    }
}
