//! The compiled workflow as the host reads it: the `compiled-workflow` record of
//! `victor:workflow/compiler@0.1.0` (`../wit/workflow.wit`), in the JSON shape Airlock's
//! dynamic calls give records (kebab-case fields, enum cases as strings).

use serde::{Deserialize, Serialize};

/// What a node does when the workflow runs (Victor's node types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    Agent,
    Compute,
    Condition,
    Parallel,
    Transform,
    Hitl,
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
    pub role: Option<String>,
    pub goal: Option<String>,
    /// Most tool calls an agent node may make.
    pub tool_budget: Option<u32>,
    /// The ids of the nodes that follow it, in order.
    pub next: Vec<String>,
}

/// A directed edge: node `from_node` hands over to node `to_node`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Edge {
    pub from_node: String,
    pub to_node: String,
}

/// What the workflow says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub name: String,
    pub description: Option<String>,
    pub version: Option<String>,
}

/// A compiled workflow: the graph a runner executes, from `entry` along `edges`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledWorkflow {
    /// The workflow's key in the source's `workflows` table.
    pub name: String,
    pub metadata: Metadata,
    /// The id of the node a run starts at.
    pub entry: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}
