//! SQLite's reading of a statement written in PostgreSQL's dialect (see `db.rs`): `$n` becomes
//! `?n`, a `::type` cast goes (SQLite's columns say their types), `= ANY($n)` becomes a
//! membership in the JSON array bound as `$n`, and a `FOR UPDATE [OF t] [SKIP LOCKED]` goes
//! (a SQLite write transaction holds the whole database: `BEGIN IMMEDIATE`). Text inside quotes
//! is copied as it is. Must not: change anything else.

/// The statement as SQLite reads it.
pub(crate) fn translate(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16);
    let mut i = 0;
    let mut copied = 0;
    let flush = |out: &mut String, upto: usize, copied: &mut usize| {
        out.push_str(&sql[*copied..upto]);
        *copied = upto;
    };
    while i < b.len() {
        match b[i] {
            b'\'' => {
                // a literal: to its closing quote ('' is an escaped quote inside it)
                i += 1;
                while i < b.len() {
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'$' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                flush(&mut out, i, &mut copied);
                out.push('?');
                i += 1;
                copied = i;
            }
            b':' if b.get(i + 1) == Some(&b':') => {
                flush(&mut out, i, &mut copied);
                i += 2;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                if sql[i..].starts_with("[]") {
                    i += 2;
                }
                copied = i;
            }
            b'=' if sql[i..].starts_with("= ANY($") => {
                flush(&mut out, i, &mut copied);
                let n_start = i + "= ANY($".len();
                let mut j = n_start;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                out.push_str("IN (SELECT value FROM json_each(?");
                out.push_str(&sql[n_start..j]);
                out.push_str("))");
                // past the closing parenthesis of ANY(...)
                i = j + usize::from(b.get(j) == Some(&b')'));
                copied = i;
            }
            b' ' | b'\n' if sql[i + 1..].trim_start().starts_with("FOR UPDATE") => {
                flush(&mut out, i, &mut copied);
                let after = |j: usize, word: &str| {
                    sql[j..]
                        .trim_start()
                        .strip_prefix(word)
                        .map(|r| sql.len() - r.len())
                };
                let mut j = after(i, "FOR UPDATE").unwrap_or(b.len());
                if let Some(k) = after(j, "OF ") {
                    j = k;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                }
                if let Some(k) = after(j, "SKIP LOCKED") {
                    j = k;
                }
                i = j;
                copied = i;
            }
            _ => i += 1,
        }
    }
    flush(&mut out, b.len(), &mut copied);
    out
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn placeholders_casts_lists_and_row_locks_become_sqlites() {
        assert_eq!(
            translate("SELECT a FROM t WHERE ($1::text IS NULL OR k > $1) LIMIT $12"),
            "SELECT a FROM t WHERE (?1 IS NULL OR k > ?1) LIMIT ?12"
        );
        assert_eq!(
            translate("UPDATE t SET theme = $7::jsonb, ids = $2::uuid[] WHERE id = $3"),
            "UPDATE t SET theme = ?7, ids = ?2 WHERE id = ?3"
        );
        assert_eq!(
            translate("DELETE FROM l WHERE p = $1 AND NOT (id = ANY($2))"),
            "DELETE FROM l WHERE p = ?1 AND NOT (id IN (SELECT value FROM json_each(?2)))"
        );
        assert_eq!(
            translate("SELECT x FROM t WHERE id = $1 FOR UPDATE"),
            "SELECT x FROM t WHERE id = ?1"
        );
        assert_eq!(
            translate("SELECT d.x FROM d\n WHERE a LIMIT $3 FOR UPDATE OF d SKIP LOCKED) due"),
            "SELECT d.x FROM d\n WHERE a LIMIT ?3) due"
        );
        assert_eq!(
            translate("SELECT id FROM e ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)"),
            "SELECT id FROM e ORDER BY id LIMIT ?3)"
        );
        // quoted text is left alone
        assert_eq!(
            translate("SELECT 'a $1 ''::b'' FOR UPDATE' || $2"),
            "SELECT 'a $1 ''::b'' FOR UPDATE' || ?2"
        );
        assert_eq!(translate("SELECT 1"), "SELECT 1");
    }
}
