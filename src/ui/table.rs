//! Plain aligned columns, like `kubectl get`.

/// A table with a header row; columns are padded to their widest cell.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// Add a row. Cells are escaped ([`super::escape`]): whatever a plugin
    /// or server put in them cannot move the cursor or start a new row.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.rows[0].len());
        self.rows.push(
            cells
                .into_iter()
                .map(|c| match super::escape(&c) {
                    std::borrow::Cow::Borrowed(_) => c,
                    std::borrow::Cow::Owned(e) => e,
                })
                .collect(),
        );
    }

    /// Render within `width` columns by shortening the cells of column
    /// `flex` (with `…`); the other columns keep their widths.
    pub fn render_within(&self, width: usize, flex: usize) -> String {
        let cols = self.rows[0].len();
        let fixed: usize = (0..cols)
            .filter(|c| *c != flex)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
                    + 2
            })
            .sum();
        let room = width.saturating_sub(fixed).max(10);
        let mut fitted = Table {
            rows: self.rows.clone(),
        };
        for row in &mut fitted.rows[1..] {
            let cell = &mut row[flex];
            if cell.chars().count() > room {
                *cell = cell.chars().take(room - 1).chain(['…']).collect();
            }
        }
        fitted.render()
    }

    pub fn render(&self) -> String {
        let cols = self.rows[0].len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if c + 1 < cols {
                    let pad = widths[c] - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut t = Table::new(&["NAME", "VERSION"]);
        t.row(vec!["registry".into(), "1.4.0".into()]);
        t.row(vec!["é".into(), "".into()]);
        assert_eq!(t.render(), "NAME      VERSION\nregistry  1.4.0\né\n");
    }
}
