//! `victor-json`: Victor's `json://` workflow compiler as a component of the
//! `victor:workflow/compiler@0.1.0` contract (`../wit/workflow.wit`).
//!
//! A source is Victor's JSON workflow file: `{"workflows": {NAME: {"metadata": {…},
//! "nodes": [{"id", "type", "role", "goal", "tool_budget", "next"}, …]}}}`. It is parsed
//! straight into typed structs, so a syntax error *and* a wrong or missing field come back
//! with serde_json's line and column; the graph checks (`validate`) come after.

wit_bindgen::generate!({ path: "../wit", world: "workflow-compiler" });

use std::collections::{BTreeMap, HashSet};

use exports::victor::workflow::compiler::{
    CompileError, CompiledWorkflow, Edge, Guest, Metadata, Node, NodeKind,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The text is not JSON.
const SYNTAX: u32 = 400;
/// The workflow asked for is not in the source.
const NOT_FOUND: u32 = 404;
/// The JSON is not a valid workflow.
const INVALID: u32 = 422;

/// A whole source: its workflows by name (sorted, so messages list them in a stable order).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    workflows: BTreeMap<String, WorkflowDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowDef {
    #[serde(default)]
    metadata: MetadataDef,
    nodes: Vec<NodeDef>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MetadataDef {
    name: Option<String>,
    description: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeDef {
    id: String,
    #[serde(rename = "type")]
    kind: KindDef,
    role: Option<String>,
    goal: Option<String>,
    tool_budget: Option<u32>,
    #[serde(default)]
    next: Vec<String>,
}

/// Victor's node types, as written in a source.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum KindDef {
    Agent,
    Compute,
    Condition,
    Parallel,
    Transform,
    Hitl,
}

impl From<KindDef> for NodeKind {
    fn from(kind: KindDef) -> NodeKind {
        match kind {
            KindDef::Agent => NodeKind::Agent,
            KindDef::Compute => NodeKind::Compute,
            KindDef::Condition => NodeKind::Condition,
            KindDef::Parallel => NodeKind::Parallel,
            KindDef::Transform => NodeKind::Transform,
            KindDef::Hitl => NodeKind::Hitl,
        }
    }
}

struct JsonCompiler;

impl Guest for JsonCompiler {
    fn compile(
        source: String,
        workflow_name: Option<String>,
        validate: bool,
    ) -> Result<CompiledWorkflow, CompileError> {
        let parsed: Source = serde_json::from_str(&source).map_err(parse_error)?;
        let (name, def) = pick(parsed.workflows, workflow_name)?;
        if validate {
            check_graph(&name, &def.nodes)?;
        }
        build(name, def)
    }

    fn validate_source(source: String) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(&source).is_ok()
    }

    fn cache_key(source: String) -> String {
        let digest = Sha256::digest(source.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("json-sha256:{hex}")
    }
}

/// serde_json's error with its line and column: syntax (400) or a wrong shape (422).
fn parse_error(error: serde_json::Error) -> CompileError {
    use serde_json::error::Category;
    let (code, what) = match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => (SYNTAX, "invalid JSON"),
        Category::Data => (INVALID, "not a valid workflow"),
    };
    CompileError {
        code,
        message: format!("{what}: {error}"),
        line: u32::try_from(error.line()).ok().filter(|&l| l > 0),
        column: u32::try_from(error.column()).ok().filter(|&c| c > 0),
    }
}

fn error(code: u32, message: String) -> CompileError {
    CompileError {
        code,
        message,
        line: None,
        column: None,
    }
}

/// The workflow `wanted`, or the only one when none is named.
fn pick(
    mut workflows: BTreeMap<String, WorkflowDef>,
    wanted: Option<String>,
) -> Result<(String, WorkflowDef), CompileError> {
    let names = workflows.keys().cloned().collect::<Vec<_>>().join(", ");
    match wanted {
        Some(name) => match workflows.remove(&name) {
            Some(def) => Ok((name, def)),
            None => Err(error(
                NOT_FOUND,
                format!("no workflow `{name}` in the source; it defines: {names}"),
            )),
        },
        None if workflows.len() == 1 => Ok(workflows.pop_first().expect("one workflow")),
        None if workflows.is_empty() => Err(error(
            INVALID,
            "the source's `workflows` table is empty".into(),
        )),
        None => Err(error(
            NOT_FOUND,
            format!("the source defines several workflows ({names}): name the one to compile"),
        )),
    }
}

/// Unique node ids, and every `next` naming a node of the workflow.
fn check_graph(name: &str, nodes: &[NodeDef]) -> Result<(), CompileError> {
    let mut ids = HashSet::new();
    for node in nodes {
        if !ids.insert(node.id.as_str()) {
            return Err(error(
                INVALID,
                format!("workflow `{name}`: two nodes have the id `{}`", node.id),
            ));
        }
    }
    for node in nodes {
        if let Some(missing) = node.next.iter().find(|n| !ids.contains(n.as_str())) {
            return Err(error(
                INVALID,
                format!(
                    "workflow `{name}`: node `{}` goes to `{missing}`, which is not a node of the workflow",
                    node.id
                ),
            ));
        }
    }
    Ok(())
}

/// The compiled graph: the first node is the entry, each `next` an edge.
fn build(name: String, def: WorkflowDef) -> Result<CompiledWorkflow, CompileError> {
    let entry = def
        .nodes
        .first()
        .map(|n| n.id.clone())
        .ok_or_else(|| error(INVALID, format!("workflow `{name}` has no nodes")))?;
    let edges = def
        .nodes
        .iter()
        .flat_map(|n| {
            n.next.iter().map(|to| Edge {
                from_node: n.id.clone(),
                to_node: to.clone(),
            })
        })
        .collect();
    let nodes = def
        .nodes
        .into_iter()
        .map(|n| Node {
            id: n.id,
            kind: n.kind.into(),
            role: n.role,
            goal: n.goal,
            tool_budget: n.tool_budget,
            next: n.next,
        })
        .collect();
    Ok(CompiledWorkflow {
        metadata: Metadata {
            name: def.metadata.name.unwrap_or_else(|| name.clone()),
            description: def.metadata.description,
            version: def.metadata.version,
        },
        name,
        entry,
        nodes,
        edges,
    })
}

export!(JsonCompiler);
