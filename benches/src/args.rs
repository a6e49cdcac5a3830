//! A small hand-written command-line parser (no clap): flags (`--pin`), options with a value
//! (`-n 1000`, `--url URL`, `--url=URL`), and clear errors for unknown or malformed arguments.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

/// A command-line mistake, with a message meant for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Walks the arguments: call [`ArgParser::next_flag`] in a loop and, for options that take a
/// value, [`ArgParser::value`] or [`ArgParser::parsed`] right after.
#[derive(Debug)]
pub struct ArgParser {
    rest: VecDeque<String>,
    /// The flag last returned and a value given inline with it (`--url=...`), not yet taken.
    current: Option<(String, Option<String>)>,
}

impl ArgParser {
    /// A parser over `args` (without the program name).
    pub fn new(args: impl IntoIterator<Item = String>) -> ArgParser {
        ArgParser {
            rest: args.into_iter().collect(),
            current: None,
        }
    }

    /// A parser over the process's arguments.
    pub fn from_env() -> ArgParser {
        ArgParser::new(std::env::args().skip(1))
    }

    /// The next flag (`-n`, `--url`), or `None` at the end. A positional argument, or an inline
    /// value given to the previous flag that it did not take, is an error.
    pub fn next_flag(&mut self) -> Result<Option<String>, UsageError> {
        if let Some((flag, Some(_))) = &self.current {
            return Err(UsageError(format!("{flag} does not take a value")));
        }
        let Some(arg) = self.rest.pop_front() else {
            self.current = None;
            return Ok(None);
        };
        if !arg.starts_with('-') || arg == "-" {
            return Err(UsageError(format!("unexpected argument '{arg}'")));
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        self.current = Some((flag.clone(), inline));
        Ok(Some(flag))
    }

    /// The value of the flag just returned (inline `--x=v` or the next argument).
    pub fn value(&mut self) -> Result<String, UsageError> {
        let Some((flag, inline)) = self.current.as_mut() else {
            return Err(UsageError("no option to take a value for".into()));
        };
        if let Some(v) = inline.take() {
            return Ok(v);
        }
        match self.rest.pop_front() {
            Some(v) => Ok(v),
            None => Err(UsageError(format!("{flag} needs a value"))),
        }
    }

    /// The value of the flag just returned, parsed.
    pub fn parsed<T: FromStr>(&mut self) -> Result<T, UsageError> {
        let v = self.value()?;
        let flag = self
            .current
            .as_ref()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        v.parse()
            .map_err(|_| UsageError(format!("{flag}: '{v}' is not a valid value")))
    }

    /// The value of the flag just returned, parsed as a count of at least 1.
    pub fn positive(&mut self) -> Result<usize, UsageError> {
        let n: usize = self.parsed()?;
        if n == 0 {
            let flag = self
                .current
                .as_ref()
                .map(|c| c.0.clone())
                .unwrap_or_default();
            return Err(UsageError(format!("{flag} must be at least 1")));
        }
        Ok(n)
    }

    /// The error for a flag the program does not know.
    pub fn unknown(&self, flag: &str) -> UsageError {
        UsageError(format!("unknown option '{flag}' (try --help)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(args: &[&str]) -> ArgParser {
        ArgParser::new(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_and_values_in_both_forms() {
        let mut p = parser(&["-n", "10", "--url=valkey://h:1", "--pin", "--rounds", "7"]);
        assert_eq!(p.next_flag().unwrap().as_deref(), Some("-n"));
        assert_eq!(p.positive().unwrap(), 10);
        assert_eq!(p.next_flag().unwrap().as_deref(), Some("--url"));
        assert_eq!(p.value().unwrap(), "valkey://h:1");
        assert_eq!(p.next_flag().unwrap().as_deref(), Some("--pin"));
        assert_eq!(p.next_flag().unwrap().as_deref(), Some("--rounds"));
        assert_eq!(p.parsed::<u32>().unwrap(), 7);
        assert_eq!(p.next_flag().unwrap(), None);
    }

    #[test]
    fn mistakes_are_named() {
        let mut p = parser(&["-n"]);
        p.next_flag().unwrap();
        assert_eq!(p.value().unwrap_err().0, "-n needs a value");

        let mut p = parser(&["-n", "ten"]);
        p.next_flag().unwrap();
        assert_eq!(
            p.positive().unwrap_err().0,
            "-n: 'ten' is not a valid value"
        );

        let mut p = parser(&["-P", "0"]);
        p.next_flag().unwrap();
        assert_eq!(p.positive().unwrap_err().0, "-P must be at least 1");

        let mut p = parser(&["--pin=yes", "-n", "1"]);
        p.next_flag().unwrap();
        assert_eq!(p.next_flag().unwrap_err().0, "--pin does not take a value");

        let mut p = parser(&["stray"]);
        assert_eq!(p.next_flag().unwrap_err().0, "unexpected argument 'stray'");
    }
}
