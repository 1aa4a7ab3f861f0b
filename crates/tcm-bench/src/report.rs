//! The results: one markdown table (rows in sections, ratios to raw tungstenite and to the
//! Python SDK, CPU and context switches per call next to speed) and the same figures as JSON.

use serde_json::{Value, json};

use crate::Outcome;
use crate::window::Summary;

/// How a row's main figure reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Calls per second.
    PerSecond,
    /// Milliseconds per call.
    Millis,
}

/// One row: what was measured on which contender, and its peers in the same run.
pub struct Row {
    pub section: String,
    pub contender: String,
    pub unit: Unit,
    /// The figures, or why the contender failed.
    pub figure: Outcome,
    pub raw: Option<Summary>,
    pub sdk: Option<Summary>,
    pub note: String,
}

/// Speed relative to a peer (higher is better): calls per second over the peer's, which is the
/// peer's time per call over ours.
fn speed(a: &Summary, peer: Option<&Summary>) -> Option<f64> {
    peer.map(|p| a.rate / p.rate)
}

/// CPU per call relative to a peer (lower is better).
fn cpu(a: &Summary, peer: Option<&Summary>) -> Option<f64> {
    Some(a.cpu_us? / peer?.cpu_us?)
}

impl Row {
    fn cells(&self) -> [String; COLUMNS] {
        let name = format!("{}, {}", self.section, self.contender);
        let f = match &self.figure {
            Ok(f) => f,
            Err(e) => {
                let blank = String::new;
                let note = format!("failed: {e}");
                return [
                    name,
                    "failed".into(),
                    blank(),
                    blank(),
                    blank(),
                    blank(),
                    blank(),
                    blank(),
                    note,
                ];
            }
        };
        let ratio = |r: Option<f64>| r.map_or(String::new(), |r| format!("{r:.2}×"));
        let (raw, sdk) = (self.raw.as_ref(), self.sdk.as_ref());
        let value = match self.unit {
            Unit::PerSecond => format!("{:.0} /s", f.rate),
            Unit::Millis => format!("{:.2} ms", f.ms()),
        };
        [
            name,
            value,
            ratio(speed(f, raw)),
            ratio(speed(f, sdk)),
            f.cpu_us.map_or(String::new(), |c| format!("{c:.1}")),
            ratio(cpu(f, raw)),
            ratio(cpu(f, sdk)),
            f.switches.map_or(String::new(), |n| format!("{n:.2}")),
            self.note.clone(),
        ]
    }

    fn json(&self) -> Value {
        let (raw, sdk) = (self.raw.as_ref(), self.sdk.as_ref());
        let figures = match &self.figure {
            Ok(f) => json!({
                "per_s": f.rate,
                "ms_per_call": f.ms(),
                "cpu_us_per_call": f.cpu_us,
                "longest_window_s": f.longest,
                "speed_vs_raw": speed(f, raw),
                "speed_vs_sdk": speed(f, sdk),
                "cpu_vs_raw": cpu(f, raw),
                "cpu_vs_sdk": cpu(f, sdk),
                "context_switches_per_call": f.switches,
            }),
            Err(e) => json!({ "failed": e }),
        };
        json!({
            "section": self.section,
            "contender": self.contender,
            "figures": figures,
            "note": self.note,
        })
    }
}

/// The table's columns: the name, the figures, the note.
const COLUMNS: usize = 9;

const HEADER: [&str; COLUMNS] = [
    "measurement (median)",
    "value",
    "speed × raw",
    "speed × SDK",
    "CPU µs/call",
    "CPU × raw",
    "CPU × SDK",
    "switches/call",
    "note",
];

/// The columns aligned left (the name and the note); the figures are aligned right.
fn left(column: usize) -> bool {
    column == 0 || column == COLUMNS - 1
}

/// The markdown table, columns padded to line up, and a legend.
pub fn markdown(rows: &[Row]) -> String {
    let cells: Vec<[String; COLUMNS]> = rows.iter().map(Row::cells).collect();
    let width = |i: usize| {
        cells
            .iter()
            .map(|c| c[i].chars().count())
            .chain([HEADER[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..COLUMNS).map(width).collect();
    let line = |cols: &[String]| {
        let padded: Vec<String> = cols
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = " ".repeat(w - c.chars().count());
                if left(i) {
                    format!(" {c}{pad} ")
                } else {
                    format!(" {pad}{c} ")
                }
            })
            .collect();
        format!("|{}|\n", padded.join("|"))
    };
    let mut out = line(&HEADER.map(String::from));
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let dashes = "-".repeat(*w);
            if left(i) {
                format!("{dashes}-")
            } else {
                format!("{dashes}:")
            }
        })
        .collect();
    out.push_str(&format!("|-{}|\n", rule.join("|-")));
    for c in &cells {
        out.push_str(&line(c));
    }
    out.push_str(LEGEND);
    out
}

const LEGEND: &str = "
speed ×: calls per second relative to the peer in the same run (for times, the peer's time over \
ours); higher is better. CPU ×: CPU time per call relative to the peer; lower is better. CPU is \
the client process's (all its threads; the server runs in its own process), the SDK's from \
`time.process_time()` in its own process. switches/call: context switches of all the client's \
threads per call (`getrusage`), where a thread gives up the CPU to wait or is preempted. The SDK \
sends one request and waits for its reply, so \
the pipelined rows compare with its lock-step figures. Encode+send is the sans-IO core's path, \
shared by all four clients.
";

/// The JSON report: the run's parameters and every row.
pub fn json(rows: &[Row], seconds: f64, repeats: usize) -> Value {
    json!({
        "seconds": seconds,
        "repeats": repeats,
        "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(rate: f64, cpu_us: f64) -> Summary {
        Summary {
            rate,
            cpu_us: Some(cpu_us),
            switches: Some(1.25),
            longest: 1.0,
        }
    }

    #[test]
    fn a_row_gives_speed_and_cpu_relative_to_its_peers() {
        let row = Row {
            section: "lock-step queue_stats".into(),
            contender: "tcm-smol".into(),
            unit: Unit::PerSecond,
            figure: Ok(summary(9000.0, 33.0)),
            raw: Some(summary(10000.0, 30.0)),
            sdk: Some(summary(3000.0, 220.0)),
            note: String::new(),
        };
        let table = markdown(&[row]);
        let line = table.lines().nth(2).unwrap_or_default();
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(
            cells[1..9],
            [
                "lock-step queue_stats, tcm-smol",
                "9000 /s",
                "0.90×",
                "3.00×",
                "33.0",
                "1.10×",
                "0.15×",
                "1.25"
            ]
        );
    }

    #[test]
    fn a_row_without_peers_leaves_the_ratios_empty() {
        let row = Row {
            section: "identity".into(),
            contender: "Python SDK".into(),
            unit: Unit::Millis,
            figure: Ok(Summary {
                rate: 8.0,
                cpu_us: None,
                switches: None,
                longest: 0.5,
            }),
            raw: None,
            sdk: None,
            note: String::new(),
        };
        let json = json(&[row], 1.0, 3);
        let figures = &json["rows"][0]["figures"];
        assert_eq!(figures["ms_per_call"], 125.0);
        assert!(figures["speed_vs_raw"].is_null());
        assert!(figures["cpu_vs_sdk"].is_null());
    }

    #[test]
    fn a_failed_contender_shows_why_in_its_row() {
        let row = Row {
            section: "pipelined W=256 queue_stats".into(),
            contender: "tcm-blocking".into(),
            unit: Unit::PerSecond,
            figure: Err("request timed out".into()),
            raw: Some(summary(60000.0, 5.0)),
            sdk: None,
            note: String::new(),
        };
        let table = markdown(std::slice::from_ref(&row));
        let line = table.lines().nth(2).unwrap_or_default();
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(cells[2..4], ["failed", ""]);
        assert_eq!(cells[9], "failed: request timed out");
        let json = json(&[row], 1.0, 3);
        assert_eq!(json["rows"][0]["figures"]["failed"], "request timed out");
    }
}
