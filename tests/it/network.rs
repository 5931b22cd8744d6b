//! `network:*`: networks made and removed through the engine, the
//! networks deployed containers join (and when), their `APP.PROC` aliases,
//! and what a missing network does to a deploy.

use crate::harness::Berth;
use crate::source::{container_of, docker_inspect as inspect, dyno_addr, http_get, unique_app};

/// A network name of this run, removed from the engine when dropped
/// (declare it before the `Berth`, so the apps' containers go first).
pub struct Net(pub String);

impl Net {
    pub fn new(prefix: &str) -> Net {
        Net(unique_app(prefix))
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["network", "rm", &self.0])
            .output();
    }
}

fn network_exists(name: &str) -> bool {
    std::process::Command::new("docker")
        .args(["network", "inspect", name])
        .output()
        .unwrap()
        .status
        .success()
}

fn exec(container: &str, command: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("docker")
        .arg("exec")
        .arg(container)
        .args(command)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// `GET /` from inside `container` to `address` (`host:port`), with the
/// perl the test app's image has.
const FETCH: &str = r#"my $s = IO::Socket::INET->new(PeerAddr => $ARGV[0], Timeout => 5) or die "connect $ARGV[0]: $@\n"; print $s "GET / HTTP/1.0\r\n\r\n"; print while <$s>;"#;

#[test]
fn networks_are_created_inspected_listed_and_destroyed() {
    let net = Net::new("net");
    let name = net.0.as_str();
    let berth = Berth::new();
    berth
        .cmd(["network:create", name])
        .succeeds()
        .stdout_is(&format!("-----> Creating network {name}\n"));
    assert!(network_exists(name));
    assert_eq!(
        inspect(
            name,
            "{{.Attachable}} {{.Driver}} {{index .Labels \"com.dokku.network-name\"}}"
        ),
        format!("true bridge {name}")
    );
    berth
        .cmd(["network:create", name])
        .fails(1)
        .stderr_is(" !     Network name already exists\n");
    berth
        .cmd(["network:create", "bad/name"])
        .fails(1)
        .stderr_has("Invalid network name specified: bad/name");
    berth.cmd(["network:exists", name]).succeeds().stdout_is("");
    berth
        .cmd(["network:exists", &format!("{name}-nope")])
        .fails(1)
        .stderr_is(" !     Network does not exist\n");

    let id = inspect(name, "{{.Id}}")[..12].to_string();
    berth
        .cmd(["network:info", name])
        .succeeds()
        .stdout_is(&format!(
            "=====> {name} network information\n\
             \x20      ID:             {id}\n\
             \x20      Name:           {name}\n\
             \x20      Driver:         bridge\n\
             \x20      Scope:          local\n\
             \x20      Dokku managed:  true\n"
        ));
    let json = berth
        .cmd(["network:info", name, "--format", "json"])
        .succeeds()
        .stdout();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["ID"], id.as_str());
    assert_eq!(value["DokkuManaged"], true);
    assert_eq!(value["Labels"]["com.dokku.network-name"], name);
    assert!(
        json.starts_with(r#"{"CreatedAt":"#),
        "Dokku's key order: {json}"
    );
    berth
        .cmd(["network:info", "bridge", "--format", "json"])
        .succeeds()
        .stdout_has(r#""DokkuManaged":false"#);
    berth
        .cmd(["network:info", name, "--format", "yaml"])
        .fails(1)
        .stderr_has("Invalid --format value specified: yaml");

    let listed = berth.cmd(["network:list"]).succeeds().stdout();
    assert!(listed.starts_with("=====> Networks\n"), "{listed}");
    assert!(listed.lines().any(|l| l == name) && listed.lines().any(|l| l == "bridge"));
    let managed = berth
        .cmd(["--quiet", "network:list", "--dokku-managed"])
        .succeeds()
        .stdout();
    assert!(managed.lines().any(|l| l == name), "{managed}");
    assert!(!managed.lines().any(|l| l == "bridge" || l == "host"));
    let json = berth
        .cmd(["network:list", "--format", "json", "--dokku-managed"])
        .succeeds()
        .stdout();
    let list: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert!(list.iter().all(|n| n["DokkuManaged"] == true));
    assert!(list.iter().any(|n| n["Name"] == name));

    // Destructive: the name must be typed, unless --force.
    berth
        .cmd(["network:destroy", name])
        .stdin("something else\n")
        .fails(1)
        .stderr_has(&format!("This command will destroy network {name}."))
        .stderr_has("Confirmation did not match test. Aborted.");
    assert!(network_exists(name));
    berth
        .cmd(["network:destroy", "bridge"])
        .fails(1)
        .stderr_is(" !     Unable to destroy default docker networks\n");
    berth
        .cmd(["network:destroy", name])
        .stdin(format!("{name}\n"))
        .succeeds()
        .stdout_has(&format!("-----> Destroying network {name}\n"));
    assert!(!network_exists(name));
    berth
        .cmd(["--force", "network:destroy", name])
        .fails(1)
        .stderr_is(" !     Network does not exist\n");
    berth.cmd(["network:create", name]).succeeds();
    berth
        .cmd(["--force", "network:destroy", name])
        .succeeds()
        .stdout_is(&format!("-----> Destroying network {name}\n"));
    assert!(!network_exists(name));
}

#[test]
fn apps_on_a_shared_network_reach_each_other_by_app_web() {
    let net = Net::new("shared");
    let berth = Berth::new();
    berth.cmd(["network:create", &net.0]).succeeds();
    let backend = berth
        .deploy("netb")
        .setup(|app| {
            berth
                .cmd(["network:set", app, "attach-post-deploy", &net.0])
                .succeeds()
                .stdout_is(&format!("=====> Setting attach-post-deploy to {}\n", net.0));
            berth
                .cmd(["config:set", app, "MESSAGE=from-backend"])
                .succeeds();
        })
        .push();
    let frontend = berth
        .deploy("neta")
        .setup(|app| {
            berth
                .cmd(["network:set", app, "attach-post-create", &net.0])
                .succeeds();
        })
        .push();
    let b = &backend.app;
    let b_web = container_of(&berth, b, "web.1");
    let aliases = inspect(
        &b_web,
        &format!(
            "{{{{json (index .NetworkSettings.Networks \"{}\").Aliases}}}}",
            net.0
        ),
    );
    assert!(aliases.contains(&format!("\"{b}.web\"")), "{aliases}");

    let a_web = container_of(&berth, &frontend.app, "web.1");
    let (resolved, text) = exec(&a_web, &["getent", "hosts", &format!("{b}.web")]);
    assert!(
        resolved,
        "{b}.web does not resolve in {}: {text}",
        frontend.app
    );
    let (fetched, text) = exec(
        &a_web,
        &[
            "perl",
            "-MIO::Socket::INET",
            "-e",
            FETCH,
            &format!("{b}.web:5000"),
        ],
    );
    assert!(fetched && text.contains("from-backend"), "{text}");

    // The report shows the raw, global and computed values.
    berth
        .cmd(["network:report", b, "--network-computed-attach-post-deploy"])
        .succeeds()
        .stdout_is(&format!("{}\n", net.0));
    berth
        .cmd(["network:report", b, "--network-web-listeners"])
        .succeeds()
        .stdout_is(&format!("{}\n", dyno_addr(&berth, b, "web.1")));
    // network:rebuild rewrites the recorded addresses from the engine.
    std::fs::write(berth.dokku_root().join(b).join("IP.web.1"), "10.9.9.9").unwrap();
    berth.cmd(["network:rebuild", b]).succeeds();
    assert_eq!(
        dyno_addr(&berth, b, "web.1"),
        format!(
            "{}:5000",
            inspect(
                &b_web,
                &format!(
                    "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
                    crate::harness::test_network()
                )
            )
        )
    );
    berth.cmd(["network:rebuildall"]).succeeds();
}

#[test]
fn initial_network_tld_and_bind_all_interfaces_are_in_docker_inspect() {
    let net = Net::new("initial");
    let berth = Berth::new();
    berth.cmd(["network:create", &net.0]).succeeds();
    let deployed = berth
        .deploy("neti")
        .setup(|app| {
            for (key, value) in [
                ("initial-network", net.0.as_str()),
                ("tld", "svc.cluster.local"),
                ("bind-all-interfaces", "true"),
            ] {
                berth.cmd(["network:set", app, key, value]).succeeds();
            }
        })
        .push();
    let app = &deployed.app;
    let web = container_of(&berth, app, "web.1");
    let networks = inspect(
        &web,
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
    );
    assert!(networks.split(' ').any(|n| n == net.0), "{networks}");
    // Berth's apps network stays: the proxy routes through it.
    assert!(
        networks
            .split(' ')
            .any(|n| n == crate::harness::test_network()),
        "{networks}"
    );
    let aliases = inspect(
        &web,
        &format!(
            "{{{{json (index .NetworkSettings.Networks \"{}\").Aliases}}}}",
            net.0
        ),
    );
    assert!(
        aliases.contains(&format!("\"{app}.web.svc.cluster.local\"")),
        "{aliases}"
    );
    let bindings = inspect(&web, "{{json .HostConfig.PortBindings}}");
    assert!(bindings.contains("\"5000/tcp\""), "{bindings}");
    let published = inspect(&web, "{{json .NetworkSettings.Ports}}");
    assert!(published.contains("\"HostIp\":\"0.0.0.0\""), "{published}");
    let (ok, _) = exec(&web, &["true"]);
    assert!(ok);
}

#[test]
fn a_missing_network_fails_the_deploy_and_the_old_release_keeps_serving() {
    let net = Net::new("gone");
    let berth = Berth::new();
    let deployed = berth.deployed("netm");
    let app = &deployed.app;
    let old = container_of(&berth, app, "web.1");
    let addr = dyno_addr(&berth, app, "web.1");
    assert_eq!(http_get(&addr, "x", "/").unwrap().1, "hello\n");

    for key in [
        "attach-post-deploy",
        "attach-post-create",
        "initial-network",
    ] {
        berth.cmd(["network:create", &net.0]).succeeds();
        berth.cmd(["network:set", app, key, &net.0]).succeeds();
        berth.cmd(["--force", "network:destroy", &net.0]).succeeds();
        deployed
            .source
            .write("note.txt", key)
            .commit(&format!("change for {key}"));
        deployed
            .source
            .push_local(&berth, app, "master")
            .fails(1)
            .stderr_has(&format!(
                "Network {} does not exist; create it with network:create {}",
                net.0, net.0
            ))
            .stderr_has(&format!("(network property {key} of {app})"));
        assert_eq!(container_of(&berth, app, "web.1"), old, "{key}");
        assert_eq!(dyno_addr(&berth, app, "web.1"), addr);
        assert_eq!(http_get(&addr, "x", "/").unwrap().1, "hello\n", "{key}");
        berth.cmd(["network:set", app, key]).succeeds();
    }
}

#[test]
fn bad_network_settings_are_refused_and_change_nothing() {
    let berth = Berth::new();
    let app = unique_app("netbad");
    berth.app(&app);
    let missing = unique_app("missing");
    for (args, message) in [
        (
            vec!["network:set", &app, "bogus", "x"],
            "Invalid property specified, valid properties include: attach-post-create, attach-post-deploy, bind-all-interfaces, initial-network, static-web-listener, tld",
        ),
        (
            vec!["network:set", &app, "attach-post-create", &missing],
            "does not exist; create it with network:create",
        ),
        (
            vec![
                "network:set",
                &app,
                "attach-post-deploy",
                "bridge",
                &missing,
            ],
            "does not exist; create it with network:create",
        ),
        (
            vec!["network:set", &app, "initial-network", "host"],
            "Network host cannot be joined",
        ),
        (
            vec![
                "network:set",
                "--global",
                "static-web-listener",
                "10.0.0.1:80",
            ],
            "Property cannot be specified globally",
        ),
        (
            vec!["network:set", &app, "static-web-listener", "10.0.0.1"],
            "Invalid value for static-web-listener: 10.0.0.1",
        ),
        (
            vec!["network:set", &app, "bind-all-interfaces", "yes"],
            "Invalid value for bind-all-interfaces: yes (valid: true, false)",
        ),
        (
            vec!["network:set", &app, "tld", "bad_tld"],
            "Invalid value for tld: bad_tld",
        ),
        (vec!["network:set", &app], "No property specified"),
        (vec!["network:info"], "No network name specified"),
    ] {
        berth.cmd(args).fails(1).stderr_has(message);
    }
    berth
        .cmd(["network:set", "nosuchapp", "tld", "x"])
        .fails(20)
        .stderr_is(" !     App nosuchapp does not exist\n");
    berth.cmd(["network:rebuild", "nosuchapp"]).fails(20);
    assert!(!berth.lib_root().join("config/network").exists());
    assert!(!network_exists(&missing));

    // An empty value unsets; the report falls back to the defaults.
    berth
        .cmd(["network:set", &app, "static-web-listener", "10.0.0.1:8080"])
        .succeeds();
    berth
        .cmd(["network:report", &app, "--network-web-listeners"])
        .succeeds()
        .stdout_is("10.0.0.1:8080\n");
    berth
        .cmd(["network:set", &app, "static-web-listener"])
        .succeeds()
        .stdout_is("=====> Unsetting static-web-listener\n");
    berth
        .cmd([
            "network:report",
            &app,
            "--network-computed-bind-all-interfaces",
        ])
        .succeeds()
        .stdout_is("false\n");
    berth
        .cmd(["network:report", &app, "--network-bogus"])
        .fails(1)
        .stderr_has("Invalid flag passed, valid flags: --network-attach-post-create");
}

/// `static-web-listener`: the proxy routes the app to that `host:port`,
/// even with no container of its own.
#[test]
fn a_static_web_listener_is_what_nginx_routes_to() {
    let berth = Berth::new();
    let server = crate::ssh_server::SshServer::start(&berth);
    let backend = crate::routing::routed(&berth, &server, "backend.test").app;
    let listener = dyno_addr(&berth, &backend, "web.1");
    let app = unique_app("netstatic");
    berth.app(&app);
    crate::routing::route(&berth, &server, &app, "static.test");
    berth
        .cmd(["network:set", &app, "static-web-listener", &listener])
        .succeeds();
    // Routed at once: no proxy:build-config needed.
    assert_eq!(
        crate::routing::via_nginx(&server, "static.test", "/"),
        (200, "hello\n".into())
    );
    let config = berth.cmd(["nginx:show-config", &app]).succeeds().stdout();
    assert!(config.contains(&format!("server {listener};")), "{config}");
    berth
        .cmd(["network:set", &app, "static-web-listener"])
        .succeeds();
    assert_eq!(
        crate::routing::via_nginx(&server, "static.test", "/").0,
        404
    );
}
