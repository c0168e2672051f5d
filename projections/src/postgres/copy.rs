//! Writing a rebuilt read model in bulk with `COPY`: one statement per event caps a rebuild
//! at a few thousand events a second.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::PgConnection;

use crate::ProjectionError;

/// Bytes per CopyData message, well under the protocol's limit.
const COPY_CHUNK: usize = 1 << 20;

/// Rows in `COPY … FROM STDIN` text format.
#[derive(Debug, Default)]
pub struct CopyRows {
    text: String,
    row_started: bool,
}

impl CopyRows {
    fn separate(&mut self) {
        if self.row_started {
            self.text.push('\t');
        }
        self.row_started = true;
    }

    pub fn text(&mut self, value: &str) -> &mut Self {
        self.separate();
        for c in value.chars() {
            match c {
                '\\' => self.text.push_str("\\\\"),
                '\n' => self.text.push_str("\\n"),
                '\r' => self.text.push_str("\\r"),
                '\t' => self.text.push_str("\\t"),
                c => self.text.push(c),
            }
        }
        self
    }

    /// A value whose text form needs no escaping (numbers, uuids).
    pub fn plain(&mut self, value: impl std::fmt::Display) -> &mut Self {
        use std::fmt::Write;
        self.separate();
        write!(self.text, "{value}").ok();
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.separate();
        self.text.push_str("\\N");
        self
    }

    pub fn optional_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    pub fn optional_plain(&mut self, value: Option<impl std::fmt::Display>) -> &mut Self {
        match value {
            Some(value) => self.plain(value),
            None => self.null(),
        }
    }

    /// Microseconds, truncated, as the database keeps them and as sqlx binds them, so a
    /// rebuilt row equals the live one.
    pub fn time(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.plain(value.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn optional_time(&mut self, value: Option<DateTime<Utc>>) -> &mut Self {
        match value {
            Some(value) => self.time(value),
            None => self.null(),
        }
    }

    /// A `bytea` in hex (`\\x…`, the backslash escaped for the text format).
    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        use std::fmt::Write;
        self.separate();
        self.text.push_str("\\\\x");
        for byte in value {
            write!(self.text, "{byte:02x}").ok();
        }
        self
    }

    pub fn integers(&mut self, values: &[i32]) -> &mut Self {
        let joined: Vec<String> = values.iter().map(i32::to_string).collect();
        self.plain(format_args!("{{{}}}", joined.join(",")))
    }

    pub fn end_row(&mut self) {
        self.text.push('\n');
        self.row_started = false;
    }

    /// Sends the rows to `COPY table (columns) FROM STDIN`; returns the rows written.
    pub async fn copy_into(
        self,
        connection: &mut PgConnection,
        table: &str,
        columns: &str,
    ) -> Result<u64, ProjectionError> {
        let mut copy = connection
            .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN"))
            .await?;
        for chunk in self.text.as_bytes().chunks(COPY_CHUNK) {
            copy.send(chunk).await?;
        }
        Ok(copy.finish().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_nulls_marked() {
        let mut rows = CopyRows::default();
        rows.text("a\tb\\c\nd")
            .null()
            .plain(0.7)
            .integers(&[0, 2])
            .optional_text(Some("\\N"))
            .bytes(&[0, 171]);
        rows.end_row();
        rows.integers(&[]);
        rows.end_row();
        assert_eq!(
            rows.text,
            "a\\tb\\\\c\\nd\t\\N\t0.7\t{0,2}\t\\\\N\t\\\\x00ab\n{}\n"
        );
    }

    #[test]
    fn times_keep_microseconds_truncated() {
        let at = DateTime::parse_from_rfc3339("2026-11-24T10:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut rows = CopyRows::default();
        rows.time(at);
        assert_eq!(rows.text, "2026-11-24T10:00:00.123456Z");
    }
}
