//! Durations on the command line: `90s`, `15m`, `24h`, `7d`, `0`, or a
//! bare number of seconds.

use std::time::Duration;

/// Parse a duration such as `36h` or `1h30m`. clap calls this for
/// `--grace`, `--wait` and `--lock-ttl`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration (examples: 90s, 15m, 24h, 7d)".into());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("{text:?}: unknown unit {c:?} (use s, m, h or d)")),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{text:?}: a number must come before {c:?}"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("{text:?}: too long"))?;
        num.clear();
    }
    if !num.is_empty() {
        return Err(format!("{text:?}: number without a unit at the end"));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_sums() {
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("24h"), Ok(Duration::from_hours(24)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_mins(90)));
        assert_eq!(parse("2d"), Ok(Duration::from_hours(48)));
        for bad in ["", "h", "5x", "1h5", "-3s"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
