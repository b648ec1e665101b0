//! Parsers for human-friendly values used by the CLI, manifests and policies: durations (`500ms`, `5s`, `2m`), sizes
//! (`64MiB`, `1G`, `4096`), fuel (`1000000`, `off`).

use std::time::Duration;

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = split_number(text);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 500ms, 5s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit `{unit}` in `{text}`; use ms, s or m")),
    };
    // Deadlines beyond a day are mistakes (and would overflow clock arithmetic).
    match seconds <= 86_400.0 {
        true => Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}")),
        false => Err(format!("`{text}` is longer than a day")),
    }
}

/// [`parse_duration`] for a command-line flag, where a bare number is more likely a
/// mistake than seconds: `5s`, `500ms`, `2m`; `5` is refused with the spelling to use.
pub fn parse_duration_with_unit(text: &str) -> Result<Duration, String> {
    match split_number(text).1 {
        "" => Err(format!("`{text}` has no unit: write {text}s or {text}ms")),
        _ => parse_duration(text),
    }
}

/// [`parse_bytes`] for a linear-memory flag: a unit is required (`64MiB`; a bare `64`
/// would be 64 bytes), and less than one WebAssembly page (64 KiB) is refused, since no
/// component can run in it.
pub fn parse_memory_with_unit(text: &str) -> Result<usize, String> {
    if split_number(text).1.is_empty() {
        return Err(format!(
            "`{text}` has no unit: write {text}MiB or {text}KiB"
        ));
    }
    let bytes = parse_bytes(text)?;
    match bytes >= 64 << 10 {
        true => Ok(bytes),
        false => Err(format!(
            "`{text}` is less than one WebAssembly page (64KiB): no component runs in it"
        )),
    }
}

pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let (number, unit) = split_number(text);
    let value: usize = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 64MiB or 4096"))?;
    let scale: usize = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{text}`; use KiB, MiB or GiB"
            ));
        }
    };
    value
        .checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// `bytes` for people: `64 MiB`, `256 KiB`, `4096 B` (whole units only; otherwise bytes).
pub fn show_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// `millis` for people: `5 s`, `1.5 s`, `250 ms`.
pub fn show_millis(millis: u64) -> String {
    match millis {
        m if m >= 1000 && m % 1000 == 0 => format!("{} s", m / 1000),
        m if m >= 1000 => format!("{} s", m as f64 / 1000.0),
        m => format!("{m} ms"),
    }
}

/// A fuel budget; `None` is unmetered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fuel(pub Option<u64>);

pub fn parse_fuel(text: &str) -> Result<Fuel, String> {
    match text {
        "off" | "none" | "unlimited" => Ok(Fuel(None)),
        _ => text
            .replace('_', "")
            .parse()
            .map(|n| Fuel(Some(n)))
            .map_err(|_| format!("`{text}` is not a fuel amount (a whole number, or `off`)")),
    }
}

/// Serde helper: a size given as a number of bytes or as text with a unit (`64MiB`).
pub fn deserialize_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Size {
        Number(usize),
        Text(String),
    }
    match <Size as serde::Deserialize>::deserialize(d)? {
        Size::Number(n) => Ok(n),
        Size::Text(text) => parse_bytes(&text).map_err(serde::de::Error::custom),
    }
}

/// Serde helper: an optional duration given as text (`2s`).
pub fn optional_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Serde helper: an optional size (see [`deserialize_size`]).
pub fn optional_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    deserialize_size(d).map(Some)
}

fn split_number(text: &str) -> (&str, &str) {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    (&text[..split], text[split..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("1TB").is_err());
        assert_eq!(parse_fuel("off"), Ok(Fuel(None)));
        assert_eq!(parse_fuel("1_000"), Ok(Fuel(Some(1000))));
    }

    #[test]
    fn flags_need_a_unit_and_a_memory_that_can_hold_a_page() {
        let no_unit = parse_memory_with_unit("64").unwrap_err();
        assert!(no_unit.contains("64MiB"), "{no_unit}");
        assert!(
            parse_memory_with_unit("100B")
                .unwrap_err()
                .contains("64KiB")
        );
        assert_eq!(parse_memory_with_unit("64MiB"), Ok(64 << 20));
        assert!(parse_duration_with_unit("5").unwrap_err().contains("5s"));
        assert_eq!(parse_duration_with_unit("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(
            (show_bytes(64 << 20), show_bytes(4097)),
            ("64 MiB".into(), "4097 B".into())
        );
        assert_eq!(
            (show_millis(5000), show_millis(1500), show_millis(250)),
            ("5 s".into(), "1.5 s".into(), "250 ms".into())
        );
    }
}
