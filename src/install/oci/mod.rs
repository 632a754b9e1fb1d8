//! OCI registries: references, docker-style authentication, the
//! distribution API, and kplug's plugin artifact in them.
//!
//! * [`reference`] — `oci://HOST[:PORT]/REPO[:TAG|@DIGEST]`, checked;
//! * [`auth`] — credentials as docker finds them, and 401 challenges;
//! * [`registry`] — manifests, blobs, tags, the catalog and uploads, every
//!   byte checked against its digest;
//! * [`artifact`] — the layout of a plugin (an index of per-platform
//!   manifests with a contract config and one layer).
//!
//! The `oci` source (`source/oci.rs`) and `plugin publish` are built on
//! these.

pub mod artifact;
pub mod auth;
pub mod reference;
pub mod registry;

pub use reference::Reference;
