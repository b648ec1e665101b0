//! `typed`: a component of a host's own WIT world (`fixture:typed`, in `wit/`), not
//! Airlock's. Its exports take and return every WIT type, so the tests can drive it through
//! the dynamic JSON call path and compare what comes back with what went in.

wit_bindgen::generate!({ path: "wit", world: "typed" });

use exports::fixture::typed::kitchen::{self, Color, Everything, Shape};

struct Typed;

/// This instance's `counter` calls.
static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl kitchen::Guest for Typed {
    fn echo(value: Everything) -> Everything {
        value
    }

    fn add(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }

    fn divide(a: f64, b: f64) -> Result<f64, String> {
        match b == 0.0 {
            true => Err("division by zero".into()),
            false => Ok(a / b),
        }
    }

    fn describe(shape: Shape, color: Color) -> String {
        let shape = match shape {
            Shape::Circle(r) => format!("circle of radius {r}"),
            Shape::Square(side) => format!("square of side {side}"),
            Shape::Dot => "dot".to_string(),
            Shape::Named(point) => format!("{} at ({}, {})", point.label, point.x, point.y),
        };
        let color = match color {
            Color::Red => "red",
            Color::Green => "green",
            Color::DarkBlue => "dark-blue",
        };
        format!("{color} {shape}")
    }

    fn spin() {
        let mut x = 0u64;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    fn nothing() {}

    fn counter() -> u32 {
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    }

    fn count_vowels(text: String) -> u32 {
        // A `match`, not `str::contains`: the same work at any alignment of the literal
        // (issue #21's equal-work finding).
        text.chars()
            .filter(|c| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'A' | 'E' | 'I' | 'O' | 'U'))
            .count() as u32
    }
}

/// `totals`: a resource whose state is the instance's.
impl exports::fixture::typed::totals::Guest for Typed {
    type Tally = Tally;

    fn finish(tally: exports::fixture::typed::totals::Tally) -> u32 {
        tally.get::<Tally>().0.get()
    }
}

struct Tally(std::cell::Cell<u32>);

impl exports::fixture::typed::totals::GuestTally for Tally {
    fn new(start: u32) -> Self {
        Tally(std::cell::Cell::new(start))
    }

    fn add(&self, n: u32) -> u32 {
        self.0.set(self.0.get().wrapping_add(n));
        self.0.get()
    }

    fn total(&self) -> u32 {
        self.0.get()
    }
}

/// The world's own export.
impl Guest for Typed {
    fn version() -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }
}

export!(Typed);
