//! The table's schema, from the stage's configuration: column names, Arrow types, nullability,
//! and which column is the event time.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

use crate::{Error, Result};

/// The time zone of timestamp columns: UTC, spelled as an offset so that readers without a time
/// zone database (arrow's JSON writer without `chrono-tz`) take it too. Parquet records such a
/// column as adjusted to UTC, which is what pyarrow, DuckDB and Spark read.
pub const UTC: &str = "+00:00";

/// A column's type. Timestamps are milliseconds or microseconds in UTC — never nanoseconds,
/// which Spark and DuckDB readers reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// UTF-8 text.
    String,
    /// `true` / `false`.
    Bool,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 32-bit float.
    Float32,
    /// 64-bit float.
    Float64,
    /// Milliseconds since the epoch, UTC; from an integer or an RFC 3339 string.
    TimestampMs,
    /// Microseconds since the epoch, UTC; from an integer or an RFC 3339 string.
    TimestampUs,
}

impl ColumnType {
    fn arrow(self) -> DataType {
        match self {
            ColumnType::String => DataType::Utf8,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float32 => DataType::Float32,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::TimestampMs => DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into())),
            ColumnType::TimestampUs => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        }
    }

    /// Whether this is a timestamp type.
    pub fn is_timestamp(self) -> bool {
        matches!(self, ColumnType::TimestampMs | ColumnType::TimestampUs)
    }
}

/// `[schema]` as written in the stage's TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchema {
    /// The table's name: the lake directory under which its files go.
    pub table: String,
    /// The column holding each record's event time (a timestamp column); it picks the
    /// `dt=…/hour=…` partition.
    pub event_time: String,
    /// The columns, in file order.
    pub columns: Vec<RawColumn>,
}

/// One `[[schema.columns]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawColumn {
    /// The JSON field and the Parquet column name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ColumnType,
    /// Whether it may be missing or null; false by default.
    #[serde(default)]
    pub nullable: bool,
}

/// A validated column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The JSON field and the Parquet column name.
    pub name: String,
    /// Its type.
    pub kind: ColumnType,
    /// Whether it may be missing or null.
    pub nullable: bool,
}

/// A validated table schema.
#[derive(Debug, Clone)]
pub struct TableSchema {
    table: String,
    columns: Vec<Column>,
    event_time: usize,
    arrow: SchemaRef,
}

impl TryFrom<RawSchema> for TableSchema {
    type Error = Error;

    fn try_from(raw: RawSchema) -> Result<Self> {
        let bad = |what: String| Err(Error::Config(format!("schema.{what}")));
        if raw.table.is_empty()
            || !raw
                .table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return bad(format!(
                "table: {:?} must be letters, digits, _ or -",
                raw.table
            ));
        }
        if raw.columns.is_empty() {
            return bad("columns: at least one column is needed".into());
        }
        let mut seen = HashSet::new();
        for c in &raw.columns {
            if c.name.is_empty() || !seen.insert(c.name.as_str()) {
                return bad(format!("columns: {:?} is empty or repeated", c.name));
            }
        }
        let Some(event_time) = raw.columns.iter().position(|c| c.name == raw.event_time) else {
            return bad(format!("event_time: {:?} is not a column", raw.event_time));
        };
        let event_column = &raw.columns[event_time];
        if !event_column.kind.is_timestamp() || event_column.nullable {
            return bad(format!(
                "event_time: {:?} must be a timestamp_ms or timestamp_us column that is not nullable",
                raw.event_time
            ));
        }
        let columns: Vec<Column> = raw
            .columns
            .into_iter()
            .map(|c| Column {
                name: c.name,
                kind: c.kind,
                nullable: c.nullable,
            })
            .collect();
        let arrow = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.kind.arrow(), c.nullable))
                .collect::<Vec<_>>(),
        ));
        Ok(Self {
            table: raw.table,
            columns,
            event_time,
            arrow,
        })
    }
}

impl TableSchema {
    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The columns, in file order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The index of the event-time column.
    pub fn event_time(&self) -> usize {
        self.event_time
    }

    /// The Arrow schema of the files.
    pub fn arrow(&self) -> SchemaRef {
        self.arrow.clone()
    }
}
