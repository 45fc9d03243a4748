//! Dates as Debian writes them: a Release file's `Date:` (RFC 1123, `UTC`)
//! and a changelog trailer's (RFC 2822, `+0000`), and reading either back.

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` of a day number since 1970-01-01 (inverse
/// of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The year (UTC) of a Unix time, for a copyright notice.
pub fn year(t: i64) -> i64 {
    civil_from_days(t.div_euclid(86_400)).0
}

/// `Tue, 24 Nov 2026 23:21:28 UTC` for a Unix time (a Release `Date:`).
pub fn format(t: i64) -> String {
    format_zone(t, "UTC")
}

/// `Tue, 24 Nov 2026 23:21:28 +0000` for a Unix time (a changelog trailer,
/// as `date -R -u` writes it).
pub fn rfc2822(t: i64) -> String {
    format_zone(t, "+0000")
}

/// The date and time of `t` in UTC, followed by `zone`.
fn format_zone(t: i64, zone: &str) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let wd = DAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let mon = MONTHS[usize::try_from(m - 1).unwrap_or(0)];
    format!(
        "{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} {zone}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Read a date back (zone `UTC`, `GMT`, `Z` or `±HHMM`).
pub fn parse(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text.split_once(", ").map_or(text, |(_, rest)| rest);
    let mut words = text.split_ascii_whitespace();
    let day: i64 = words.next()?.parse().ok()?;
    let month_name = words.next()?;
    let month = MONTHS
        .iter()
        .position(|x| x.eq_ignore_ascii_case(month_name))?;
    let month = i64::try_from(month + 1).ok()?;
    let year: i64 = words.next()?.parse().ok()?;
    let mut clock = words.next()?.split(':').map(str::parse::<i64>);
    let (hour, minute, second) = (
        clock.next()?.ok()?,
        clock.next()?.ok()?,
        clock.next()?.ok()?,
    );
    let offset = match words.next().unwrap_or("UTC") {
        "UTC" | "GMT" | "Z" | "UT" => 0,
        zone if zone.len() == 5 && (zone.starts_with('+') || zone.starts_with('-')) => {
            let hhmm: i64 = zone[1..].parse().ok()?;
            let secs = (hhmm / 100) * 3600 + (hhmm % 100) * 60;
            if zone.starts_with('-') { -secs } else { secs }
        }
        _ => return None,
    };
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_debian() {
        assert_eq!(format(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        // date -u -d @1795562488
        assert_eq!(format(1_795_562_488), "Tue, 24 Nov 2026 23:21:28 UTC");
        assert_eq!(format(951_782_400), "Tue, 29 Feb 2000 00:00:00 UTC");
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822(1_795_562_488), "Tue, 24 Nov 2026 23:21:28 +0000");
        assert_eq!(parse(&rfc2822(1_795_562_488)), Some(1_795_562_488));
    }

    #[test]
    fn parses_back_and_other_zones() {
        for t in [0, 951_782_400, 1_795_562_488, 4_102_444_799] {
            assert_eq!(parse(&format(t)), Some(t));
        }
        assert_eq!(
            parse("Tue, 24 Nov 2026 23:21:28 +0000"),
            Some(1_795_562_488)
        );
        assert_eq!(
            parse("Wed, 25 Nov 2026 01:21:28 +0200"),
            Some(1_795_562_488)
        );
        assert_eq!(parse("garbage"), None);
    }
}
