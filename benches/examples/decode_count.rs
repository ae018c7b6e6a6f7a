//! Decodes 100,000 simulated records (50,000 twice), for counting the decoder's instructions:
//! CPU time on the build machine drifts by 10-20 % from run to run, instruction counts do not.
//!
//! ```sh
//! cargo build --profile bench -p lakeseal-benches --example decode_count
//! valgrind --tool=callgrind --branch-sim=yes target/release/examples/decode_count
//! ```
//!
//! Making the records (`Fleet::next_record`) is the same in every build; compare totals.
#![allow(clippy::unwrap_used, missing_docs)]

use lakeseal_simulator::Fleet;
use lakeseal_stage::decode::Decoder;
use lakeseal_stage::schema::{RawSchema, TableSchema};

fn main() {
    let raw: RawSchema = serde_json::from_value(serde_json::json!({
        "table": "telemetry", "event_time": "event_time",
        "columns": [
            {"name": "event_time", "type": "timestamp_ms"},
            {"name": "device_id", "type": "string"},
            {"name": "device_type", "type": "string"},
            {"name": "temperature_c", "type": "float64"},
            {"name": "humidity_pct", "type": "float64", "nullable": true},
            {"name": "battery_v", "type": "float64"},
            {"name": "lat", "type": "float64", "nullable": true},
            {"name": "lon", "type": "float64", "nullable": true},
            {"name": "firmware", "type": "string", "nullable": true}
        ]
    }))
    .unwrap();
    let schema = TableSchema::try_from(raw).unwrap();
    let mut fleet = Fleet::new(10_000, 0.0, 1, 1_795_000_000_000).unwrap();
    let records: Vec<Vec<u8>> = (0..50_000).map(|_| fleet.next_record().payload).collect();
    let mut decoder = Decoder::new(schema);
    let mut rows = 0;
    for _ in 0..2 {
        for r in &records {
            decoder.push(r).unwrap();
        }
        rows += decoder.finish().unwrap().num_rows();
    }
    println!("{rows}");
}
