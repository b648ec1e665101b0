//! `lleo-needs`: an LLEO module (`lleo:module/module@0.1.0`) for the tests of the host's
//! tool check at enable. `required-tools` answers what `/needs/tools.json` lists
//! (`[{"name": "git", "version": "99"}]`), read from the folder the test grants, so one
//! component can require a tool that is missing, too old, not granted, or far too many.
//! `run` answers its configuration.

wit_bindgen::generate!({
    path: ["../../../examples/systems/lleo/wit", "wit"],
    world: "fixture:lleo-needs/needs",
    generate_all,
});

use exports::lleo::module::module::{Guest, ModuleError, Tool};

/// Where the test puts the list (a read-only files grant).
const LIST: &str = "/needs/tools.json";

#[derive(serde::Deserialize)]
struct Need {
    name: String,
    version: String,
}

struct Needs;

impl Guest for Needs {
    fn required_tools() -> Vec<Tool> {
        let text = std::fs::read_to_string(LIST).unwrap_or_else(|e| panic!("{LIST}: {e}"));
        let needs: Vec<Need> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{LIST}: {e}"));
        needs
            .into_iter()
            .map(|n| Tool {
                name: n.name,
                version: n.version,
            })
            .collect()
    }

    fn run(config: String) -> Result<String, ModuleError> {
        Ok(config)
    }
}

export!(Needs);
