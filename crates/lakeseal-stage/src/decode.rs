//! JSON records into Arrow columns, by the table's schema.
//!
//! A record is all or nothing: every field is checked before any column grows, so a record that
//! does not fit leaves the window as it was and goes to the dead-letter topic with the reason
//! ([`DecodeError`]'s message).

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use serde_json::Value;

use crate::schema::{ColumnType, TableSchema, UTC};

/// The largest record accepted, in bytes.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Why a record does not fit the schema. The message is the dead-letter reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Over [`MAX_RECORD_BYTES`].
    #[error("record of {0} bytes is over the limit of {MAX_RECORD_BYTES}")]
    TooLarge(usize),
    /// Not a JSON document.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// A column that may not be null is missing or null.
    #[error("field {0:?} is missing or null")]
    Missing(String),
    /// A value of the wrong type.
    #[error("field {column:?} is not {expected}")]
    WrongType {
        /// The column.
        column: String,
        /// What was expected.
        expected: &'static str,
    },
}

enum Cell {
    Null,
    Str(String),
    Bool(bool),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Time(i64),
}

enum Builder {
    Str(StringBuilder),
    Bool(BooleanBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Ms(TimestampMillisecondBuilder),
    Us(TimestampMicrosecondBuilder),
}

impl Builder {
    fn new(kind: ColumnType) -> Self {
        match kind {
            ColumnType::String => Builder::Str(StringBuilder::new()),
            ColumnType::Bool => Builder::Bool(BooleanBuilder::new()),
            ColumnType::Int32 => Builder::I32(Int32Builder::new()),
            ColumnType::Int64 => Builder::I64(Int64Builder::new()),
            ColumnType::Float32 => Builder::F32(Float32Builder::new()),
            ColumnType::Float64 => Builder::F64(Float64Builder::new()),
            ColumnType::TimestampMs => {
                Builder::Ms(TimestampMillisecondBuilder::new().with_timezone(UTC))
            }
            ColumnType::TimestampUs => {
                Builder::Us(TimestampMicrosecondBuilder::new().with_timezone(UTC))
            }
        }
    }

    /// Appends a cell that [`parse_cell`] made for this column's type.
    fn append(&mut self, cell: Cell) {
        match (self, cell) {
            (Builder::Str(b), Cell::Str(v)) => b.append_value(v),
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (Builder::I32(b), Cell::I32(v)) => b.append_value(v),
            (Builder::I64(b), Cell::I64(v)) => b.append_value(v),
            (Builder::F32(b), Cell::F32(v)) => b.append_value(v),
            (Builder::F64(b), Cell::F64(v)) => b.append_value(v),
            (Builder::Ms(b), Cell::Time(v)) => b.append_value(v),
            (Builder::Us(b), Cell::Time(v)) => b.append_value(v),
            (Builder::Str(b), _) => b.append_null(),
            (Builder::Bool(b), _) => b.append_null(),
            (Builder::I32(b), _) => b.append_null(),
            (Builder::I64(b), _) => b.append_null(),
            (Builder::F32(b), _) => b.append_null(),
            (Builder::F64(b), _) => b.append_null(),
            (Builder::Ms(b), _) => b.append_null(),
            (Builder::Us(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::F32(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Ms(b) => Arc::new(b.finish()),
            Builder::Us(b) => Arc::new(b.finish()),
        }
    }
}

fn parse_cell(kind: ColumnType, value: &Value, column: &str) -> Result<Cell, DecodeError> {
    let wrong = |expected| DecodeError::WrongType {
        column: column.to_owned(),
        expected,
    };
    Ok(match kind {
        ColumnType::String => {
            Cell::Str(value.as_str().ok_or_else(|| wrong("a string"))?.to_owned())
        }
        ColumnType::Bool => Cell::Bool(value.as_bool().ok_or_else(|| wrong("true or false"))?),
        ColumnType::Int32 => Cell::I32(
            value
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| wrong("a 32-bit integer"))?,
        ),
        ColumnType::Int64 => Cell::I64(value.as_i64().ok_or_else(|| wrong("a 64-bit integer"))?),
        ColumnType::Float32 => Cell::F32(value.as_f64().ok_or_else(|| wrong("a number"))? as f32),
        ColumnType::Float64 => Cell::F64(value.as_f64().ok_or_else(|| wrong("a number"))?),
        ColumnType::TimestampMs | ColumnType::TimestampUs => {
            let per_second: i128 = if kind == ColumnType::TimestampMs {
                1_000
            } else {
                1_000_000
            };
            let ticks = match value {
                Value::Number(n) => n.as_i64().map(i128::from),
                Value::String(s) => {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .ok()
                        .map(|t| t.unix_timestamp_nanos() / (1_000_000_000 / per_second))
                }
                _ => None,
            };
            Cell::Time(
                ticks
                    .and_then(|t| i64::try_from(t).ok())
                    .ok_or_else(|| wrong("a timestamp (epoch integer or RFC 3339 string)"))?,
            )
        }
    })
}

/// Column builders of one open window.
pub struct Decoder {
    schema: TableSchema,
    builders: Vec<Builder>,
    rows: usize,
    bytes: usize,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("table", &self.schema.table())
            .field("rows", &self.rows)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// An empty window of `schema`.
    pub fn new(schema: TableSchema) -> Self {
        let builders = schema
            .columns()
            .iter()
            .map(|c| Builder::new(c.kind))
            .collect();
        Self {
            schema,
            builders,
            rows: 0,
            bytes: 0,
        }
    }

    /// Adds one record; returns its event time in milliseconds since the epoch.
    pub fn push(&mut self, record: &[u8]) -> Result<i64, DecodeError> {
        if record.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::TooLarge(record.len()));
        }
        let value: Value =
            serde_json::from_slice(record).map_err(|e| DecodeError::NotJson(e.to_string()))?;
        let Value::Object(fields) = value else {
            return Err(DecodeError::NotAnObject);
        };
        let mut cells = Vec::with_capacity(self.builders.len());
        for column in self.schema.columns() {
            match fields.get(&column.name) {
                None | Some(Value::Null) if column.nullable => cells.push(Cell::Null),
                None | Some(Value::Null) => return Err(DecodeError::Missing(column.name.clone())),
                Some(v) => cells.push(parse_cell(column.kind, v, &column.name)?),
            }
        }
        let event_time = match &cells[self.schema.event_time()] {
            Cell::Time(t)
                if self.schema.columns()[self.schema.event_time()].kind
                    == ColumnType::TimestampUs =>
            {
                t / 1000
            }
            Cell::Time(t) => *t,
            // The schema makes the event-time column a non-nullable timestamp.
            _ => {
                return Err(DecodeError::Missing(
                    self.schema.columns()[self.schema.event_time()].name.clone(),
                ));
            }
        };
        for (builder, cell) in self.builders.iter_mut().zip(cells) {
            builder.append(cell);
        }
        self.rows += 1;
        self.bytes += record.len();
        Ok(event_time)
    }

    /// Records in the window.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The bytes of JSON the window holds (what the window's `max_bytes` limits).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The window's records as one batch; the decoder starts a new, empty window.
    pub fn finish(&mut self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let columns = self.builders.iter_mut().map(Builder::finish).collect();
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(self.schema.arrow(), columns)
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, TimestampMillisecondType};

    use super::*;
    use crate::schema::RawSchema;

    fn schema() -> TableSchema {
        let raw: RawSchema = serde_json::from_value(serde_json::json!({
            "table": "telemetry",
            "event_time": "ts",
            "columns": [
                {"name": "device_id", "type": "string"},
                {"name": "ts", "type": "timestamp_ms"},
                {"name": "temperature", "type": "float64", "nullable": true},
                {"name": "battery_mv", "type": "int32"},
                {"name": "ok", "type": "bool", "nullable": true}
            ]
        }))
        .unwrap();
        TableSchema::try_from(raw).unwrap()
    }

    #[test]
    fn records_become_columns() {
        let mut d = Decoder::new(schema());
        let t = d
            .push(br#"{"device_id":"d1","ts":1764000000123,"temperature":21.5,"battery_mv":3610,"ok":true}"#)
            .unwrap();
        assert_eq!(t, 1_764_000_000_123);
        let t2 = d
            .push(
                br#"{"device_id":"d2","ts":"2025-11-24T16:00:00.5Z","battery_mv":3500,"extra":1}"#,
            )
            .unwrap();
        assert_eq!(t2, 1_764_000_000_500);
        let batch = d.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(3).as_primitive::<Int32Type>().value(1), 3500);
        assert!(batch.column(2).is_null(1));
        assert_eq!(
            batch
                .column(1)
                .as_primitive::<TimestampMillisecondType>()
                .value(0),
            1_764_000_000_123
        );
        assert!(d.is_empty());
    }

    #[test]
    fn records_that_do_not_fit_are_refused_whole() {
        let mut d = Decoder::new(schema());
        let cases: [(&[u8], &str); 7] = [
            (b"{nope", "not JSON"),
            (b"[1,2]", "not a JSON object"),
            (br#"{"ts":1,"battery_mv":1}"#, "\"device_id\" is missing"),
            (
                br#"{"device_id":"d","ts":1,"battery_mv":3000000000}"#,
                "32-bit",
            ),
            (
                br#"{"device_id":"d","ts":"yesterday","battery_mv":1}"#,
                "timestamp",
            ),
            (br#"{"device_id":7,"ts":1,"battery_mv":1}"#, "a string"),
            (
                br#"{"device_id":"d","ts":null,"battery_mv":1}"#,
                "\"ts\" is missing",
            ),
        ];
        for (record, reason) in cases {
            let err = d.push(record).unwrap_err();
            assert!(
                err.to_string().contains(reason),
                "{err} should say {reason}"
            );
        }
        assert_eq!(d.len(), 0, "no refused record left a trace");
        d.push(br#"{"device_id":"d","ts":1,"battery_mv":1}"#)
            .unwrap();
        assert_eq!(d.finish().unwrap().num_rows(), 1);
    }

    #[test]
    fn schemas_are_checked_at_start() {
        let bad = |v: serde_json::Value| {
            let raw: RawSchema = serde_json::from_value(v).unwrap();
            TableSchema::try_from(raw).unwrap_err().to_string()
        };
        let col = |n: &str, t: &str| serde_json::json!({"name": n, "type": t});
        assert!(bad(serde_json::json!({"table": "t", "event_time": "x", "columns": [col("ts", "timestamp_ms")]})).contains("schema.event_time"));
        assert!(bad(serde_json::json!({"table": "t", "event_time": "s", "columns": [col("s", "string")]})).contains("schema.event_time"));
        assert!(bad(serde_json::json!({"table": "t/..", "event_time": "ts", "columns": [col("ts", "timestamp_ms")]})).contains("schema.table"));
        assert!(bad(serde_json::json!({"table": "t", "event_time": "ts", "columns": [col("ts", "timestamp_ms"), col("ts", "string")]})).contains("schema.columns"));
        assert!(serde_json::from_value::<RawSchema>(serde_json::json!({"table": "t", "event_time": "ts", "columns": [col("ts", "timestamp_ns")]})).is_err());
    }
}
