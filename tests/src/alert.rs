//! Reading the sensor's ECS alert documents: field access by dotted path (nested objects, or a
//! flat dotted key at any level), and picking out the alerts that belong to one connect.

use std::net::IpAddr;

use serde_json::Value;

use crate::connector::ConnectReport;

/// The rule's id; every alert must carry it in `rule.id`.
pub const RULE_ID: &str = "63431796-f813-43af-820b-492ee2efec8e";

/// The value at `path` ("process.parent.pid"), looking through nested objects and also
/// accepting flat dotted keys ("process.parent.pid" as one key, or "parent.pid" inside
/// "process").
pub fn field<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let object = doc.as_object()?;
    if let Some(value) = object.get(path) {
        return Some(value);
    }
    path.match_indices('.').find_map(|(at, _)| {
        let (head, tail) = (&path[..at], &path[at + 1..]);
        object.get(head).and_then(|inner| field(inner, tail))
    })
}

/// `field` as an integer (also accepting a numeric string).
pub fn int_field(doc: &Value, path: &str) -> Option<i64> {
    match field(doc, path)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `destination.ip` parsed as an address (so `2001:db8::1` matches any spelling of it).
pub fn destination_ip(doc: &Value) -> Option<IpAddr> {
    field(doc, "destination.ip")?.as_str()?.parse().ok()
}

/// True if the alert is about the connect described by `report`: its `process.pid` is the
/// connector, or its `process.parent.pid` is the connector's shell and it names the same
/// destination.
pub fn is_about(doc: &Value, report: &ConnectReport) -> bool {
    let by_pid = int_field(doc, "process.pid") == Some(i64::from(report.pid));
    let by_parent = int_field(doc, "process.parent.pid") == Some(i64::from(report.ppid))
        && destination_ip(doc) == report.dest.parse().ok();
    by_pid || by_parent
}

/// The alerts about `report`'s connect.
pub fn about<'a>(alerts: &'a [Value], report: &ConnectReport) -> Vec<&'a Value> {
    alerts.iter().filter(|a| is_about(a, report)).collect()
}

/// All alerts, pretty-printed, for failure messages.
pub fn dump(alerts: &[Value]) -> String {
    if alerts.is_empty() {
        return "(no alerts at all)".to_owned();
    }
    alerts
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Nanoseconds since the epoch of an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SS[.frac]Z`, as the
/// sensor writes them (`@timestamp`, `event.start`); `None` for anything else.
pub fn epoch_ns(ts: &str) -> Option<i128> {
    let (date, time) = ts.strip_suffix('Z')?.split_once('T')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [y, m, day] = d[..] else { return None };
    let [h, min, s] = t[..] else { return None };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let frac_ns: i128 = format!("{frac:0<9}").get(..9)?.parse().ok()?;
    Some(i128::from(days * 86_400 + h * 3600 + min * 60 + s) * 1_000_000_000 + frac_ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_nested_and_flat_fields() {
        let nested =
            json!({"process": {"pid": 7, "parent": {"pid": 3}}, "destination": {"ip": "8.8.8.8"}});
        let flat = json!({"process.pid": 7, "process": {"parent.pid": 3}});
        assert_eq!(int_field(&nested, "process.parent.pid"), Some(3));
        assert_eq!(int_field(&flat, "process.pid"), Some(7));
        assert_eq!(int_field(&flat, "process.parent.pid"), Some(3));
        assert_eq!(destination_ip(&nested), "8.8.8.8".parse().ok());
        assert_eq!(field(&nested, "process.missing"), None);
    }
}
