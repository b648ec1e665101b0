//! The report's targets table: each performance target (issue #21's, which replaced most of
//! issue #6's, and issue #18's for the usage counters), whether this run meets it, how sure
//! that is (the round-by-round band) and whether this machine could meet it at all (the
//! ceiling).

use std::fmt::Write as _;

use super::{Results, ratio};
use crate::catalogue::{self, Id};

/// `numerator ÷ denominator` of the medians, held against `goal`.
struct Target {
    what: String,
    numerator: Id,
    denominator: Id,
    goal: f64,
    /// The ratio must reach the goal (else stay under it).
    at_least: bool,
    /// What zero Airlock overhead would give on this machine.
    ceiling: Option<Ceiling>,
}

/// How a target's ceiling is measured.
#[derive(Clone, Copy)]
enum Ceiling {
    /// The same ratio with the raw floor (or the guarantee floor) in Airlock's place.
    Ratio(Id, Id),
    /// A floor target's: the floor plus the host-side work every such call must do (its
    /// schema check and JSON handling, measured alone), over the floor.
    Work { work: Id, floor: Id },
}

impl Target {
    fn met(&self, r: f64) -> bool {
        if self.at_least {
            r >= self.goal
        } else {
            r <= self.goal
        }
    }
}

fn target(
    what: impl Into<String>,
    (numerator, denominator): (Id, Id),
    goal: f64,
    at_least: bool,
    ceiling: Option<Ceiling>,
) -> Target {
    Target {
        what: what.into(),
        numerator,
        denominator,
        goal,
        at_least,
        ceiling,
    }
}

impl Results {
    /// The targets; Extism is compared in its fastest configuration with fuel at 96 B.
    fn targets(&self) -> Vec<Target> {
        let mut all = Vec::new();
        for s in &super::SIZES {
            all.push(target(
                format!("warm count-vowels {} ≤ 1.15× the guarantee floor", s.label),
                (s.airlock, s.floor),
                1.15,
                false,
                Some(Ceiling::Work {
                    work: s.host_json,
                    floor: s.floor,
                }),
            ));
        }
        for s in &super::SIZES {
            all.push(target(
                format!(
                    "the same, JSON text in and out (`call_tool_json`), {}",
                    s.label
                ),
                (s.airlock_json, s.floor),
                1.15,
                false,
                Some(Ceiling::Work {
                    work: s.host_text,
                    floor: s.floor,
                }),
            ));
        }
        let fastest96 = self.fastest_extism();
        for (s, goal) in super::SIZES.iter().zip([2.0, 1.0, 1.3, 1.0]) {
            let extism = match s.label {
                "96 B" => fastest96,
                _ => s.extism_fuel,
            };
            all.push(target(
                format!(
                    "{}: ≥ {goal}× faster than Extism with fuel (`{}`)",
                    s.label,
                    extism.name()
                ),
                (extism, s.airlock),
                goal,
                true,
                Some(Ceiling::Ratio(extism, s.floor)),
            ));
        }
        // Issue #15: a dynamic JSON call of a custom world's export against the typed call.
        for (size, dynamic, typed) in [
            ("96 B", Id::Dynamic96, Id::Typed96),
            ("10 KiB", Id::Dynamic10k, Id::Typed10k),
        ] {
            all.push(target(
                format!("{size}: a dynamic JSON call ≤ 1.5× the typed call of the same export (issue #15)"),
                (dynamic, typed),
                1.5,
                false,
                None,
            ));
        }
        // Issue #18: what the per-plugin usage counters cost a warm call.
        for (input, on, off) in catalogue::usage_pairs() {
            all.push(target(
                format!(
                    "usage counters cost ≤ 1.03× (issue #18), warm count-vowels {input}: on ÷ off"
                ),
                (on, off),
                1.03,
                false,
                None,
            ));
        }
        all.extend([
            target(
                "fresh-instance call ≤ 1.2× raw `InstancePre` + pooling instantiate-and-call",
                (Id::AirlockFresh96, Id::RawFreshPool96),
                1.2,
                false,
                None,
            ),
            target(
                "the same against the raw fresh floor with Airlock's pool setting (`table_keep_resident`)",
                (Id::AirlockFresh96, Id::RawFreshPoolTuned96),
                1.2,
                false,
                None,
            ),
            target(
                "throughput 1 → 2 callers ≥ 1.9×",
                (Id::TpAirlock1, Id::TpAirlock2),
                1.9,
                true,
                Some(Ceiling::Ratio(Id::TpNative1, Id::TpNative2)),
            ),
            target(
                "≥ 5× faster than a persistent stdio JSON-RPC subprocess",
                (Id::Stdio96, Id::Airlock96),
                5.0,
                true,
                Some(Ceiling::Ratio(Id::Stdio96, Id::Floor96)),
            ),
            target(
                "≥ 300× faster than spawn-per-call (issue #6)",
                (Id::Spawn96, Id::Airlock96),
                300.0,
                true,
                Some(Ceiling::Ratio(Id::Spawn96, Id::Raw96)),
            ),
            target(
                "guard: limits overhead on the compute-bound plugin ≤ 1.05× (Airlock ÷ raw)",
                (Id::AirlockSha, Id::RawSha),
                1.05,
                false,
                Some(Ceiling::Ratio(Id::RawAsyncShaLimits, Id::RawSha)),
            ),
        ]);
        all
    }

    pub(super) fn targets_table(&self, out: &mut String) {
        out.push_str(
            "\n**Targets** (issue #21). Measured = ratio of the medians; in brackets \
                      the p25 – p75 of the same ratio taken round by round. Fastest samples = \
                      the same ratio of the two benchmarks' 10th percentiles, the rounds least \
                      disturbed by the rest of a shared machine (time per call only).\n\n",
        );
        out.push_str(
            "| target | measured | fastest samples | result | ceiling: the same ratio with the floor in Airlock's place (throughput: the machine's own 1 → 2 scaling, native; the floor targets: the floor plus the call's schema check and JSON work, measured alone, ÷ the floor) |\n\
             |---|---:|---:|---|---:|\n",
        );
        for t in self.targets() {
            self.target_row(out, &t);
        }
        self.load_target(out);
        self.rss_target(out);
        self.polyglot_targets(out);
    }

    /// Issue #14: a cached load of a Python or JS plugin ≤ 10 ms; a warm Python call within
    /// 10× the Rust one.
    fn polyglot_targets(&self, out: &mut String) {
        let row = |lang: &str| self.polyglot.iter().find(|r| r.lang == lang);
        let verdict = |met: bool| if met { "**pass**" } else { "**miss**" };
        for lang in ["Python", "JavaScript"] {
            if let Some(r) = row(lang) {
                let _ = writeln!(
                    out,
                    "| cached load + start of a {lang} plugin ≤ 10 ms | {} | — | {} | — |",
                    super::time(r.cached.as_nanos() as f64),
                    verdict(r.cached <= std::time::Duration::from_millis(10))
                );
            }
        }
        if let (Some(rust), Some(python)) = (row("Rust"), row("Python")) {
            let r = python.warm.as_secs_f64() / rust.warm.as_secs_f64();
            let _ = writeln!(
                out,
                "| warm Python call ≤ 10× the Rust one | {} | — | {} | — |",
                super::ratio(r),
                verdict(r <= 10.0)
            );
        }
    }

    /// Extism's fastest warm configuration with fuel at 96 B in this run: the one Airlock
    /// is compared with.
    fn fastest_extism(&self) -> Id {
        [Id::ExtismFuel96, Id::ExtismLimits96]
            .into_iter()
            .filter(|id| self.stats.contains_key(id))
            .min_by(|a, b| self.median(*a).total_cmp(&self.median(*b)))
            .unwrap_or(Id::ExtismFuel96)
    }

    fn target_row(&self, out: &mut String, t: &Target) {
        if !self.stats.contains_key(&t.numerator) || !self.stats.contains_key(&t.denominator) {
            return;
        }
        let (r, p) = self.ratio(t.numerator, t.denominator);
        let band = p.map_or(String::new(), |p| {
            format!(" [{} – {}]", ratio(p.p25), ratio(p.p75))
        });
        let straddles = p.is_some_and(|p| p.p25 < t.goal && p.p75 > t.goal);
        let verdict = match (t.met(r), straddles) {
            (true, false) => "**pass**",
            (true, true) => "**pass** (borderline: the round-by-round band straddles the target)",
            (false, false) => "**miss**",
            (false, true) => "**miss** (borderline: the round-by-round band straddles the target)",
        };
        // Three decimals where two would round across the target.
        let shown = match format!("{r:.2}").parse::<f64>() {
            Ok(rounded) if (rounded >= t.goal) != (r >= t.goal) => format!("{r:.3}×"),
            _ => ratio(r),
        };
        let (what, ceiling, fastest) = (&t.what, self.ceiling(t), self.fastest(t));
        let _ = writeln!(
            out,
            "| {what} | {shown}{band} | {fastest} | {verdict} | {ceiling} |"
        );
    }

    /// The target's ratio of the two benchmarks' 10th percentiles: their fast rounds, but
    /// not a single glitched sample. "—" for calls per second, where fast is large.
    fn fastest(&self, t: &Target) -> String {
        let per_call = |id: Id| id.row().table != catalogue::Table::Throughput;
        let p10 = |id: Id| {
            let mut samples = self.samples.get(&id)?.clone();
            samples.sort_by(f64::total_cmp);
            Some(crate::harness::quantile(&samples, 0.1))
        };
        match (p10(t.numerator), p10(t.denominator)) {
            (Some(a), Some(b)) if per_call(t.numerator) && per_call(t.denominator) => ratio(a / b),
            _ => "—".into(),
        }
    }

    /// The ceiling column: the target's ratio with zero Airlock overhead (see [`Ceiling`]).
    fn ceiling(&self, t: &Target) -> String {
        let measured = |id: &Id| self.stats.contains_key(id);
        let c = match t.ceiling {
            Some(Ceiling::Ratio(x, y)) if measured(&x) && measured(&y) => self.ratio(x, y).0,
            Some(Ceiling::Work { work, floor }) if measured(&work) && measured(&floor) => {
                1.0 + self.median(work) / self.median(floor)
            }
            _ => return "—".into(),
        };
        let reach = if t.met(c) {
            ""
        } else {
            " (target out of reach)"
        };
        format!("{}{reach}", ratio(c))
    }

    /// Cold vs cached load, measured outside the harness: the component that gains least.
    fn load_target(&self, out: &mut String) {
        let gain = |r: &crate::load::LoadRow| r.cold.as_secs_f64() / r.cached.as_secs_f64();
        let Some(worst) = self.loads.iter().min_by(|a, b| gain(a).total_cmp(&gain(b))) else {
            return;
        };
        let r = gain(worst);
        let verdict = if r >= 100.0 { "**pass**" } else { "**miss**" };
        let _ = writeln!(
            out,
            "| guard: cached load ≥ 100× faster than cold compile, every component (lowest: {}) | {} | — | {verdict} | — |",
            worst.name,
            ratio(r)
        );
    }

    fn rss_target(&self, out: &mut String) {
        let Some(r) = &self.rss else {
            return;
        };
        // All of the growth, linear memory included.
        let mib = r.per_plugin / 1048576.0;
        let verdict = if mib <= 1.0 { "**pass**" } else { "**miss**" };
        let _ = writeln!(
            out,
            "| guard: an idle loaded plugin ≤ 1 MiB RSS (all of its growth, linear memory included) | {mib:.2} MiB | — | {verdict} | — |"
        );
    }
}
