//! count-vowels exactly as `examples/count-vowels` does it (the Airlock component): parse
//! `{"text": …}`, count `aeiouAEIOU` by `char`, keep a running total, answer
//! `{"count":…,"total":…,"vowels":"aeiouAEIOU"}`. The native floor, the subprocess plugin
//! and the Extism plugin all call this, so every peer does the same work per call.

use serde::{Deserialize, Serialize};

pub const VOWELS: &str = "aeiouAEIOU";

#[derive(Deserialize)]
pub struct CountArgs {
    pub text: String,
}

#[derive(Serialize)]
pub struct Counted {
    pub count: u64,
    pub total: u64,
    pub vowels: &'static str,
}

/// Vowels in `text`, by a `match` as `examples/count-vowels` does: `VOWELS.contains(c)`
/// would make the work depend on the literal's alignment in each build (see the example).
pub fn count(text: &str) -> u64 {
    text.chars().filter(|&c| is_vowel(c)).count() as u64
}

/// One of [`VOWELS`].
pub fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'A' | 'E' | 'I' | 'O' | 'U')
}

/// One call: `arguments` is the tool's JSON arguments; `total` the caller's running total.
pub fn count_vowels(total: &mut u64, arguments: &str) -> Result<String, String> {
    let args: CountArgs =
        serde_json::from_str(arguments).map_err(|e| format!("invalid arguments: {e}"))?;
    Ok(counted(total, &args.text))
}

/// The answer for `text`, already parsed out of the arguments.
pub fn counted(total: &mut u64, text: &str) -> String {
    let count = count(text);
    *total += count;
    serde_json::to_string(&Counted {
        count,
        total: *total,
        vowels: VOWELS,
    })
    .expect("serialises")
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts() {
        let mut total = 0;
        let out = super::count_vowels(&mut total, r#"{"text":"Hello, World AEIOU"}"#).unwrap();
        assert_eq!(out, r#"{"count":8,"total":8,"vowels":"aeiouAEIOU"}"#);
        let out = super::count_vowels(&mut total, r#"{"text":"a"}"#).unwrap();
        assert_eq!(out, r#"{"count":1,"total":9,"vowels":"aeiouAEIOU"}"#);
    }
}
