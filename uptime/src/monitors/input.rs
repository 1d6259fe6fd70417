//! What a client may send for a monitor, and the rules it must follow. The
//! bounds here match the CHECK constraints in `uptime/migrations/0002_monitors`.

use platform::http::{ApiError, FieldError};
use serde::Deserialize;
use utoipa::ToSchema;

use super::db::Monitor;
use crate::model::HttpMethod;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_URL_CHARS: usize = 2048;
pub const INTERVAL_SECONDS: (i32, i32) = (10, 86_400);
pub const TIMEOUT_MS: (i32, i32) = (100, 30_000);
pub const EXPECTED_STATUS: (i32, i32) = (100, 599);

pub const DEFAULT_METHOD: HttpMethod = HttpMethod::Get;
pub const DEFAULT_INTERVAL_SECONDS: i32 = 60;
pub const DEFAULT_TIMEOUT_MS: i32 = 5_000;
pub const DEFAULT_EXPECTED_STATUS: i32 = 200;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMonitor {
    #[schema(example = "Homepage", max_length = 100)]
    pub name: String,
    #[schema(example = "https://example.com/health", max_length = 2048)]
    pub url: String,
    /// `GET` (default), `HEAD` or `POST`, in any case.
    pub method: Option<String>,
    /// 10 to 86400; default 60.
    pub interval_seconds: Option<i32>,
    /// 100 to 30000 and shorter than the interval; default 5000.
    pub timeout_ms: Option<i32>,
    /// 100 to 599; default 200.
    pub expected_status: Option<i32>,
}

/// Every field optional; absent fields keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMonitor {
    pub name: Option<String>,
    pub url: Option<String>,
    pub method: Option<String>,
    pub interval_seconds: Option<i32>,
    pub timeout_ms: Option<i32>,
    pub expected_status: Option<i32>,
}

/// A monitor's settings after validation and normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorSettings {
    pub name: String,
    pub url: String,
    pub method: HttpMethod,
    pub interval_seconds: i32,
    pub timeout_ms: i32,
    pub expected_status: i32,
}

/// The settings as sent, before any rule is applied.
struct Draft {
    name: String,
    url: String,
    method: Result<HttpMethod, String>,
    interval_seconds: i32,
    timeout_ms: i32,
    expected_status: i32,
}

fn parse_method(raw: Option<String>, default: HttpMethod) -> Result<HttpMethod, String> {
    raw.map_or(Ok(default), |raw| raw.parse())
}

impl CreateMonitor {
    pub fn validate(self) -> Result<MonitorSettings, ApiError> {
        Draft {
            name: self.name,
            url: self.url,
            method: parse_method(self.method, DEFAULT_METHOD),
            interval_seconds: self.interval_seconds.unwrap_or(DEFAULT_INTERVAL_SECONDS),
            timeout_ms: self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
            expected_status: self.expected_status.unwrap_or(DEFAULT_EXPECTED_STATUS),
        }
        .validated()
    }
}

impl UpdateMonitor {
    /// The monitor's settings with this update applied, validated as a whole
    /// (a new timeout must still fit the old interval).
    pub fn apply_to(self, current: &Monitor) -> Result<MonitorSettings, ApiError> {
        Draft {
            name: self.name.unwrap_or_else(|| current.name.clone()),
            url: self.url.unwrap_or_else(|| current.url.clone()),
            method: parse_method(self.method, current.method),
            interval_seconds: self.interval_seconds.unwrap_or(current.interval_seconds),
            timeout_ms: self.timeout_ms.unwrap_or(current.timeout_ms),
            expected_status: self.expected_status.unwrap_or(current.expected_status),
        }
        .validated()
    }
}

fn out_of_range(field: &str, value: i32, (min, max): (i32, i32)) -> Option<FieldError> {
    (!(min..=max).contains(&value))
        .then(|| FieldError::new(field, format!("must be between {min} and {max}")))
}

/// `None` when the URL is acceptable; otherwise what is wrong with it.
/// Whether the host is allowed (no private addresses) is decided by the
/// worker after DNS resolution, where it cannot be dodged.
pub(crate) fn url_problem(raw: &str) -> Option<String> {
    if raw.chars().count() > MAX_URL_CHARS {
        return Some(format!("must be at most {MAX_URL_CHARS} characters"));
    }
    let Ok(url) = url::Url::parse(raw) else {
        return Some("must be an absolute http:// or https:// URL".into());
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!("must use http or https, not `{}`", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Some("must include a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("must not contain credentials (user:password@)".into());
    }
    None
}

impl Draft {
    fn validated(self) -> Result<MonitorSettings, ApiError> {
        let name = self.name.trim().to_owned();
        let url = self.url.trim().to_owned();

        let mut problems = Vec::new();
        let name_chars = name.chars().count();
        if name_chars == 0 || name_chars > MAX_NAME_CHARS {
            problems.push(FieldError::new(
                "name",
                format!("must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        if let Some(problem) = url_problem(&url) {
            problems.push(FieldError::new("url", problem));
        }
        if let Err(problem) = &self.method {
            problems.push(FieldError::new("method", problem.clone()));
        }
        problems.extend(out_of_range(
            "interval_seconds",
            self.interval_seconds,
            INTERVAL_SECONDS,
        ));
        problems.extend(out_of_range("timeout_ms", self.timeout_ms, TIMEOUT_MS));
        problems.extend(out_of_range(
            "expected_status",
            self.expected_status,
            EXPECTED_STATUS,
        ));
        let interval_ms = i64::from(self.interval_seconds) * 1000;
        if i64::from(self.timeout_ms) >= interval_ms
            && !problems.iter().any(|p| p.field == "timeout_ms")
        {
            problems.push(FieldError::new(
                "timeout_ms",
                "must be shorter than the interval",
            ));
        }
        match self.method {
            Ok(method) if problems.is_empty() => Ok(MonitorSettings {
                name,
                url,
                method,
                interval_seconds: self.interval_seconds,
                timeout_ms: self.timeout_ms,
                expected_status: self.expected_status,
            }),
            _ => Err(ApiError::Validation(problems)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(url: &str) -> CreateMonitor {
        CreateMonitor {
            name: "Site".into(),
            url: url.into(),
            method: None,
            interval_seconds: None,
            timeout_ms: None,
            expected_status: None,
        }
    }

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Validation(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_in_missing_settings() {
        let settings = create("https://example.com").validate().expect("valid");
        assert_eq!(settings.method, HttpMethod::Get);
        assert_eq!(settings.interval_seconds, 60);
        assert_eq!(settings.timeout_ms, 5000);
        assert_eq!(settings.expected_status, 200);
    }

    #[test]
    fn only_http_urls_with_a_host_and_no_credentials() {
        for url in [
            "ftp://example.com",
            "javascript:alert(1)",
            "example.com",
            "http://",
            "https://user:pw@example.com",
            &format!("https://example.com/{}", "a".repeat(2048)),
        ] {
            assert_eq!(
                fields(create(url).validate().expect_err(url)),
                ["url"],
                "{url}"
            );
        }
    }

    #[test]
    fn methods_are_normalised_and_restricted() {
        let mut input = create("https://example.com");
        input.method = Some("head".into());
        assert_eq!(input.validate().expect("valid").method, HttpMethod::Head);
        let mut input = create("https://example.com");
        input.method = Some("DELETE".into());
        assert_eq!(fields(input.validate().expect_err("refused")), ["method"]);
    }

    #[test]
    fn numbers_are_bounded_and_every_problem_is_reported() {
        let input = CreateMonitor {
            name: " ".into(),
            url: "https://example.com".into(),
            method: None,
            interval_seconds: Some(5),
            timeout_ms: Some(50),
            expected_status: Some(600),
        };
        assert_eq!(
            fields(input.validate().expect_err("refused")),
            ["name", "interval_seconds", "timeout_ms", "expected_status"]
        );
    }

    #[test]
    fn the_timeout_must_fit_in_the_interval() {
        let mut input = create("https://example.com");
        input.interval_seconds = Some(10);
        input.timeout_ms = Some(10_000);
        assert_eq!(
            fields(input.validate().expect_err("refused")),
            ["timeout_ms"]
        );
    }
}
