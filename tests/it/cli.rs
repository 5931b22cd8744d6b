//! Dispatch, help, version, global flags and unknown commands.

use crate::harness::Berth;

#[test]
fn help_lists_plugins() {
    // The text itself is the `help` snapshot (snapshots.rs).
    let berth = Berth::new();
    let help = berth.cmd(["help"]).succeeds().stdout();
    for plugin in ["apps", "cron", "network", "resource", "storage", "trace"] {
        assert!(
            help.contains(&format!("\n    {plugin} ")),
            "{plugin}:\n{help}"
        );
    }
    berth.cmd(Vec::<String>::new()).succeeds().stdout_is(&help);
    berth.cmd(["--help"]).succeeds().stdout_is(&help);
}

#[test]
fn help_all_lists_every_command() {
    Berth::new()
        .cmd(["help", "--all"])
        .succeeds()
        .stdout_has("    apps:create <app>  ")
        .stdout_has("    server [--ssh-listen ADDR]  ");
    let all = Berth::new().cmd(["help", "--all"]).succeeds().stdout();
    let line = all
        .lines()
        .find(|l| l.starts_with("    config:set [--encoded] [--no-restart] (<app>|--global) KEY1=VALUE1 [KEY2=VALUE2 ...] "))
        .expect("config:set row");
    assert!(line.ends_with("  Set one or more config vars"), "{line}");
    let widths: std::collections::BTreeSet<usize> = all
        .lines()
        .filter(|l| l.starts_with("    "))
        .map(|l| l.rfind("  ").unwrap())
        .collect();
    assert_eq!(widths.len(), 1, "descriptions aligned in one column");
}

#[test]
fn plugin_help_three_ways() {
    let berth = Berth::new();
    let expected = berth.cmd(["config:help"]).succeeds().stdout();
    assert!(expected.starts_with(
        "Usage: dokku config[:COMMAND]\n\nManage global and app-specific config vars\n\nAdditional commands:\n    config:bundle [--merged] (<app>|--global)"
    ));
    berth
        .cmd(["config", "--help"])
        .succeeds()
        .stdout_is(&expected);
    berth
        .cmd(["config:set", "--help"])
        .succeeds()
        .stdout_is(&expected);
}

#[test]
fn version_three_ways() {
    let berth = Berth::new();
    for flag in ["version", "-v", "--version"] {
        berth.cmd([flag]).succeeds().stdout_is(&format!(
            "dokku version 0.38.27 (berth {})\n",
            env!("CARGO_PKG_VERSION")
        ));
    }
}

#[test]
fn unknown_command_is_refused_and_changes_nothing() {
    let berth = Berth::new();
    berth
        .cmd(["apps:frobnicate", "demo"])
        .fails(1)
        .stdout_is("")
        .stderr_is(" !     `apps:frobnicate demo` is not a dokku command.\n !     See `dokku help` for a list of available commands.\n");
    berth.cmd(["nope"]).fails(1);
    assert_eq!(std::fs::read_dir(berth.dokku_root()).unwrap().count(), 0);
}

#[test]
fn dokku_name_behaves_the_same() {
    let berth = Berth::new();
    berth.dokku(["apps:create", "demo"]).succeeds();
    berth
        .dokku(["config:set", "demo", "A=a b", "B=line1\\nline2"])
        .succeeds();
    berth
        .dokku(["config:get", "demo", "A"])
        .succeeds()
        .stdout_is("a b\n");
    berth
        .cmd(["config:get", "demo", "B"])
        .succeeds()
        .stdout_is("line1\\nline2\n");
    let help = berth.cmd(["help"]).succeeds().stdout();
    berth.dokku(["help"]).succeeds().stdout_is(&help);
}

#[test]
fn global_flags_anywhere() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["--quiet", "apps:list"])
        .succeeds()
        .stdout_is("demo\n");
    berth.cmd(["--app", "demo", "config:set", "K=v"]).succeeds();
    berth
        .cmd(["config:get", "--app", "demo", "K"])
        .succeeds()
        .stdout_is("v\n");
    berth.cmd(["apps:destroy", "demo", "--force"]).succeeds();
    berth.cmd(["apps:exists", "demo"]).fails(20);
}

#[test]
fn unknown_flag_is_a_clear_error() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["config:get", "--bogus", "demo", "A"])
        .fails(1)
        .stderr_is(" !     Invalid flag passed: --bogus\n");
    berth
        .cmd(["config:get", "--encoded", "demo", "A"])
        .fails(1)
        .stderr_is(" !     Invalid flag passed: --encoded\n");
    berth
        .cmd(["apps:create", "one", "two"])
        .fails(1)
        .stderr_is(" !     Unexpected argument: two\n");
}

#[test]
fn help_anywhere_prints_the_commands_help() {
    let berth = Berth::new();
    berth.app("demo");
    let help = berth.cmd(["apps:help"]).succeeds().stdout();
    berth
        .cmd(["apps:destroy", "demo", "--help"])
        .succeeds()
        .stdout_is(&help);
    berth.cmd(["apps:exists", "demo"]).succeeds();
}

#[test]
fn dokku_commands_berth_lacks_say_so() {
    Berth::new()
        .cmd(["buildpacks:list", "demo"])
        .fails(1)
        .stderr_is(" !     buildpacks:list is a Dokku command berth does not support yet\n");
    Berth::new()
        .cmd(["apps:craete", "demo"])
        .fails(1)
        .stderr_has("`apps:craete demo` is not a dokku command.");
}

#[test]
fn closed_stdout_is_not_a_crash() {
    let berth = Berth::new();
    for i in 0..3 {
        berth.app(&format!("app{i}"));
    }
    let mut child = berth.cmd(["apps:list"]).spawn();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn quiet_hides_the_chatter_and_keeps_the_data() {
    let berth = Berth::new();
    berth
        .cmd(["--quiet", "apps:create", "hush"])
        .succeeds()
        .stdout_is("");
    berth
        .cmd(["config:set", "--no-restart", "hush", "A=1", "--quiet"])
        .succeeds()
        .stdout_is("");
    berth
        .cmd(["--quiet", "config:get", "hush", "A"])
        .succeeds()
        .stdout_is("1\n");
    berth
        .cmd(["plugin:list", "--format", "stdout"])
        .succeeds()
        .stdout_has("  apps ");
}

#[test]
fn typed_arguments_fail_in_dokkus_words() {
    let berth = Berth::new();
    berth.app("demo");
    for args in [
        &["domains:add", "demo", "--bogus"][..],
        &["domains:add", "--bogus", "demo", "a.example.com"],
        &["domains:add", "demo", "a.example.com", "--bogus"],
        &["run", "--bogus", "demo", "ls"],
    ] {
        berth
            .cmd(args.iter().copied())
            .fails(1)
            .stderr_is(" !     Invalid flag passed: --bogus\n");
    }
    berth
        .cmd(["checks:disable", "demo", "web", "extra"])
        .fails(1)
        .stderr_is(" !     Unexpected argument: extra\n");
    berth
        .cmd(["domains:disable", "demo", "--all"])
        .fails(1)
        .stderr_is(" !     Unexpected argument: demo\n");
    berth
        .cmd(["run", "--no-tty", "--force-tty", "demo", "ls"])
        .fails(1)
        .stderr_is(" !     Cannot specify both --force-tty and --no-tty\n");
    // The messages a command had before its arguments were typed stay.
    berth
        .cmd(["domains:clear"])
        .fails(1)
        .stderr_is(" !     Please specify an app to run the command on\n");
    berth.cmd(["domains:clear", "ghost"]).fails(20);
    berth.cmd(["ports:clear", "ghost", "--bogus"]).fails(1);
    berth.cmd(["domains:add", "demo"]).fails(1).stderr_is(
        " !     Please specify a domain name. Usage: dokku domains:add demo DOMAIN [DOMAIN ...]\n",
    );
    berth
        .cmd(["run", "-e"])
        .fails(1)
        .stderr_is(" !     -e needs KEY=VALUE\n");
    berth
        .cmd(["enter", "demo", "--container-id"])
        .fails(1)
        .stderr_is(" !     No containers found for app\n");
}

#[test]
fn flags_come_after_positionals_too() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["config:set", "demo", "K=-1", "--no-restart"])
        .succeeds();
    berth
        .cmd(["config:get", "demo", "K", "--quoted"])
        .succeeds()
        .stdout_is("'-1'\n");
    berth
        .cmd(["config:keys", "demo", "--merged"])
        .succeeds()
        .stdout_has("K\n");
    berth
        .cmd(["checks:disable", "demo", "web"])
        .succeeds()
        .stdout_is("-----> Disabling zero downtime for app's (demo) proctypes (web)\n");
    berth
        .cmd(["domains:disable", "--all"])
        .succeeds()
        .stdout_is("-----> App virtual host support disabled\n");
    berth
        .cmd(["domains:enable", "demo"])
        .succeeds()
        .stdout_is("-----> App virtual host support enabled\n");
    berth
        .cmd(["ports:add", "demo", "http:8080:5000"])
        .succeeds();
    berth
        .cmd(["ports:list", "demo", "--format", "json"])
        .succeeds()
        .stdout_is("[{\"container_port\":5000,\"host_port\":8080,\"scheme\":\"http\"}]\n");
}

/// The shipped bash completion, in a real bash: commands from `help
/// --all`, app names from `apps:list`, `--global` where a report takes it.
#[test]
fn bash_completion_completes_commands_and_apps() {
    let berth = Berth::new();
    berth.dokku(["apps:create", "pickme"]).succeeds();
    let dokku = berth.root().join("bin/dokku");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/completion/dokku.bash");
    // `words` after the program name; the last is the one being completed.
    let complete = |words: &str| -> String {
        let program = format!(
            "source \"$1\"; COMP_WORDS=(\"$2\" {words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _dokku; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let args = ["-c", &program, "bash", script, dokku.to_str().unwrap()];
        berth.process("bash", args).succeeds().stdout()
    };
    assert_eq!(complete("apps:re"), "apps:rename\napps:report\n");
    assert_eq!(complete("--quiet ps:report ''"), "--global\npickme\n");
    assert_eq!(complete("config:set pi"), "pickme\n");
    assert_eq!(
        complete("config:set pickme ''"),
        "\n",
        "no app after the app"
    );
}
