//! JSON records into Arrow columns, by the table's schema.
//!
//! Records are read by [`crate::json`]: each of the schema's fields straight from the bytes into
//! the window's column, with no tree of values and no row in between, and no allocation per
//! record once a window's buffers have grown (criterion `decode`: several times `serde_json`'s
//! parse into a `Value` alone). The columns are plain buffers that become Arrow arrays when the
//! window closes. `decoder_agrees_with_serde_json` checks it takes and refuses what `serde_json`
//! does.
//!
//! A record is all or nothing: one that does not fit is cut back off every column it reached, so
//! it leaves the window as it was and goes to the dead-letter topic with the reason
//! ([`DecodeError`]'s message).

use std::sync::Arc;

use crate::json::{self, FieldName, Reader, Scalar};
use crate::schema::{ColumnType, TableSchema, UTC};
use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray, TimestampMillisecondArray,
};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer};

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
    /// The decoder holds as much text as a window can (2 GiB). The stage never gets here: its
    /// windows close at `max_bytes`, at most 1 GiB.
    #[error("the window is full (2 GiB of records)")]
    WindowFull,
    /// A value of the wrong type.
    #[error("field {column:?} is not {expected}")]
    WrongType {
        /// The column.
        column: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// A column's values so far. Each is the length of the column ([`Column::nulls`]): a null holds
/// a zero (or an empty string) under its null bit.
enum Values {
    /// Text: `offsets` has one more entry than the column has values; `data` is UTF-8 (the
    /// reader checks a string's, and Arrow the column's again when the window closes).
    Str {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
    Bool(BooleanBufferBuilder),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// Ticks of the column's unit (milliseconds or microseconds).
    Time(Vec<i64>),
}

/// One column of the open window, grown in place as each record is read; a record that does not
/// fit is cut back off every column ([`Column::truncate`]).
struct Column {
    values: Values,
    nulls: NullBufferBuilder,
    kind: ColumnType,
}

impl Column {
    fn new(kind: ColumnType) -> Self {
        Self::with_capacity(kind, 0, 0)
    }

    /// Room for `rows` values and `text` bytes of text: windows are mostly alike, and a column
    /// grown from empty is copied at every doubling.
    fn with_capacity(kind: ColumnType, rows: usize, text: usize) -> Self {
        let values = match kind {
            ColumnType::String => {
                let mut offsets = Vec::with_capacity(rows + 1);
                offsets.push(0);
                Values::Str {
                    offsets,
                    data: Vec::with_capacity(text),
                }
            }
            ColumnType::Bool => Values::Bool(BooleanBufferBuilder::new(rows)),
            ColumnType::Int32 => Values::I32(Vec::with_capacity(rows)),
            ColumnType::Int64 => Values::I64(Vec::with_capacity(rows)),
            ColumnType::Float32 => Values::F32(Vec::with_capacity(rows)),
            ColumnType::Float64 => Values::F64(Vec::with_capacity(rows)),
            ColumnType::TimestampMs | ColumnType::TimestampUs => {
                Values::Time(Vec::with_capacity(rows))
            }
        };
        Self {
            values,
            nulls: NullBufferBuilder::new(rows),
            kind,
        }
    }

    fn len(&self) -> usize {
        self.nulls.len()
    }

    /// Ends a string value whose text was appended to `data`.
    fn end_text(offsets: &mut Vec<i32>, data: &[u8]) {
        // `Decoder::push` keeps a window's text under `i32::MAX` bytes.
        offsets.push(i32::try_from(data.len()).unwrap_or(i32::MAX));
    }

    /// Appends `value`, read from `json` (an escaped string's text is in `data` for a text
    /// column, else in `scratch`); false when it is of the wrong type.
    fn push(&mut self, value: Scalar, json: &Reader<'_>, scratch: &[u8]) -> bool {
        let kind = self.kind;
        match (&mut self.values, value) {
            (_, Scalar::Null) => {
                self.push_null();
                return true;
            }
            (Values::Str { offsets, data }, Scalar::Raw(from, to)) => {
                data.extend_from_slice(json.slice(from, to));
                Self::end_text(offsets, data);
            }
            (Values::Str { offsets, data }, Scalar::Str) => Self::end_text(offsets, data),
            (Values::Bool(v), Scalar::Bool(b)) => v.append(b),
            (Values::I32(v), Scalar::Int(n)) => match i32::try_from(n) {
                Ok(n) => v.push(n),
                Err(_) => return false,
            },
            (Values::I64(v) | Values::Time(v), Scalar::Int(n)) => v.push(n),
            (Values::F32(v), Scalar::Int(n)) => v.push(n as f32),
            (Values::F32(v), Scalar::Float(x)) => v.push(x as f32),
            (Values::F64(v), Scalar::Int(n)) => v.push(n as f64),
            (Values::F64(v), Scalar::Float(x)) => v.push(x),
            (Values::Time(v), Scalar::Raw(from, to)) => {
                match parse_rfc3339(json.slice(from, to), kind) {
                    Some(t) => v.push(t),
                    None => return false,
                }
            }
            (Values::Time(v), Scalar::Str) => match parse_rfc3339(scratch, kind) {
                Some(t) => v.push(t),
                None => return false,
            },
            _ => return false,
        }
        self.nulls.append_non_null();
        true
    }

    /// Appends a null.
    fn push_null(&mut self) {
        match &mut self.values {
            Values::Str { offsets, data } => Self::end_text(offsets, data),
            Values::Bool(v) => v.append(false),
            Values::I32(v) => v.push(0),
            Values::I64(v) | Values::Time(v) => v.push(0),
            Values::F32(v) => v.push(0.0),
            Values::F64(v) => v.push(0.0),
        }
        self.nulls.append_null();
    }

    /// Cuts the column back to its first `rows` values (and drops any text appended after them).
    fn truncate(&mut self, rows: usize) {
        match &mut self.values {
            Values::Str { offsets, data } => {
                offsets.truncate(rows + 1);
                let end = offsets.last().map_or(0, |&o| o as usize);
                data.truncate(end);
            }
            Values::Bool(v) => v.truncate(rows),
            Values::I32(v) => v.truncate(rows),
            Values::I64(v) | Values::Time(v) => v.truncate(rows),
            Values::F32(v) => v.truncate(rows),
            Values::F64(v) => v.truncate(rows),
        }
        self.nulls.truncate(rows);
    }

    /// The column so far, as Arrow; the column starts again, empty, with as much room.
    fn finish(&mut self) -> Result<ArrayRef, arrow_schema::ArrowError> {
        let rows = self.len();
        let text = match &self.values {
            Values::Str { data, .. } => data.len(),
            _ => 0,
        };
        let Column {
            values,
            mut nulls,
            kind,
        } = std::mem::replace(self, Self::with_capacity(self.kind, rows, text));
        let nulls = nulls.finish();
        Ok(match values {
            Values::Str { offsets, data } => Arc::new(StringArray::try_new(
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                Buffer::from(data),
                nulls,
            )?),
            Values::Bool(mut v) => Arc::new(BooleanArray::new(v.finish(), nulls)),
            Values::I32(v) => Arc::new(Int32Array::new(v.into(), nulls)),
            Values::I64(v) => Arc::new(Int64Array::new(v.into(), nulls)),
            Values::F32(v) => Arc::new(Float32Array::new(v.into(), nulls)),
            Values::F64(v) => Arc::new(Float64Array::new(v.into(), nulls)),
            Values::Time(v) if kind == ColumnType::TimestampMs => {
                Arc::new(TimestampMillisecondArray::new(v.into(), nulls).with_timezone(UTC))
            }
            Values::Time(v) => {
                Arc::new(TimestampMicrosecondArray::new(v.into(), nulls).with_timezone(UTC))
            }
        })
    }
}

/// What column `kind` expects, for [`DecodeError::WrongType`].
fn expected(kind: ColumnType) -> &'static str {
    match kind {
        ColumnType::String => "a string",
        ColumnType::Bool => "true or false",
        ColumnType::Int32 => "a 32-bit integer",
        ColumnType::Int64 => "a 64-bit integer",
        ColumnType::Float32 | ColumnType::Float64 => "a number",
        ColumnType::TimestampMs | ColumnType::TimestampUs => {
            "a timestamp (epoch integer or RFC 3339 string)"
        }
    }
}

/// An RFC 3339 time (a string's UTF-8) as ticks of the column's unit since the epoch.
fn parse_rfc3339(text: &[u8], kind: ColumnType) -> Option<i64> {
    let per_second: i128 = if kind == ColumnType::TimestampMs {
        1_000
    } else {
        1_000_000
    };
    let text = std::str::from_utf8(text).ok()?;
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / (1_000_000_000 / per_second)).ok()
}

/// The columns of one open window.
pub struct Decoder {
    schema: TableSchema,
    columns: Vec<Column>,
    /// Each column's name as records write it.
    raw_names: Vec<Option<FieldName>>,
    /// The text of an escaped string that no text column takes (an RFC 3339 time, or a skipped
    /// field's).
    scratch: Vec<u8>,
    /// The name of a field not found at its usual place, unescaped.
    name: Vec<u8>,
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
        let columns = schema
            .columns()
            .iter()
            .map(|c| Column::new(c.kind))
            .collect();
        let raw_names = schema
            .columns()
            .iter()
            .map(|c| FieldName::new(&c.name))
            .collect();
        Self {
            schema,
            columns,
            raw_names,
            scratch: Vec::new(),
            name: Vec::new(),
            rows: 0,
            bytes: 0,
        }
    }

    /// Adds one record; returns its event time in milliseconds since the epoch.
    pub fn push(&mut self, record: &[u8]) -> Result<i64, DecodeError> {
        if record.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::TooLarge(record.len()));
        }
        // A text column's bytes are addressed by `i32` offsets, and no column holds more text
        // than the window's records (an unescaped string is never longer than its JSON).
        if self.bytes + record.len() > i32::MAX as usize {
            return Err(DecodeError::WindowFull);
        }
        let result = self.read(record);
        if result.is_err() {
            for column in &mut self.columns {
                column.truncate(self.rows);
            }
        }
        result
    }

    /// [`Decoder::push`]'s record into the columns, which it may leave part grown on error.
    fn read(&mut self, record: &[u8]) -> Result<i64, DecodeError> {
        let not_json = |e: json::Syntax| DecodeError::NotJson(e.to_string());
        let mut json = Reader::new(record);
        if json.peek() != Some(b'{') {
            // Any other JSON value, or none.
            json.value(&mut self.scratch, true).map_err(not_json)?;
            json.end().map_err(not_json)?;
            return Err(DecodeError::NotAnObject);
        }
        let rows = self.rows;
        let schema = &self.schema;
        let mut more = !json.object_start().map_err(not_json)?;
        // Producers write fields in the same order record after record: the column after the
        // last one found is tried first, by its raw bytes.
        let mut next = 0;
        while more {
            let guess = self.raw_names.get(next).and_then(Option::as_ref);
            let index = if json.field_name(guess, &mut self.name).map_err(not_json)? {
                Some(next)
            } else {
                schema
                    .columns()
                    .iter()
                    .position(|c| c.name.as_bytes() == self.name)
            };
            match index.and_then(|i| self.columns.get_mut(i).map(|c| (i, c))) {
                Some((i, column)) => {
                    // A field given twice: the last one counts.
                    if column.len() > rows {
                        column.truncate(rows);
                    }
                    let text = match &mut column.values {
                        Values::Str { data, .. } => data,
                        _ => {
                            self.scratch.clear();
                            &mut self.scratch
                        }
                    };
                    let value = json.value(text, false).map_err(not_json)?;
                    if !column.push(value, &json, &self.scratch) {
                        let column = &schema.columns()[i];
                        return Err(DecodeError::WrongType {
                            column: column.name.clone(),
                            expected: expected(column.kind),
                        });
                    }
                    next = i + 1;
                }
                None => {
                    self.scratch.clear();
                    json.value(&mut self.scratch, true).map_err(not_json)?;
                }
            }
            more = json.object_next().map_err(not_json)?;
        }
        json.end().map_err(not_json)?;
        for (spec, column) in schema.columns().iter().zip(&mut self.columns) {
            if column.len() == rows {
                if !spec.nullable {
                    return Err(DecodeError::Missing(spec.name.clone()));
                }
                column.push_null();
            }
        }
        let event_time = schema.event_time();
        let column = &self.columns[event_time];
        let ticks = match &column.values {
            // The schema makes the event-time column a timestamp that may not be null.
            Values::Time(v) if column.nulls.is_valid(rows) => v.last().copied(),
            _ => None,
        };
        let Some(ticks) = ticks else {
            return Err(DecodeError::Missing(
                schema.columns()[event_time].name.clone(),
            ));
        };
        self.rows += 1;
        self.bytes += record.len();
        Ok(if column.kind == ColumnType::TimestampUs {
            ticks.div_euclid(1000)
        } else {
            ticks
        })
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
        let columns = self
            .columns
            .iter_mut()
            .map(Column::finish)
            .collect::<Result<_, _>>()?;
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(self.schema.arrow(), columns)
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int32Type, TimestampMillisecondType};

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
    fn fields_are_found_in_any_order_and_text_is_unescaped() {
        let mut d = Decoder::new(schema());
        let records: [&[u8]; 4] = [
            br#"{"device_id":"d\u00e9\n","ts":5,"battery_mv":1}"#,
            br#" {"battery_mv":2,"extra":{"deep":[1,{"x":null}]},"ts":6,"device_id":"b"} "#,
            br#"{"device_id":"first","ts":7,"battery_mv":3,"device_id":"last","temperature":null}"#,
            br#"{"ok":false,"temperature":-1.5e1,"battery_mv":4,"ts":8,"device_id":""}"#,
        ];
        for r in records {
            d.push(r).unwrap();
        }
        let batch = d.finish().unwrap();
        let ids = batch.column(0).as_string::<i32>();
        assert_eq!(
            (0..4).map(|i| ids.value(i)).collect::<Vec<_>>(),
            ["d\u{e9}\n", "b", "last", ""]
        );
        let battery = batch.column(3).as_primitive::<Int32Type>();
        assert_eq!(battery.values().to_vec(), [1, 2, 3, 4]);
        let temperature = batch.column(2).as_primitive::<Float64Type>();
        assert_eq!(temperature.value(3), -15.0);
        assert_eq!(temperature.null_count(), 3);
        assert!(!batch.column(4).as_boolean().value(3));
    }

    /// A record's UTF-8 is checked in its strings only (JSON is ASCII outside them), wherever
    /// the bytes above 0x7f are: a taken string, one with escapes, a field name, a skipped field,
    /// across the reader's 8-byte words. A bad one refuses the record, a good one is kept whole.
    #[test]
    fn strings_must_be_utf8() {
        let mut d = Decoder::new(schema());
        let record = |id: &[u8], extra: &[u8]| {
            [
                b"{\"device_id\":\"".as_slice(),
                id,
                b"\",\"ts\":1,\"battery_mv\":1",
                extra,
                b"}",
            ]
            .concat()
        };
        let good: [&[u8]; 5] = [
            "é😀".as_bytes(),
            "1234567é".as_bytes(),
            "123456é".as_bytes(),
            "ü\\n\\u00e9ß".as_bytes(),
            "x".as_bytes(),
        ];
        let taken = ["é😀", "1234567é", "123456é", "ü\néß", "x"];
        for id in good {
            d.push(&record(id, r#","extra":"ä€","ñ":["😀"]"#.as_bytes()))
                .unwrap();
        }
        let batch = d.finish().unwrap();
        let ids = batch.column(0).as_string::<i32>();
        for (row, want) in taken.iter().enumerate() {
            assert_eq!(ids.value(row), *want);
        }
        let bad: [(&[u8], &[u8]); 11] = [
            (b"\xff", b""),
            (b"abc\xc3", b""),
            (b"1234567\xc3", b""),
            (b"123456\xe2\x82", b""),
            (b"\xc0\xaf", b""),
            (b"\xed\xa0\x80", b""),
            (b"ok\\n\xff", b""),
            (b"ok", b",\"extra\":\"\xfe\""),
            (b"ok", b",\"\xc3\":1"),
            (b"ok", b",\"extra\":[{\"a\":\"\x80\"}]"),
            (b"ok", b",\"ts\":\"2026-11-24T16:00:00Z\xff\""),
        ];
        for (id, extra) in bad {
            let record = record(id, extra);
            let err = d.push(&record).unwrap_err();
            assert!(
                err.to_string().contains("invalid UTF-8"),
                "{:?}: {err}",
                String::from_utf8_lossy(&record)
            );
        }
        // Outside strings a byte above 0x7f is not JSON either.
        assert!(matches!(
            d.push(&record(b"ok", b",\"extra\":\xc3\xa9")),
            Err(DecodeError::NotJson(_))
        ));
        assert_eq!(d.len(), 0);
    }

    #[test]
    fn broken_json_and_wrong_types_are_told_apart() {
        let mut d = Decoder::new(schema());
        let cases: [(&[u8], &str); 9] = [
            (br#"{"device_id":"d","ts":1,"battery_mv":1} x"#, "not JSON"),
            (br#"{"device_id":"d","ts":1,"battery_mv":1"#, "not JSON"),
            (br#"{"device_id":"d","ts":1,"battery_mv":1,}"#, "not JSON"),
            (b"", "not JSON"),
            (b" \"text\"", "not a JSON object"),
            (b"null", "not a JSON object"),
            (br#"{"device_id":["d"],"ts":1,"battery_mv":1}"#, "a string"),
            (
                br#"{"device_id":"d","ts":1,"battery_mv":{"v":1}}"#,
                "32-bit",
            ),
            (br#"{"device_id":"d","ts":1,"battery_mv":1.5}"#, "32-bit"),
        ];
        for (record, reason) in cases {
            let err = d.push(record).unwrap_err();
            assert!(
                err.to_string().contains(reason),
                "{:?}: {err} should say {reason}",
                String::from_utf8_lossy(record)
            );
        }
        assert_eq!(d.len(), 0);
    }

    /// What `serde_json` makes of a record under [`schema`]: the row's values, or `Err(true)`
    /// when it is not JSON at all, `Err(false)` when it is JSON that does not fit.
    fn reference(record: &[u8]) -> Result<Vec<serde_json::Value>, bool> {
        use serde_json::Value;
        let value: Value = serde_json::from_slice(record).map_err(|_| true)?;
        let fields = value.as_object().ok_or(false)?;
        let column =
            |name: &str, nullable: bool, read: &dyn Fn(&Value) -> Option<Value>| match fields
                .get(name)
            {
                None | Some(Value::Null) if nullable => Ok(Value::Null),
                None | Some(Value::Null) => Err(false),
                Some(v) => read(v).ok_or(false),
            };
        Ok(vec![
            column("device_id", false, &|v| v.as_str().map(Value::from))?,
            column("ts", false, &|v| match v {
                Value::String(s) => {
                    parse_rfc3339(s.as_bytes(), ColumnType::TimestampMs).map(Value::from)
                }
                v => v.as_i64().map(Value::from),
            })?,
            column("temperature", true, &|v| v.as_f64().map(Value::from))?,
            column("battery_mv", false, &|v| {
                v.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .map(Value::from)
            })?,
            column("ok", true, &|v| v.as_bool().map(Value::from))?,
        ])
    }

    /// The decoder against `serde_json` on valid records and on thousands of corrupted ones
    /// (bytes deleted, inserted, replaced; records cut short): both take or refuse the same
    /// records, with the same values; what the decoder calls "not JSON" is not JSON.
    #[test]
    fn decoder_agrees_with_serde_json() {
        let seeds: [&[u8]; 6] = [
            br#"{"device_id":"dev-000042","ts":1795000000123,"temperature":21.25,"battery_mv":3610,"ok":true}"#,
            br#"{"ts":"2026-11-24T16:00:00.5+01:00","device_id":"d\"\u00e9\ud83d\ude00","battery_mv":-7,"temperature":-1.5E-3}"#,
            br#" { "device_id" : "x" , "extra" : [1, {"a": [true, null, "s\\"]}, -0.0e+1], "ts" : 0 , "battery_mv" : 0 } "#,
            br#"{"device_id":"","ts":-5,"battery_mv":2147483647,"ok":null,"temperature":1e2,"z":{}}"#,
            br#"{"device_id":"a\/b\t","ts":1,"battery_mv":1,"temperature":12345678901234567890}"#,
            br#"{"device_id":"dup","ts":1,"battery_mv":1,"device_id":"last","ok":false}"#,
        ];
        let interesting = b"{}[]\",:\\/0123456789-+.eEtrufalsn \tu\x00\x7f\xc3\xa9\xff";
        let mut random = crate::testing::xorshift(0x2545_f491_4f6c_dd1d);
        let mut d = Decoder::new(schema());
        let (mut taken, mut refused) = (0, 0);
        for round in 0..20_000 {
            let mut record = seeds[round % seeds.len()].to_vec();
            for _ in 0..(round % 4) {
                let at = random(record.len() + 1);
                match random(4) {
                    0 if at < record.len() => {
                        record.remove(at);
                    }
                    1 => record.insert(at, interesting[random(interesting.len())]),
                    2 if at < record.len() => record[at] = interesting[random(interesting.len())],
                    _ => record.truncate(at),
                }
            }
            let expected = reference(&record);
            let before = d.len();
            match (d.push(&record), expected) {
                (Ok(_), Ok(values)) => {
                    taken += 1;
                    let batch = d.finish().unwrap();
                    assert_eq!(batch.num_rows(), before + 1);
                    let row = batch.num_rows() - 1;
                    let column = |i: usize| batch.column(i);
                    let or_null = |i: usize, v: serde_json::Value| {
                        if column(i).is_null(row) {
                            serde_json::Value::Null
                        } else {
                            v
                        }
                    };
                    let got = [
                        column(0).as_string::<i32>().value(row).into(),
                        column(1)
                            .as_primitive::<TimestampMillisecondType>()
                            .value(row)
                            .into(),
                        or_null(2, column(2).as_primitive::<Float64Type>().value(row).into()),
                        column(3).as_primitive::<Int32Type>().value(row).into(),
                        or_null(4, column(4).as_boolean().value(row).into()),
                    ];
                    // serde_json's default float parsing may be an ulp off on long numbers; the
                    // decoder's (the standard library's) is correctly rounded.
                    let same = |a: &serde_json::Value, b: &serde_json::Value| match (a, b) {
                        (serde_json::Value::Number(a), serde_json::Value::Number(b))
                            if a.is_f64() || b.is_f64() =>
                        {
                            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                            (a - b).abs() <= a.abs().max(b.abs()) * 1e-15
                        }
                        (a, b) => a == b,
                    };
                    assert!(
                        got.iter().zip(&values).all(|(a, b)| same(a, b)),
                        "{:?}: decoder {got:?}, serde_json {values:?}",
                        String::from_utf8_lossy(&record)
                    );
                }
                (Err(e), Err(not_json)) => {
                    refused += 1;
                    assert_eq!(d.len(), before);
                    if matches!(e, DecodeError::NotJson(_)) {
                        assert!(not_json, "{:?}: {e}", String::from_utf8_lossy(&record));
                    }
                }
                (ours, theirs) => panic!(
                    "{:?}: decoder {ours:?}, serde_json {theirs:?}",
                    String::from_utf8_lossy(&record)
                ),
            }
        }
        assert!(
            taken > 2_000 && refused > 2_000,
            "{taken} taken, {refused} refused"
        );
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
