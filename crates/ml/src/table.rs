//! A whole CSV file in memory, for models that need every row at once (decision trees on
//! small tabular data such as iris).

use std::path::Path;

use crate::{Error, Result};

pub(crate) struct Table {
    pub(crate) names: Vec<String>,
    /// Each row's cells and its line in the file.
    pub(crate) rows: Vec<(u64, Vec<String>)>,
}

impl Table {
    pub(crate) fn load(path: &Path) -> Result<Table> {
        let header = super::csvscan::read_header(path)?; // clear errors for missing or empty files
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_path(path)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, csv::Position::line);
                Error::Invalid(format!("{}:{line}: {e}", path.display()))
            })?;
            if record.iter().all(str::is_empty) {
                continue;
            }
            let line = record.position().map_or(0, csv::Position::line);
            if record.len() < header.names.len() {
                return Err(Error::Invalid(format!(
                    "{}:{line}: the row has {} fields, fewer than the header",
                    path.display(),
                    record.len()
                )));
            }
            rows.push((line, record.iter().map(str::to_string).collect()));
        }
        if rows.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: there are no data rows, only a header: add rows below it",
                path.display()
            )));
        }
        Ok(Table {
            names: header.names,
            rows,
        })
    }
}
