//! A fleet of simulated IoT devices: realistic telemetry (device id and type, event time,
//! temperature, humidity, battery voltage, GPS, firmware), a configurable share of malformed
//! records, produced into Kafka keyed by device at a steady rate.
//!
//! [`Fleet`] is pure and seeded (the same seed gives the same records); [`produce`] sends them.
#![warn(missing_docs)]

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use serde::Serialize;
use zeroize::Zeroizing;

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The broker or librdkafka.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// Arguments that cannot be used.
    #[error("{0}")]
    Invalid(String),
}

/// The kinds of device in the fleet, with their habits.
const DEVICE_TYPES: &[(&str, f64, f64)] = &[
    // (type, typical temperature °C, its spread)
    ("thermostat", 21.0, 2.0),
    ("cold-chain-tracker", 4.0, 1.5),
    ("smart-meter", 28.0, 6.0),
    ("weather-station", 12.0, 8.0),
];

const FIRMWARE: &[&str] = &["1.4.2", "1.5.0", "1.5.1", "2.0.0-rc3"];

/// One device: who it is and where.
#[derive(Debug, Clone)]
struct Device {
    id: String,
    kind: usize,
    firmware: &'static str,
    lat: f64,
    lon: f64,
    battery_v: f64,
}

/// One telemetry record as the devices send it (JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Telemetry<'a> {
    /// Milliseconds since the epoch.
    pub event_time: i64,
    /// The device.
    pub device_id: &'a str,
    /// Its kind.
    pub device_type: &'a str,
    /// Degrees Celsius.
    pub temperature_c: f64,
    /// Relative humidity, percent.
    pub humidity_pct: f64,
    /// Battery voltage (3.0 is empty, 4.2 full).
    pub battery_v: f64,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Firmware version.
    pub firmware: &'a str,
}

/// A record to send: its key (the device id) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The Kafka key: the device id.
    pub key: String,
    /// The JSON body (or, for a malformed record, something that is not quite it).
    pub payload: Vec<u8>,
    /// Whether the payload was made malformed on purpose.
    pub malformed: bool,
}

/// A seeded fleet of devices.
#[derive(Debug)]
pub struct Fleet {
    devices: Vec<Device>,
    rng: StdRng,
    malformed_share: f64,
    clock_ms: i64,
}

impl Fleet {
    /// `devices` devices, a `malformed_share` (0–1) of broken records, reproducible from `seed`;
    /// event times start at `start_ms`.
    pub fn new(
        devices: usize,
        malformed_share: f64,
        seed: u64,
        start_ms: i64,
    ) -> Result<Self, Error> {
        if devices == 0 {
            return Err(Error::Invalid("--devices must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&malformed_share) {
            return Err(Error::Invalid("--malformed must be between 0 and 1".into()));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let devices = (0..devices)
            .map(|n| Device {
                id: format!("dev-{n:06}"),
                kind: rng.random_range(0..DEVICE_TYPES.len()),
                firmware: FIRMWARE[rng.random_range(0..FIRMWARE.len())],
                // Scattered over western Europe.
                lat: rng.random_range(43.0..55.0),
                lon: rng.random_range(-5.0..15.0),
                battery_v: rng.random_range(3.3..4.2),
            })
            .collect();
        Ok(Self {
            devices,
            rng,
            malformed_share,
            clock_ms: start_ms,
        })
    }

    /// The next record: a random device reports, time moves on a little.
    pub fn next_record(&mut self) -> Record {
        let n = self.rng.random_range(0..self.devices.len());
        self.clock_ms += self.rng.random_range(0..3);
        let rng = &mut self.rng;
        let device = &mut self.devices[n];
        // Batteries drain slowly, some devices faster than others.
        device.battery_v = (device.battery_v - rng.random_range(0.0..0.0005)).max(2.9);
        let (kind, typical, spread) = DEVICE_TYPES[device.kind];
        let reading = Telemetry {
            event_time: self.clock_ms,
            device_id: &device.id,
            device_type: kind,
            temperature_c: round2(typical + rng.random_range(-spread..spread)),
            humidity_pct: round2(rng.random_range(20.0..90.0)),
            battery_v: round2(device.battery_v),
            lat: round5(device.lat + rng.random_range(-0.001..0.001)),
            lon: round5(device.lon + rng.random_range(-0.001..0.001)),
            firmware: device.firmware,
        };
        let mut payload = serde_json::to_vec(&reading).unwrap_or_default();
        let malformed = rng.random_bool(self.malformed_share);
        if malformed {
            payload = match rng.random_range(0..3) {
                // Cut off mid-record, as a flaky uplink does.
                0 => payload[..payload.len() / 2].to_vec(),
                // A firmware bug: the temperature as text.
                1 => String::from_utf8_lossy(&payload)
                    .replacen("\"temperature_c\":", "\"temperature_c\":\"", 1)
                    .replacen(",\"humidity_pct\"", "\",\"humidity_pct\"", 1)
                    .into_bytes(),
                // No event time at all.
                _ => {
                    let mut v: serde_json::Value =
                        serde_json::from_slice(&payload).unwrap_or_default();
                    if let Some(o) = v.as_object_mut() {
                        o.remove("event_time");
                    }
                    serde_json::to_vec(&v).unwrap_or_default()
                }
            };
        }
        Record {
            key: device.id.clone(),
            payload,
            malformed,
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round5(x: f64) -> f64 {
    (x * 100_000.0).round() / 100_000.0
}

/// What [`produce`] sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Produced {
    /// Records acknowledged by the broker.
    pub records: u64,
    /// Of those, malformed on purpose.
    pub malformed: u64,
    /// Payload bytes.
    pub bytes: u64,
}

/// How to produce.
#[derive(Debug, Clone)]
pub struct Run {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// More librdkafka properties (TLS, SASL, a codec), secrets resolved already; they may
    /// override the defaults below.
    pub kafka: Vec<(String, Zeroizing<String>)>,
    /// The topic.
    pub topic: String,
    /// Records in all.
    pub records: u64,
    /// Records a second at most (0: as fast as the broker takes them).
    pub rate: u64,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// Sends `run.records` records from `fleet` and waits until the broker has acknowledged each.
pub async fn produce(fleet: &mut Fleet, run: &Run) -> Result<Produced, Error> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &run.brokers)
        .set("linger.ms", "20")
        .set("enable.idempotence", "true");
    for (name, value) in &run.kafka {
        config.set(name, value.as_str());
    }
    let producer: FutureProducer = config.create()?;
    let bar = if run.progress {
        indicatif::ProgressBar::new(run.records)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} producing [{bar:40}] {pos}/{len} records ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut produced = Produced::default();
    let mut pending: Vec<(DeliveryFuture, u64, bool)> = Vec::new();
    for sent in 0..run.records {
        if run.rate > 0 {
            // Pace to the rate: record n goes out no earlier than n / rate seconds in.
            let due = Duration::from_secs_f64(sent as f64 / run.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let record = fleet.next_record();
        let size = record.payload.len() as u64;
        let mut future = FutureRecord::to(&run.topic)
            .key(&record.key)
            .payload(&record.payload);
        let delivery = loop {
            match producer.send_result(future) {
                Ok(delivery) => break delivery,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    future = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(e.into()),
            }
        };
        pending.push((delivery, size, record.malformed));
        if pending.len() >= 10_000 {
            settle(&mut pending, &mut produced, &bar).await?;
        }
    }
    settle(&mut pending, &mut produced, &bar).await?;
    producer.flush(Duration::from_secs(30))?;
    bar.finish_and_clear();
    Ok(produced)
}

async fn settle(
    pending: &mut Vec<(DeliveryFuture, u64, bool)>,
    produced: &mut Produced,
    bar: &indicatif::ProgressBar,
) -> Result<(), Error> {
    for (delivery, size, malformed) in pending.drain(..) {
        match delivery.await {
            Ok(Ok(_)) => {
                produced.records += 1;
                produced.bytes += size;
                produced.malformed += u64::from(malformed);
                bar.inc(1);
            }
            Ok(Err((e, _))) => return Err(e.into()),
            Err(_) => return Err(Error::Invalid("the producer went away".into())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_records() {
        let mut a = Fleet::new(100, 0.1, 7, 1_795_000_000_000).unwrap();
        let mut b = Fleet::new(100, 0.1, 7, 1_795_000_000_000).unwrap();
        for _ in 0..1000 {
            assert_eq!(a.next_record(), b.next_record());
        }
    }

    #[test]
    fn records_are_realistic_and_the_malformed_share_holds() {
        let mut fleet = Fleet::new(1000, 0.05, 1, 1_795_000_000_000).unwrap();
        let (mut malformed, mut sizes) = (0, 0);
        let n = 20_000;
        for _ in 0..n {
            let r = fleet.next_record();
            sizes += r.payload.len();
            let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&r.payload);
            if r.malformed {
                malformed += 1;
                let fits =
                    parsed.is_ok_and(|v| v["event_time"].is_i64() && v["temperature_c"].is_f64());
                assert!(!fits, "a malformed record fits the schema");
                continue;
            }
            let v = parsed.unwrap();
            assert_eq!(v["device_id"], r.key.as_str());
            assert!(v["event_time"].as_i64().unwrap() >= 1_795_000_000_000);
            let t = v["temperature_c"].as_f64().unwrap();
            assert!((-10.0..45.0).contains(&t), "{t}");
            let b = v["battery_v"].as_f64().unwrap();
            assert!((2.9..=4.2).contains(&b), "{b}");
            assert!(DEVICE_TYPES.iter().any(|d| d.0 == v["device_type"]));
        }
        let share = f64::from(malformed) / f64::from(n);
        assert!((0.04..0.06).contains(&share), "{share}");
        let mean = sizes / n as usize;
        assert!((150..260).contains(&mean), "mean record size {mean}");
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(Fleet::new(0, 0.0, 1, 0).is_err());
        assert!(Fleet::new(1, 1.5, 1, 0).is_err());
    }
}
