//! Logging: JSON lines in production (what `fly logs` and log shippers parse),
//! readable lines in development. Every line carries the Fly region and machine
//! id when present, so a line from a scaled-out app says where it came from.

use std::{fmt, io::BufWriter};

use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{
    EnvFilter,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

use crate::config::{FlyContext, LogFormat, PlatformConfig};

mod json_lines;

use json_lines::{JsonLines, JsonSpanFields};

/// How many bytes of log lines the writer thread gathers into one `write`.
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// Lines that may wait for the writer thread before loggers wait too. The
/// queue is allocated whole at start-up (tracing-appender's default of 128k
/// lines costs 4 MB of RSS); the writer drains far faster than a service logs.
const QUEUED_LINES: usize = 8 * 1024;

/// Keeps the log writer thread running. Dropping it writes out every line
/// still queued, so `main` holds it until it returns.
#[must_use = "dropping the guard stops logging"]
pub struct LogGuard {
    _writer: Option<WorkerGuard>,
}

/// Installs the global subscriber. Safe to call more than once (tests do):
/// later calls are ignored.
///
/// Lines are formatted on the thread that logs them and written to stdout by
/// a thread of their own, which batches whatever queued up while it wrote
/// into one `write`: under load one system call carries hundreds of lines
/// instead of one each. It never drops a line: a full queue makes callers
/// wait.
pub fn init(config: &PlatformConfig) -> LogGuard {
    init_with(config.log_format, &config.log_filter, &config.fly)
}

/// [`init`] from its parts; tests use it.
pub fn init_with(format: LogFormat, filter: &str, fly: &FlyContext) -> LogGuard {
    // An invalid directive (`RUST_LOG=nonsense=`) keeps the valid ones.
    let filter = EnvFilter::builder().parse_lossy(filter);
    let tags = FlyTags::from(fly);
    // Colours only for a terminal: a log file or `fly logs` gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("beacon-log")
        .finish(BufWriter::with_capacity(
            WRITE_BATCH_BYTES,
            std::io::stdout(),
        ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let installed = match format {
        LogFormat::Json => builder
            .fmt_fields(JsonSpanFields)
            .event_format(JsonLines { tags: tags.json })
            .try_init(),
        LogFormat::Pretty => builder
            .event_format(WithFlyTags {
                inner: tracing_subscriber::fmt::format().compact(),
                tags: tags.text,
            })
            .try_init(),
    };
    LogGuard {
        _writer: installed.is_ok().then_some(guard),
    }
}

/// The Fly fields, rendered once at start-up.
#[derive(Debug, Clone, Default)]
struct FlyTags {
    /// `"fly_region":"ams","fly_machine_id":"abc",` for JSON lines.
    json: String,
    /// `ams/abc ` for readable lines.
    text: String,
}

impl From<&FlyContext> for FlyTags {
    fn from(fly: &FlyContext) -> Self {
        let pairs = [
            ("fly_region", &fly.region),
            ("fly_machine_id", &fly.machine_id),
        ];
        let present: Vec<(&str, &String)> = pairs
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
            .collect();
        let json = present
            .iter()
            .map(|(k, v)| format!("\"{k}\":{},", serde_json::Value::String((*v).clone())))
            .collect();
        let text = if present.is_empty() {
            String::new()
        } else {
            let joined: Vec<&str> = present.iter().map(|(_, v)| v.as_str()).collect();
            format!("{} ", joined.join("/"))
        };
        Self { json, text }
    }
}

/// Wraps the readable formatter and adds the Fly fields to each line.
struct WithFlyTags<F> {
    inner: F,
    /// `ams/abc `, or nothing outside Fly.
    tags: String,
}

impl<S, N, F> FormatEvent<S, N> for WithFlyTags<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writer.write_str(&self.tags)?;
        self.inner.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fly_tags_render_for_json_and_text() {
        let tags = FlyTags::from(&FlyContext {
            region: Some("ams".into()),
            machine_id: Some("e82".into()),
            ..FlyContext::default()
        });
        assert_eq!(tags.json, r#""fly_region":"ams","fly_machine_id":"e82","#);
        assert_eq!(tags.text, "ams/e82 ");
    }

    #[test]
    fn no_fly_context_means_no_tags() {
        let tags = FlyTags::from(&FlyContext::default());
        assert!(tags.json.is_empty() && tags.text.is_empty());
    }
}
