//! The orchestrator's `docs` domain plugin (contract `orchestrator:domain/domain-plugin`,
//! WIT in `../wit/`): three phases turn a short spec into a markdown document.
//!
//! - `analyze` parses the spec (`{"spec": "…"}`): its title (the first line), metadata
//!   lines (`audience: operators`), free text (the summary) and topics (`- Name: point;
//!   point`).
//! - `outline` reads `analyze`'s output from the session context and derives the
//!   document's sections, each with a unique anchor.
//! - `write` reads `outline`'s output from the session context and writes the markdown.
//!
//! Each phase reads only what earlier phases left in the session (the orchestrator's
//! `GetPreviousPhaseOutput`), so `write` never parses the spec again. Everything is
//! deterministic: the same spec always gives the same document.

wit_bindgen::generate!({ path: "../wit", world: "domain", generate_all });

use exports::orchestrator::domain::domain_plugin::{Guest, Phase, PhaseError, RunContext};
use serde::{Deserialize, Serialize};

/// Bad input: trying again cannot help.
const BAD_INPUT: u32 = 1;
/// An earlier phase's output is missing or unreadable.
const MISSING_PHASE: u32 = 2;

/// `analyze`'s output.
#[derive(Serialize, Deserialize)]
struct Analysis {
    title: String,
    audience: Option<String>,
    summary: String,
    topics: Vec<Topic>,
    words: usize,
}

#[derive(Serialize, Deserialize)]
struct Topic {
    name: String,
    points: Vec<String>,
}

/// `outline`'s output.
#[derive(Serialize, Deserialize)]
struct Outline {
    title: String,
    sections: Vec<Section>,
}

#[derive(Serialize, Deserialize)]
struct Section {
    heading: String,
    anchor: String,
    points: Vec<String>,
}

#[derive(Deserialize)]
struct Input {
    spec: String,
}

struct Docs;

impl Guest for Docs {
    fn phases() -> Vec<Phase> {
        let phase = |name: &str, description: &str, order| Phase {
            name: name.into(),
            description: description.into(),
            order,
            timeout: 1_000,
            required: true,
            retryable: false,
            max_retries: 0,
        };
        vec![
            phase("analyze", "Parses the spec: title, audience, topics", 1),
            phase("outline", "Derives the sections from the analysis", 2),
            phase("write", "Writes the markdown from the outline", 3),
        ]
    }

    fn execute(phase: String, input: String, context: RunContext) -> Result<String, PhaseError> {
        let output = match phase.as_str() {
            "analyze" => to_json(&analyze(&spec_of(&input)?)?),
            "outline" => to_json(&outline(previous(&context, "analyze")?)),
            "write" => to_json(&write(&previous(&context, "outline")?)),
            other => return Err(bad(format!("no phase named `{other}`"))),
        };
        Ok(output)
    }
}

fn bad(message: String) -> PhaseError {
    PhaseError {
        code: BAD_INPUT,
        message,
        retryable: false,
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serialises")
}

fn spec_of(input: &str) -> Result<String, PhaseError> {
    serde_json::from_str::<Input>(input)
        .map(|i| i.spec)
        .map_err(|e| bad(format!("the input must be {{\"spec\": \"…\"}}: {e}")))
}

/// An earlier phase's output, from the session context (see the WIT's `run-context`).
fn previous<T: for<'de> Deserialize<'de>>(
    context: &RunContext,
    phase: &str,
) -> Result<T, PhaseError> {
    let key = format!("phase/{}/{phase}", context.domain);
    let missing = |why: String| PhaseError {
        code: MISSING_PHASE,
        message: format!("the `{phase}` phase's output ({key}) {why}"),
        retryable: false,
    };
    let text = airlock::plugin::context::get(&key)
        .ok_or_else(|| missing("is not in the session".into()))?;
    serde_json::from_str(&text).map_err(|e| missing(format!("is unreadable: {e}")))
}

fn analyze(spec: &str) -> Result<Analysis, PhaseError> {
    let mut lines = spec.lines().map(str::trim).filter(|l| !l.is_empty());
    let title = lines
        .next()
        .map(|l| l.trim_start_matches('#').trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("the spec is empty: its first line is the title".into()))?;
    let (mut audience, mut summary, mut topics) = (None, Vec::new(), Vec::new());
    for line in lines {
        if let Some(item) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
            topics.push(topic(item));
        } else if let Some(who) = metadata(line, "audience") {
            audience = Some(who.to_string());
        } else {
            summary.push(line);
        }
    }
    if topics.is_empty() {
        return Err(bad(
            "the spec names no topics: add lines like `- Install: copy the folder; pin it`".into(),
        ));
    }
    Ok(Analysis {
        words: spec.split_whitespace().count(),
        title,
        audience,
        summary: summary.join(" "),
        topics,
    })
}

/// `value` of a `name: value` line (the name in any case).
fn metadata<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let (key, value) = line.split_once(':')?;
    key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
}

/// `Name: point; point` → a topic; without a colon the whole line is its name.
fn topic(item: &str) -> Topic {
    let (name, rest) = item.split_once(':').unwrap_or((item, ""));
    let points = rest
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(sentence)
        .collect();
    Topic {
        name: name.trim().to_string(),
        points,
    }
}

/// `text` with a capital first letter and a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    let mut out = first.unwrap_or_default() + chars.as_str();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

fn outline(analysis: Analysis) -> Outline {
    let mut overview = Vec::new();
    if let Some(audience) = &analysis.audience {
        overview.push(format!("Written for {audience}."));
    }
    if !analysis.summary.is_empty() {
        overview.push(sentence(&analysis.summary));
    }
    let names: Vec<String> = analysis.topics.iter().map(|t| t.name.clone()).collect();
    overview.push(format!("Covers {}.", names.join(", ")));
    let mut anchors = Anchors::default();
    let mut sections = vec![Section {
        anchor: anchors.next("Overview"),
        heading: "Overview".into(),
        points: overview,
    }];
    for topic in analysis.topics {
        sections.push(Section {
            anchor: anchors.next(&topic.name),
            heading: topic.name,
            points: topic.points,
        });
    }
    Outline {
        title: analysis.title,
        sections,
    }
}

/// GitHub-style heading anchors: lower case, spaces to `-`, other punctuation dropped, a
/// repeated one numbered (`-1`, `-2`).
#[derive(Default)]
struct Anchors(std::collections::HashMap<String, usize>);

impl Anchors {
    fn next(&mut self, heading: &str) -> String {
        let slug: String = heading
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let seen = self.0.entry(slug.clone()).or_default();
        *seen += 1;
        match *seen {
            1 => slug,
            n => format!("{slug}-{}", n - 1),
        }
    }
}

/// `write`'s output.
#[derive(Serialize)]
struct Document {
    markdown: String,
    sections: usize,
}

fn write(outline: &Outline) -> Document {
    let mut md = format!("# {}\n\n## Contents\n\n", outline.title);
    for section in &outline.sections {
        md += &format!("- [{}](#{})\n", section.heading, section.anchor);
    }
    for section in &outline.sections {
        md += &format!("\n## {}\n\n", section.heading);
        if section.points.is_empty() {
            md += "_To be written._\n";
        }
        for point in &section.points {
            md += &format!("- {point}\n");
        }
    }
    Document {
        markdown: md,
        sections: outline.sections.len(),
    }
}

export!(Docs);
