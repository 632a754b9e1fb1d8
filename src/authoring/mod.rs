//! The plugin authoring kit: `kplug plugin new` and `kplug plugin validate`.
//!
//! * [`new`] scaffolds a plugin in bash, Rust or Python that already speaks
//!   protocol v1 (INFO, EXEC with a sample `post-cluster-create`, RUN), with
//!   a README and a GitHub Actions workflow that publishes releases the way
//!   `kplug plugin install` picks them. The templates are plain files under
//!   `src/authoring/templates/`, compiled in with `include_str!`.
//! * [`validate`] is the conformance checker: it runs a plugin through the
//!   protocol, each run in a throw-away environment of its own, and reports
//!   every check with its reason.
//!
//! Both are library functions returning data; printing is the CLI's job
//! (`src/cli/authoring.rs`).

pub mod inventory;
pub mod new;
pub mod publish;
pub mod validate;
