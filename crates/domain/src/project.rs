//! Project names: the boundary around jobs, their logs and a shared `/storage`.

use crate::Error;

/// Checks a project name: it becomes a folder name and a container label, so it is kept to
/// lowercase letters, digits, `-`, `_` and `.`.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let ok_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if name.len() > 64 || !ok_start || !ok_rest {
        return Err(Error::Invalid(format!(
            "project name {name:?} is not valid: use 1-64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_refuses_odd_ones() {
        assert!(validate_name("salary").is_ok());
        assert!(validate_name("iris-2.v1_x").is_ok());
        for bad in ["", "Salary", "-x", "a/b", "a b", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
