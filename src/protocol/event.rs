//! Lifecycle events and hook modes: defined once, in `kplug-sdk`, so the
//! host and Rust plugins cannot disagree on them.

pub use kplug_sdk::{Event, Mode};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in Event::ALL {
            assert_eq!(e.as_str().parse::<Event>(), Ok(e));
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{e}\""));
        }
        assert!("pre-cluster-explode".parse::<Event>().is_err());
    }

    #[test]
    fn default_modes() {
        assert_eq!(Event::PreClusterCreate.default_mode(), Mode::Veto);
        assert_eq!(Event::PostClusterCreate.default_mode(), Mode::Observe);
        assert_eq!(Event::PrePluginRemove.default_mode(), Mode::Veto);
    }
}
