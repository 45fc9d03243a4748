//! Build time: `SOURCE_DATE_EPOCH`, read the same way by every tool.

use crate::error::{Error, Result};

/// Parse a `SOURCE_DATE_EPOCH` value (seconds since 1970): `None` when
/// unset, an error naming the variable when it is not a number.
pub fn parse_source_date_epoch(value: Option<&str>) -> Result<Option<i64>> {
    match value {
        None => Ok(None),
        Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
            Error::env(
                "SOURCE_DATE_EPOCH",
                format!("must be a number of seconds since 1970, got {v:?}"),
            )
        }),
    }
}

/// `SOURCE_DATE_EPOCH` from the environment (see [`parse_source_date_epoch`]).
pub fn source_date_epoch() -> Result<Option<i64>> {
    parse_source_date_epoch(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

/// `SOURCE_DATE_EPOCH` when set, else the current time, in seconds.
pub fn build_time() -> Result<i64> {
    Ok(source_date_epoch()?.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_or_names_the_variable() {
        assert_eq!(parse_source_date_epoch(None).unwrap(), None);
        assert_eq!(
            parse_source_date_epoch(Some(" 1700000000\n")).unwrap(),
            Some(1_700_000_000)
        );
        let e = parse_source_date_epoch(Some("yesterday"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("SOURCE_DATE_EPOCH: "), "{e}");
    }
}
