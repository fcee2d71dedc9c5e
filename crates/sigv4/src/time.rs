//! Timestamps: the ISO-8601 basic format SigV4 uses (`20150830T123600Z`), the
//! HTTP `Date` format (`Sun, 06 Nov 1994 08:49:37 GMT`), and conversion to and
//! from Unix seconds, without a date library.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses exactly `n` ASCII digits.
fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn to_unix(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    let valid = (1..=12).contains(&mo)
        && (1..=days_in_month(y, mo)).contains(&d)
        && (0..24).contains(&h)
        && (0..60).contains(&mi)
        && (0..60).contains(&s);
    valid.then(|| days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Parses `yyyymmddThhmmssZ` to Unix seconds.
pub(crate) fn parse_iso_basic(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    // `get` (not slicing) so a multi-byte character can never cause a panic.
    let (date, time) = (s.get(0..8)?, s.get(9..15)?);
    to_unix(
        digits(date.get(0..4)?)?,
        digits(date.get(4..6)?)?,
        digits(date.get(6..8)?)?,
        digits(time.get(0..2)?)?,
        digits(time.get(2..4)?)?,
        digits(time.get(4..6)?)?,
    )
}

/// Parses an HTTP IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
/// The weekday is required in form but not cross-checked against the date.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut it = s.split(' ');
    let (wd, day, mon, year, hms, zone) = (
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    );
    if it.next().is_some()
        || zone != "GMT"
        || wd.len() != 4
        || !wd.ends_with(',')
        || day.len() != 2
        || year.len() != 4
    {
        return None;
    }
    let mo = MONTHS.iter().position(|m| *m == mon)? as i64 + 1;
    let mut t = hms.split(':');
    let (h, mi, sec) = (t.next()?, t.next()?, t.next()?);
    if t.next().is_some() || h.len() != 2 || mi.len() != 2 || sec.len() != 2 {
        return None;
    }
    to_unix(
        digits(year)?,
        mo,
        digits(day)?,
        digits(h)?,
        digits(mi)?,
        digits(sec)?,
    )
}

/// Formats Unix seconds as `yyyy-mm-ddThh:mm:ssZ` (ISO 8601 extended, UTC),
/// as CloudTrail, IAM and policy date conditions write times.
pub fn format_iso_extended(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60);
    }
    // Digit by digit: every audit event's time is formatted here, and
    // `format!` took ~2,500 instructions a request (docs/BENCHMARKS.md).
    let mut out = String::with_capacity(20);
    let mut push = |n: i64, width: u32, sep: Option<char>| {
        for place in (0..width).rev() {
            // A decimal digit: 0..=9.
            out.push(char::from(b'0' + (n / 10i64.pow(place) % 10) as u8));
        }
        if let Some(sep) = sep {
            out.push(sep);
        }
    };
    push(y, 4, Some('-'));
    push(m, 2, Some('-'));
    push(d, 2, Some('T'));
    push(secs / 3600, 2, Some(':'));
    push(secs % 3600 / 60, 2, Some(':'));
    push(secs % 60, 2, Some('Z'));
    out
}

/// Formats Unix seconds as `yyyymmddThhmmssZ`.
pub fn format_iso_basic(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip() {
        assert_eq!(parse_iso_basic("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(format_iso_basic(1_440_938_160), "20150830T123600Z");
        assert_eq!(parse_iso_basic("19700101T000000Z"), Some(0));
        assert_eq!(parse_iso_basic("20000229T235959Z"), Some(951_868_799));
        for t in [0, 951_868_799, 1_440_938_160, 4_102_444_800, -86_400] {
            assert_eq!(parse_iso_basic(&format_iso_basic(t)), Some(t));
        }
    }

    #[test]
    fn iso_extended_is_what_format_writes() {
        let by_format = |t: i64| {
            let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
            let (y, m, d) = civil_from_days(days);
            format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
        };
        assert_eq!(format_iso_extended(1_440_938_160), "2015-08-30T12:36:00Z");
        for t in [0, 59, 3_599, 86_399, 951_868_799, 1_440_938_160, 4_102_444_800, 253_402_300_799, 253_402_300_800, -86_400, -62_167_219_201] {
            assert_eq!(format_iso_extended(t), by_format(t), "{t}");
        }
        let mut t = -1_000_000_007i64;
        while t < 5_000_000_000 {
            assert_eq!(format_iso_extended(t), by_format(t), "{t}");
            t += 7_777_777;
        }
    }

    #[test]
    fn iso_rejects_bad_forms() {
        for s in [
            "",
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "20150830t123600Z",
            "20150830T123600z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20190229T000000Z",
            "20150830T243600Z",
            "20150830T126000Z",
            "20150830T123660Z",
            "2015083aT123600Z",
            "+0150830T123600Z",
            "20150830T1236001Z",
            "2015083\u{e9}T12360Z",
        ] {
            assert_eq!(parse_iso_basic(s), None, "{s:?}");
        }
    }

    #[test]
    fn http_date() {
        assert_eq!(
            parse_http_date("Mon, 09 Sep 2011 23:36:00 GMT"),
            parse_iso_basic("20110909T233600Z")
        );
        assert_eq!(parse_http_date("Mon, 09 Sep 2011 23:36:00 UTC"), None);
        assert_eq!(parse_http_date("Mon, 9 Sep 2011 23:36:00 GMT"), None);
        assert_eq!(parse_http_date("Mon, 31 Sep 2011 23:36:00 GMT"), None);
        assert_eq!(parse_http_date("Monday, 09-Sep-11 23:36:00 GMT"), None);
    }
}
