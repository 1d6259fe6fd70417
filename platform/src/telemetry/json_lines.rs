//! The production log format: one flat JSON object per line, written
//! straight into the line buffer.
//!
//! Span fields are rendered once, when the span opens, as the inside of a
//! JSON object, and spliced into each line as they are; event fields are
//! escaped as they are written. tracing-subscriber's own JSON formatter
//! re-parses every span's fields for every event, which docs/BENCHMARKS.md
//! measures against this.
//!
//! `{"timestamp":"…","level":"INFO","fly_region":"ams",…,"target":"…",
//!   "message":"…",<event fields>,"spans":[{"name":"request",<span fields>}]}`

use std::fmt::{self, Write};

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
    span::Record,
};
use tracing_subscriber::{
    field::RecordFields,
    fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, format::Writer},
    registry::LookupSpan,
};

pub struct JsonLines {
    /// The Fly fields, each followed by a comma: `"fly_region":"ams",`.
    pub tags: String,
}

impl<S> FormatEvent<S, JsonSpanFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonSpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        writer.write_str(&crate::time::rfc3339(&chrono::Utc::now()))?;
        write!(
            writer,
            "\",\"level\":\"{}\",{}\"target\":",
            meta.level(),
            self.tags
        )?;
        write_json_str(&mut writer, meta.target())?;
        record_fields(&mut writer, event, false)?;

        if let Some(scope) = ctx.event_scope() {
            writer.write_str(",\"spans\":[")?;
            for (i, span) in scope.from_root().enumerate() {
                if i > 0 {
                    writer.write_char(',')?;
                }
                writer.write_str("{\"name\":")?;
                write_json_str(&mut writer, span.name())?;
                let extensions = span.extensions();
                if let Some(stored) = extensions.get::<FormattedFields<JsonSpanFields>>()
                    && !stored.fields.is_empty()
                {
                    write!(writer, ",{}", stored.fields)?;
                }
                writer.write_char('}')?;
            }
            writer.write_char(']')?;
        }
        writer.write_str("}\n")
    }
}

/// Renders a span's fields once, when it opens (or records more), as the
/// inside of a JSON object: `"method":"GET","path":"/api/health"`.
pub struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        record_fields(&mut writer, fields, true)
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        let first = current.fields.is_empty();
        record_fields(&mut current.as_writer(), fields, first)
    }
}

/// Writes `"name":value` for each field, separated by commas, and with a
/// comma before the first unless `first`.
fn record_fields(writer: &mut Writer<'_>, fields: impl RecordFields, first: bool) -> fmt::Result {
    let mut visitor = FieldWriter {
        writer,
        first,
        result: Ok(()),
    };
    fields.record(&mut visitor);
    visitor.result
}

struct FieldWriter<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl FieldWriter<'_, '_> {
    fn write(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let first = std::mem::replace(&mut self.first, false);
        self.result = (|| {
            if !first {
                self.writer.write_char(',')?;
            }
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
    use tracing_subscriber::fmt::MakeWriter;

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
            .fmt_fields(JsonSpanFields)
            .event_format(JsonLines { tags: tags.into() })
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

    #[test]
    fn fields_recorded_later_join_the_span() {
        let got = lines("", || {
            let span = tracing::info_span!("request", user = tracing::field::Empty, path = "/x");
            let _entered = span.enter();
            span.record("user", "ada");
            tracing::info!("done");
        });
        assert_eq!(
            got[0]["spans"],
            serde_json::json!([{"name": "request", "path": "/x", "user": "ada"}])
        );
    }
}
