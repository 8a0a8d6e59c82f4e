//! What is read off a server process (`/proc`), and the statistics of what the clients saw.

use std::time::Duration;

use crate::Error;

/// The resident set size of process `pid`, in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).ok_or("no VmRSS in /proc/<pid>/status")?;
    let kib = line.split_whitespace().nth(1).ok_or("VmRSS has no value")?;
    Ok(kib.parse()?)
}

/// The CPU time the threads of process `pid` have run so far, in nanoseconds, summed over
/// `/proc/<pid>/task/*/schedstat` (finer than the 10 ms ticks of `/proc/<pid>/stat`).
pub fn cpu_time(pid: u32) -> Result<Duration, Error> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        // A thread that ended since the listing has no schedstat any more: it adds nothing.
        let Ok(schedstat) = std::fs::read_to_string(task?.path().join("schedstat")) else { continue };
        let on_cpu = schedstat.split_whitespace().next().ok_or("empty schedstat")?;
        total += on_cpu.parse::<u64>()?;
    }
    Ok(Duration::from_nanos(total))
}

/// The `p`-th percentile (0 to 100) of `samples`, by nearest rank; `None` when empty.
pub fn percentile(samples: &mut [Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    Some(samples[rank.clamp(1, samples.len()) - 1])
}

/// The median of `values`; `None` when empty. An even count averages the middle two.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|value| value.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) { (sorted[middle - 1] + sorted[middle]) / 2.0 } else { sorted[middle] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut samples, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&mut samples, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&mut [Duration::from_millis(7)], 99.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&mut [], 50.0), None);
    }

    #[test]
    fn medians_average_the_middle_pair() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn this_process_has_a_resident_set_and_cpu_time() {
        let pid = std::process::id();
        assert!(rss_kib(pid).expect("VmRSS") > 0);
        assert!(cpu_time(pid).expect("schedstat") > Duration::ZERO);
    }
}
