//! Argument checks: a rate or a count that makes no sense is refused by the parser, with
//! the reason, rather than found out mid-run.

/// A rate: finite and above zero.
pub fn rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if r.is_finite() && r > 0.0 {
        Ok(r)
    } else {
        Err("must be a number above 0".into())
    }
}

/// A count of at least one.
pub fn count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a whole number of at least 1".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_is_refused() {
        assert_eq!(rate("200"), Ok(200.0));
        assert!(rate("0").is_err() && rate("-1").is_err() && rate("inf").is_err());
        assert_eq!(count("64"), Ok(64));
        assert!(count("0").is_err() && count("x").is_err());
    }
}
