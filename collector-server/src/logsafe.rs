//! Values of outside origin in the log: one escaping helper, [`esc`].
//!
//! Anything a client chose — field names inside serde's error messages, host names,
//! agent ids from a URL, error texts of TLS and HTTP — goes into a log field through
//! [`esc`], which escapes control characters (a `\n` becomes the two characters `\n`,
//! so no one can forge a log line), Unicode line separators and bidirectional
//! overrides, and cuts the value to [`MAX_LOG_CHARS`] characters. The log formatter
//! ([`fields`]) applies the same escaping to every field, so a call site that forgets
//! [`esc`] still cannot break a line; [`esc`] adds the length cut.

use std::fmt;

use tracing_subscriber::field::MakeExt as _;

/// How many characters of an outside value one log field carries.
pub const MAX_LOG_CHARS: usize = 200;

/// A value of outside origin, escaped and cut for the log (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a> {
    text: &'a str,
    max: usize,
}

/// Escapes and cuts `text` for a log field: `tracing::info!(hostname = %esc(&h), …)`.
pub fn esc(text: &str) -> Escaped<'_> {
    Escaped {
        text,
        max: MAX_LOG_CHARS,
    }
}

/// Whether `c` is written as an escape: controls (C0, DEL, C1), the line and
/// paragraph separators, and the bidirectional controls that reorder what follows.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `backslash`: also double backslashes, so that an escape in the output cannot be
/// confused with the same characters in the input ([`esc`] does; the formatter does
/// not, so that what [`esc`] wrote is not escaped twice).
fn write_escaped(f: &mut impl fmt::Write, text: &str, max: usize, backslash: bool) -> fmt::Result {
    for (n, c) in text.chars().enumerate() {
        if n == max {
            return write!(f, "…[{} bytes]", text.len());
        }
        match c {
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\\' if backslash => f.write_str("\\\\")?,
            c if needs_escape(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.text, self.max, true)
    }
}

/// The log formatter's field writer: `name=value` pairs separated by spaces, every
/// value's control characters escaped like [`esc`] (not cut, and backslashes left as
/// they are: the formatter does not know where a value came from), the message first
/// and unnamed.
pub fn fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = format!("{value:?}");
        let mut out = String::with_capacity(text.len() + field.name().len() + 2);
        if field.name() != "message" {
            out.push_str(field.name());
            out.push('=');
        }
        let _ = write_escaped(&mut out, &text, usize::MAX, false);
        writer.write_str(&out)
    })
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_long_values_cut() {
        assert_eq!(esc("web-1").to_string(), "web-1");
        assert_eq!(
            esc("a\nINFO forged line\r\t\\").to_string(),
            "a\\nINFO forged line\\r\\t\\\\"
        );
        assert_eq!(esc("\u{1b}[31mred").to_string(), "\\u{1b}[31mred");
        assert_eq!(
            esc("x\u{2028}y\u{202e}z").to_string(),
            "x\\u{2028}y\\u{202e}z"
        );
        assert_eq!(esc("é ü 日本").to_string(), "é ü 日本");
        let long = "é".repeat(500);
        let cut = esc(&long).to_string();
        assert!(cut.starts_with(&"é".repeat(MAX_LOG_CHARS)));
        assert!(cut.ends_with("…[1000 bytes]"), "{cut}");
        assert!(!cut.contains('\n'));
    }

    #[test]
    fn the_formatter_escapes_every_field() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(fields())
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let raw = "x\nERROR forged";
            tracing::info!(unescaped = %raw, escaped = %esc(raw), n = 3, "refused");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("refused unescaped=x\\nERROR forged escaped=x\\nERROR forged n=3"),
            "{text}"
        );
    }
}
