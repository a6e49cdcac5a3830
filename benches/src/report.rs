//! Reports of a comparison run: a markdown table, JSON lines (one per workload, runtime and
//! client, with every round's samples), and an SVG chart of ops/s and client and server CPU,
//! written by hand (a plotting crate would be the heaviest dependency of the benches for three
//! bar charts).

use crate::cpu::Sample;
use crate::stats::Summary;
use crate::target::ServerDelta;
use std::fmt::Write;

/// The tokio runtime an async client ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// `new_current_thread`: everything on the benchmark's one thread.
    Current,
    /// `new_multi_thread` with this many workers.
    Multi { workers: usize },
}

impl Runtime {
    /// `current` or `multi`, as `--runtime` spells them.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Current => "current",
            Runtime::Multi { .. } => "multi",
        }
    }

    /// Worker threads (1 for the current-thread runtime).
    pub fn workers(self) -> usize {
        match self {
            Runtime::Current => 1,
            Runtime::Multi { workers } => workers,
        }
    }
}

/// Every round of one workload run by one client (on one runtime).
#[derive(Clone, Debug)]
pub struct Measurement {
    /// Workload name (`seq`, `conc64`, `lrange_300`, ...).
    pub workload: String,
    /// The runtime of an async client; `None` for a blocking one.
    pub runtime: Option<Runtime>,
    /// Client name (`valkey-sync`, `redis-async`, `fred`, ...).
    pub client: String,
    /// Commands sent per run.
    pub ops: u64,
    /// One sample per round.
    pub samples: Vec<Sample>,
    /// What the server did in each round (same order as `samples`).
    pub server: Vec<ServerDelta>,
    /// Rounds whose server-side command count did not match what was sent, described.
    pub check_failures: Vec<String>,
}

impl Measurement {
    /// A row with no rounds measured yet.
    pub fn new(workload: &str, runtime: Option<Runtime>, client: &str, ops: u64) -> Measurement {
        Measurement {
            workload: workload.to_owned(),
            runtime,
            client: client.to_owned(),
            ops,
            samples: Vec::new(),
            server: Vec::new(),
            check_failures: Vec::new(),
        }
    }

    /// Adds round `round`'s (0-based) sample, what the server did, and a failed server check.
    pub fn record(
        &mut self,
        round: usize,
        sample: Sample,
        server: ServerDelta,
        check: Option<String>,
    ) {
        self.samples.push(sample);
        self.server.push(server);
        if let Some(c) = check {
            self.check_failures
                .push(format!("round {}: {c}", round + 1));
        }
    }

    /// `current`, `multi` or `-` (a blocking client).
    pub fn runtime_name(&self) -> &'static str {
        self.runtime.map_or("-", Runtime::name)
    }

    /// The workload's name, suffixed `@mt` on the multi-thread runtime (chart labels).
    pub fn label(&self) -> String {
        match self.runtime {
            Some(Runtime::Multi { .. }) => format!("{}@mt", self.workload),
            _ => self.workload.clone(),
        }
    }

    /// Operations per second over the rounds.
    pub fn ops_per_sec(&self) -> Option<Summary> {
        let v: Vec<f64> = self
            .samples
            .iter()
            .map(|s| s.ops_per_sec(self.ops))
            .collect();
        Summary::of(&v)
    }

    /// Client CPU microseconds per operation over the rounds.
    pub fn cpu_us_per_op(&self) -> Option<Summary> {
        let v: Vec<f64> = self
            .samples
            .iter()
            .map(|s| s.cpu_us_per_op(self.ops))
            .collect();
        Summary::of(&v)
    }

    /// Server CPU microseconds per command over the rounds.
    pub fn server_cpu_us_per_cmd(&self) -> Option<Summary> {
        self.server_summary(ServerDelta::cpu_us_per_cmd)
    }

    /// Commands per server read over the rounds.
    pub fn cmds_per_read(&self) -> Option<Summary> {
        self.server_summary(ServerDelta::cmds_per_read)
    }

    /// Commands per server write over the rounds.
    pub fn cmds_per_write(&self) -> Option<Summary> {
        self.server_summary(ServerDelta::cmds_per_write)
    }

    /// `None` unless every round has the figure.
    fn server_summary(&self, f: impl Fn(&ServerDelta) -> Option<f64>) -> Option<Summary> {
        let v: Option<Vec<f64>> = self.server.iter().map(f).collect();
        Summary::of(&v?)
    }

    /// `ok`, or what went wrong on the server side.
    pub fn check_text(&self) -> String {
        if self.check_failures.is_empty() {
            "ok".to_owned()
        } else {
            format!("MISMATCH: {}", self.check_failures.join(" | "))
        }
    }
}

/// What the report's header says about the run.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// UTC date and time of the run.
    pub date: String,
    /// The server and how it was run.
    pub server: String,
    /// Client and server pinned to separate CPUs.
    pub pinned: bool,
    /// Rounds per workload and client.
    pub rounds: usize,
    /// Counts shrunk for a smoke run.
    pub quick: bool,
    /// Free-form lines (client versions, protocol, host).
    pub notes: Vec<String>,
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC` (no date crate needed).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A number with a k/M suffix: `12.3k`, `1.05M`.
pub fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// A CPU time in µs with sensible precision.
pub fn micros(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The markdown report: header, then one row per workload and client.
pub fn markdown(info: &RunInfo, rows: &[Measurement]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Client comparison ({})\n", info.date);
    let _ = writeln!(s, "- server: {}", info.server);
    let _ = writeln!(
        s,
        "- rounds: {} (interleaved), medians with min–max{}",
        info.rounds,
        if info.quick { "; --quick counts" } else { "" }
    );
    let _ = writeln!(
        s,
        "- pinned: {}",
        if info.pinned {
            "yes (client on CPU 0, server on CPU 1)"
        } else {
            "no"
        }
    );
    for n in &info.notes {
        let _ = writeln!(s, "- {n}");
    }
    s.push('\n');
    s.push_str(
        "| workload | runtime | client | ops/run | ops/s median (min–max) \
         | client CPU µs/op median (min–max) | server CPU µs/cmd median (min–max) \
         | cmds/read | cmds/write | server check |\n",
    );
    s.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for r in rows {
        let range = |x: Option<Summary>, f: fn(f64) -> String| {
            x.map_or("-".into(), |x| {
                format!("{} ({}–{})", f(x.median), f(x.min), f(x.max))
            })
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.runtime_name(),
            r.client,
            r.ops,
            range(r.ops_per_sec(), human),
            range(r.cpu_us_per_op(), micros),
            range(r.server_cpu_us_per_cmd(), micros),
            r.cmds_per_read().map_or("-".into(), |x| per(x.median)),
            r.cmds_per_write().map_or("-".into(), |x| per(x.median)),
            r.check_text()
        );
    }
    s
}

/// A count per something (commands per read): `1.00`, `12.3`, `100`.
pub fn per(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_summary(s: Option<Summary>) -> String {
    match s {
        Some(s) => format!(
            "{{\"median\":{:.3},\"min\":{:.3},\"max\":{:.3}}}",
            s.median, s.min, s.max
        ),
        None => "null".into(),
    }
}

/// One JSON object per line, per workload and client, with the run's header fields in each.
pub fn json_lines(info: &RunInfo, rows: &[Measurement]) -> String {
    let mut s = String::new();
    for r in rows {
        let opt = |v: Option<u64>| v.map_or("null".to_owned(), |v| v.to_string());
        let samples: Vec<String> = r
            .samples
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let srv = r.server.get(i);
                format!(
                    "{{\"wall_us\":{},\"cpu_us\":{},\"server_cpu_us\":{},\"server_cmds\":{},\
                     \"server_reads\":{},\"server_writes\":{}}}",
                    x.wall.as_micros(),
                    x.cpu.as_micros(),
                    opt(srv.and_then(|d| d.cpu_us)),
                    opt(srv.map(ServerDelta::commands)),
                    opt(srv.and_then(|d| d.reads)),
                    opt(srv.and_then(|d| d.writes)),
                )
            })
            .collect();
        let failures: Vec<String> = r.check_failures.iter().map(|f| json_str(f)).collect();
        let _ = writeln!(
            s,
            "{{\"date\":{},\"server\":{},\"pinned\":{},\"quick\":{},\"workload\":{},\
             \"runtime\":{},\"workers\":{},\"client\":{},\"ops\":{},\"ops_per_sec\":{},\
             \"cpu_us_per_op\":{},\"server_cpu_us_per_cmd\":{},\"server_cmds_per_read\":{},\
             \"server_cmds_per_write\":{},\"server_check_ok\":{},\
             \"server_check_failures\":[{}],\"samples\":[{}]}}",
            json_str(&info.date),
            json_str(&info.server),
            info.pinned,
            info.quick,
            json_str(&r.workload),
            r.runtime.map_or("null".into(), |rt| json_str(rt.name())),
            r.runtime
                .map_or("null".into(), |rt| rt.workers().to_string()),
            json_str(&r.client),
            r.ops,
            json_summary(r.ops_per_sec()),
            json_summary(r.cpu_us_per_op()),
            json_summary(r.server_cpu_us_per_cmd()),
            json_summary(r.cmds_per_read()),
            json_summary(r.cmds_per_write()),
            r.check_failures.is_empty(),
            failures.join(","),
            samples.join(","),
        );
    }
    s
}

/// Bar colours, one per client in order of first appearance.
const COLORS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn ordered_unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// One log-scale bar panel. `value` gives the plotted number for a measurement.
#[allow(clippy::too_many_arguments)]
fn svg_panel(
    s: &mut String,
    rows: &[Measurement],
    workloads: &[&str],
    clients: &[&str],
    top: f64,
    title: &str,
    value: impl Fn(&Measurement) -> Option<f64>,
    label: impl Fn(f64) -> String,
) {
    const LEFT: f64 = 70.0;
    const HEIGHT: f64 = 240.0;
    const BAR: f64 = 11.0;
    const GAP: f64 = 14.0;
    let group = clients.len() as f64 * BAR + GAP;
    let values: Vec<f64> = rows
        .iter()
        .filter_map(&value)
        .filter(|v| *v > 0.0)
        .collect();
    let (lo, hi) = match (
        values.iter().cloned().reduce(f64::min),
        values.iter().cloned().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) => (
            lo.log10().floor(),
            hi.log10().ceil().max(lo.log10().floor() + 1.0),
        ),
        _ => (0.0, 1.0),
    };
    let y = |v: f64| top + HEIGHT - (v.log10() - lo) / (hi - lo) * HEIGHT;
    let width = LEFT + workloads.len() as f64 * group;
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        top - 10.0,
        xml_escape(title)
    );
    let mut decade = lo;
    while decade <= hi + 1e-9 {
        let v = 10f64.powf(decade);
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{width:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            LEFT - 4.0,
            yy + 4.0,
            label(v)
        );
        decade += 1.0;
    }
    for (gi, w) in workloads.iter().enumerate() {
        let gx = LEFT + gi as f64 * group + GAP / 2.0;
        for (ci, c) in clients.iter().enumerate() {
            let Some(m) = rows.iter().find(|r| r.label() == *w && r.client == *c) else {
                continue;
            };
            let Some(v) = value(m).filter(|v| *v > 0.0) else {
                continue;
            };
            let x = gx + ci as f64 * BAR;
            let yy = y(v).min(top + HEIGHT);
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{yy:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                BAR - 1.0,
                top + HEIGHT - yy,
                COLORS[ci % COLORS.len()],
                xml_escape(w),
                xml_escape(c),
                label(v)
            );
        }
        let lx = gx + clients.len() as f64 * BAR / 2.0;
        let ly = top + HEIGHT + 12.0;
        let _ = writeln!(
            s,
            r#"<text x="{lx:.1}" y="{ly:.1}" font-size="11" text-anchor="end" transform="rotate(-35 {lx:.1} {ly:.1})">{}</text>"#,
            xml_escape(w)
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{0:.1}" x2="{width:.1}" y2="{0:.1}" stroke="black"/>"#,
        top + HEIGHT
    );
}

/// The SVG chart: ops/s, client CPU µs per op and server CPU µs per command (log scales), one bar
/// per client in each workload's group; workloads on the multi-thread runtime are labelled `@mt`.
pub fn svg(info: &RunInfo, rows: &[Measurement]) -> String {
    let labels: Vec<String> = rows.iter().map(Measurement::label).collect();
    let workloads = ordered_unique(labels.iter().map(String::as_str));
    let clients = ordered_unique(rows.iter().map(|r| r.client.as_str()));
    let group = clients.len() as f64 * 11.0 + 14.0;
    let width = (70.0 + workloads.len() as f64 * group + 20.0).max(700.0);
    let height = 1110.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="15" font-weight="bold">Client comparison, {}{}</text>"#,
        xml_escape(&info.date),
        if info.pinned { ", pinned" } else { "" }
    );
    for (i, c) in clients.iter().enumerate() {
        let x = 10.0 + i as f64 * 130.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x:.0}" y="32" width="12" height="12" fill="{}"/><text x="{:.0}" y="43" font-size="12">{}</text>"#,
            COLORS[i % COLORS.len()],
            x + 16.0,
            xml_escape(c)
        );
    }
    svg_panel(
        &mut s,
        rows,
        &workloads,
        &clients,
        90.0,
        "ops/s (median, log scale; higher is better)",
        |m| m.ops_per_sec().map(|x| x.median),
        human,
    );
    svg_panel(
        &mut s,
        rows,
        &workloads,
        &clients,
        440.0,
        "client CPU µs per op (median, log scale; lower is better)",
        |m| m.cpu_us_per_op().map(|x| x.median),
        micros,
    );
    svg_panel(
        &mut s,
        rows,
        &workloads,
        &clients,
        790.0,
        "server CPU µs per command (median, log scale; lower is better)",
        |m| m.server_cpu_us_per_cmd().map(|x| x.median),
        micros,
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn m(workload: &str, client: &str, wall_ms: u64, cpu_ms: u64) -> Measurement {
        Measurement {
            workload: workload.into(),
            runtime: None,
            client: client.into(),
            ops: 1000,
            samples: vec![Sample {
                wall: Duration::from_millis(wall_ms),
                cpu: Duration::from_millis(cpu_ms),
            }],
            server: vec![],
            check_failures: vec![],
        }
    }

    fn served(mut r: Measurement, cpu_us: u64, reads: u64, writes: u64) -> Measurement {
        r.server.push(ServerDelta {
            cpu_us: Some(cpu_us),
            calls: [("get".to_owned(), r.ops)].into_iter().collect(),
            reads: Some(reads),
            writes: Some(writes),
        });
        r
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn markdown_and_json_carry_the_numbers() {
        let mut bad = m("seq", "fred", 100, 30);
        bad.runtime = Some(Runtime::Current);
        bad.check_failures
            .push("get: expected 1, server ran 2".into());
        let mut mt = served(m("conc64", "valkey-async", 10, 2), 750, 40, 8);
        mt.runtime = Some(Runtime::Multi { workers: 2 });
        let rows = vec![
            served(m("seq", "valkey-sync", 50, 10), 1500, 1000, 1000),
            bad,
            mt,
        ];
        let info = RunInfo {
            date: "2026-01-01 00:00 UTC".into(),
            server: "valkey \"9\"".into(),
            rounds: 1,
            ..Default::default()
        };
        let md = markdown(&info, &rows);
        assert!(
            md.contains(
                "| seq | - | valkey-sync | 1000 | 20k (20k–20k) | 10.0 (10.0–10.0) \
                 | 1.50 (1.50–1.50) | 1.00 | 1.00 | ok |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| seq | current | fred | 1000 | 10k (10k–10k) | 30.0 (30.0–30.0) | - | - | - | MISMATCH: get: expected 1, server ran 2 |"),
            "{md}"
        );
        assert!(
            md.contains("| conc64 | multi | valkey-async | 1000 | 100k (100k–100k) | 2.00 (2.00–2.00) | 0.75 (0.75–0.75) | 25.0 | 125 | ok |"),
            "{md}"
        );
        let js = json_lines(&info, &rows);
        assert_eq!(js.lines().count(), 3);
        assert!(js.contains(r#""server":"valkey \"9\"""#), "{js}");
        assert!(js.contains(r#""ops_per_sec":{"median":20000.000"#), "{js}");
        assert!(js.contains(r#""server_check_ok":false"#), "{js}");
        let lines: Vec<&str> = js.lines().collect();
        assert!(
            lines[0].contains(r#""runtime":null,"workers":null"#),
            "{js}"
        );
        assert!(
            lines[1].contains(r#""runtime":"current","workers":1"#),
            "{js}"
        );
        assert!(lines[1].contains(r#""server_cpu_us_per_cmd":null"#), "{js}");
        assert!(
            lines[2].contains(r#""runtime":"multi","workers":2"#),
            "{js}"
        );
        assert!(
            lines[2].contains(r#""server_cpu_us_per_cmd":{"median":0.750"#),
            "{js}"
        );
        assert!(
            lines[2].contains(r#""server_cmds_per_read":{"median":25.000"#),
            "{js}"
        );
        assert!(
            lines[2].contains(
                r#""samples":[{"wall_us":10000,"cpu_us":2000,"server_cpu_us":750,"server_cmds":1000,"server_reads":40,"server_writes":8}]"#
            ),
            "{js}"
        );
        let svg = svg(&info, &rows);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(">conc64@mt</text>"), "{svg}");
        assert_eq!(
            svg.matches("<rect x=").count(),
            3 + 3 + 3 + 2,
            "3 legend + 3 ops/s bars + 3 client CPU bars + 2 server CPU bars"
        );
    }
}
