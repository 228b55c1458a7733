//! What people read: an aligned table for lists, `key  value` lines for
//! one object (nested objects flattened to dotted keys). Scripts use
//! `--json`, which prints the server's JSON as it is.

use serde_json::Value;
use std::io::Write;

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

pub fn print_json(value: &Value) {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    print(&text);
}

/// One cell: strings as they are, `-` for null or absent, lists of
/// strings joined with commas, other JSON compact.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.is_empty() => "-".into(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
    .replace(['\n', '\r', '\t'], " ")
}

/// A field by dotted path (`protocols.oauth2.issuer`).
fn field<'v>(item: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(item, |v, k| v.get(k))
}

/// Rows under upper-case headers, columns two spaces apart.
pub fn table(items: &[Value], columns: &[(&str, &str)]) -> String {
    let mut rows: Vec<Vec<String>> = vec![columns
        .iter()
        .map(|(header, _)| header.to_ascii_uppercase())
        .collect()];
    for item in items {
        rows.push(
            columns
                .iter()
                .map(|(_, path)| cell(field(item, path)))
                .collect(),
        );
    }
    aligned(&rows)
}

fn aligned(rows: &[Vec<String>]) -> String {
    let n = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..n)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            line.push_str(c);
            if i + 1 < n {
                line.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One object as `key  value` lines, nested objects as dotted keys.
pub fn object(v: &Value) -> String {
    let mut rows = Vec::new();
    flatten("", v, &mut rows);
    aligned(&rows)
}

fn flatten(prefix: &str, v: &Value, rows: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, child, rows);
            }
        }
        other => {
            let key = if prefix.is_empty() { "value" } else { prefix };
            rows.push(vec![key.to_owned(), cell(Some(other))]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_show_absent_values() {
        let items = [
            json!({"id": "a1", "name": "Billing", "scopes": ["read", "write"]}),
            json!({"id": "b22", "name": null, "prefix": true}),
        ];
        let t = table(
            &items,
            &[
                ("id", "id"),
                ("name", "name"),
                ("scopes", "scopes"),
                ("prefix", "prefix"),
            ],
        );
        assert_eq!(
            t,
            "ID   NAME     SCOPES      PREFIX\n\
             a1   Billing  read,write  -\n\
             b22  -        -           true\n"
        );
    }

    #[test]
    fn objects_flatten_nested_fields() {
        let v = json!({"id": "z1", "protocols": {"oauth2": {"issuer": "http://i"}},
                       "metadata": {}, "n": 3, "list": [{"a": 1}]});
        assert_eq!(
            object(&v),
            "id                       z1\n\
             protocols.oauth2.issuer  http://i\n\
             metadata                 {}\n\
             n                        3\n\
             list                     [{\"a\":1}]\n"
        );
    }

    #[test]
    fn cells_stay_on_one_line() {
        assert_eq!(cell(Some(&json!("a\nb"))), "a b");
    }
}
