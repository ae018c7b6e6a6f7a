//! Watching a running stage from outside: its metrics and health endpoints, and free ports.

use std::time::{Duration, Instant};

/// A free local port.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the stage's metrics at `port` say it has taken in `bytes` of payloads
/// (`lakeseal_stage_bytes_total`, moved by every record as it is taken, refused ones too).
pub(super) fn wait_taken_in(port: u16, bytes: usize, within: Duration) {
    let start = Instant::now();
    loop {
        let taken = sample(&scrape(port), "lakeseal_stage_bytes_total", &[]);
        if taken == bytes as f64 {
            return;
        }
        assert!(
            start.elapsed() < within,
            "taken in {taken} of {bytes} bytes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the stage's metrics at `port` show `partitions` consumer-lag gauges, all 0:
/// every record the broker holds has been taken in (librdkafka's statistics, every 5 s).
pub(super) fn wait_caught_up_in_metrics(port: u16, partitions: usize, within: Duration) {
    let start = Instant::now();
    loop {
        let text = scrape(port);
        let lags: Vec<f64> = text
            .lines()
            .filter(|l| l.starts_with("lakeseal_stage_consumer_lag{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        if lags.len() == partitions && lags.iter().all(|&lag| lag == 0.0) {
            return;
        }
        assert!(start.elapsed() < within, "still lagging: {lags:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `GET <path>` of the local `port`: the status code and the body.
pub(crate) fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

/// `GET /metrics` of `port`: the Prometheus text.
pub(crate) fn scrape(port: u16) -> String {
    let (status, text) = http_get(port, "/metrics");
    assert_eq!(status, 200, "{text}");
    text
}

/// Waits until the stage's `/healthz` on `port` says `status`; returns its answer.
pub(crate) fn wait_health(port: u16, status: &str, within: Duration) -> (u16, serde_json::Value) {
    let start = Instant::now();
    loop {
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            drop(stream);
            let (code, body) = http_get(port, "/healthz");
            let health: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("/healthz is not JSON: {body}"));
            if health["status"] == status {
                return (code, health);
            }
            assert!(
                start.elapsed() < within,
                "/healthz still says {health} (waited for {status})"
            );
        }
        assert!(start.elapsed() < within, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The sum of the samples of `name` whose labels include every one of `labels` (`k="v"`).
pub(crate) fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.split(['{', ' ']).next() == Some(name) && labels.iter().all(|x| l.contains(x))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
