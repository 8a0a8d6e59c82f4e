//! The results: medians per server over the rounds, ratios framework / baseline against the
//! targets of the issue, as a Markdown table, JSON, and an SVG chart.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::Side;
use crate::measure::median;
use crate::run::{Measurement, Plan};

/// What a row must reach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// framework / baseline at least this.
    RatioAtLeast(f64),
    /// framework / baseline at most this.
    RatioAtMost(f64),
    /// The framework's own value at most `limit`, and ideally at most `stretch`.
    FrameworkAtMost {
        /// The target.
        limit: f64,
        /// The stretch target.
        stretch: f64,
    },
}

impl Target {
    fn describe(self, unit: &str) -> String {
        match self {
            Self::RatioAtLeast(ratio) => format!("≥ {ratio}x"),
            Self::RatioAtMost(ratio) => format!("≤ {ratio}x"),
            Self::FrameworkAtMost { limit, stretch } => format!("≤ {limit} {unit} (stretch {stretch})"),
        }
    }
}

/// Whether a row reached its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No target: shown for context.
    Info,
    /// Reached.
    Met,
    /// Reached, and the stretch target too.
    MetStretch,
    /// Not reached.
    Missed,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Self::Info => "",
            Self::Met => "met",
            Self::MetStretch => "met, stretch too",
            Self::Missed => "MISSED",
        }
    }
}

/// One metric of one workload, for every server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// The workload, such as `connect storm`.
    pub workload: String,
    /// What is measured, such as `connections/s`.
    pub metric: String,
    /// The unit of the values.
    pub unit: String,
    /// Whether a larger value is better.
    pub higher_is_better: bool,
    /// The framework's median over the rounds.
    pub framework: f64,
    /// The baseline's median over the rounds.
    pub baseline: f64,
    /// The median of the baseline with axum's default settings, when it was measured.
    pub axum_defaults: Option<f64>,
    /// framework / baseline, of the medians.
    pub ratio: f64,
    /// The lowest and highest framework / baseline of a single round.
    pub round_ratios: (f64, f64),
    /// What the row must reach, if anything.
    pub target: Option<Target>,
    /// Whether it did.
    pub verdict: Verdict,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The load applied.
    pub plan: Plan,
    /// One line per metric.
    pub rows: Vec<Row>,
    /// Every server process measured.
    pub measurements: Vec<Measurement>,
}

type Extract = Box<dyn Fn(&Measurement) -> Option<f64>>;

struct Metric {
    workload: String,
    metric: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    target: Option<Target>,
    extract: Extract,
}

fn metrics(plan: &Plan) -> Vec<Metric> {
    let storm = format!("connect storm ({} sockets, {} at once)", plan.connections, plan.concurrency);
    let memory = format!("idle memory ({} sockets)", plan.connections);
    let echo = format!("echo ({} clients)", plan.echo_clients);
    let metric = |workload: &str, metric, unit, higher_is_better, target, extract: Extract| Metric {
        workload: workload.to_owned(),
        metric,
        unit,
        higher_is_better,
        target,
        extract,
    };
    let mut metrics = vec![
        metric(
            &storm,
            "connections/s",
            "1/s",
            true,
            Some(Target::RatioAtLeast(0.9)),
            Box::new(|m| Some(m.connect.per_second)),
        ),
        metric(&storm, "p50 connect", "ms", false, None, Box::new(|m| Some(m.connect.p50_ms))),
        metric(&storm, "p99 connect", "ms", false, None, Box::new(|m| Some(m.connect.p99_ms))),
        metric(&storm, "server CPU per connect", "µs", false, None, Box::new(|m| Some(m.connect.server_cpu_us))),
        metric(
            &memory,
            "server RSS per connection",
            "KiB",
            false,
            Some(Target::FrameworkAtMost { limit: 8.0, stretch: 4.0 }),
            Box::new(|m| Some(m.memory.kib_per_connection)),
        ),
        metric(
            &echo,
            "round trips/s",
            "1/s",
            true,
            Some(Target::RatioAtLeast(0.9)),
            Box::new(|m| Some(m.echo.round_trips_per_second)),
        ),
        metric(&echo, "p50 round trip", "µs", false, None, Box::new(|m| Some(m.echo.p50_us))),
        metric(&echo, "p99 round trip", "µs", false, Some(Target::RatioAtMost(1.1)), Box::new(|m| Some(m.echo.p99_us))),
        metric(
            &echo,
            "server CPU per round trip",
            "µs",
            false,
            None,
            Box::new(|m| (m.echo.server_cpu_us > 0.0).then_some(m.echo.server_cpu_us)),
        ),
    ];
    for &size in &plan.fanout_sizes {
        let workload = format!("fan-out ({size} sockets)");
        let find = move |m: &Measurement| m.fanout.iter().find(|f| f.sockets == size).cloned();
        metrics.push(metric(
            &workload,
            "deliveries/s",
            "1/s",
            true,
            Some(Target::RatioAtLeast(1.0)),
            Box::new(move |m| find(m).map(|f| f.deliveries_per_second)),
        ));
        metrics.push(metric(
            &workload,
            "time to last delivery",
            "ms",
            false,
            None,
            Box::new(move |m| find(m).map(|f| f.last_ms)),
        ));
    }
    metrics
}

fn verdict(target: Option<Target>, framework: f64, ratio: f64) -> Verdict {
    match target {
        None => Verdict::Info,
        Some(Target::RatioAtLeast(at_least)) if ratio >= at_least => Verdict::Met,
        Some(Target::RatioAtMost(at_most)) if ratio <= at_most => Verdict::Met,
        Some(Target::FrameworkAtMost { stretch, .. }) if framework <= stretch => Verdict::MetStretch,
        Some(Target::FrameworkAtMost { limit, .. }) if framework <= limit => Verdict::Met,
        Some(_) => Verdict::Missed,
    }
}

/// One metric of two sides: medians over the rounds, their ratio, and the range of the
/// ratios of single rounds.
struct Compared {
    ours: f64,
    theirs: f64,
    ratio: f64,
    round_ratios: (f64, f64),
}

fn values(metric: &Metric, measurements: &[Measurement], side: Side) -> Vec<(usize, f64)> {
    measurements
        .iter()
        .filter(|m| m.side == side)
        .filter_map(|m| (metric.extract)(m).map(|value| (m.round, value)))
        .collect()
}

fn side_median(metric: &Metric, measurements: &[Measurement], side: Side) -> Option<f64> {
    median(&values(metric, measurements, side).iter().map(|(_, value)| *value).collect::<Vec<_>>())
}

/// `ours` against `theirs`; `None` when either was not measured.
fn compare(metric: &Metric, measurements: &[Measurement], ours: Side, theirs: Side) -> Option<Compared> {
    let (ours_median, theirs_median) =
        (side_median(metric, measurements, ours)?, side_median(metric, measurements, theirs)?);
    let theirs_by_round = values(metric, measurements, theirs);
    let round_ratios: Vec<f64> = values(metric, measurements, ours)
        .iter()
        .filter_map(|(round, value)| theirs_by_round.iter().find(|(r, _)| r == round).map(|(_, theirs)| value / theirs))
        .collect();
    let low = round_ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let high = round_ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(Compared {
        ours: ours_median,
        theirs: theirs_median,
        ratio: ours_median / theirs_median,
        round_ratios: (low, high),
    })
}

/// What metrics and tracing cost: `framework-observed` against `framework` (`observe`), per
/// metric of the connect storm, idle memory and echo, with the ≥ 0.95x targets on the rates.
/// `None` when either side was not measured.
pub fn observe_markdown(plan: &Plan, measurements: &[Measurement]) -> Option<String> {
    let mut out = String::from(
        "| workload | metric | on | off | on / off (rounds) | target | verdict |\n|---|---|---:|---:|---:|---|---|\n",
    );
    for metric in metrics(plan).into_iter().filter(|metric| !metric.workload.starts_with("fan-out")) {
        let Some(compared) = compare(&metric, measurements, Side::FrameworkObserved, Side::Framework) else {
            continue;
        };
        let target = match metric.metric {
            "connections/s" | "round trips/s" => Some(Target::RatioAtLeast(0.95)),
            _ => None,
        };
        let better = if metric.higher_is_better { "higher is better" } else { "lower is better" };
        let _ = writeln!(
            out,
            "| {} | {} ({}, {better}) | {} | {} | {:.2}x ({:.2}–{:.2}) | {} | {} |",
            metric.workload,
            metric.metric,
            metric.unit,
            number(compared.ours),
            number(compared.theirs),
            compared.ratio,
            compared.round_ratios.0,
            compared.round_ratios.1,
            target.map_or_else(String::new, |target| target.describe(metric.unit)),
            verdict(target, compared.ours, compared.ratio).label(),
        );
    }
    Some(out)
}

impl Report {
    /// Summarises `measurements` of `plan`; `None` when the framework or the baseline was not
    /// measured.
    pub fn new(plan: Plan, measurements: Vec<Measurement>) -> Option<Self> {
        let mut rows = Vec::new();
        for metric in metrics(&plan) {
            // A metric a saved run predates is left out.
            let Some(compared) = compare(&metric, &measurements, Side::Framework, Side::Baseline) else { continue };
            let axum_defaults = side_median(&metric, &measurements, Side::AxumDefaults);
            rows.push(Row {
                workload: metric.workload,
                metric: metric.metric.to_owned(),
                unit: metric.unit.to_owned(),
                higher_is_better: metric.higher_is_better,
                framework: compared.ours,
                baseline: compared.theirs,
                axum_defaults,
                ratio: compared.ratio,
                round_ratios: compared.round_ratios,
                target: metric.target,
                verdict: verdict(metric.target, compared.ours, compared.ratio),
            });
        }
        (!rows.is_empty()).then_some(Self { plan, rows, measurements })
    }

    /// The table of results, in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| workload | metric | framework | baseline | framework / baseline (rounds) | target | verdict | axum defaults |\n\
             |---|---|---:|---:|---:|---|---|---:|\n",
        );
        for row in &self.rows {
            let better = if row.higher_is_better { "higher is better" } else { "lower is better" };
            let _ = writeln!(
                out,
                "| {} | {} ({}, {better}) | {} | {} | {:.2}x ({:.2}–{:.2}) | {} | {} | {} |",
                row.workload,
                row.metric,
                row.unit,
                number(row.framework),
                number(row.baseline),
                row.ratio,
                row.round_ratios.0,
                row.round_ratios.1,
                row.target.map_or_else(String::new, |target| target.describe(&row.unit)),
                row.verdict.label(),
                row.axum_defaults.map_or_else(|| "–".to_owned(), number),
            );
        }
        out
    }

    /// A chart of the results: the ratios against their targets, and memory per connection.
    pub fn svg(&self) -> String {
        chart(self)
    }
}

/// A number with as many decimals as its size deserves.
fn number(value: f64) -> String {
    match value.abs() {
        v if v >= 1000.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

const WIDTH: f64 = 960.0;
const LABEL_WIDTH: f64 = 380.0;
const PLOT_WIDTH: f64 = 480.0;
const ROW_HEIGHT: f64 = 26.0;
const MET: &str = "#2e7d32";
const MISSED: &str = "#c62828";
const INFO: &str = "#90a4ae";

fn colour(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Met | Verdict::MetStretch => MET,
        Verdict::Missed => MISSED,
        Verdict::Info => INFO,
    }
}

fn chart(report: &Report) -> String {
    let ratio_rows: Vec<&Row> =
        report.rows.iter().filter(|row| !matches!(row.target, Some(Target::FrameworkAtMost { .. }))).collect();
    let memory_rows: Vec<&Row> =
        report.rows.iter().filter(|row| matches!(row.target, Some(Target::FrameworkAtMost { .. }))).collect();
    let top = 70.0;
    let ratio_height = ratio_rows.len() as f64 * ROW_HEIGHT;
    let memory_top = top + ratio_height + 90.0;
    let memory_height = memory_rows.len() as f64 * 3.0 * ROW_HEIGHT;
    let height = memory_top + memory_height + 50.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let plan = &report.plan;
    let _ = writeln!(
        svg,
        r#"<text x="20" y="28" font-size="16" font-weight="bold">venta-ws / hand-written axum, medians of {} rounds</text>"#,
        plan.rounds
    );
    let _ = writeln!(
        svg,
        r##"<text x="20" y="48" fill="#555">bars: framework / baseline (whisker: lowest to highest single round); ticks: targets; green met, red missed, grey no target</text>"##
    );

    // Ratios, on a scale from 0 to a little past the largest.
    // Up to 2.5x; a longer bar is cut there and its value says how far it goes.
    let largest = ratio_rows.iter().map(|row| row.ratio.max(row.round_ratios.1)).fold(1.5_f64, f64::max);
    let scale_max = ((largest * 4.0).ceil() / 4.0).min(2.5);
    let x_of = |ratio: f64| LABEL_WIDTH + ratio.clamp(0.0, scale_max) / scale_max * PLOT_WIDTH;
    axis(&mut svg, top, ratio_height, scale_max, x_of);
    for (index, row) in ratio_rows.iter().enumerate() {
        let y = top + index as f64 * ROW_HEIGHT;
        let better = if row.higher_is_better { "↑" } else { "↓" };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{} · {} {better}</text>"#,
            LABEL_WIDTH - 10.0,
            y + 17.0,
            escape(&short_workload(&row.workload)),
            escape(&row.metric)
        );
        let _ = writeln!(
            svg,
            r#"<rect x="{LABEL_WIDTH}" y="{:.1}" width="{:.1}" height="16" fill="{}"/>"#,
            y + 5.0,
            x_of(row.ratio) - LABEL_WIDTH,
            colour(row.verdict)
        );
        let (low, high) = row.round_ratios;
        if low.is_finite() && high.is_finite() {
            let _ = writeln!(
                svg,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#222" stroke-width="1.5"/>"##,
                x_of(low),
                x_of(high),
                y + 13.0,
                y + 13.0
            );
        }
        if let Some(Target::RatioAtLeast(target) | Target::RatioAtMost(target)) = row.target {
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="#ef6c00" stroke-width="3"/>"##,
                y + 2.0,
                y + 24.0,
                x = x_of(target)
            );
        }
        let cut = if row.ratio.max(row.round_ratios.1) > scale_max { " ▶" } else { "" };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{:.2}x{cut}</text>"#,
            x_of(row.ratio.max(row.round_ratios.1)) + 6.0,
            y + 17.0,
            row.ratio
        );
    }

    // Memory per connection, in KiB, for every server measured.
    let _ = writeln!(
        svg,
        r#"<text x="20" y="{:.1}" font-size="14" font-weight="bold">Server memory per idle authenticated connection (KiB; target ≤ 8, stretch ≤ 4: orange ticks)</text>"#,
        memory_top - 30.0
    );
    let kib_max = memory_rows
        .iter()
        .flat_map(|row| [row.framework, row.baseline, row.axum_defaults.unwrap_or(0.0)])
        .fold(8.0_f64, f64::max)
        * 1.1;
    let kib_x = |kib: f64| LABEL_WIDTH + kib.clamp(0.0, kib_max) / kib_max * PLOT_WIDTH;
    for (index, row) in memory_rows.iter().enumerate() {
        let block = memory_top + index as f64 * 3.0 * ROW_HEIGHT;
        let sides = [
            ("framework (venta-ws)", Some(row.framework), colour(row.verdict)),
            ("baseline (hand-written, 2 KiB buffer)", Some(row.baseline), INFO),
            ("axum defaults (128 KiB buffer)", row.axum_defaults, INFO),
        ];
        for (offset, (name, value, fill)) in sides.into_iter().enumerate() {
            let Some(value) = value else { continue };
            let y = block + offset as f64 * ROW_HEIGHT;
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LABEL_WIDTH - 10.0,
                y + 17.0,
                escape(name)
            );
            let _ = writeln!(
                svg,
                r#"<rect x="{LABEL_WIDTH}" y="{:.1}" width="{:.1}" height="16" fill="{fill}"/>"#,
                y + 5.0,
                (kib_x(value) - LABEL_WIDTH).max(1.0)
            );
            let _ = writeln!(svg, r#"<text x="{:.1}" y="{:.1}">{value:.2} KiB</text>"#, kib_x(value) + 6.0, y + 17.0);
        }
        for limit in [4.0, 8.0] {
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="#ef6c00" stroke-width="2"/>"##,
                block,
                block + 3.0 * ROW_HEIGHT,
                x = kib_x(limit)
            );
        }
    }
    let _ = writeln!(
        svg,
        r##"<text x="20" y="{:.1}" fill="#555">{} sockets, fan-out to {:?}, {} echo clients for {:.1} s, {} connects at once; 2 cores, loopback</text>"##,
        height - 18.0,
        plan.connections,
        plan.fanout_sizes,
        plan.echo_clients,
        plan.echo_window.as_secs_f64(),
        plan.concurrency
    );
    svg.push_str("</svg>\n");
    svg
}

/// A workload's name without its parameters, but a fan-out's size: `fan-out 1000`.
fn short_workload(workload: &str) -> String {
    let name = workload.split(" (").next().unwrap_or(workload);
    match workload.strip_prefix("fan-out (").and_then(|rest| rest.split(' ').next()) {
        Some(size) => format!("{name} {size}"),
        None => name.to_owned(),
    }
}

/// Grid lines every 0.25x, labelled every 0.5x, and a bold line at 1x.
fn axis(svg: &mut String, top: f64, height: f64, scale_max: f64, x_of: impl Fn(f64) -> f64) {
    let steps = (scale_max / 0.25).round() as usize;
    for step in 0..=steps {
        let ratio = step as f64 * 0.25;
        let x = x_of(ratio);
        let (stroke, width) = if step == 4 { ("#333", 1.5) } else { ("#ddd", 1.0) };
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{top:.1}" y2="{:.1}" stroke="{stroke}" stroke-width="{width}"/>"#,
            top + height
        );
        if step % 2 == 0 {
            let _ = writeln!(
                svg,
                r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{ratio:.1}x</text>"##,
                top - 6.0
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_targets() {
        assert_eq!(verdict(Some(Target::RatioAtLeast(0.9)), 0.0, 0.95), Verdict::Met);
        assert_eq!(verdict(Some(Target::RatioAtLeast(0.9)), 0.0, 0.85), Verdict::Missed);
        assert_eq!(verdict(Some(Target::RatioAtMost(1.1)), 0.0, 1.2), Verdict::Missed);
        let memory = Some(Target::FrameworkAtMost { limit: 8.0, stretch: 4.0 });
        assert_eq!(verdict(memory, 3.9, 0.0), Verdict::MetStretch);
        assert_eq!(verdict(memory, 7.0, 0.0), Verdict::Met);
        assert_eq!(verdict(memory, 9.0, 0.0), Verdict::Missed);
        assert_eq!(verdict(None, 1.0, 1.0), Verdict::Info);
    }

    #[test]
    fn chart_labels_drop_the_parameters_but_a_fan_out_size() {
        assert_eq!(short_workload("connect storm (10000 sockets, 256 at once)"), "connect storm");
        assert_eq!(short_workload("fan-out (1000 sockets)"), "fan-out 1000");
    }

    #[test]
    fn numbers_keep_significant_digits() {
        assert_eq!(number(12345.6), "12346");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(1.2345), "1.23");
    }
}
