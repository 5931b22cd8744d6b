//! The config plugin: set/get/unset/export/import/bundle, the ENV file, and
//! concurrent writers.

use std::collections::BTreeMap;

use crate::harness::Berth;

/// Values that break naive quoting anywhere along set → ENV → get → export.
const HOSTILE: &[(&str, &str)] = &[
    ("SPACES", "  a b  "),
    ("QUOTES", "it's \"quoted\""),
    ("DOLLAR", "$HOME ${PATH} $(id) `id`"),
    ("EQUALS", "a=b==c"),
    ("BACKSLASH", "C:\\dir\\ end\\"),
    ("NEWLINES", "line1\nline2\r\nline3\n"),
    ("BANG", "hi!"),
    ("HASH", "a #not a comment"),
    ("EMPTY", ""),
    ("LEADING_ZERO", "007"),
    ("NUMBER", "42"),
    ("UNICODE", "żółć ☃"),
];

#[test]
fn hostile_values_round_trip() {
    let berth = Berth::new();
    berth.app("demo");
    let pairs: Vec<String> = HOSTILE.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec!["config:set".to_string(), "demo".to_string()];
    args.extend(pairs);
    berth.cmd(args).succeeds();
    for (key, value) in HOSTILE {
        berth
            .cmd(["config:get", "demo", key])
            .succeeds()
            .stdout_is(&format!("{value}\n"));
    }
    // The file on disk is the source of truth: a second process reads it back.
    let json = berth
        .cmd(["config:export", "--format", "json", "demo"])
        .succeeds()
        .stdout();
    let exported: BTreeMap<String, String> = serde_json::from_str(&json).unwrap();
    let expected: BTreeMap<String, String> = HOSTILE
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(exported, expected);
    // The exports format is safe to evaluate in a real shell.
    let exports = berth.cmd(["config:export", "demo"]).succeeds().stdout();
    for (key, value) in HOSTILE {
        let script = format!("{exports}\nprintf %s \"${key}\"");
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            *value,
            "{key} through bash"
        );
    }
    // Import of the envfile export restores the same values elsewhere.
    berth.app("copy");
    let envfile = berth
        .cmd(["config:export", "--format", "envfile", "demo"])
        .succeeds()
        .stdout();
    berth
        .cmd(["config:import", "copy", "-"])
        .stdin(envfile)
        .succeeds();
    for (key, value) in HOSTILE {
        berth
            .cmd(["config:get", "copy", key])
            .succeeds()
            .stdout_is(&format!("{value}\n"));
    }
}

#[test]
fn env_file_is_godotenv_format() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["config:set", "demo", "B=x y", "A=42", "C=$x\"", "D=007"])
        .succeeds()
        .stdout_is("-----> Setting config vars\n       A:  42\n       B:  x y\n       C:  $x\"\n       D:  007\n");
    let path = berth.lib_root().join("config/demo/ENV");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "A=42\nB=\"x y\"\nC=\"\\$x\\\"\"\nD=\"007\"\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn reads_env_written_by_dokku() {
    let berth = Berth::new();
    berth.app("demo");
    std::fs::create_dir_all(berth.lib_root().join("config/demo")).unwrap();
    std::fs::write(
        berth.lib_root().join("config/demo/ENV"),
        "export A=1\n# comment\nB=\"two\\nlines\"\nC='single $A'\nD=\"ref $A\"\n",
    )
    .unwrap();
    berth
        .cmd(["config:get", "demo", "B"])
        .succeeds()
        .stdout_is("two\nlines\n");
    berth
        .cmd(["config:get", "demo", "C"])
        .succeeds()
        .stdout_is("single $A\n");
    berth
        .cmd(["config:get", "demo", "D"])
        .succeeds()
        .stdout_is("ref 1\n");
}

#[test]
fn get_missing_key_is_silent_exit_1() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["config:get", "demo", "NOPE"])
        .fails(1)
        .stdout_is("")
        .stderr_is("");
    berth
        .cmd(["config:get", "demo"])
        .fails(1)
        .stderr_is(" !     Expected: key\n");
}

#[test]
fn quoted_get() {
    let berth = Berth::new();
    berth.app("demo");
    berth.cmd(["config:set", "demo", "A=it's"]).succeeds();
    berth
        .cmd(["config:get", "--quoted", "demo", "A"])
        .succeeds()
        .stdout_is("'it'\\''s'\n");
}

#[test]
fn bad_pairs_and_keys_change_nothing() {
    let berth = Berth::new();
    berth.app("demo");
    berth.cmd(["config:set", "demo", "OK=1"]).succeeds();
    let before = std::fs::read(berth.lib_root().join("config/demo/ENV")).unwrap();
    berth
        .cmd(["config:set", "demo", "GOOD=1", "1BAD=x"])
        .fails(1)
        .stderr_is(" !     Invalid key name: '1BAD'\n");
    berth
        .cmd(["config:set", "demo", "novalue"])
        .fails(1)
        .stderr_is(" !     Invalid env pair: novalue\n");
    berth
        .cmd(["config:set", "demo"])
        .fails(1)
        .stderr_is(" !     At least one env pair must be given\n");
    berth
        .cmd(["config:set", "demo", "A;rm=1"])
        .fails(1)
        .stderr_is(" !     Invalid key name: 'A;rm'\n");
    berth
        .cmd(["config:unset", "demo"])
        .fails(1)
        .stderr_is(" !     At least one key must be given\n");
    berth
        .cmd(["config:export", "--format", "yaml", "demo"])
        .fails(1)
        .stderr_is(" !     Unknown export format: yaml\n");
    assert_eq!(
        std::fs::read(berth.lib_root().join("config/demo/ENV")).unwrap(),
        before
    );
}

#[test]
fn encoded_values() {
    let berth = Berth::new();
    berth.app("demo");
    // "a b\n'x'" in base64
    berth
        .cmd(["config:set", "--encoded", "demo", "K=YSBiCid4Jw=="])
        .succeeds();
    berth
        .cmd(["config:get", "demo", "K"])
        .succeeds()
        .stdout_is("a b\n'x'\n");
    berth
        .cmd(["config:set", "--encoded", "demo", "K=!!!"])
        .fails(1)
        .stderr_has("for key 'K'");
}

#[test]
fn unset_and_clear() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["config:set", "demo", "A=1", "B=2", "C=3"])
        .succeeds();
    berth
        .cmd(["config:unset", "demo", "A", "Z"])
        .succeeds()
        .stdout_is("-----> Unsetting A\n-----> Skipping Z, it is not set in the environment\n");
    berth
        .cmd(["config:keys", "demo"])
        .succeeds()
        .stdout_is("B\nC\n");
    berth
        .cmd(["config:clear", "demo"])
        .succeeds()
        .stdout_is("-----> Unsetting B\n-----> Unsetting C\n");
    berth.cmd(["config:keys", "demo"]).succeeds().stdout_is("");
}

#[test]
fn global_and_merged() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["config:set", "--global", "G=global", "BOTH=global"])
        .succeeds();
    berth.cmd(["config:set", "demo", "BOTH=app"]).succeeds();
    assert!(berth.lib_root().join("config/--global/ENV").is_file());
    berth
        .cmd(["config:get", "--global", "G"])
        .succeeds()
        .stdout_is("global\n");
    berth
        .cmd(["config:keys", "demo"])
        .succeeds()
        .stdout_is("BOTH\n");
    berth
        .cmd(["config:keys", "--merged", "demo"])
        .succeeds()
        .stdout_is("BOTH\nG\n");
    berth
        .cmd(["config:export", "--merged", "--format", "shell", "demo"])
        .succeeds()
        .stdout_is("BOTH='app' G='global' \n");
    berth
        .cmd(["config:show", "--global"])
        .succeeds()
        .stdout_is("=====> global env vars\nBOTH:  global\nG:     global\n");
    berth
        .cmd(["config", "demo"])
        .succeeds()
        .stdout_is("=====> demo env vars\nBOTH:  app\n");
}

#[test]
fn import_json_and_replace() {
    let berth = Berth::new();
    berth.app("demo");
    berth.cmd(["config:set", "demo", "OLD=1"]).succeeds();
    berth
        .cmd(["config:import", "--format", "json", "--replace", "demo", "-"])
        .stdin(r#"{"A":"x y","N":5}"#)
        .succeeds()
        .stdout_is("-----> Reading config vars from stdin\n-----> Setting config var A=x y\n-----> Setting config var N=5\n");
    berth
        .cmd(["config:keys", "demo"])
        .succeeds()
        .stdout_is("A\nN\n");
    berth
        .cmd(["config:import", "demo", "-"])
        .stdin("")
        .fails(1)
        .stderr_is(" !     No config vars to set\n");
}

#[test]
fn bundle_is_a_tar_with_one_file_per_key() {
    let berth = Berth::new();
    berth.app("demo");
    berth.cmd(["config:set", "demo", "A=x y", "B=2"]).succeeds();
    let done = berth.cmd(["config:bundle", "demo"]).succeeds();
    let mut archive = tar::Archive::new(&done.stdout[..]);
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut entry, &mut body).unwrap();
        files.insert(name, body);
    }
    assert_eq!(
        files,
        BTreeMap::from([("A".into(), "x y".into()), ("B".into(), "2".into())])
    );
}

#[test]
fn twenty_concurrent_writers_keep_every_key() {
    let berth = Berth::new();
    berth.app("demo");
    let children: Vec<_> = (0..20)
        .map(|i| {
            berth
                .cmd([
                    "config:set".to_string(),
                    "demo".to_string(),
                    format!("KEY_{i}=value {i}"),
                ])
                .spawn()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let keys = berth.cmd(["config:keys", "demo"]).succeeds().stdout();
    assert_eq!(keys.lines().count(), 20, "{keys}");
    for i in 0..20 {
        berth
            .cmd([
                "config:get".to_string(),
                "demo".to_string(),
                format!("KEY_{i}"),
            ])
            .succeeds()
            .stdout_is(&format!("value {i}\n"));
    }
}
