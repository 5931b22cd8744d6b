//! The domains plugin: global and app domains, vhost support, defaults at
//! create, reports, and `url`/`urls`.

use std::fs;

use crate::harness::Berth;

fn read(path: std::path::PathBuf) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn app_vhost(berth: &Berth, app: &str) -> Option<String> {
    read(berth.dokku_root().join(app).join("VHOST"))
}

fn global_vhost(berth: &Berth) -> Option<String> {
    read(berth.dokku_root().join("VHOST"))
}

#[test]
fn global_domains() {
    let berth = Berth::new();
    berth
        .cmd(["domains:add-global", "example.com", "Other.ORG", "example.com"])
        .succeeds()
        .stdout_is(
            "-----> Added example.com\n-----> Added other.org\n-----> Skipping example.com: already added\n",
        );
    assert_eq!(global_vhost(&berth).unwrap(), "example.com\nother.org\n");
    berth
        .cmd(["domains:remove-global", "other.org"])
        .succeeds()
        .stdout_is("-----> Removed other.org\n");
    berth
        .cmd(["domains:set-global", "a.com", "*.b.com"])
        .succeeds()
        .stdout_is("-----> Set a.com *.b.com\n");
    assert_eq!(global_vhost(&berth).unwrap(), "a.com\n*.b.com\n");
    berth
        .cmd(["domains:clear-global"])
        .succeeds()
        .stdout_is("-----> Cleared global domains\n");
    assert_eq!(global_vhost(&berth), None);
    for command in [
        "domains:add-global",
        "domains:set-global",
        "domains:remove-global",
    ] {
        berth.cmd([command]).fails(1).stderr_is(&format!(
            " !     Please specify a domain name. Usage: dokku {command} DOMAIN [DOMAIN ...]\n"
        ));
    }
}

#[test]
fn app_domains() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["domains:add", "demo", "a.com", "*.B.com", "a.com"])
        .succeeds()
        .stdout_is(
            "-----> Added a.com to demo\n-----> Added *.b.com to demo\n-----> Skipping: a.com already added to demo\n",
        );
    assert_eq!(app_vhost(&berth, "demo").unwrap(), "a.com\n*.b.com\n");
    berth
        .cmd(["domains:add", "demo", "c.com"])
        .succeeds()
        .stdout_is("-----> Added c.com to demo\n");
    berth
        .cmd(["domains:remove", "demo", "a.com"])
        .succeeds()
        .stdout_is("-----> Removed a.com from demo\n");
    assert_eq!(app_vhost(&berth, "demo").unwrap(), "*.b.com\nc.com\n");
    berth
        .cmd(["domains:set", "demo", "x.com", "y.com"])
        .succeeds()
        .stdout_is("-----> Set x.com y.com for demo\n");
    assert_eq!(app_vhost(&berth, "demo").unwrap(), "x.com\ny.com\n");
    berth
        .cmd(["domains:report", "demo", "--domains-app-vhosts"])
        .succeeds()
        .stdout_is("x.com y.com\n");
    berth
        .cmd(["domains:clear", "demo"])
        .succeeds()
        .stdout_is("-----> Cleared domains in demo\n");
    assert_eq!(app_vhost(&berth, "demo"), None);
}

#[test]
fn app_domain_errors() {
    let berth = Berth::new();
    berth.app("demo");
    for command in ["domains:add", "domains:set", "domains:remove"] {
        berth.cmd([command, "demo"]).fails(1).stderr_is(&format!(
            " !     Please specify a domain name. Usage: dokku {command} demo DOMAIN [DOMAIN ...]\n"
        ));
        berth.cmd([command, "ghost", "a.com"]).fails(20);
        berth
            .cmd([command])
            .fails(1)
            .stderr_is(" !     Please specify an app to run the command on\n");
    }
    for command in [
        "domains:clear",
        "domains:reset",
        "domains:enable",
        "domains:disable",
    ] {
        berth
            .cmd([command, "ghost"])
            .fails(20)
            .stderr_is(" !     App ghost does not exist\n");
    }
}

/// Nothing that could break out of an nginx `server_name` is ever stored.
#[test]
fn injection_attempts_are_refused_and_change_nothing() {
    let berth = Berth::new();
    berth.app("demo");
    berth.cmd(["domains:add", "demo", "good.com"]).succeeds();
    berth.cmd(["domains:add-global", "example.com"]).succeeds();
    let bad = [
        "a.com;return 200",
        "a.com\nx",
        "a b",
        "x{",
        "}",
        "$host",
        "a.com\"",
        "a.com'",
        "a.com#",
        "a/b",
        "a.com\r\nHost: x",
        "",
    ];
    for domain in bad {
        let runs = [
            berth.cmd(["domains:add", "demo", "ok.com", domain]),
            berth.cmd(["domains:set", "demo", "ok.com", domain]),
            berth.cmd(["domains:add-global", domain, "ok.com"]),
            berth.cmd(["domains:set-global", domain, "ok.com"]),
        ];
        for run in runs {
            let done = run.fails(1).stdout_is("");
            if domain.contains('\n') {
                done.stderr_has(" is invalid. exiting...\n");
            } else {
                done.stderr_is(&format!(" !     {domain} is invalid. exiting...\n"));
            }
        }
    }
    assert_eq!(app_vhost(&berth, "demo").unwrap(), "good.com\n");
    assert_eq!(global_vhost(&berth).unwrap(), "example.com\n");
}

#[test]
fn defaults_at_create_with_a_global_domain() {
    let berth = Berth::new();
    berth
        .cmd(["domains:set-global", "example.com", "10.0.0.1", "other.net"])
        .succeeds();
    for app in ["demo", "api.example.com", "x.other.org"] {
        berth
            .cmd(["apps:create", app])
            .succeeds()
            .stdout_is(&format!("-----> Creating {app}...\n"))
            .stderr_is("");
    }
    assert_eq!(
        app_vhost(&berth, "demo").unwrap(),
        "demo.example.com\ndemo.other.net\n"
    );
    assert_eq!(
        app_vhost(&berth, "api.example.com").unwrap(),
        "api.example.com\n"
    );
    assert_eq!(app_vhost(&berth, "x.other.org").unwrap(), "x.other.org\n");
    berth.cmd(["domains:report", "demo"]).succeeds().stdout_is(
        "=====> demo domains information
       Domains app enabled:           true
       Domains app vhosts:            demo.example.com demo.other.net
       Domains global enabled:        true
       Domains global vhosts:         example.com 10.0.0.1 other.net
",
    );
}

#[test]
fn no_global_domain_leaves_the_app_without_domains() {
    let berth = Berth::new();
    berth
        .cmd(["apps:create", "demo"])
        .succeeds()
        .stdout_is("-----> Creating demo...\n")
        .stderr_is("");
    assert_eq!(app_vhost(&berth, "demo"), None);
    berth
        .cmd(["config:show", "demo"])
        .succeeds()
        .stdout_is("=====> demo env vars\n");
    berth.cmd(["domains:report", "demo"]).succeeds().stdout_is(
        "=====> demo domains information
       Domains app enabled:           true
       Domains app vhosts:            
       Domains global enabled:        false
       Domains global vhosts:         
",
    );
}

#[test]
fn reset_writes_the_defaults() {
    let berth = Berth::new();
    berth.app("demo");
    berth.cmd(["domains:set", "demo", "custom.com"]).succeeds();
    berth.cmd(["domains:add-global", "example.com"]).succeeds();
    berth
        .cmd(["domains:reset", "demo"])
        .succeeds()
        .stdout_is("-----> Reset domains for demo\n");
    assert_eq!(app_vhost(&berth, "demo").unwrap(), "demo.example.com\n");
}

#[test]
fn disable_and_enable_vhost_support() {
    let berth = Berth::new();
    berth.cmd(["domains:add-global", "example.com"]).succeeds();
    berth.app("demo");
    berth
        .cmd(["domains:disable", "demo"])
        .succeeds()
        .stdout_is("-----> App virtual host support disabled\n");
    assert_eq!(app_vhost(&berth, "demo"), None);
    berth
        .cmd(["config:get", "demo", "NO_VHOST"])
        .succeeds()
        .stdout_is("1\n");
    berth
        .cmd(["domains:disable", "demo"])
        .succeeds()
        .stdout_is("-----> Domains (VHOST) support is already disabled for app (demo)\n");
    berth
        .cmd(["domains:report", "demo", "--domains-app-enabled"])
        .succeeds()
        .stdout_is("false\n");
    berth
        .cmd(["domains:enable", "demo"])
        .succeeds()
        .stdout_is("-----> App virtual host support enabled\n");
    assert_eq!(app_vhost(&berth, "demo").unwrap(), "demo.example.com\n");
    berth
        .cmd(["config:get", "demo", "NO_VHOST"])
        .succeeds()
        .stdout_is("0\n");
    berth
        .cmd(["domains:enable", "demo"])
        .succeeds()
        .stdout_is("-----> Domains (VHOST) support is already enabled for app (demo)\n");

    // Adding a domain turns vhost support back on.
    berth.cmd(["domains:disable", "demo"]).succeeds();
    berth
        .cmd(["domains:add", "demo", "a.com"])
        .succeeds()
        .stdout_is("-----> Added a.com to demo\n");
    berth
        .cmd(["domains:report", "demo", "--domains-app-enabled"])
        .succeeds()
        .stdout_is("true\n");
}

#[test]
fn enable_and_disable_all_apps() {
    let berth = Berth::new();
    berth
        .cmd(["domains:disable", "--all"])
        .succeeds()
        .stderr_is(" !     You haven't deployed any applications yet\n");
    berth.app("a").app("b");
    berth
        .cmd(["domains:disable", "--all"])
        .succeeds()
        .stdout_is(
            "-----> App virtual host support disabled\n-----> App virtual host support disabled\n",
        );
    berth.cmd(["domains:enable", "--all"]).succeeds().stdout_is(
        "-----> App virtual host support enabled\n-----> App virtual host support enabled\n",
    );
}

#[test]
fn report_flags_and_errors() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["domains:add-global", "a.com", "b.com"])
        .succeeds();
    berth
        .cmd(["domains:report", "demo", "--domains-global-vhosts"])
        .succeeds()
        .stdout_is("a.com b.com\n");
    berth
        .cmd(["domains:report", "demo", "--domains-bogus"])
        .fails(1)
        .stderr_is(" !     Invalid flag passed, valid flags: --domains-app-enabled, --domains-app-vhosts, --domains-global-enabled, --domains-global-vhosts\n");
    let json = berth
        .cmd(["domains:report", "demo", "--format", "json"])
        .succeeds()
        .stdout();
    assert_eq!(
        json,
        "{\"app-enabled\":\"true\",\"app-vhosts\":\"\",\"global-enabled\":\"true\",\"global-vhosts\":\"a.com b.com\"}\n"
    );
}

#[test]
fn clone_gets_defaults_and_rename_moves_them() {
    let berth = Berth::new();
    berth.cmd(["domains:add-global", "example.com"]).succeeds();
    berth.app("demo");
    berth.cmd(["domains:add", "demo", "custom.com"]).succeeds();
    // (An app without an ENV file cannot be cloned yet: store bug.)
    berth
        .cmd(["config:set", "--no-restart", "demo", "K=v"])
        .succeeds();
    berth
        .cmd(["apps:clone", "--skip-deploy", "demo", "copy"])
        .succeeds();
    assert_eq!(app_vhost(&berth, "copy").unwrap(), "copy.example.com\n");
    berth
        .cmd(["apps:rename", "--skip-deploy", "demo", "renamed"])
        .succeeds();
    assert_eq!(
        app_vhost(&berth, "renamed").unwrap(),
        "renamed.example.com\ncustom.com\n"
    );
}

#[test]
fn urls_through_the_proxy() {
    let berth = Berth::new();
    berth.app("demo");
    berth.cmd(["url", "demo"]).succeeds().stdout_is("");
    berth
        .cmd(["domains:add", "demo", "b.com", "a.com", "*.w.com"])
        .succeeds();
    berth
        .cmd(["urls", "demo"])
        .succeeds()
        .stdout_is("http://a.com\nhttp://b.com\n");
    berth
        .cmd([
            "ports:set",
            "demo",
            "http:8080:5000",
            "https:443:5000",
            "grpc:50051:50051",
            "udp:53:53",
        ])
        .succeeds();
    berth.cmd(["urls", "demo"]).succeeds().stdout_is(
        "grpc://a.com:50051\ngrpc://b.com:50051\nhttp://a.com:8080\nhttp://b.com:8080\n",
    );
    berth
        .cmd(["url", "demo"])
        .succeeds()
        .stdout_is("http://a.com:8080\n");
    berth.cmd(["urls", "ghost"]).fails(20);
    berth
        .cmd(["url"])
        .fails(1)
        .stderr_is(" !     Please specify an app to run the command on\n");
}

#[test]
fn urls_fall_back_to_web_listeners() {
    let berth = Berth::new();
    berth.app("demo");
    let dir = berth.dokku_root().join("demo");
    for (index, ip, port) in [(1, "172.17.0.3", "5000"), (2, "172.17.0.2", "5000")] {
        fs::write(dir.join(format!("IP.web.{index}")), ip).unwrap();
        fs::write(dir.join(format!("PORT.web.{index}")), port).unwrap();
    }
    fs::write(dir.join("IP.worker.1"), "172.17.0.9").unwrap();
    // No domains: the listeners.
    berth
        .cmd(["urls", "demo"])
        .succeeds()
        .stdout_is("http://172.17.0.2:5000\nhttp://172.17.0.3:5000\n");
    berth
        .cmd(["url", "demo"])
        .succeeds()
        .stdout_is("http://172.17.0.2:5000\n");
    // Domains, proxy disabled: still the listeners.
    berth.cmd(["domains:add", "demo", "a.com"]).succeeds();
    berth
        .cmd(["urls", "demo"])
        .succeeds()
        .stdout_is("http://a.com\n");
    berth
        .cmd(["proxy:set", "demo", "disabled", "true"])
        .succeeds();
    berth
        .cmd(["urls", "demo"])
        .succeeds()
        .stdout_is("http://172.17.0.2:5000\nhttp://172.17.0.3:5000\n");
}
