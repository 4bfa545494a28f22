//! The landing page at `/`: every check with its state, and a link to
//! `/metrics`. Plain HTML, no external assets, readable on a phone.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::probe::runner::Snapshot;

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn render(snapshot: &Snapshot, source: &str, now: SystemTime) -> String {
    let mut rows = String::new();
    for (check, result) in &snapshot.entries {
        let (class, state, detail, age) = match result {
            None => ("unknown", "pending", "not run yet".to_owned(), String::from("–")),
            Some(r) => {
                let ago = now.duration_since(r.finished).map_or(0, |d| d.as_secs());
                match &r.outcome.failure {
                    None => ("ok", "ok", String::new(), format!("{ago}s ago")),
                    Some(f) => ("fail", "failing", format!("{}: {}", f.reason, f.message), format!("{ago}s ago")),
                }
            }
        };
        let _ = write!(
            rows,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td><span class=\"dot\"></span>{state}</td><td>{}</td><td>{}</td></tr>",
            esc(&check.name),
            check.kind(),
            esc(&age),
            esc(&detail),
        );
    }
    if snapshot.entries.is_empty() {
        rows.push_str("<tr><td colspan=\"5\">No checks configured.</td></tr>");
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ops-gen</title>
<style>
body{{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1d1d1f}}
table{{border-collapse:collapse;width:100%;table-layout:auto}}td:last-child{{overflow-wrap:anywhere}}td:nth-child(3){{white-space:nowrap}}th,td{{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}}
.dot{{display:inline-block;width:.7rem;height:.7rem;border-radius:50%;margin-right:.4rem;background:#999}}
.ok .dot{{background:#1a7f37}}.fail .dot{{background:#cf222e}}.fail td{{color:#a40e26}}
footer{{margin-top:1rem;color:#666;font-size:13px}}
@media (max-width:40rem){{td:nth-child(2),th:nth-child(2),td:nth-child(4),th:nth-child(4){{display:none}}}}
</style></head><body>
<h1>ops-gen</h1>
<table><thead><tr><th>Check</th><th>Kind</th><th>State</th><th>Last run</th><th>Detail</th></tr></thead>
<tbody>{rows}</tbody></table>
<footer>Config: {source} · <a href="/metrics">/metrics</a> · <a href="/-/ready">/-/ready</a> · ops-gen {version} ({revision})</footer>
</body></html>
"#,
        source = esc(source),
        version = super::VERSION,
        revision = super::REVISION,
    )
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
