//! How results are printed: `table` (for people), `json` and `yaml` (the API's objects as the
//! server sent them, for scripts).

use std::fmt::Write as _;

use clap::ValueEnum;
use serde_json::Value;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Yaml,
}

/// Rows under headers, columns padded to their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: Vec<&str>| {
            let last = cells.len().saturating_sub(1);
            for (i, cell) in cells.into_iter().enumerate() {
                if i == last {
                    out.push_str(cell);
                } else {
                    let _ = write!(out, "{cell:<width$}  ", width = widths[i]);
                }
            }
            out.push('\n');
        };
        line(&mut out, self.headers.clone());
        for row in &self.rows {
            line(&mut out, row.iter().map(String::as_str).collect());
        }
        out
    }
}

/// Label and value pairs, one per line, for a single object.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs.iter().fold(String::new(), |mut out, (k, v)| {
        let _ = writeln!(out, "{:<width$}  {v}", format!("{k}:"), width = width + 1);
        out
    })
}

/// Prints `raw` as JSON or YAML, or the table `human` builds.
pub fn print(format: Format, raw: &Value, human: impl FnOnce() -> String) {
    match format {
        Format::Table => emit(&human()),
        Format::Json => emit(&format!("{}\n", serde_json::to_string_pretty(raw).unwrap_or_default())),
        Format::Yaml => emit(&yaml(raw)),
    }
}

/// Writes to stdout. When the reader has gone (`certctl certs list | head -1`), stops quietly
/// with success, as Unix tools do, rather than panicking on the broken pipe.
pub fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// A JSON value as YAML 1.2 block style. Scalars are written as JSON scalars (strings quoted),
/// which YAML reads back as the same values, so nothing is lost or reinterpreted.
pub fn yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => yaml_into(&mut out, value, 0),
        Value::Array(a) if !a.is_empty() => yaml_into(&mut out, value, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        other => other.to_string(),
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty()) || matches!(v, Value::Array(a) if !a.is_empty())
}

fn yaml_into(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = Value::String(k.clone()).to_string();
                if is_block(v) {
                    let _ = writeln!(out, "{pad}{key}:");
                    let inner = if v.is_array() { indent } else { indent + 2 };
                    yaml_into(out, v, inner);
                } else {
                    let _ = writeln!(out, "{pad}{key}: {}", scalar(v));
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if is_block(item) {
                    let mut nested = String::new();
                    yaml_into(&mut nested, item, indent + 2);
                    // The first line of the nested block goes after the dash.
                    let body = nested.trim_start_matches(' ');
                    let _ = write!(out, "{pad}- {body}");
                } else {
                    let _ = writeln!(out, "{pad}- {}", scalar(item));
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other));
        }
    }
}

/// A time as people read it in a table: `2026-12-05 14:03Z`.
pub fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%MZ").to_string()
}

pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_pad_every_column_but_the_last() {
        let mut t = Table::new(&["ID", "NAME"]);
        t.row(vec!["1".into(), "web".into()]);
        t.row(vec!["1234".into(), "x".into()]);
        assert_eq!(t.render(), "ID    NAME\n1     web\n1234  x\n");
    }

    #[test]
    fn yaml_nests_maps_and_lists_and_quotes_every_string() {
        let v = json!({"data": [{"id": "a", "sans": ["x", "y"], "n": 1}, {"id": "b", "sans": [], "m": null}],
                       "next_cursor": null, "total": 2});
        let expected = "\"data\":\n- \"id\": \"a\"\n  \"n\": 1\n  \"sans\":\n  - \"x\"\n  - \"y\"\n- \"id\": \"b\"\n  \"m\": null\n  \"sans\": []\n\"next_cursor\": null\n\"total\": 2\n";
        assert_eq!(yaml(&v), expected);
        assert_eq!(yaml(&json!({})), "{}\n");
    }
}
