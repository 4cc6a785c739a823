//! Python `repr` of floats and metric dicts, for observations MLGym prints with
//! `str(dict)` (e.g. `Evaluation Score: {'Score': 2.37322998046875}`).

use std::collections::BTreeMap;

/// Python's `repr(float)`: shortest round-trip digits; scientific notation when the
/// decimal exponent is below -4 or at least 16.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits as d.ddddde<exp>.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let mant = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mant}e{esign}{:02}", exp.abs())
    }
}

/// Python's `str()` of a `dict[str, float]`.
pub fn metrics_repr(metrics: &BTreeMap<String, f64>) -> String {
    let items: Vec<String> = metrics
        .iter()
        .map(|(k, v)| format!("{}: {}", str_repr(k), float_repr(*v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// Python's `repr(str)` for ordinary keys (single quotes unless the text has one).
pub fn str_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_python() {
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(2.3716301918029785), "2.3716301918029785");
        assert_eq!(float_repr(-0.24797001481056213), "-0.24797001481056213");
        assert_eq!(float_repr(1e-5), "1e-05");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(123456789012345.0), "123456789012345.0");
        assert_eq!(float_repr(30340.111853413255), "30340.111853413255");
        assert_eq!(float_repr(24000.0), "24000.0");
    }

    #[test]
    fn dict_repr() {
        let mut m = BTreeMap::new();
        m.insert("Score".to_string(), 2.0);
        assert_eq!(metrics_repr(&m), "{'Score': 2.0}");
    }
}
