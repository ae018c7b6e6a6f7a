//! The `stage.toml` every test stage runs with.

use std::path::Path;

use super::DLQ;
use crate::support::{REGION, RunningKeyCore};

/// When a test stage's windows close.
pub(crate) struct Window {
    pub(crate) max_records: usize,
    pub(crate) max_age_seconds: u64,
}

/// A `stage.toml` reading `topics` from `bootstrap` (with `kafka`, more `"name" = "value"` lines
/// of librdkafka properties) into a local lake at `lake`, under `kc`'s `alias/telemetry`.
pub(crate) fn stage_toml(
    bootstrap: &str,
    kafka: &str,
    topics: &[&str],
    window: &Window,
    lake: &Path,
    kc: &RunningKeyCore,
) -> String {
    format!(
        r#"
[source]
topics = {topics:?}
[source.kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "lakeseal-stage"
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
{kafka}

[schema]
table = "telemetry"
event_time = "ts"
columns = [
  {{ name = "ts", type = "timestamp_ms" }},
  {{ name = "device", type = "string" }},
  {{ name = "seq", type = "int64" }},
  {{ name = "temp", type = "float64", nullable = true }},
]

[window]
max_records = {max_records}
max_age_seconds = {max_age}

[encryption]
key_id = "alias/telemetry"
context = {{ table = "{{table}}", topic = "{{topic}}" }}

[sink]
url = "file://{lake}"

[dlq]
topic = "{DLQ}"

[keycore]
endpoint = "{endpoint}"
region = "{REGION}"
credentials_file = "{credentials}"
"#,
        max_records = window.max_records,
        max_age = window.max_age_seconds,
        lake = lake.display(),
        endpoint = kc.endpoint,
        credentials = kc.credentials.display(),
    )
}
