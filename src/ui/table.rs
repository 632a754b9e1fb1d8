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
        let widths = self.widths();
        let fixed: usize = widths
            .iter()
            .enumerate()
            .filter(|(c, _)| *c != flex)
            .map(|(_, w)| w + 2)
            .sum();
        let room = width.saturating_sub(fixed).max(10);
        self.render_with(&widths, Some((flex, room)))
    }

    pub fn render(&self) -> String {
        self.render_with(&self.widths(), None)
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths = vec![0; self.rows[0].len()];
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        widths
    }

    /// Each row padded to `widths`; `limit` cuts one column's cells.
    fn render_with(&self, widths: &[usize], limit: Option<(usize, usize)>) -> String {
        let cols = widths.len();
        let mut widths = widths.to_vec();
        if let Some((flex, room)) = limit {
            widths[flex] = widths[flex].min(room);
        }
        let mut out = String::with_capacity(self.rows.len() * 64);
        let mut line = String::new();
        for row in &self.rows {
            line.clear();
            for (c, cell) in row.iter().enumerate() {
                let n = cell.chars().count();
                let shown = match limit {
                    Some((flex, room)) if c == flex && n > room => {
                        line.extend(cell.chars().take(room - 1));
                        line.push('…');
                        room
                    }
                    _ => {
                        line.push_str(cell);
                        n
                    }
                };
                if c + 1 < cols {
                    let pad = widths[c].saturating_sub(shown) + 2;
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

    #[test]
    fn fits_a_width_by_cutting_one_column() {
        let mut t = Table::new(&["NAME", "DESCRIPTION", "X"]);
        t.row(vec!["a".into(), "d".repeat(50), "x".into()]);
        t.row(vec!["bb".into(), "short".into(), "y".into()]);
        let out = t.render_within(30, 1);
        for line in out.lines() {
            assert!(line.chars().count() <= 30, "{line:?} in\n{out}");
        }
        assert!(out.contains(&format!("{}…", "d".repeat(19))), "{out}");
        assert!(out.contains("short"), "{out}");
        // Rows stay aligned: X starts in the same column on every line.
        let cols: Vec<usize> = out
            .lines()
            .skip(1)
            .map(|l| l.chars().position(|c| c == 'x' || c == 'y').unwrap())
            .collect();
        assert_eq!(cols[0], cols[1], "{out}");
    }
}
