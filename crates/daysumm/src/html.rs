//! The intranet statistics page: one static HTML file, no JavaScript, inline SVG bar charts of
//! the daily volume and of viruses and banned attachments over each window (30 and 365 days),
//! the average daily volume, the top viruses and the queues. Every name that came from mail
//! (virus names, patterns, senders) is escaped: the page must never run what a sender wrote.

use crate::error::Result;
use crate::stats::top;
use crate::{Summary, Window};
use chrono::Datelike;
use spool::clock::human_age;
use spool::IoContext;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// One series of a chart: a legend label, a fill colour, one value per day.
pub struct Series<'a> {
    pub label: &'a str,
    pub color: &'a str,
    pub values: Vec<u64>,
}

const W: f64 = 1000.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;

/// A stacked bar chart as inline SVG, one bar per day.
pub fn bar_chart(title: &str, w: &Window, series: &[Series]) -> String {
    let n = w.dates.len().max(1);
    let totals: Vec<u64> = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let scale = round_scale(totals.iter().copied().max().unwrap_or(0).max(1));
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let bar = plot_w / n as f64;
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"100%\" \
         role=\"img\" aria-label=\"{t}\"><title>{t}</title>\
         <rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"#fbfbfd\"/>",
        t = escape(title)
    );
    grid_lines(&mut o, scale, plot_h);
    for (i, date) in w.dates.iter().enumerate() {
        let x = LEFT + bar * i as f64;
        let mut y = TOP + plot_h;
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            let h = plot_h * v as f64 / scale as f64;
            y -= h;
            let _ = write!(
                o,
                "<rect x=\"{x:.2}\" y=\"{y:.2}\" width=\"{:.2}\" height=\"{h:.2}\" \
                 fill=\"{}\"><title>{} {}: {v}</title></rect>",
                if bar > 4.0 { bar * 0.85 } else { bar },
                s.color,
                date.format("%Y-%m-%d"),
                escape(s.label)
            );
        }
        // Date marks: weekly in a short window, monthly in a long one.
        let mark = if w.dates.len() <= 60 {
            (i % 7 == 0).then(|| date.format("%m-%d").to_string())
        } else {
            (date.day() == 1).then(|| date.format("%b").to_string())
        };
        if let Some(label) = mark {
            let _ = write!(
                o,
                "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#445\">{label}</text>",
                H - 10.0
            );
        }
    }
    let _ = write!(
        o,
        "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{b:.1}\" y2=\"{b:.1}\" stroke=\"#445\"/>",
        W - RIGHT,
        b = TOP + plot_h
    );
    o.push_str("</svg>");
    format!(
        "<figure><figcaption>{}</figcaption>{o}<div class=\"legend\">{}</div></figure>\n",
        escape(title),
        legend(series)
    )
}

/// A round scale: 1, 2, 5 × 10^k at or above the highest bar.
fn round_scale(max: u64) -> u64 {
    let mut scale = 1u64;
    while scale < max {
        scale = match scale.to_string().as_bytes()[0] {
            b'1' => scale * 2,
            b'2' => scale / 2 * 5,
            _ => scale * 2,
        };
    }
    scale
}

/// Grid lines at whole numbers only: 1 → 0,1; 2 → 0,1,2; 10 → 0,2,..,10; 20 → 0,5,..,20.
fn grid_lines(o: &mut String, scale: u64, plot_h: f64) {
    let ticks: u64 = match (scale, scale.to_string().as_bytes()[0]) {
        (1, _) => 1,
        (2, _) => 2,
        (_, b'2') => 4,
        _ => 5,
    };
    for k in 0..=ticks {
        let v = scale * k / ticks;
        let y = TOP + plot_h - plot_h * k as f64 / ticks as f64;
        let _ = write!(
            o,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d0d4dc\" \
             stroke-width=\"1\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"11\" \
             text-anchor=\"end\" fill=\"#445\">{v}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
}

/// The chart's legend: a colour swatch and a label per series.
fn legend(series: &[Series]) -> String {
    let keys: Vec<String> = series
        .iter()
        .map(|s| {
            format!(
                "<span class=\"key\"><span class=\"sw\" style=\"background:{}\"></span>{}</span>",
                s.color,
                escape(s.label)
            )
        })
        .collect();
    keys.join(" ")
}

fn table(head: (&str, &str), rows: &[(String, u64)]) -> String {
    let mut o = format!(
        "<table><tr><th>{}</th><th class=\"n\">{}</th></tr>",
        escape(head.0),
        escape(head.1)
    );
    if rows.is_empty() {
        o.push_str("<tr><td colspan=\"2\" class=\"none\">none</td></tr>");
    }
    for (k, v) in rows {
        let _ = write!(o, "<tr><td>{}</td><td class=\"n\">{v}</td></tr>", escape(k));
    }
    o.push_str("</table>\n");
    o
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#223;background:#fff}\
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 8px;border-bottom:2px solid #2b6cb0}\
.sub{color:#556;margin:0 0 16px}.cards{display:flex;flex-wrap:wrap;gap:12px}\
.card{background:#edf2f7;border-radius:6px;padding:10px 16px;min-width:140px}\
.card b{display:block;font-size:1.6em;color:#1a365d}figure{margin:12px 0}\
figcaption{font-weight:600;margin-bottom:4px}table{border-collapse:collapse;margin:8px 0}\
td,th{border:1px solid #cbd5e0;padding:3px 10px;text-align:left}.n{text-align:right}\
.none{color:#778}.legend{font-size:.9em}.key{margin-right:14px}\
.sw{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}\
.cols{display:flex;flex-wrap:wrap;gap:32px}";

/// The whole page.
pub fn page(s: &Summary) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Virus firewall {h}: statistics</title><style>{STYLE}</style></head><body>\n\
         <h1>Virus firewall {h}</h1><p class=\"sub\">Statistics up to {date}, made {gen}.</p>\n",
        h = escape(&s.hostname),
        date = s.date.format("%Y-%m-%d"),
        gen = s.generated.format("%Y-%m-%d %H:%M %Z"),
    );
    day_and_queues(&mut o, s);
    for w in &s.windows {
        window(&mut o, w);
    }
    o.push_str("</body></html>\n");
    o
}

/// One figure with its label.
fn card(o: &mut String, label: &str, v: String) {
    let _ = write!(
        o,
        "<div class=\"card\">{}<b>{}</b></div>",
        escape(label),
        escape(&v)
    );
}

/// The day's counts, the queues now and the signature age.
fn day_and_queues(o: &mut String, s: &Summary) {
    let d = &s.day;
    let _ = write!(
        o,
        "<h2>{}</h2><div class=\"cards\">",
        s.date.format("%A %Y-%m-%d")
    );
    card(o, "received", d.received.to_string());
    card(o, "delivered", d.delivered.to_string());
    card(o, "quarantined", d.quarantined().to_string());
    card(o, "viruses", d.virus_count().to_string());
    card(o, "banned", d.banned_count().to_string());
    o.push_str("</div>\n<h2>Queues now</h2><div class=\"cards\">");
    for (name, q) in [
        ("incoming", &s.queues.incoming),
        ("outgoing", &s.queues.outgoing),
        ("quarantine", &s.queues.quarantine),
    ] {
        let oldest = q
            .oldest_secs
            .map(|a| format!(", oldest {}", human_age(a)))
            .unwrap_or_default();
        card(o, &format!("{name}{oldest}"), q.messages.to_string());
    }
    card(
        o,
        "signature age",
        s.signature_age.map_or("unknown".into(), human_age),
    );
    o.push_str("</div>\n");
}

/// One window's section: its totals, its two charts and its top lists.
fn window(o: &mut String, w: &Window) {
    let _ = write!(o, "<h2>Last {} days</h2><div class=\"cards\">", w.days);
    card(
        o,
        "average daily volume",
        format!("{:.1}", w.average_volume()),
    );
    card(o, "received", w.received.iter().sum::<u64>().to_string());
    card(
        o,
        "quarantined",
        w.quarantined.iter().sum::<u64>().to_string(),
    );
    card(o, "viruses", w.viruses.iter().sum::<u64>().to_string());
    card(o, "banned", w.banned.iter().sum::<u64>().to_string());
    o.push_str("</div>\n");
    let clean: Vec<u64> = w
        .received
        .iter()
        .zip(&w.quarantined)
        .map(|(r, q)| r.saturating_sub(*q))
        .collect();
    o.push_str(&bar_chart(
        &format!("Daily volume, last {} days", w.days),
        w,
        &[
            Series {
                label: "passed on",
                color: "#3182ce",
                values: clean,
            },
            Series {
                label: "quarantined",
                color: "#dd6b20",
                values: w.quarantined.clone(),
            },
        ],
    ));
    o.push_str(&bar_chart(
        &format!("Viruses and banned attachments, last {} days", w.days),
        w,
        &[
            Series {
                label: "viruses",
                color: "#c53030",
                values: w.viruses.clone(),
            },
            Series {
                label: "banned attachments",
                color: "#805ad5",
                values: w.banned.clone(),
            },
        ],
    ));
    o.push_str("<div class=\"cols\"><div><h3>Top viruses</h3>");
    o.push_str(&table(("virus", "detections"), &top(&w.virus_names, 15)));
    o.push_str("</div><div><h3>Banned attachments</h3>");
    o.push_str(&table(("pattern", "detections"), &top(&w.banned_names, 15)));
    o.push_str("</div></div>\n");
}

/// Write DIR/index.html by a temp file and a rename.
///
/// DIR is `[report] html_dir`, the web server's directory, not a queue or any part of the
/// spool: no reader of mail looks there, so it is created and written here, not by spool.
pub fn write(dir: &Path, text: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).at(dir)?;
    let path = dir.join("index.html");
    crate::metrics::write(&path, text)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
