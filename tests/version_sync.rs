//! The version lives in one place, Cargo.toml: plugin.yaml (what `helm plugin list` shows
//! and which release the install hook downloads) must say the same, and so must the tag a
//! release is built from (`scripts/release check-version TAG` in the release workflow).

#[test]
fn plugin_yaml_version_is_the_cargo_version() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/plugin.yaml");
    let text = std::fs::read_to_string(path).expect("read plugin.yaml");
    let plugin: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("parse plugin.yaml");
    assert_eq!(
        plugin["version"].as_str(),
        Some(env!("CARGO_PKG_VERSION")),
        "plugin.yaml's version differs from Cargo.toml's: change both together"
    );
}
