//! `lake verify`: every file of a table decrypts, each partition's files cover its offsets with
//! no gap and no overlap, and (given the brokers) every offset a topic still holds is in the lake.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use lakeseal_keyclient::{DekCache, KeyService};
use serde::Serialize;

use crate::lake::{Lake, LakeFile};
use crate::read::read_file;
use crate::{Error, Result};

/// What `lake verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    /// The table checked.
    pub table: String,
    /// Its files.
    pub files: usize,
    /// The rows they hold, among those that decrypted.
    pub rows: usize,
    /// Per `topic/partition`: what its files cover.
    pub partitions: BTreeMap<String, Coverage>,
    /// Every file that did not decrypt, gap, overlap and offset missing from the lake.
    pub problems: Vec<String>,
}

/// Checks `table` of `lake`, decrypting every file through `keys`; with `brokers`, also that
/// each of `topics`' partitions is covered from its low watermark to its last offset.
pub async fn verify<K: KeyService>(
    keys: &DekCache<K>,
    lake: &Lake,
    table: &str,
    brokers: Option<&str>,
    topics: &[String],
) -> Result<Report> {
    let files = lake
        .list(table)
        .await
        .map_err(|e| Error::Lake(format!("listing {table}: {e}")))?;
    let mut problems = Vec::new();
    let mut rows = 0;
    for file in &files {
        match read_file(keys, lake, file).await {
            Ok(batches) => rows += batches.iter().map(|b| b.num_rows()).sum::<usize>(),
            Err(e) => problems.push(format!("{}: {e}", file.path.display())),
        }
    }
    let coverage = coverage(&files);
    for ((topic, partition), c) in &coverage {
        problems.extend(
            c.problems
                .iter()
                .map(|p| format!("{topic}/{partition}: {p}")),
        );
    }
    if let Some(brokers) = brokers {
        for topic in topics {
            // Blocking for a moment is fine in a one-shot command.
            for (partition, (low, high)) in watermarks(brokers, topic)? {
                let have = coverage
                    .get(&(topic.clone(), partition))
                    .and_then(|c| c.first.zip(c.last));
                let want = (high > low).then_some((low, high - 1));
                let covered = match (want, have) {
                    (None, None) => true,
                    (Some((low, last)), Some((first, covered_last))) => {
                        first <= low && covered_last == last
                    }
                    _ => false,
                };
                if !covered {
                    problems.push(format!(
                        "{topic}/{partition}: the topic holds offsets {want:?}, the lake covers \
                         {have:?}"
                    ));
                }
            }
        }
    }
    Ok(Report {
        table: table.to_owned(),
        files: files.len(),
        rows,
        partitions: coverage
            .into_iter()
            .map(|((topic, partition), c)| (format!("{topic}/{partition}"), c))
            .collect(),
        problems,
    })
}

/// What a partition's files cover, and what is wrong with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// The first offset covered.
    pub first: Option<i64>,
    /// The last offset covered.
    pub last: Option<i64>,
    /// Files.
    pub files: usize,
    /// Gaps and overlaps between files, in offset order.
    pub problems: Vec<String>,
}

/// Per (topic, partition): the offsets the files cover, and every gap or overlap between them.
pub fn coverage(files: &[LakeFile]) -> BTreeMap<(String, i32), Coverage> {
    let mut by_partition: BTreeMap<(String, i32), Vec<&LakeFile>> = BTreeMap::new();
    for f in files {
        by_partition
            .entry((f.topic.clone(), f.partition))
            .or_default()
            .push(f);
    }
    by_partition
        .into_iter()
        .map(|(tp, mut files)| {
            files.sort_by_key(|f| (f.first, f.last));
            let mut c = Coverage {
                files: files.len(),
                ..Coverage::default()
            };
            for f in files {
                match c.last {
                    None => c.first = Some(f.first),
                    Some(last) if f.first > last + 1 => c.problems.push(format!(
                        "gap: offsets {}..={} are in no file",
                        last + 1,
                        f.first - 1
                    )),
                    Some(last) if f.first <= last => c.problems.push(format!(
                        "overlap: {} covers offsets {}..={} again",
                        f.path.display(),
                        f.first,
                        last.min(f.last)
                    )),
                    Some(_) => {}
                }
                c.last = Some(c.last.map_or(f.last, |l| l.max(f.last)));
            }
            (tp, c)
        })
        .collect()
}

/// Keeps each partition's high watermark as librdkafka's statistics report it (from fetch
/// responses).
#[derive(Default)]
struct HighWatermarks(Mutex<BTreeMap<i32, i64>>);

impl rdkafka::ClientContext for HighWatermarks {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for topic in statistics.topics.values() {
            for (p, partition) in &topic.partitions {
                if *p >= 0 && partition.hi_offset >= 0 {
                    seen.insert(*p, partition.hi_offset);
                }
            }
        }
    }
}

impl rdkafka::consumer::ConsumerContext for HighWatermarks {}

/// Per partition of `topic`: the low and high watermarks (the first offset still held, and one
/// past the last), from the brokers at `bootstrap`.
///
/// The high watermark is the larger of `ListOffsets`' answer and a fetch response's: some
/// Kafka-compatible brokers answer `ListOffsets` for the latest offset loosely, while every
/// fetch response carries the partition's high watermark.
pub fn watermarks(bootstrap: &str, topic: &str) -> Result<BTreeMap<i32, (i64, i64)>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let timeout = std::time::Duration::from_secs(10);
    let kafka = |e: rdkafka::error::KafkaError| Error::Kafka(e.to_string());
    let consumer: BaseConsumer<HighWatermarks> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "lakeseal-watermarks")
        .set("enable.auto.commit", "false")
        .set("max.partition.fetch.bytes", "1024")
        .set("statistics.interval.ms", "100")
        .create_with_context(HighWatermarks::default())
        .map_err(kafka)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(kafka)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(Error::Kafka(format!("topic {topic:?} has no partitions")));
    }
    let mut marks = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(kafka)?;
        assignment
            .add_partition_offset(topic, p, Offset::Offset(low))
            .map_err(kafka)?;
        marks.insert(p, (low, high));
    }
    consumer.assign(&assignment).map_err(kafka)?;
    let start = std::time::Instant::now();
    loop {
        let _ = consumer.poll(std::time::Duration::from_millis(100));
        let fetched = consumer
            .context()
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if fetched.len() >= marks.len() || start.elapsed() >= timeout {
            for (p, high) in fetched {
                if let Some(mark) = marks.get_mut(&p) {
                    mark.1 = mark.1.max(high);
                }
            }
            return Ok(marks);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn file(partition: i32, first: i64, last: i64) -> LakeFile {
        LakeFile {
            path: PathBuf::from(format!("t-{partition}-{first}-{last}.parquet")),
            topic: "t".into(),
            partition,
            first,
            last,
        }
    }

    #[test]
    fn contiguous_files_have_no_problem() {
        let c = coverage(&[file(0, 10, 19), file(0, 0, 9), file(1, 5, 5)]);
        assert_eq!(c[&("t".into(), 0)].problems, Vec::<String>::new());
        assert_eq!(
            (c[&("t".into(), 0)].first, c[&("t".into(), 0)].last),
            (Some(0), Some(19))
        );
        assert_eq!(c[&("t".into(), 1)].files, 1);
    }

    #[test]
    fn gaps_and_overlaps_are_named() {
        let c = coverage(&[file(0, 0, 9), file(0, 12, 20), file(0, 20, 25)]);
        let problems = &c[&("t".into(), 0)].problems;
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("gap: offsets 10..=11"));
        assert!(problems[1].starts_with("overlap:") && problems[1].contains("20..=20"));
    }
}
