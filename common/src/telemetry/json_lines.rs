//! The production log format: one flat JSON object per line, written
//! straight into the line buffer.
//!
//! tracing-subscriber's own JSON formatter re-parses every enclosing span's
//! fields with serde_json for every event and builds maps to print them; under
//! load that was the largest single cost of a request (about a sixth of the
//! CPU of `GET /api/health`). Here the span fields, which `JsonFields`
//! renders once as a JSON object when the span opens, are spliced in as they
//! are, and event fields are escaped as they are written.
//!
//! `{"timestamp":"…","level":"INFO","fly_region":"ams",…,"target":"…",
//!   "message":"…",<event fields>,"spans":[{"name":"request",<span fields>}]}`

use std::fmt::{self, Write};

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields,
        format::Writer,
        time::{FormatTime, SystemTime},
    },
    registry::LookupSpan,
};

pub struct JsonLines {
    /// The Fly fields, each followed by a comma: `"fly_region":"ams",`.
    pub tags: String,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        write!(
            writer,
            "\",\"level\":\"{}\",{}\"target\":",
            meta.level(),
            self.tags
        )?;
        write_json_str(&mut writer, meta.target())?;

        let mut fields = FieldWriter {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;

        if let Some(scope) = ctx.event_scope() {
            writer.write_str(",\"spans\":[")?;
            for (i, span) in scope.from_root().enumerate() {
                if i > 0 {
                    writer.write_char(',')?;
                }
                writer.write_str("{\"name\":")?;
                write_json_str(&mut writer, span.name())?;
                let extensions = span.extensions();
                // `JsonFields` stored `{"key":value,...}`; its inside goes
                // after the name. Anything else (another formatter's text)
                // is kept as one string rather than trusted as JSON.
                if let Some(stored) = extensions.get::<FormattedFields<N>>() {
                    let stored = stored.fields.as_str();
                    match stored.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some("") => {}
                        Some(inner) => write!(writer, ",{inner}")?,
                        None if stored.is_empty() => {}
                        None => {
                            writer.write_str(",\"fields\":")?;
                            write_json_str(&mut writer, stored)?;
                        }
                    }
                }
                writer.write_char('}')?;
            }
            writer.write_char(']')?;
        }
        writer.write_str("}\n")
    }
}

/// Writes each event field as `,"name":value`.
struct FieldWriter<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl FieldWriter<'_, '_> {
    fn write(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            self.writer.write_char(',')?;
            write_json_str(self.writer, field.name())?;
            self.writer.write_char(':')?;
            value(self.writer)
        })();
    }
}

impl Visit for FieldWriter<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, |w| write_json_str(w, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.write(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.write(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.write(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: those go out as strings.
        if value.is_finite() {
            self.write(field, |w| write!(w, "{value}"));
        } else {
            self.write(field, |w| write!(w, "\"{value}\""));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.write(field, |w| write_json_display(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, |w| {
            w.write_char('"')?;
            write!(Escaped(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

fn write_json_display(w: &mut Writer<'_>, value: &dyn fmt::Display) -> fmt::Result {
    w.write_char('"')?;
    write!(Escaped(w), "{value}")?;
    w.write_char('"')
}

fn write_json_str(w: &mut Writer<'_>, value: &str) -> fmt::Result {
    w.write_char('"')?;
    Escaped(w).write_str(value)?;
    w.write_char('"')
}

/// Escapes what it is given for the inside of a JSON string.
struct Escaped<'a, 'w>(&'a mut Writer<'w>);

impl Write for Escaped<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut plain = 0;
        for (i, byte) in s.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&s[plain..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            plain = i + 1;
        }
        self.0.write_str(&s[plain..])
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use serde_json::Value;
    use tracing_subscriber::fmt::{MakeWriter, format::JsonFields};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;

        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    /// Runs `emit` under a JSON-lines subscriber; returns each line parsed.
    fn lines(tags: &str, emit: impl FnOnce()) -> Vec<Value> {
        let out = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLines { tags: tags.into() })
            .fmt_fields(JsonFields::new())
            .with_writer(out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = out.0.lock().expect("log buffer").clone();
        let text = String::from_utf8(bytes).expect("utf-8 log lines");
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[derive(Debug)]
    #[allow(dead_code)] // read through Debug only
    struct Probe {
        url: &'static str,
    }

    #[test]
    fn an_event_is_one_flat_object_with_its_spans() {
        let got = lines(r#""fly_region":"ams","#, || {
            let outer = tracing::info_span!("request", method = "GET", request_id = "r-1");
            let _outer = outer.enter();
            let inner = tracing::info_span!("check", attempt = 2_u64);
            let _inner = inner.enter();
            tracing::warn!(
                status = 503_u16,
                ok = false,
                ratio = 0.5,
                probe = ?Probe { url: "http://x/\"q\"" },
                "target said \"no\"\n\tthen\u{1} hung up"
            );
        });
        assert_eq!(got.len(), 1);
        let line = &got[0];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["fly_region"], "ams");
        assert_eq!(line["target"], module_path!());
        assert_eq!(line["message"], "target said \"no\"\n\tthen\u{1} hung up");
        assert_eq!(line["status"], 503);
        assert_eq!(line["ok"], false);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["probe"], r#"Probe { url: "http://x/\"q\"" }"#);
        assert!(
            line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        assert_eq!(
            line["spans"],
            serde_json::json!([
                {"name": "request", "method": "GET", "request_id": "r-1"},
                {"name": "check", "attempt": 2},
            ])
        );
    }

    #[test]
    fn an_event_outside_spans_has_no_span_list_and_odd_numbers_stay_json() {
        let got = lines("", || {
            tracing::info!(nan = f64::NAN, big = u64::MAX, neg = -3_i64, "plain");
        });
        let line = &got[0];
        assert_eq!(line["message"], "plain");
        assert_eq!(line["nan"], "NaN");
        assert_eq!(line["big"], u64::MAX);
        assert_eq!(line["neg"], -3);
        assert!(line.get("spans").is_none(), "{line}");
        assert!(line.get("fly_region").is_none(), "{line}");
    }

    #[test]
    fn errors_are_written_with_their_display() {
        let err = io::Error::other("disk \"full\"");
        let got = lines("", || {
            tracing::error!(
                error = &err as &(dyn std::error::Error + 'static),
                "write failed"
            );
        });
        assert_eq!(got[0]["error"], "disk \"full\"");
    }
}
