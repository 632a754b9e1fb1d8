//! Checking a download against a published sha256.
//!
//! Sources, best first: GitHub's own asset `digest` (`sha256:…`), then a
//! checksums asset of the release (`checksums.txt`, `SHA256SUMS`,
//! `<project>_checksums.txt`, `<asset>.sha256`, …), then `--sha256`.

use super::download::Fetched;
use crate::error::{Error, Result};

/// The hex sha256 in a GitHub asset digest (`sha256:<64 hex>`), or why the
/// digest cannot be used. A digest that is there but unusable must refuse
/// the asset, never count as "no checksum published".
pub fn parse_digest(digest: &str) -> Result<String, String> {
    let shown = || crate::ui::escape(&digest.chars().take(80).collect::<String>()).into_owned();
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Err(format!(
            "`{}` is not of the form `sha256:<64 hex digits>`",
            shown()
        ));
    };
    if !is_sha256(hex) {
        return Err(format!("`{}` does not hold 64 hex digits", shown()));
    }
    Ok(hex.to_ascii_lowercase())
}

/// Refuse `file` unless its sha256 is `expected` (hex, any case).
pub fn check_sha(file: &Fetched, expected: &str, name: &str) -> Result<()> {
    if file.sha256 == expected.to_ascii_lowercase() {
        return Ok(());
    }
    Err(Error::new(format!(
        "checksum mismatch for {}: refusing it",
        crate::ui::escape(name)
    ))
    .caused_by(format!("expected sha256 {}", expected.to_ascii_lowercase()))
    .caused_by(format!("downloaded  {}", file.sha256))
    .with_hint("the download is corrupt or was tampered with; nothing was installed"))
}

pub use crate::fsutil::is_sha256;

/// Release assets that may hold the checksum of `asset`, best first.
pub fn checksum_assets<'a>(asset: &str, all: &[&'a str]) -> Vec<&'a str> {
    let lower = |s: &str| s.to_ascii_lowercase();
    let mut out: Vec<(u8, &'a str)> = Vec::new();
    for name in all {
        let n = lower(name);
        let rank = if n == lower(&format!("{asset}.sha256"))
            || n == lower(&format!("{asset}.sha256sum"))
        {
            0
        } else if (n.contains("checksums") || n.contains("sha256sums"))
            && (n.ends_with(".txt") || n.ends_with(".sha256") || !n.contains('.'))
        {
            // checksums.txt, SHA256SUMS, foo_1.0_checksums.txt,
            // checksums_1.0.txt, checksums.sha256 (not checksums.txt.sig).
            1
        } else {
            continue;
        };
        out.push((rank, name));
    }
    out.sort();
    out.into_iter().map(|(_, n)| n).collect()
}

/// The sha256 of `asset` in a checksums file: GNU (`<hex>  name`,
/// `<hex> *name`), BSD (`SHA256 (name) = <hex>`), or a file holding just the
/// hash (`<asset>.sha256`; `single` says such a lone hash is meant for us).
pub fn find_checksum(text: &str, asset: &str, single: bool) -> Option<String> {
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("SHA256 (") {
            if let Some((name, hex)) = rest.split_once(") = ")
                && name == asset
                && is_sha256(hex.trim())
            {
                return Some(hex.trim().to_ascii_lowercase());
            }
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(hex), name) = (parts.next(), parts.next()) else {
            continue;
        };
        if !is_sha256(hex) {
            continue;
        }
        match name {
            // Paths like `./dist/x.tar.gz` name the file by its last part.
            Some(n) => {
                let n = n.trim_start_matches('*');
                if n == asset || n.rsplit('/').next() == Some(asset) {
                    return Some(hex.to_ascii_lowercase());
                }
            }
            None if single => return Some(hex.to_ascii_lowercase()),
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn digests() {
        assert_eq!(parse_digest(&format!("sha256:{H}")).as_deref(), Ok(H));
        assert_eq!(
            parse_digest(&format!("sha256:{}", H.to_uppercase())).as_deref(),
            Ok(H)
        );
        // Present but unusable: each is an error, never "no digest".
        for bad in [
            format!("sha512:{H}"),
            format!("SHA256:{H}"),
            format!("md5:{}", &H[..32]),
            "sha256:xyz".to_string(),
            format!("sha256:{}", &H[..63]),
            format!("sha256:{H}0"),
            format!("sha256: {H}"),
            String::new(),
        ] {
            assert!(parse_digest(&bad).is_err(), "{bad:?} must be refused");
        }
        let e = parse_digest("sha256:\u{1b}[2Jxx").unwrap_err();
        assert!(!e.contains('\u{1b}'), "escaped: {e:?}");
    }

    #[test]
    fn checksum_files() {
        let gnu = format!("{H}  a.tar.gz\n{}  b.tar.gz\n", "0".repeat(64));
        assert_eq!(find_checksum(&gnu, "a.tar.gz", false).as_deref(), Some(H));
        assert_eq!(find_checksum(&gnu, "c.tar.gz", false), None);
        let star = format!("{} *a.zip\n", H.to_uppercase());
        assert_eq!(find_checksum(&star, "a.zip", false).as_deref(), Some(H));
        let bsd = format!("SHA256 (a.tar.gz) = {H}\n");
        assert_eq!(find_checksum(&bsd, "a.tar.gz", false).as_deref(), Some(H));
        let path = format!("{H}  ./dist/a.tar.gz\n");
        assert_eq!(find_checksum(&path, "a.tar.gz", false).as_deref(), Some(H));
        assert_eq!(
            find_checksum(&format!("{H}\n"), "a.tar.gz", true).as_deref(),
            Some(H)
        );
        assert_eq!(find_checksum(&format!("{H}\n"), "a.tar.gz", false), None);
    }

    #[test]
    fn candidate_files() {
        let all = [
            "x.tar.gz",
            "x.tar.gz.sha256",
            "checksums.txt",
            "x_1.0_checksums.txt",
            "checksums_1.0.txt",
            "notes.txt",
            "SHA256SUMS",
            "checksums.txt.sig",
        ];
        assert_eq!(
            checksum_assets("x.tar.gz", &all),
            [
                "x.tar.gz.sha256",
                "SHA256SUMS",
                "checksums.txt",
                "checksums_1.0.txt",
                "x_1.0_checksums.txt"
            ]
        );
    }
}
