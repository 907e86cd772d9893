//! Just enough of apimachinery's `resource.Quantity` for describe output: parse, add, compare
//! and print in canonical form (`Quantity.String()`), with nano precision (finer values round
//! up, as upstream does).

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

const NANO: i128 = 1_000_000_000;

/// How a quantity prints, taken from the suffix it was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// A resource quantity in nano units.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quantity {
    nanos: i128,
    format: Format,
}

impl Quantity {
    pub(crate) fn zero() -> Self {
        Quantity {
            nanos: 0,
            format: Format::DecimalSi,
        }
    }

    /// Parses `1`, `100m`, `1.5Gi`, `2e3`, `-5k`; `None` when malformed or out of range.
    pub(crate) fn parse(s: &str) -> Option<Quantity> {
        let s = s.trim();
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let digits_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(digits_end);
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
            return None;
        }
        let all_digits = format!("{int_part}{frac_part}");
        if all_digits.len() > 30 {
            return None;
        }
        let mantissa: i128 = all_digits.parse().ok()?;
        let (format, mut num, mut den): (Format, i128, i128) = match suffix {
            "" => (Format::DecimalSi, 1, 1),
            "n" => (Format::DecimalSi, 1, 1_000_000_000),
            "u" => (Format::DecimalSi, 1, 1_000_000),
            "m" => (Format::DecimalSi, 1, 1_000),
            "k" => (Format::DecimalSi, 1_000, 1),
            "M" => (Format::DecimalSi, 1_000_000, 1),
            "G" => (Format::DecimalSi, 10_i128.pow(9), 1),
            "T" => (Format::DecimalSi, 10_i128.pow(12), 1),
            "P" => (Format::DecimalSi, 10_i128.pow(15), 1),
            "E" => (Format::DecimalSi, 10_i128.pow(18), 1),
            "Ki" => (Format::BinarySi, 1 << 10, 1),
            "Mi" => (Format::BinarySi, 1 << 20, 1),
            "Gi" => (Format::BinarySi, 1 << 30, 1),
            "Ti" => (Format::BinarySi, 1 << 40, 1),
            "Pi" => (Format::BinarySi, 1 << 50, 1),
            "Ei" => (Format::BinarySi, 1 << 60, 1),
            other => {
                let exp = other.strip_prefix(['e', 'E'])?;
                let exp: i32 = exp.parse().ok()?;
                if exp.unsigned_abs() > 30 {
                    return None;
                }
                let p = 10_i128.pow(exp.unsigned_abs());
                if exp >= 0 {
                    (Format::DecimalExponent, p, 1)
                } else {
                    (Format::DecimalExponent, 1, p)
                }
            }
        };
        num = num.checked_mul(NANO)?.checked_mul(mantissa)?;
        den = den.checked_mul(10_i128.checked_pow(u32::try_from(frac_part.len()).ok()?)?)?;
        // Round up anything finer than a nano unit.
        let mut nanos = num / den + i128::from(num % den != 0);
        if negative {
            nanos = -nanos;
        }
        Some(Quantity { nanos, format })
    }

    /// A quantity from a JSON string or number; `None` when absent or malformed.
    pub(crate) fn from_json(v: Option<&Value>) -> Option<Quantity> {
        match v? {
            Value::String(s) => Quantity::parse(s),
            Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => None,
        }
    }

    pub(crate) fn add(&mut self, other: &Quantity) {
        self.nanos = self.nanos.saturating_add(other.nanos);
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// `Quantity.MilliValue()`: the value in milli units, rounded up.
    pub(crate) fn milli_value(&self) -> i128 {
        ceil_div(self.nanos, 1_000_000)
    }

    /// `Quantity.Value()`: the value in units, rounded up.
    pub(crate) fn value(&self) -> i128 {
        ceil_div(self.nanos, NANO)
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b > 0 { q + 1 } else { q }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.nanos.cmp(&other.nanos))
    }
}

impl fmt::Display for Quantity {
    /// The canonical form of `Quantity.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let mut format = self.format;
        if format == Format::BinarySi && (self.nanos.abs() < 1024 * NANO || self.nanos % NANO != 0)
        {
            format = Format::DecimalSi;
        }
        if format == Format::BinarySi {
            let mut v = self.nanos / NANO;
            let mut exp = 0;
            while exp < 6 && v % 1024 == 0 {
                v /= 1024;
                exp += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
            return write!(f, "{v}{suffix}");
        }
        let mut m = self.nanos;
        let mut e: i32 = -9;
        while m % 10 == 0 {
            m /= 10;
            e += 1;
        }
        let rem = e.rem_euclid(3);
        m *= 10_i128.pow(rem.unsigned_abs());
        e -= rem;
        let suffix = match (format, e) {
            (Format::DecimalExponent, 0) => String::new(),
            (Format::DecimalExponent, e) => format!("e{e}"),
            (_, -9) => "n".to_string(),
            (_, -6) => "u".to_string(),
            (_, -3) => "m".to_string(),
            (_, 0) => String::new(),
            (_, 3) => "k".to_string(),
            (_, 6) => "M".to_string(),
            (_, 9) => "G".to_string(),
            (_, 12) => "T".to_string(),
            (_, 15) => "P".to_string(),
            (_, 18) => "E".to_string(),
            (_, e) => format!("e{e}"),
        };
        write!(f, "{m}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Quantity::parse(s)
            .map(|q| q.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn canonical_forms_match_apimachinery() {
        assert_eq!(canon("100m"), "100m");
        assert_eq!(canon("0.5"), "500m");
        assert_eq!(canon("2000m"), "2");
        assert_eq!(canon("1200000"), "1200k");
        assert_eq!(canon("1024Mi"), "1Gi");
        assert_eq!(canon("1.5Gi"), "1536Mi");
        assert_eq!(canon("1000Mi"), "1000Mi");
        assert_eq!(canon("512"), "512");
        assert_eq!(canon("1e3"), "1e3");
        assert_eq!(canon("0"), "0");
        assert_eq!(canon("-5k"), "-5k");
        assert_eq!(canon("1.5n"), "2n");
    }

    #[test]
    fn malformed_quantities_are_rejected() {
        for bad in ["", "abc", "1.2.3", "5Qi", "-", "1e"] {
            assert!(Quantity::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sums_keep_the_first_format_and_round_values_up() {
        let mut q = Quantity::parse("64Mi").unwrap();
        q.add(&Quantity::parse("64Mi").unwrap());
        assert_eq!(q.to_string(), "128Mi");
        let mut c = Quantity::parse("1").unwrap();
        c.add(&Quantity::parse("500m").unwrap());
        assert_eq!(c.to_string(), "1500m");
        assert_eq!(c.milli_value(), 1500);
        assert_eq!(c.value(), 2);
    }
}
