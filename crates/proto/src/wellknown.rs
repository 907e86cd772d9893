//! The apimachinery types whose JSON form is not their protobuf structure: each has a
//! custom `MarshalJSON` in Go, mirrored here.

use base64::Engine as _;
use prost_reflect::{DynamicMessage, ReflectMessage as _, Value as PValue};
use serde_json::Value;

/// Go's `time.Time{}` (0001-01-01T00:00:00Z) in Unix seconds; `metav1.Time.IsZero`.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// Reads an optional scalar field by name, `None` when absent on the wire.
fn field<'m>(msg: &'m DynamicMessage, name: &str) -> Option<std::borrow::Cow<'m, PValue>> {
    let fd = msg.descriptor().get_field_by_name(name)?;
    msg.has_field(&fd).then(|| msg.get_field(&fd))
}

fn i64_field(msg: &DynamicMessage, name: &str) -> i64 {
    match field(msg, name).as_deref() {
        Some(PValue::I64(v)) => *v,
        Some(PValue::I32(v)) => i64::from(*v),
        _ => 0,
    }
}

/// `metav1.Time` / `metav1.MicroTime` {seconds=1, nanos=2}. An empty message is Go's zero
/// time (`Time.Unmarshal` of no bytes), which marshals to JSON `null`; otherwise RFC 3339 in
/// UTC, seconds precision for `Time` (`time.RFC3339`) and 6 fraction digits for `MicroTime`
/// (`RFC3339Micro`). Upstream: apimachinery/pkg/apis/meta/v1/time.go, micro_time.go.
pub(crate) fn time(msg: &DynamicMessage, micro: bool) -> Result<Value, String> {
    if field(msg, "seconds").is_none() && field(msg, "nanos").is_none() {
        return Ok(Value::Null);
    }
    let seconds = i64_field(msg, "seconds");
    let nanos = i64_field(msg, "nanos");
    if seconds == GO_ZERO_TIME_UNIX && nanos == 0 {
        return Ok(Value::Null);
    }
    let nanos = i32::try_from(nanos)
        .ok()
        .filter(|n| (0..1_000_000_000).contains(n))
        .ok_or_else(|| format!("time nanos {nanos} out of range"))?;
    let ts = jiff::Timestamp::new(seconds, nanos)
        .map_err(|e| format!("time {seconds}s is out of range: {e}"))?;
    // Go's MarshalJSON refuses years outside [0,9999]; jiff's range is narrower than that
    // on the negative side, which the constructor above already rejected.
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    if dt.year() < 0 {
        return Err(format!("time year {} outside of range [0,9999]", dt.year()));
    }
    let text = if micro {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.subsec_nanosecond() / 1000
        )
    } else {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        )
    };
    Ok(Value::String(text))
}

/// `metav1.Duration` {duration=1 int64 nanoseconds} marshals as Go's `time.Duration.String()`.
pub(crate) fn duration(msg: &DynamicMessage) -> Value {
    Value::String(go_duration(i64_field(msg, "duration")))
}

/// Go's `time.Duration.String()`: "1h2m3.5s", "1.5ms", "0s". Upstream: src/time/time.go.
pub(crate) fn go_duration(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    const SECOND: u64 = 1_000_000_000;
    if u < SECOND {
        let (prec, unit) = match u {
            0 => return "0s".to_owned(),
            1..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (frac, whole) = fmt_frac(u, prec);
        out.push_str(&whole.to_string());
        out.push_str(&frac);
        out.push_str(unit);
    } else {
        let (frac, secs) = fmt_frac(u, 9);
        u = secs;
        let s = u % 60;
        u /= 60;
        if u > 0 {
            let m = u % 60;
            u /= 60;
            if u > 0 {
                out.push_str(&format!("{u}h"));
            }
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&format!("{s}{frac}s"));
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// The fraction of `v / 10^prec` as ".123" without trailing zeros (empty when zero), and
/// the integer part.
fn fmt_frac(v: u64, prec: u32) -> (String, u64) {
    let div = 10u64.pow(prec);
    let frac = v % div;
    if frac == 0 {
        return (String::new(), v / div);
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    (format!(".{}", digits.trim_end_matches('0')), v / div)
}

/// `resource.Quantity` {string=1} marshals as its string; the zero Quantity as "0".
pub(crate) fn quantity(msg: &DynamicMessage) -> Value {
    match field(msg, "string").as_deref() {
        Some(PValue::String(s)) if !s.is_empty() => Value::String(s.clone()),
        _ => Value::String("0".to_owned()),
    }
}

/// `intstr.IntOrString` {type=1 (0 int, 1 string), intVal=2, strVal=3} marshals as the
/// number or the string. Upstream: apimachinery/pkg/util/intstr/intstr.go MarshalJSON.
pub(crate) fn int_or_string(msg: &DynamicMessage) -> Result<Value, String> {
    match i64_field(msg, "type") {
        0 => Ok(Value::from(i64_field(msg, "intVal"))),
        1 => match field(msg, "strVal").as_deref() {
            Some(PValue::String(s)) => Ok(Value::String(s.clone())),
            _ => Ok(Value::String(String::new())),
        },
        other => Err(format!("impossible IntOrString.Type {other}")),
    }
}

/// The `raw` bytes field of `runtime.RawExtension` or the `Raw` field of `metav1.FieldsV1`.
pub(crate) fn raw_bytes(msg: &DynamicMessage, name: &str) -> Option<Vec<u8>> {
    match field(msg, name).as_deref() {
        Some(PValue::Bytes(b)) => Some(b.to_vec()),
        _ => None,
    }
}

/// Bytes fields marshal as standard base64 (Go's `[]byte` JSON form).
pub(crate) fn base64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}
