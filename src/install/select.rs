//! Choosing a version: the one walk over candidate versions that install,
//! update, `versions`, `outdated` (and every later caller) share.
//!
//! A source lists what it offers ([`Candidate`]s); [`choose`] keeps those a
//! [`Spec`] and a [`Policy`] allow, newest first: stable releases with a
//! semantic version unless prereleases are admitted, within one major
//! version when asked, never older than the installed version for an
//! implicit choice, and an explicit tag always (whatever the policy says).
//! [`walk`] then goes down that list asking the caller's judge about each
//! candidate until one is taken, stopping at the version already current.
//! Nothing here does I/O: the judge does (reading a contract, downloading).

pub use super::source::{Candidate, Spec};
use crate::error::{Error, Result};
use semver::Version;
use serde::Serialize;

/// What may be chosen.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Admit prereleases.
    pub pre: bool,
    /// Only versions of this major.
    pub major: Option<u64>,
    /// The installed version.
    pub current: Option<Version>,
    /// Never older than `current` (an implicit choice: latest, update).
    pub no_downgrade: bool,
}

impl Policy {
    /// The policy of an install or an update of a plugin at `current`.
    /// An update stays within the installed major unless `major` says
    /// otherwise; only "the latest" refuses to go back.
    pub fn new(
        spec: &Spec,
        pre: bool,
        major: Option<u64>,
        update: bool,
        current: Option<Version>,
    ) -> Policy {
        let major = major.or_else(|| update.then(|| current.as_ref().map(|c| c.major)).flatten());
        Policy {
            pre,
            major,
            no_downgrade: matches!(spec, Spec::Latest),
            current,
        }
    }
}

impl Policy {
    /// For a source whose server decides the version (an Omaha channel):
    /// whatever it offers, prereleases and other majors included.
    pub fn channel(current: Option<Version>) -> Policy {
        Policy {
            pre: true,
            major: None,
            current,
            no_downgrade: false,
        }
    }
}

/// The candidates a spec and policy allow, newest first.
#[derive(Debug, Default, Clone)]
pub struct Found {
    pub list: Vec<Candidate>,
    /// The newest version left out for being of a newer major.
    pub other_major: Option<Version>,
    /// Labels of every candidate with a semantic version.
    pub seen: Vec<String>,
}

/// A version passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub version: String,
    pub tag: String,
    pub reason: String,
}

/// Keep what `spec` and `policy` allow of `all`, newest first. `what` names
/// the source in errors. An explicit tag must be among `all` (a source
/// asked for one lists just that one).
pub fn choose(what: &str, all: Vec<Candidate>, spec: &Spec, policy: &Policy) -> Result<Found> {
    if spec.is_explicit() {
        return Ok(Found {
            list: all,
            ..Found::default()
        });
    }
    let mut found = Found::default();
    let mut fitting: Vec<(Version, Candidate)> = Vec::new();
    for c in all {
        let Some(v) = c.version.clone() else { continue };
        found.seen.push(c.label.clone());
        let fits = match spec {
            // A range admits prereleases only if it names one (semver's
            // rule) or `--pre` is given.
            Spec::Req(req) => {
                req.matches(&v)
                    || (policy.pre && req.matches(&Version::new(v.major, v.minor, v.patch)))
            }
            _ => true,
        };
        let stable = !c.prerelease && v.pre.is_empty();
        if fits && (policy.pre || stable || matches!(spec, Spec::Req(r) if r.matches(&v))) {
            fitting.push((v, c));
        }
    }
    if fitting.is_empty() {
        let msg = match spec {
            Spec::Req(req) => format!("no release of {what} matches `{req}`"),
            _ => format!("{what} has no release with a semantic version tag"),
        };
        let hint = if found.seen.is_empty() {
            "it has no releases tagged like v1.2.3".to_string()
        } else {
            format!("releases seen: {}", found.seen.join(", "))
        };
        return Err(Error::new(msg).with_hint(hint));
    }
    // Newest first; equal versions keep the source's order.
    fitting.sort_by(|a, b| b.0.cmp(&a.0));
    for (v, c) in fitting {
        if let Some(m) = policy.major
            && v.major != m
        {
            if v.major > m && found.other_major.as_ref().is_none_or(|o| v > *o) {
                found.other_major = Some(v);
            }
            continue;
        }
        if policy.no_downgrade
            && let Some(cur) = &policy.current
            && v < *cur
        {
            continue;
        }
        found.list.push(c);
    }
    Ok(found)
}

/// " matching `^1`", " in major 2", or "": what the choice was limited to.
pub fn scope(spec: &Spec, policy: &Policy) -> String {
    let mut s = String::new();
    if let Spec::Req(req) = spec {
        s.push_str(&format!(" matching `{req}`"));
    }
    if let Some(m) = policy.major {
        s.push_str(&format!(" in major {m}"));
    }
    s
}

/// The error for a policy that leaves no candidate at all.
pub fn no_candidates(what: &str, spec: &Spec, policy: &Policy, found: &Found) -> Error {
    let mut err = Error::new(format!(
        "no release of {what}{} to install",
        scope(spec, policy)
    ));
    if !found.seen.is_empty() {
        err = err.with_hint(format!("releases seen: {}", found.seen.join(", ")));
    }
    err
}

/// What a judge says of one candidate.
pub enum Verdict<T> {
    /// Take it: the walk ends here.
    Take(T),
    /// Pass it over for this reason and go on to the next older one.
    Pass(String),
    /// Pass it over and stop looking (a budget ran out).
    Stop(String),
}

/// How a walk ended.
pub struct Walk<T> {
    /// The candidate taken, with what the judge made of it.
    pub taken: Option<(Candidate, T)>,
    /// The candidate reached that is current (the walk stops there: what
    /// is older is never an improvement).
    pub reached_current: Option<Candidate>,
    /// Candidates passed over, newest first.
    pub skipped: Vec<Skipped>,
}

/// Go down `found` newest first, asking `judge` about each candidate that
/// is not current, until one is taken. `is_current` says which candidate is
/// the installed version (`None`: none is, as for a forced reinstall).
pub fn walk<T>(
    found: &Found,
    is_current: impl Fn(&Candidate) -> bool,
    mut judge: impl FnMut(&Candidate) -> Result<Verdict<T>>,
) -> Result<Walk<T>> {
    let mut skipped = Vec::new();
    for c in &found.list {
        if is_current(c) {
            return Ok(Walk {
                taken: None,
                reached_current: Some(c.clone()),
                skipped,
            });
        }
        let pass = |reason: String| Skipped {
            version: c.shown(),
            tag: c.label.clone(),
            reason,
        };
        match judge(c)? {
            Verdict::Take(t) => {
                return Ok(Walk {
                    taken: Some((c.clone(), t)),
                    reached_current: None,
                    skipped,
                });
            }
            Verdict::Pass(reason) => skipped.push(pass(reason)),
            Verdict::Stop(reason) => {
                skipped.push(pass(reason));
                break;
            }
        }
    }
    Ok(Walk {
        taken: None,
        reached_current: None,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use semver::VersionReq;

    fn cand(label: &str, key: usize) -> Candidate {
        let bare = label.strip_prefix('v').unwrap_or(label);
        let version = Version::parse(bare).ok();
        Candidate {
            prerelease: version.as_ref().is_some_and(|v| !v.pre.is_empty()),
            version,
            label: label.into(),
            key,
        }
    }

    fn all() -> Vec<Candidate> {
        [
            "v1.0.0",
            "v1.2.0",
            "v2.0.0-rc.1",
            "v1.10.0",
            "nightly",
            "v2.1.0",
            "v0.9.0",
        ]
        .iter()
        .enumerate()
        .map(|(i, l)| cand(l, i))
        .collect()
    }

    fn labels(f: &Found) -> Vec<&str> {
        f.list.iter().map(|c| c.label.as_str()).collect()
    }

    #[test]
    fn specs_parse() {
        assert_eq!(Spec::parse("v1.2.3"), Spec::Tag("v1.2.3".into()));
        assert_eq!(Spec::parse("1.2.3"), Spec::Tag("1.2.3".into()));
        assert_eq!(Spec::parse("nightly"), Spec::Tag("nightly".into()));
        // Shortened: the newest of a major, or of a minor.
        let v1 = Spec::parse("v1");
        assert!(v1.admits("1.9.3", None) && !v1.admits("2.0.0", None) && !v1.admits("0.9.0", None));
        let v14 = Spec::parse("v1.4");
        assert!(v14.admits("1.4.7", None) && !v14.admits("1.5.0", None));
        assert_eq!(Spec::parse("1.4"), v14);
        assert_eq!(
            Spec::parse("^1.2"),
            Spec::Req(VersionReq::parse("^1.2").unwrap())
        );
        assert!(Spec::Tag("1.2.3".into()).admits("1.2.3", Some("v1.2.3")));
        assert!(!Spec::Tag("1.2.3".into()).admits("1.2.3", None));
        assert!(Spec::parse("^1").admits("1.4.0", None));
        assert!(!Spec::parse("^1").admits("2.0.0", None));
    }

    #[test]
    fn latest_is_newest_stable_first_by_semver_not_by_listing() {
        let f = choose("x", all(), &Spec::Latest, &Policy::default()).unwrap();
        assert_eq!(
            labels(&f),
            ["v2.1.0", "v1.10.0", "v1.2.0", "v1.0.0", "v0.9.0"]
        );
        assert_eq!(f.seen.len(), 6, "every semver label is seen: {:?}", f.seen);
        let pre = Policy {
            pre: true,
            ..Policy::default()
        };
        let f = choose("x", all(), &Spec::Latest, &pre).unwrap();
        assert_eq!(labels(&f)[..2], ["v2.1.0", "v2.0.0-rc.1"]);
    }

    #[test]
    fn major_and_no_downgrade() {
        let p = Policy::new(
            &Spec::Latest,
            false,
            None,
            true,
            Some(Version::new(1, 2, 0)),
        );
        assert_eq!(p.major, Some(1), "an update stays in the installed major");
        let f = choose("x", all(), &Spec::Latest, &p).unwrap();
        assert_eq!(
            labels(&f),
            ["v1.10.0", "v1.2.0"],
            "never older than current"
        );
        assert_eq!(f.other_major, Some(Version::new(2, 1, 0)));
        let p = Policy::new(&Spec::Latest, false, Some(0), true, None);
        assert_eq!(
            labels(&choose("x", all(), &Spec::Latest, &p).unwrap()),
            ["v0.9.0"]
        );
        let fresh = Policy::new(
            &Spec::Latest,
            false,
            None,
            false,
            Some(Version::new(1, 2, 0)),
        );
        assert_eq!(fresh.major, None, "a fresh install may pick any major");
    }

    #[test]
    fn ranges_admit_prereleases_only_when_they_name_one_or_pre_is_given() {
        let req = Spec::parse(">=2.0.0-rc.1");
        let f = choose("x", all(), &req, &Policy::default()).unwrap();
        assert_eq!(labels(&f), ["v2.1.0", "v2.0.0-rc.1"]);
        let req = Spec::parse("^2");
        let f = choose("x", all(), &req, &Policy::default()).unwrap();
        assert_eq!(labels(&f), ["v2.1.0"]);
        let with_pre = Policy {
            pre: true,
            ..Policy::default()
        };
        let f = choose("x", all(), &req, &with_pre).unwrap();
        assert_eq!(labels(&f), ["v2.1.0", "v2.0.0-rc.1"]);
    }

    #[test]
    fn nothing_fitting_says_what_was_seen() {
        let e = choose("acme/x", all(), &Spec::parse("^9"), &Policy::default()).unwrap_err();
        assert!(
            e.message().contains("no release of acme/x matches `^9`"),
            "{e}"
        );
        assert!(e.hints()[0].contains("v2.1.0"), "{:?}", e.hints());
        let e = choose(
            "acme/x",
            vec![cand("nightly", 0)],
            &Spec::Latest,
            &Policy::default(),
        )
        .unwrap_err();
        assert!(
            e.message().contains("no release with a semantic version"),
            "{e}"
        );
        let p = Policy::new(&Spec::Latest, false, Some(7), false, None);
        let f = choose("acme/x", all(), &Spec::Latest, &p).unwrap();
        assert!(f.list.is_empty());
        let e = no_candidates("acme/x", &Spec::Latest, &p, &f);
        assert_eq!(e.message(), "no release of acme/x in major 7 to install");
    }

    #[test]
    fn an_explicit_tag_ignores_the_policy() {
        let p = Policy::new(
            &Spec::Latest,
            false,
            Some(7),
            true,
            Some(Version::new(9, 0, 0)),
        );
        let f = choose(
            "x",
            vec![cand("nightly", 3)],
            &Spec::Tag("nightly".into()),
            &p,
        )
        .unwrap();
        assert_eq!(labels(&f), ["nightly"]);
    }

    #[test]
    fn the_walk_takes_the_first_that_holds_and_records_the_rest() {
        let f = choose("x", all(), &Spec::Latest, &Policy::default()).unwrap();
        let mut asked = Vec::new();
        let w = walk(
            &f,
            |_| false,
            |c| {
                asked.push(c.label.clone());
                Ok(if c.label == "v1.2.0" {
                    Verdict::Take(c.key)
                } else {
                    Verdict::Pass(format!("{} is no good", c.label))
                })
            },
        )
        .unwrap();
        assert_eq!(asked, ["v2.1.0", "v1.10.0", "v1.2.0"]);
        let (taken, key) = w.taken.unwrap();
        assert_eq!((taken.label.as_str(), key), ("v1.2.0", 1));
        assert_eq!(
            w.skipped,
            [
                Skipped {
                    version: "2.1.0".into(),
                    tag: "v2.1.0".into(),
                    reason: "v2.1.0 is no good".into()
                },
                Skipped {
                    version: "1.10.0".into(),
                    tag: "v1.10.0".into(),
                    reason: "v1.10.0 is no good".into()
                }
            ]
        );
    }

    #[test]
    fn the_walk_stops_at_the_current_version_and_on_a_stop() {
        let f = choose("x", all(), &Spec::Latest, &Policy::default()).unwrap();
        let w = walk(
            &f,
            |c| c.label == "v1.10.0",
            |_| Ok(Verdict::<()>::Pass("no".into())),
        )
        .unwrap();
        assert!(w.taken.is_none());
        assert_eq!(w.reached_current.unwrap().label, "v1.10.0");
        assert_eq!(w.skipped.len(), 1, "only v2.1.0 was judged");
        let w = walk(&f, |_| false, |_| Ok(Verdict::<()>::Stop("budget".into()))).unwrap();
        assert!(w.taken.is_none() && w.reached_current.is_none());
        assert_eq!(w.skipped.len(), 1);
        let e = walk(&f, |_| false, |_| Err::<Verdict<()>, _>(Error::new("boom")));
        assert!(e.is_err(), "a judge's error ends the walk");
    }
}
