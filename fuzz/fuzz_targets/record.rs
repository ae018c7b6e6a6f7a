//! Arbitrary bytes as a Kafka record: the decoder returns a typed error or appends one whole row,
//! never panics, and the window stays consistent.
#![no_main]

use lakeseal_stage::decode::Decoder;
use lakeseal_stage::schema::{RawSchema, TableSchema};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw: RawSchema = serde_json::from_str(
        r#"{"table":"t","event_time":"ts","columns":[
            {"name":"device_id","type":"string"},{"name":"ts","type":"timestamp_ms"},
            {"name":"v","type":"float64","nullable":true},{"name":"n","type":"int32","nullable":true},
            {"name":"b","type":"bool","nullable":true},{"name":"us","type":"timestamp_us","nullable":true}]}"#,
    )
    .unwrap();
    let mut decoder = Decoder::new(TableSchema::try_from(raw).unwrap());
    let accepted = decoder.push(data).is_ok();
    assert_eq!(decoder.len(), usize::from(accepted));
    let batch = decoder.finish().unwrap();
    assert_eq!(batch.num_rows(), usize::from(accepted));
});
