//! A small measurement harness. Each benchmark is a closure that runs `n` iterations and
//! returns the elapsed wall time. After a warm-up (which also picks a batch size giving
//! samples of about `sample` each), the benchmarks are sampled in interleaved rounds —
//! every round takes one sample of every benchmark, starting at a rotating position — so
//! the load of a shared machine falls on all of them alike, and the ratios of two rows can
//! be taken per round (paired). A row's value is the median of its samples (time per call).

use std::time::{Duration, Instant};

use crate::catalogue::Id;

pub type Run<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

pub struct Bench<'a> {
    pub id: Id,
    /// Calls made per iteration (concurrent callers for throughput rows, else 1).
    pub calls_per_iter: u64,
    pub batch: u64,
    /// Time per call of each sample, in nanoseconds, one per round.
    pub samples: Vec<f64>,
    run: Run<'a>,
}

impl<'a> Bench<'a> {
    pub fn new(id: Id, calls_per_iter: u64, run: Run<'a>) -> Self {
        Bench {
            id,
            calls_per_iter,
            batch: 1,
            samples: Vec::new(),
            run,
        }
    }

    fn per_call(&self, elapsed: Duration, n: u64) -> f64 {
        elapsed.as_nanos() as f64 / (n * self.calls_per_iter) as f64
    }

    /// Runs the benchmark for about `warmup`, doubling the iterations, and sizes its batch
    /// so one sample takes about `sample`.
    pub fn warm_up(&mut self, warmup: Duration, sample: Duration) {
        let started = Instant::now();
        let mut n = 1;
        let mut per_call;
        loop {
            let elapsed = (self.run)(n);
            per_call = self.per_call(elapsed, n);
            if started.elapsed() >= warmup {
                break;
            }
            if elapsed < warmup / 4 {
                n *= 2;
            }
        }
        let per_iter = per_call * self.calls_per_iter as f64;
        self.batch = ((sample.as_nanos() as f64 / per_iter).ceil() as u64).max(1);
    }

    pub fn sample(&mut self) {
        let elapsed = (self.run)(self.batch);
        let per_call = self.per_call(elapsed, self.batch);
        self.samples.push(per_call);
    }

    pub fn stats(&self) -> Stats {
        Stats::of(&self.samples)
    }
}

/// Runs `rounds` interleaved rounds over every benchmark.
pub fn run_rounds(benches: &mut [Bench<'_>], rounds: usize, mut progress: impl FnMut(usize)) {
    let len = benches.len();
    for round in 0..rounds {
        for k in 0..len {
            benches[(round + k) % len].sample();
        }
        progress(round + 1);
    }
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Stats {
    pub median: f64,
    pub p25: f64,
    pub p75: f64,
    pub min: f64,
    pub n: usize,
}

impl Stats {
    pub fn of(values: &[f64]) -> Stats {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        Stats {
            median: quantile(&v, 0.5),
            p25: quantile(&v, 0.25),
            p75: quantile(&v, 0.75),
            min: v.first().copied().unwrap_or(f64::NAN),
            n: v.len(),
        }
    }
}

/// Linear-interpolated quantile of sorted values.
/// Quantile `q` (0–1) of `sorted`, interpolated between neighbours; NaN when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Ratios `a[r] / b[r]` of samples taken in the same round.
pub fn paired(a: &[f64], b: &[f64]) -> Stats {
    let ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    Stats::of(&ratios)
}
