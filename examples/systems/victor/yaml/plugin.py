"""victor-yaml: Victor's ``yaml://`` workflow compiler as a component of the
``victor:workflow/compiler@0.1.0`` contract (``../wit/workflow.wit``), in Python.

A source is Victor's YAML workflow file::

    workflows:
      NAME:
        metadata: {name: ..., description: ..., version: ...}
        nodes:
          - {id: ..., type: agent, role: ..., goal: ..., tool_budget: 5, next: [...]}

It is composed with PyYAML (bundled, pure Python: ``vendor/yaml``) into a node tree whose
every node knows its line, then walked by hand: a syntax error (PyYAML's
``MarkedYAMLError``) *and* a wrong, unknown or duplicate field come back with the line
and column of the problem. ``airlock build`` turns this module into the component
(componentize-py finds the ``Compiler`` class below by the interface's name).
"""

import hashlib

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from componentize_py_types import Err
from wit_world.exports import compiler as wit

#: The text is not YAML.
SYNTAX = 400
#: The workflow asked for is not in the source.
NOT_FOUND = 404
#: The YAML is not a valid workflow.
INVALID = 422
#: Unexpected failures of this plugin (a bug here, not in the source).
INTERNAL = 500

KINDS = {
    "agent": wit.NodeKind.AGENT,
    "compute": wit.NodeKind.COMPUTE,
    "condition": wit.NodeKind.CONDITION,
    "parallel": wit.NodeKind.PARALLEL,
    "transform": wit.NodeKind.TRANSFORM,
    "hitl": wit.NodeKind.HITL,
}
WORKFLOW_KEYS = ("metadata", "nodes")
METADATA_KEYS = ("name", "description", "version")
NODE_KEYS = ("id", "type", "role", "goal", "tool_budget", "next")


class Invalid(Exception):
    """A problem in the source, at a YAML node (its line and column)."""

    def __init__(self, code, message, node=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.node = node

    def to_wit(self):
        mark = self.node.start_mark if self.node is not None else None
        return wit.CompileError(
            code=self.code,
            message=self.message,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        )


def compose(source):
    """The source's node tree; a ``MarkedYAMLError`` becomes a 400 naming the line."""
    try:
        return yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = " ".join(p for p in (e.context, e.problem) if p)
        raise Err(
            wit.CompileError(
                code=SYNTAX,
                message=f"invalid YAML: {what}",
                line=mark.line + 1 if mark else None,
                column=mark.column + 1 if mark else None,
            )
        )
    except yaml.YAMLError as e:  # e.g. a reader error on a control character
        raise Err(wit.CompileError(code=SYNTAX, message=f"invalid YAML: {e}", line=None, column=None))


def mapping(node, what, allowed=None):
    """The entries of a mapping node as ``{key: (key_node, value_node)}``, in order;
    duplicate keys and (with ``allowed``) unknown keys are errors at the key's line."""
    if not isinstance(node, MappingNode):
        raise Invalid(INVALID, f"{what} must be a mapping", node)
    entries = {}
    for key_node, value_node in node.value:
        key = scalar(key_node, f"a key of {what}", str)
        if key in entries:
            raise Invalid(INVALID, f"{what} has `{key}` twice", key_node)
        if allowed is not None and key not in allowed:
            raise Invalid(
                INVALID,
                f"{what} has an unknown field `{key}` (expected one of: {', '.join(allowed)})",
                key_node,
            )
        entries[key] = (key_node, value_node)
    return entries


def scalar(node, what, kind):
    """The value of a scalar node, which must be of Python type ``kind``."""
    value = SafeConstructor().construct_object(node) if isinstance(node, ScalarNode) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Invalid(INVALID, f"{what} must be a {kind.__name__}", node)
    return value


def optional(entries, key, what, kind):
    return scalar(entries[key][1], f"{what}: `{key}`", kind) if key in entries else None


def required(entries, key, what, kind, at):
    if key not in entries:
        raise Invalid(INVALID, f"{what} is missing `{key}`", at)
    return scalar(entries[key][1], f"{what}: `{key}`", kind)


def node_of(item, what):
    """One node of the graph, and the YAML node of each `next` entry (for line numbers)."""
    entries = mapping(item, what, NODE_KEYS)
    node_id = required(entries, "id", what, str, item)
    what = f"node `{node_id}`"
    kind_name = required(entries, "type", what, str, item)
    if kind_name not in KINDS:
        raise Invalid(
            INVALID,
            f"{what} has an unknown type `{kind_name}` (expected one of: {', '.join(KINDS)})",
            entries["type"][1],
        )
    budget = optional(entries, "tool_budget", what, int)
    if budget is not None and not 0 <= budget < 2**32:
        raise Invalid(INVALID, f"{what}: `tool_budget` must be 0 to 4294967295", entries["tool_budget"][1])
    next_nodes = []
    if "next" in entries:
        sequence = entries["next"][1]
        if not isinstance(sequence, SequenceNode):
            raise Invalid(INVALID, f"{what}: `next` must be a list of node ids", sequence)
        next_nodes = [(scalar(n, f"{what}: an entry of `next`", str), n) for n in sequence.value]
    node = wit.Node(
        id=node_id,
        kind=KINDS[kind_name],
        role=optional(entries, "role", what, str),
        goal=optional(entries, "goal", what, str),
        tool_budget=budget,
        next=[n for n, _ in next_nodes],
    )
    return node, item, next_nodes


def pick(workflows, wanted, root):
    """The workflow `wanted`, or the only one when none is named: (name, key, value)."""
    names = ", ".join(sorted(workflows))
    if wanted is not None:
        if wanted not in workflows:
            raise Invalid(NOT_FOUND, f"no workflow `{wanted}` in the source; it defines: {names}")
        key_node, value_node = workflows[wanted]
        return wanted, key_node, value_node
    if not workflows:
        raise Invalid(INVALID, "the source's `workflows` table is empty", root)
    if len(workflows) > 1:
        raise Invalid(NOT_FOUND, f"the source defines several workflows ({names}): name the one to compile")
    (name, (key_node, value_node)), = workflows.items()
    return name, key_node, value_node


def check_graph(name, nodes):
    """Unique node ids, and every `next` naming a node of the workflow."""
    ids = set()
    for node, at, _ in nodes:
        if node.id in ids:
            raise Invalid(INVALID, f"workflow `{name}`: two nodes have the id `{node.id}`", at)
        ids.add(node.id)
    for node, _, next_nodes in nodes:
        for target, at in next_nodes:
            if target not in ids:
                raise Invalid(
                    INVALID,
                    f"workflow `{name}`: node `{node.id}` goes to `{target}`, which is not a node of the workflow",
                    at,
                )


def compile_workflow(source, workflow_name, validate):
    root = compose(source)
    if root is None:
        raise Invalid(INVALID, "the source is empty: expected a `workflows` table")
    top = mapping(root, "the source", ("workflows",))
    if "workflows" not in top:
        raise Invalid(INVALID, "the source is missing `workflows`", root)
    workflows = mapping(top["workflows"][1], "`workflows`")
    name, key_node, body = pick(workflows, workflow_name, root)
    what = f"workflow `{name}`"
    entries = mapping(body, what, WORKFLOW_KEYS)
    meta = mapping(entries["metadata"][1], f"{what}: `metadata`", METADATA_KEYS) if "metadata" in entries else {}
    if "nodes" not in entries:
        raise Invalid(INVALID, f"{what} is missing `nodes`", key_node)
    sequence = entries["nodes"][1]
    if not isinstance(sequence, SequenceNode):
        raise Invalid(INVALID, f"{what}: `nodes` must be a list", sequence)
    nodes = [node_of(item, f"{what}: node {i + 1}") for i, item in enumerate(sequence.value)]
    if validate:
        check_graph(name, nodes)
    if not nodes:
        raise Invalid(INVALID, f"{what} has no nodes", sequence)
    return wit.CompiledWorkflow(
        name=name,
        metadata=wit.Metadata(
            name=optional(meta, "name", f"{what}: metadata", str) or name,
            description=optional(meta, "description", f"{what}: metadata", str),
            version=optional(meta, "version", f"{what}: metadata", str),
        ),
        entry=nodes[0][0].id,
        nodes=[node for node, _, _ in nodes],
        edges=[wit.Edge(from_node=node.id, to_node=to) for node, _, _ in nodes for to in node.next],
    )


class Compiler:
    """The exported ``compiler`` interface."""

    def compile(self, source, workflow_name, validate):
        try:
            return compile_workflow(source, workflow_name, validate)
        except Invalid as e:
            raise Err(e.to_wit())
        except Err:
            raise
        except Exception as e:  # a bug here: an error, not a trap, so the host carries on
            raise Err(wit.CompileError(code=INTERNAL, message=f"{type(e).__name__}: {e}", line=None, column=None))

    def validate_source(self, source):
        try:
            yaml.compose(source, Loader=yaml.SafeLoader)
            return True
        except yaml.YAMLError:
            return False

    def cache_key(self, source):
        return "yaml-sha256:" + hashlib.sha256(source.encode("utf-8")).hexdigest()
