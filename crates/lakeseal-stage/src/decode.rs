//! JSON records into Arrow columns, by the table's schema.
//!
//! Records are read by [`crate::json`]: the schema's fields straight from the bytes into the
//! column builders, with no tree of values in between and no allocation per record once a
//! window's buffers have grown (criterion `decode`: several times `serde_json`'s parse into a
//! `Value` alone). `decoder_agrees_with_serde_json` checks it takes and refuses what
//! `serde_json` does.
//!
//! A record is all or nothing: every field is checked before any column grows, so a record that
//! does not fit leaves the window as it was and goes to the dead-letter topic with the reason
//! ([`DecodeError`]'s message).

use std::sync::Arc;

use crate::json::{self, FieldName, Reader, Scalar};
use crate::schema::{ColumnType, TableSchema, UTC};
use arrow_array::builder::{
    BooleanBuilder, Float32Builder, Float64Builder, Int32Builder, Int64Builder, PrimitiveBuilder,
    StringBuilder, TimestampMicrosecondBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, RecordBatch};

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

/// One field of the record being decoded. Text is kept in the row's scratch buffer, so a record
/// decodes without allocating once the window's first records have sized the buffers.
#[derive(Clone, Copy)]
enum Cell {
    Absent,
    Null,
    /// Text in the row's buffer (a string that had escapes).
    Str(usize, usize),
    /// Text in the record itself.
    Raw(usize, usize),
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

    /// Appends a cell that [`cell`] made for this column's type; `text` is the row's buffer,
    /// `record` the record's text.
    fn append(&mut self, cell: Cell, text: &str, record: &str) {
        match (self, cell) {
            (Builder::Str(b), Cell::Str(from, to)) => b.append_value(&text[from..to]),
            (Builder::Str(b), Cell::Raw(from, to)) => b.append_value(&record[from..to]),
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

    /// The column so far. The builder starts again with room for as many values (and as much
    /// text): windows are mostly alike, and one grown from empty is copied at every doubling.
    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => {
                let array = b.finish();
                *b = StringBuilder::with_capacity(array.len(), array.value_data().len());
                Arc::new(array)
            }
            Builder::Bool(b) => {
                let array = b.finish();
                *b = BooleanBuilder::with_capacity(array.len());
                Arc::new(array)
            }
            Builder::I32(b) => renew(b),
            Builder::I64(b) => renew(b),
            Builder::F32(b) => renew(b),
            Builder::F64(b) => renew(b),
            Builder::Ms(b) => renew(b),
            Builder::Us(b) => renew(b),
        }
    }
}

/// [`Builder::finish`] of a primitive column (its data type, with a time zone, kept).
fn renew<T: ArrowPrimitiveType>(builder: &mut PrimitiveBuilder<T>) -> ArrayRef {
    let array = builder.finish();
    *builder =
        PrimitiveBuilder::with_capacity(array.len()).with_data_type(array.data_type().clone());
    Arc::new(array)
}

/// The record being decoded: a cell per column and the text of its string cells.
struct Row {
    cells: Vec<Cell>,
    text: String,
    /// The name of a field not found at its usual place, unescaped.
    name: String,
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

/// A value read from `json` for a column of `kind` (an escaped string's text is `text[from..]`):
/// its cell, or `None` when the value is of the wrong type.
fn cell(
    kind: ColumnType,
    value: Scalar,
    text: &mut String,
    from: usize,
    json: &Reader<'_>,
) -> Option<Cell> {
    Some(match (kind, value) {
        (_, Scalar::Null) => Cell::Null,
        (ColumnType::String, Scalar::Str) => Cell::Str(from, text.len()),
        (ColumnType::String, Scalar::Raw(from, to)) => Cell::Raw(from, to),
        (ColumnType::Bool, Scalar::Bool(v)) => Cell::Bool(v),
        (ColumnType::Int32, Scalar::Int(v)) => Cell::I32(i32::try_from(v).ok()?),
        (ColumnType::Int64, Scalar::Int(v)) => Cell::I64(v),
        (ColumnType::Float32, Scalar::Int(v)) => Cell::F32(v as f32),
        (ColumnType::Float32, Scalar::Float(v)) => Cell::F32(v as f32),
        (ColumnType::Float64, Scalar::Int(v)) => Cell::F64(v as f64),
        (ColumnType::Float64, Scalar::Float(v)) => Cell::F64(v),
        (ColumnType::TimestampMs | ColumnType::TimestampUs, Scalar::Int(v)) => Cell::Time(v),
        (ColumnType::TimestampMs | ColumnType::TimestampUs, Scalar::Str) => {
            let t = parse_rfc3339(&text[from..], kind);
            text.truncate(from);
            Cell::Time(t?)
        }
        (ColumnType::TimestampMs | ColumnType::TimestampUs, Scalar::Raw(from, to)) => {
            Cell::Time(parse_rfc3339(json.slice(from, to), kind)?)
        }
        _ => return None,
    })
}

/// An RFC 3339 time as ticks of the column's unit since the epoch.
fn parse_rfc3339(text: &str, kind: ColumnType) -> Option<i64> {
    let per_second: i128 = if kind == ColumnType::TimestampMs {
        1_000
    } else {
        1_000_000
    };
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / (1_000_000_000 / per_second)).ok()
}

/// Column builders of one open window.
pub struct Decoder {
    schema: TableSchema,
    builders: Vec<Builder>,
    /// Each column's name as records write it.
    raw_names: Vec<Option<FieldName>>,
    row: Row,
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
        let builders: Vec<Builder> = schema
            .columns()
            .iter()
            .map(|c| Builder::new(c.kind))
            .collect();
        let row = Row {
            cells: vec![Cell::Absent; builders.len()],
            text: String::new(),
            name: String::new(),
        };
        let raw_names = schema
            .columns()
            .iter()
            .map(|c| FieldName::new(&c.name))
            .collect();
        Self {
            schema,
            builders,
            raw_names,
            row,
            rows: 0,
            bytes: 0,
        }
    }

    /// Adds one record; returns its event time in milliseconds since the epoch.
    pub fn push(&mut self, record: &[u8]) -> Result<i64, DecodeError> {
        if record.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::TooLarge(record.len()));
        }
        let row = &mut self.row;
        row.cells.fill(Cell::Absent);
        row.text.clear();
        let columns = self.schema.columns();
        let not_json = |e: json::Syntax| DecodeError::NotJson(e.to_string());
        let mut json = Reader::new(record).map_err(not_json)?;
        if json.peek() != Some(b'{') {
            // Any other JSON value, or none.
            json.value(&mut row.name, true).map_err(not_json)?;
            json.end().map_err(not_json)?;
            return Err(DecodeError::NotAnObject);
        }
        let mut more = !json.object_start().map_err(not_json)?;
        // Producers write fields in the same order record after record: the column after the
        // last one found is tried first, by its raw bytes.
        let mut next = 0;
        while more {
            let guess = self.raw_names.get(next).and_then(Option::as_ref);
            let index = if json.field_name(guess, &mut row.name).map_err(not_json)? {
                Some(next)
            } else {
                columns.iter().position(|c| c.name == row.name)
            };
            let from = row.text.len();
            match index {
                Some(i) => {
                    let column = &columns[i];
                    let value = json.value(&mut row.text, false).map_err(not_json)?;
                    row.cells[i] = cell(column.kind, value, &mut row.text, from, &json)
                        .ok_or_else(|| DecodeError::WrongType {
                            column: column.name.clone(),
                            expected: expected(column.kind),
                        })?;
                    next = i + 1;
                }
                None => {
                    json.value(&mut row.text, true).map_err(not_json)?;
                    row.text.truncate(from);
                }
            }
            more = json.object_next().map_err(not_json)?;
        }
        json.end().map_err(not_json)?;
        for (column, cell) in columns.iter().zip(&row.cells) {
            if matches!(cell, Cell::Absent | Cell::Null) && !column.nullable {
                return Err(DecodeError::Missing(column.name.clone()));
            }
        }
        let event_time = match row.cells[self.schema.event_time()] {
            Cell::Time(t)
                if self.schema.columns()[self.schema.event_time()].kind
                    == ColumnType::TimestampUs =>
            {
                t.div_euclid(1000)
            }
            Cell::Time(t) => t,
            // The schema makes the event-time column a timestamp that may not be null, and a
            // cell of a timestamp column is a time or null, checked above.
            _ => {
                return Err(DecodeError::Missing(
                    self.schema.columns()[self.schema.event_time()].name.clone(),
                ));
            }
        };
        let record_text = json.slice(0, record.len());
        for (builder, cell) in self.builders.iter_mut().zip(&row.cells) {
            builder.append(*cell, &row.text, record_text);
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
                Value::String(s) => parse_rfc3339(s, ColumnType::TimestampMs).map(Value::from),
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
