//! Resource quantities (`k8s.io/apimachinery/pkg/api/resource`): parsing, comparison and the
//! canonical form the API server stores (`0.5` → `500m`, `1000m` → `1`, `1536Mi` → `1536Mi`).

use std::cmp::Ordering;

/// The regular expression upstream's parse error names.
pub(crate) const QUANTITY_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// A parsed quantity: `mantissa × 10^scale`, never finer than nano (`scale >= -9`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quantity {
    mantissa: i128,
    scale: i32,
    format: Format,
}

const MAX_SCALE_DIGITS: i32 = 30;

impl Quantity {
    /// Parses like upstream `ParseQuantity`; values finer than nano round up (away from zero).
    pub(crate) fn parse(s: &str) -> Result<Quantity, &'static str> {
        let s = s.trim();
        if s.is_empty() {
            return Err(QUANTITY_ERROR);
        }
        let (negative, rest) = match s.as_bytes()[0] {
            b'+' => (false, &s[1..]),
            b'-' => (true, &s[1..]),
            _ => (false, s),
        };
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let (number, suffix) = rest.split_at(num_len);
        if number.is_empty() || number.matches('.').count() > 1 || number == "." {
            return Err(QUANTITY_ERROR);
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        let mut mantissa: i128 = 0;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(b - b'0')))
                .ok_or(QUANTITY_ERROR)?;
        }
        let mut scale = -(frac_part.len() as i32);
        let (format, exp10, pow1024) = parse_suffix(suffix)?;
        scale = scale.checked_add(exp10).ok_or(QUANTITY_ERROR)?;
        for _ in 0..pow1024 {
            mantissa = mantissa.checked_mul(1024).ok_or(QUANTITY_ERROR)?;
        }
        if negative {
            mantissa = -mantissa;
        }
        let mut q = Quantity {
            mantissa,
            scale,
            format,
        };
        q.round_up(-9);
        if q.scale > MAX_SCALE_DIGITS {
            // Keep the representation bounded; such sizes do not occur in practice.
            return Err(QUANTITY_ERROR);
        }
        Ok(q)
    }

    /// Rounds to `10^scale` precision, away from zero (upstream `RoundUp`).
    pub(crate) fn round_up(&mut self, scale: i32) {
        if self.scale >= scale {
            return;
        }
        let diff = (scale - self.scale) as u32;
        let div = 10i128.checked_pow(diff);
        match div {
            Some(div) => {
                let q = self.mantissa / div;
                let r = self.mantissa % div;
                self.mantissa = if r > 0 {
                    q + 1
                } else if r < 0 {
                    q - 1
                } else {
                    q
                };
            }
            None => {
                self.mantissa = self.mantissa.signum();
            }
        }
        self.scale = scale;
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    pub(crate) fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// The value in thousandths (upstream `MilliValue`), saturating.
    pub(crate) fn milli_value(&self) -> i128 {
        let mut q = *self;
        q.round_up(-3);
        let shift = q.scale + 3;
        if shift <= 0 {
            q.mantissa
        } else {
            10i128
                .checked_pow(shift as u32)
                .and_then(|p| q.mantissa.checked_mul(p))
                .unwrap_or(i128::MAX)
        }
    }

    /// Sum of two quantities (upstream `Add`), keeping the first one's format.
    pub(crate) fn add(&self, other: &Quantity) -> Quantity {
        let scale = self.scale.min(other.scale);
        let a = scaled(self.mantissa, self.scale - scale);
        let b = scaled(other.mantissa, other.scale - scale);
        Quantity {
            mantissa: a.saturating_add(b),
            scale,
            format: self.format,
        }
    }

    /// The canonical string upstream stores (`Quantity.String()`).
    pub(crate) fn canonical(&self) -> String {
        if self.mantissa == 0 {
            return "0".to_string();
        }
        let mut format = self.format;
        if format == Format::BinarySi {
            let small = self.cmp(&Quantity::from_int(-1024)) == Ordering::Greater
                && self.cmp(&Quantity::from_int(1024)) == Ordering::Less;
            if small || !self.is_integer() {
                format = Format::DecimalSi;
            }
        }
        match format {
            Format::BinarySi => {
                let mut value = if self.scale >= 0 {
                    scaled(self.mantissa, self.scale)
                } else {
                    10i128
                        .checked_pow((-self.scale) as u32)
                        .map_or(0, |p| self.mantissa / p)
                };
                let mut exp = 0;
                while exp < 6 && value % 1024 == 0 {
                    value /= 1024;
                    exp += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
                format!("{value}{suffix}")
            }
            Format::DecimalSi | Format::DecimalExponent => {
                let mut amount = self.mantissa;
                let mut exponent = self.scale;
                while amount % 10 == 0 {
                    amount /= 10;
                    exponent += 1;
                }
                match exponent.rem_euclid(3) {
                    1 => {
                        amount *= 10;
                        exponent -= 1;
                    }
                    2 => {
                        amount *= 100;
                        exponent -= 2;
                    }
                    _ => {}
                }
                let suffix = if format == Format::DecimalExponent {
                    if exponent == 0 {
                        String::new()
                    } else {
                        format!("e{exponent}")
                    }
                } else {
                    match exponent {
                        -9 => "n".to_string(),
                        -6 => "u".to_string(),
                        -3 => "m".to_string(),
                        0 => String::new(),
                        3 => "k".to_string(),
                        6 => "M".to_string(),
                        9 => "G".to_string(),
                        12 => "T".to_string(),
                        15 => "P".to_string(),
                        18 => "E".to_string(),
                        e => format!("e{e}"),
                    }
                };
                format!("{amount}{suffix}")
            }
        }
    }

    fn from_int(v: i128) -> Quantity {
        Quantity {
            mantissa: v,
            scale: 0,
            format: Format::DecimalSi,
        }
    }

    fn is_integer(&self) -> bool {
        if self.scale >= 0 {
            return true;
        }
        match 10i128.checked_pow((-self.scale) as u32) {
            Some(p) => self.mantissa % p == 0,
            None => self.mantissa == 0,
        }
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        let scale = self.scale.min(other.scale);
        let a = scaled(self.mantissa, self.scale - scale);
        let b = scaled(other.mantissa, other.scale - scale);
        a.cmp(&b)
    }
}

/// `m × 10^shift` for `shift >= 0`, saturating.
fn scaled(m: i128, shift: i32) -> i128 {
    if shift <= 0 {
        return m;
    }
    match 10i128
        .checked_pow(shift as u32)
        .and_then(|p| m.checked_mul(p))
    {
        Some(v) => v,
        None if m < 0 => i128::MIN,
        None => i128::MAX,
    }
}

/// (format, base-10 exponent, powers of 1024) of a suffix.
fn parse_suffix(suffix: &str) -> Result<(Format, i32, u32), &'static str> {
    let r = match suffix {
        "" => (Format::DecimalSi, 0, 0),
        "n" => (Format::DecimalSi, -9, 0),
        "u" => (Format::DecimalSi, -6, 0),
        "m" => (Format::DecimalSi, -3, 0),
        "k" => (Format::DecimalSi, 3, 0),
        "M" => (Format::DecimalSi, 6, 0),
        "G" => (Format::DecimalSi, 9, 0),
        "T" => (Format::DecimalSi, 12, 0),
        "P" => (Format::DecimalSi, 15, 0),
        "E" => (Format::DecimalSi, 18, 0),
        "Ki" => (Format::BinarySi, 0, 1),
        "Mi" => (Format::BinarySi, 0, 2),
        "Gi" => (Format::BinarySi, 0, 3),
        "Ti" => (Format::BinarySi, 0, 4),
        "Pi" => (Format::BinarySi, 0, 5),
        "Ei" => (Format::BinarySi, 0, 6),
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().map_err(|_| QUANTITY_ERROR)?;
            if !(-100..=100).contains(&exp) {
                return Err(QUANTITY_ERROR);
            }
            (Format::DecimalExponent, exp, 0)
        }
        _ => return Err(QUANTITY_ERROR),
    };
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Quantity::parse(s).expect("valid quantity").canonical()
    }

    #[test]
    fn decimal_quantities_take_their_canonical_form() {
        assert_eq!(canon("1000m"), "1");
        assert_eq!(canon("0.5"), "500m");
        assert_eq!(canon("1500"), "1500");
        assert_eq!(canon("1000"), "1k");
        assert_eq!(canon("100m"), "100m");
        assert_eq!(canon("0"), "0");
        assert_eq!(canon("1e3"), "1e3");
        assert_eq!(canon("2G"), "2G");
        assert_eq!(canon("-1"), "-1");
    }

    #[test]
    fn binary_quantities_stay_binary_when_exact() {
        assert_eq!(canon("1Gi"), "1Gi");
        assert_eq!(canon("1.5Gi"), "1536Mi");
        assert_eq!(canon("1024Mi"), "1Gi");
        assert_eq!(canon("128Mi"), "128Mi");
        assert_eq!(canon("0.5Ki"), "512");
    }

    #[test]
    fn malformed_quantities_are_rejected() {
        for bad in ["", "abc", "1.2.3", "1Qi", "1 Gi", "--1", "."] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantities_compare_by_value() {
        let a = Quantity::parse("1").expect("1");
        let b = Quantity::parse("1000m").expect("1000m");
        let c = Quantity::parse("1.5").expect("1.5");
        assert_eq!(a, b);
        assert!(c > a);
        assert_eq!(a.add(&c).canonical(), "2500m");
        assert_eq!(Quantity::parse("0.1m").expect("0.1m").milli_value(), 1);
    }

    #[test]
    fn rounding_to_milli_rounds_up() {
        let mut q = Quantity::parse("0.0001").expect("tiny");
        q.round_up(-3);
        assert_eq!(q.canonical(), "1m");
    }
}
