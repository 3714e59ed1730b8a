//! Raw histograms as an HdrHistogram interval log (`.hlog`): one interval per phase and clock,
//! tagged `<phase>.wall` / `<phase>.cpu`, readable by HistogramLogProcessor and friends. Keep
//! these to aggregate runs exactly later (percentiles cannot be averaged).

use crate::stats::Stats;
use hdrhistogram::serialization::V2Serializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use std::time::{Duration, SystemTime};

/// Serialises every histogram of `stats`; `start` and `duration` describe the measured batch.
pub fn write(
    stats: &Stats,
    comment: &str,
    start: SystemTime,
    duration: Duration,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut ser = V2Serializer::new();
    let mut w = IntervalLogWriterBuilder::new()
        .add_comment(comment)
        .with_start_time(start)
        .with_base_time(start)
        .begin_log_with(&mut out, &mut ser)?;
    for (name, h) in &stats.phases {
        for (clock, hist) in [("wall", &h.wall), ("cpu", &h.cpu)] {
            let tag = format!("{name}.{clock}");
            w.write_histogram(hist, Duration::ZERO, duration, Tag::new(&tag))
                .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        }
    }
    drop(w);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{PhaseTime, RunRecord};
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn round_trips_through_the_interval_log_reader() {
        let mut s = Stats::new();
        let mut r = RunRecord::default();
        r.phases[crate::Phase::Jail.index()] = Some(PhaseTime {
            wall: 40_000,
            cpu: 30_000,
        });
        s.record(&r);
        let bytes = write(&s, "test", SystemTime::now(), Duration::from_secs(1)).unwrap();
        let mut seen = Vec::new();
        for e in IntervalLogIterator::new(&bytes) {
            if let Ok(LogEntry::Interval(h)) = e {
                seen.push((
                    h.tag().unwrap().as_str().to_string(),
                    h.max().round() as u64,
                ));
                assert!(!h.encoded_histogram().is_empty());
            }
        }
        let tags: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            tags,
            vec!["jail.wall", "jail.cpu", "total.wall", "total.cpu"]
        );
        assert!((40_000..=40_040).contains(&seen[0].1), "{}", seen[0].1);
    }
}
