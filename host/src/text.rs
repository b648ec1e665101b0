//! Showing text a plugin chose — descriptions, metadata, tool descriptions, health messages,
//! log records, captured stdout/stderr, error messages, program names it asked to run — on
//! the operator's terminal and in the host's logs, without letting it act on them.
//!
//! Such text is hostile: an ANSI escape can clear the screen and print a fake verdict, a CR or
//! LF can forge a whole log line, and Unicode bidi overrides or invisible characters can make
//! a line read differently from what it holds. [`escape`] (or its [`Untrusted`] `Display`
//! wrapper) is the one function every such output goes through. It replaces each character
//! in these Unicode general categories by a visible escape:
//!
//! - `Cc` controls (C0, DEL, C1): `\n`, `\r`, `\t`, else `\u{1b}`-style;
//! - `Cf` format characters: bidi embeddings, overrides and isolates (U+202A–U+202E,
//!   U+2066–U+2069), marks (U+200E, U+200F, U+061C), zero-width characters (U+200B–U+200D,
//!   U+2060, U+FEFF), soft hyphen, tag characters…;
//! - `Zl`, `Zp`: line and paragraph separators (U+2028, U+2029), which some terminals and
//!   log viewers break lines on;
//! - `Cn`: unassigned code points (a later Unicode may make them invisible);
//! - a few invisible letters and marks (Hangul fillers, the combining grapheme joiner).
//!
//! Everything else, other scripts and emoji included, is left alone, and so is `\`: the
//! escape is idempotent (`escape(escape(s)) == escape(s)`), so text escaped once (say, a
//! plugin's error message) is never escaped twice on its way to the terminal.
//!
//! JSON shown to an operator goes through [`to_json_pretty`] instead: serde escapes the
//! controls, and it writes the other characters above as `\uXXXX`, so the output is still
//! valid JSON, parses to exactly the same value, and shows nothing invisible.

use std::borrow::Cow;
use std::fmt;
use std::io;

use serde::Serialize;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// True for characters that must not reach a terminal or a log as they are.
///
/// ASCII is decided without a table (only C0 controls and DEL are unsafe there): escaping
/// runs over every byte a plugin logs, so the common case must cost a comparison.
pub fn is_unsafe(c: char) -> bool {
    use GeneralCategory::*;
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    matches!(
        c.general_category(),
        Control | Format | LineSeparator | ParagraphSeparator | Unassigned
    ) || matches!(
        c,
        '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
    )
}

/// `text` with every unsafe character (see the module docs) replaced by a visible escape:
/// `\n`, `\r`, `\t` or `\u{hex}`. Borrows when there is nothing to replace.
///
/// ```
/// use airlock::text::escape;
/// assert_eq!(escape("plain"), "plain");
/// assert_eq!(escape("\x1b[2JVerdict\r\n"), "\\u{1b}[2JVerdict\\r\\n");
/// assert_eq!(escape("abc\u{202E}fed"), "abc\\u{202e}fed");
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    match text.chars().any(is_unsafe) {
        false => Cow::Borrowed(text),
        true => Cow::Owned(Untrusted(text).to_string()),
    }
}

/// [`escape`] for a message the host composed over several lines (a list of refusals, a
/// manifest error with its snippet) that may quote plugin text: every character but `\n` is
/// escaped, and each further line is indented by `indent`, so a line feed the plugin
/// slipped in cannot start a line of its own at the margin.
///
/// ```
/// use airlock::text::escape_lines;
/// assert_eq!(escape_lines("denied:\n  - exec\x1b[2J", "  "), "denied:\n    - exec\\u{1b}[2J");
/// ```
pub fn escape_lines(text: &str, indent: &str) -> String {
    text.split('\n')
        .map(escape)
        .collect::<Vec<_>>()
        .join(&format!("\n{indent}"))
}

/// [`escape`] for bytes that should be UTF-8 (captured output): invalid sequences become
/// U+FFFD, then the text is escaped.
pub fn escape_bytes(bytes: &[u8]) -> String {
    escape(&String::from_utf8_lossy(bytes)).into_owned()
}

/// Text a plugin chose, shown escaped by `Display` (see [`escape`]); formats without
/// allocating, e.g. `println!("{}", Untrusted(&meta.description))`. Width and alignment
/// (`{:<20}`) apply to the escaped text.
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_some() {
            // Padding needs the final length: escape first, then pad.
            return f.pad(&escape(self.0));
        }
        for c in self.0.chars() {
            match (is_unsafe(c), c) {
                (false, c) => fmt::Write::write_char(f, c)?,
                (true, '\n') => f.write_str("\\n")?,
                (true, '\r') => f.write_str("\\r")?,
                (true, '\t') => f.write_str("\\t")?,
                (true, c) => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
        }
        Ok(())
    }
}

/// `value` as pretty-printed JSON for a terminal: valid JSON that parses to the same value,
/// with the characters [`escape`] would replace written as `\uXXXX` escapes (serde already
/// does so for controls; this adds bidi, invisible and separator characters).
///
/// # Errors
/// Whatever serialising `value` fails with (e.g. a map with non-string keys).
pub fn to_json_pretty(value: &impl Serialize) -> serde_json::Result<String> {
    let mut out = Vec::new();
    let formatter = SafeFormatter(serde_json::ser::PrettyFormatter::new());
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, formatter,
    ))?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// serde_json's pretty formatter, with unsafe characters in strings written as `\uXXXX`.
struct SafeFormatter<'a>(serde_json::ser::PrettyFormatter<'a>);

impl serde_json::ser::Formatter for SafeFormatter<'_> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (at, c) in fragment.char_indices() {
            if is_unsafe(c) {
                writer.write_all(&fragment.as_bytes()[start..at])?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
                start = at + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    // The rest delegates to the pretty formatter, which keeps the indentation state.
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "a\x1b[2J\x1b[HVerdict LOADS\r\nfake\u{202E}evil\u{200B}\u{2028}\u{FEFF}\u{E0001}\u{85}\x7f\t";

    #[test]
    fn escapes_controls_bidi_invisible_and_separators() {
        assert_eq!(
            escape(HOSTILE),
            "a\\u{1b}[2J\\u{1b}[HVerdict LOADS\\r\\nfake\\u{202e}evil\\u{200b}\\u{2028}\\u{feff}\\u{e0001}\\u{85}\\u{7f}\\t"
        );
        assert!(!escape(HOSTILE).chars().any(is_unsafe));
    }

    #[test]
    fn leaves_ordinary_text_alone_and_is_idempotent() {
        let ordinary = "Zählt Vokale — 数える ❤️ C:\\path";
        assert!(matches!(escape(ordinary), Cow::Borrowed(_)));
        let once = escape(HOSTILE).into_owned();
        assert_eq!(escape(&once), once);
    }

    #[test]
    fn keeps_the_host_s_lines_but_indents_them() {
        assert_eq!(
            escape_lines("refused:\n  - a\rb\nVerdict LOADS", "    "),
            "refused:\n      - a\\rb\n    Verdict LOADS"
        );
    }

    #[test]
    fn pads_the_escaped_text() {
        assert_eq!(format!("[{:<6}]", Untrusted("a\nb")), "[a\\nb  ]");
    }

    #[test]
    fn json_stays_valid_and_lossless_but_shows_nothing_invisible() {
        let value = serde_json::json!({"description": HOSTILE, "nested": [HOSTILE]});
        let text = to_json_pretty(&value).unwrap();
        assert!(!text.chars().any(|c| c != '\n' && is_unsafe(c)), "{text}");
        assert!(text.contains("\\u202e") && text.contains("\\udb40\\udc01"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            value
        );
        assert_eq!(
            to_json_pretty(&serde_json::json!({"a": [1]})).unwrap(),
            serde_json::to_string_pretty(&serde_json::json!({"a": [1]})).unwrap()
        );
    }
}
