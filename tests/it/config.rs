//! `kplug config`: where the file is, what is set, and changes that are
//! checked before they are written.

use crate::support::TestEnv;
use predicates::prelude::*;

#[test]
fn config_path_list_get_set_unset() {
    let env = TestEnv::new();
    let file = env.config.join("kplug/config.yaml");
    env.kplug()
        .args(["config", "path"])
        .assert()
        .success()
        .stdout(format!("{}\n", file.display()));
    env.kplug()
        .args(["config", "get", "install.keepVersions"])
        .assert()
        .success()
        .stdout("3\n");
    env.kplug()
        .args(["config", "set", "engine", "sim"])
        .assert()
        .success();
    // The setting is used: a cluster without --engine is simulated.
    env.kplug()
        .args(["cluster", "create", "dev"])
        .assert()
        .success()
        .stderr(predicate::str::contains("(sim, simulated"));
    env.kplug()
        .args(["config", "list", "-o", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"engine\": \"sim\""));
    let before = std::fs::read(&file).unwrap();
    env.kplug()
        .args(["config", "set", "timeouts.post", "forever"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("would not be valid"))
        .stderr(predicate::str::contains("nothing was changed"));
    env.kplug()
        .args(["config", "set", "engine", "kindd"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `kind`?"));
    env.kplug()
        .args(["config", "set", "engines", "sim"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `engine`?"));
    assert_eq!(std::fs::read(&file).unwrap(), before);
    env.kplug()
        .args(["config", "unset", "engine"])
        .assert()
        .success();
    env.kplug()
        .args(["config", "get", "engine"])
        .assert()
        .success()
        .stdout("~\n");
}
