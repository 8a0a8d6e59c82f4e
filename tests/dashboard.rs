//! The Grafana dashboard of the example (`examples/grafana/venta-ws.json`) cannot drift from
//! the metrics: every `venta_ws_*` name a panel's query reads is one of
//! `venta_ws::metrics::NAMES`, and every name there is charted by at least one panel.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use venta_ws::metrics::NAMES;

/// The suffixes Prometheus gives the series of a histogram.
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/grafana/venta-ws.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// Every panel, rows' nested panels included (a collapsed row holds its panels).
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, into: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            into.push(panel);
            if let Some(nested) = panel.get("panels") {
                walk(nested, into);
            }
        }
    }
    let mut all = Vec::new();
    walk(&dashboard["panels"], &mut all);
    all
}

/// The `venta_ws_[a-z0-9_]+` identifiers of a query, with a histogram's suffix taken off
/// when what remains is a known name.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("venta_ws_") {
        let from = &rest[start..];
        let end =
            from.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')).unwrap_or(from.len());
        let name = &from[..end];
        let base = HISTOGRAM_SUFFIXES
            .iter()
            .filter_map(|suffix| name.strip_suffix(suffix))
            .find(|base| NAMES.contains(base))
            .unwrap_or(name);
        names.push(base.to_owned());
        rest = &from[end..];
    }
    names
}

/// `(panel title, expr)` of every query of every panel.
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("(untitled)").to_owned();
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                queries.push((title.clone(), expr.to_owned()));
            }
        }
    }
    queries
}

#[test]
fn the_scanner_finds_every_metric_of_a_query() {
    assert_eq!(
        metric_names(
            "histogram_quantile(0.95, sum by (le) (rate(venta_ws_handler_duration_seconds_bucket{a=\"b\"}[5m]))) \
             / sum(venta_ws_connections) + venta_ws_made_up_count + venta_ws_handshake_duration_seconds_sum"
        ),
        [
            "venta_ws_handler_duration_seconds",
            "venta_ws_connections",
            "venta_ws_made_up_count",
            "venta_ws_handshake_duration_seconds"
        ]
    );
    assert!(metric_names("up{job=\"venta\"}").is_empty());
}

#[test]
fn every_metric_the_dashboard_charts_exists() {
    let dashboard = dashboard();
    let queries = queries(&dashboard);
    assert!(!queries.is_empty(), "the dashboard has no queries");
    for (title, expr) in &queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "panel `{title}` reads no venta-ws metric: {expr}");
        for name in names {
            assert!(
                NAMES.contains(&name.as_str()),
                "panel `{title}` charts `{name}`, which is not in venta_ws::metrics::NAMES: {expr}"
            );
        }
    }
    // The template variables read metrics too.
    for variable in dashboard["templating"]["list"].as_array().expect("templating.list") {
        let query = variable["query"]["query"].as_str().or_else(|| variable["query"].as_str()).unwrap_or_default();
        for name in metric_names(query) {
            assert!(
                NAMES.contains(&name.as_str()),
                "variable `{}` reads `{name}`, which is not in NAMES",
                variable["name"]
            );
        }
    }
}

#[test]
fn every_metric_is_charted_by_a_panel() {
    let charted: BTreeSet<String> = queries(&dashboard()).iter().flat_map(|(_, expr)| metric_names(expr)).collect();
    let missing: Vec<&str> = NAMES.iter().copied().filter(|name| !charted.contains(*name)).collect();
    assert!(missing.is_empty(), "no panel of examples/grafana/venta-ws.json charts {}", missing.join(", "));
}

#[test]
fn the_dashboard_is_importable_anywhere() {
    let dashboard = dashboard();
    let variables = dashboard["templating"]["list"].as_array().expect("templating.list");
    let variable = |name: &str| {
        variables.iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no `{name}` template variable"))
    };
    assert_eq!(variable("datasource")["type"], "datasource");
    assert_eq!(variable("datasource")["query"], "prometheus");
    let namespace = variable("namespace");
    assert_eq!(namespace["type"], "query");
    assert!(namespace["definition"].as_str().is_some_and(|q| q.starts_with("label_values(")), "{namespace}");
    for panel in panels(&dashboard).into_iter().filter(|panel| panel["type"] != "row") {
        let title = &panel["title"];
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "panel {title} names a datasource of its own");
        let targets = panel["targets"].as_array().filter(|targets| !targets.is_empty());
        assert!(targets.is_some(), "panel {title} has no query");
    }
}
