//! The process's own metrics, with the names every Prometheus client uses
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), read
//! from /proc at each scrape: an exporter that runs for days shows its own
//! memory staying flat. The official Rust client does not ship them.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Unit;

use crate::metrics::constant;

/// /proc times are in USER_HZ, which Linux fixes at 100 for every
/// architecture's user ABI.
const USER_HZ: f64 = 100.0;

/// Reads /proc/self at each scrape.
#[derive(Debug, Default)]
pub(crate) struct Process;

impl Process {
    pub(crate) fn new() -> Self {
        Self
    }
}

/// A `Name:   value kB` line of /proc/self/status, in bytes.
fn status_bytes(status: &str, key: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024.0)
}

/// utime + stime (seconds) and the start (seconds since boot) from
/// /proc/self/stat; the command name may hold spaces, so fields are
/// counted after its closing parenthesis.
fn stat_times(stat: &str) -> Option<(f64, f64)> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15,
    // starttime 22.
    let tick = |i: usize| f.get(i - 3)?.parse::<f64>().ok();
    Some(((tick(14)? + tick(15)?) / USER_HZ, tick(22)? / USER_HZ))
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Collector for Process {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if let Some((cpu, start)) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .as_deref()
            .and_then(stat_times)
        {
            constant(
                &mut e,
                "process_cpu",
                "Total user and system CPU time spent",
                Some(&Unit::Seconds),
                cpu,
                true,
            )?;
            if let Some(boot) = boot_time() {
                constant(
                    &mut e,
                    "process_start_time",
                    "Start time of the process since the Unix epoch",
                    Some(&Unit::Seconds),
                    boot + start,
                    false,
                )?;
            }
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            if let Some(rss) = status_bytes(&status, "VmRSS:") {
                constant(
                    &mut e,
                    "process_resident_memory",
                    "Resident memory size",
                    Some(&Unit::Bytes),
                    rss,
                    false,
                )?;
            }
            if let Some(vsz) = status_bytes(&status, "VmSize:") {
                constant(
                    &mut e,
                    "process_virtual_memory",
                    "Virtual memory size",
                    Some(&Unit::Bytes),
                    vsz,
                    false,
                )?;
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            constant(
                &mut e,
                "process_open_fds",
                "Open file descriptors",
                None,
                fds.count() as f64,
                false,
            )?;
        }
        if let Some(max) = max_fds() {
            constant(
                &mut e,
                "process_max_fds",
                "The most file descriptors the process may open",
                None,
                max,
                false,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0 12345 1000000 500";
        assert_eq!(stat_times(stat), Some((3.0, 123.45)));
        let status = "Name:\thp\nVmSize:\t  12000 kB\nVmRSS:\t    9000 kB\n";
        assert_eq!(status_bytes(status, "VmRSS:"), Some(9000.0 * 1024.0));
    }
}
