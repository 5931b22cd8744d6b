//! The ports plugin: `scheme:host-port:container-port` maps, their checks,
//! `ports:list` and `ports:report`.

use crate::harness::Berth;

fn stored_map(berth: &Berth, app: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(berth.lib_root().join(format!("config/ports/{app}/{key}"))).ok()
}

#[test]
fn add_list_remove_clear() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["ports:list", "demo"])
        .fails(1)
        .stderr_is(" !     No port mappings configured for app\n");
    berth
        .cmd([
            "ports:add",
            "demo",
            "http:80:5000",
            "https:443:5000 http:8080:3000",
        ])
        .succeeds()
        .stdout_is("");
    assert_eq!(
        stored_map(&berth, "demo", "map").unwrap(),
        "http:8080:3000\nhttp:80:5000\nhttps:443:5000\n"
    );
    berth.cmd(["ports:list", "demo"]).succeeds().stdout_is(
        "-----> Port mappings for demo
    -----> scheme  host port  container port
    http           8080       3000
    http           80         5000
    https          443        5000
",
    );
    berth
        .cmd(["--quiet", "ports:list", "demo"])
        .succeeds()
        .stdout_is(
            "    http   8080  3000
    http   80    5000
    https  443   5000
",
        );
    berth
        .cmd(["ports:list", "demo", "--format", "json"])
        .succeeds()
        .stdout_is(
            "[{\"container_port\":3000,\"host_port\":8080,\"scheme\":\"http\"},{\"container_port\":5000,\"host_port\":80,\"scheme\":\"http\"},{\"container_port\":5000,\"host_port\":443,\"scheme\":\"https\"}]\n",
        );
    berth
        .cmd(["ports:remove", "demo", "https:443:5000"])
        .succeeds()
        .stdout_is("");
    berth.cmd(["ports:remove", "demo", "8080"]).succeeds();
    assert_eq!(stored_map(&berth, "demo", "map").unwrap(), "http:80:5000\n");
    berth.cmd(["ports:remove", "demo", "80"]).succeeds();
    assert_eq!(stored_map(&berth, "demo", "map"), None);
    berth.cmd(["ports:set", "demo", "udp:53:53"]).succeeds();
    berth
        .cmd(["ports:report", "demo", "--ports-map"])
        .succeeds()
        .stdout_is("udp:53:53\n");
    berth.cmd(["ports:clear", "demo"]).succeeds().stdout_is("");
    assert_eq!(stored_map(&berth, "demo", "map"), None);
    berth.cmd(["ports:list", "demo"]).fails(1);
}

#[test]
fn set_replaces() {
    let berth = Berth::new();
    berth.app("demo");
    berth.cmd(["ports:set", "demo", "http:80:5000"]).succeeds();
    berth
        .cmd(["ports:set", "demo", "http:80:3000", "http:81:3001"])
        .succeeds();
    assert_eq!(
        stored_map(&berth, "demo", "map").unwrap(),
        "http:80:3000\nhttp:81:3001\n"
    );
}

#[test]
fn bad_maps_are_refused_and_change_nothing() {
    let berth = Berth::new();
    berth.app("demo");
    berth.cmd(["ports:set", "demo", "http:80:5000"]).succeeds();
    let cases = [
        (
            "http:x:5000",
            r#"Invalid port map http:x:5000 [err=strconv.Atoi: parsing "x": invalid syntax]"#,
        ),
        ("http:0:5000", "Invalid port map http:0:5000 [hostPort=0]"),
        (
            "http:80:70000",
            "Invalid port map http:80:70000 [containerPort=70000]",
        ),
        ("http:80", "Invalid port map http:80 [len=2]"),
        (
            "ftp:21:21",
            r#"Invalid port map ftp:21:21 [err=unknown scheme "ftp", valid schemes: grpc, grpcs, http, https, tcp, udp]"#,
        ),
        (
            "http:81:5000;rm",
            r#"Invalid port map http:81:5000;rm [err=strconv.Atoi: parsing "5000;rm": invalid syntax]"#,
        ),
        (
            "8080",
            "Invalid port map 8080 [err=expected scheme:host-port:container-port]",
        ),
    ];
    for (map, message) in cases {
        for command in ["ports:add", "ports:set"] {
            berth
                .cmd([command, "demo", "http:90:5000", map])
                .fails(1)
                .stderr_is(&format!(" !     {message}\n"));
        }
    }
    berth
        .cmd(["ports:add", "demo", "http:80:3000"])
        .fails(1)
        .stderr_is(" !     Error validating port mappings: The same scheme:host-port is being reused: http:80\n");
    berth
        .cmd(["ports:set", "demo", "https:443:1", "https:443:2"])
        .fails(1)
        .stderr_is(" !     Error validating port mappings: The same scheme:host-port is being reused: https:443\n");
    for command in ["ports:add", "ports:set", "ports:remove"] {
        berth
            .cmd([command, "demo"])
            .fails(1)
            .stderr_is(" !     No port mapping specified\n");
        berth.cmd([command, "ghost", "http:80:5000"]).fails(20);
    }
    berth
        .cmd(["ports:remove", "demo", "0"])
        .fails(1)
        .stderr_is(" !     Invalid port map 0 [hostPort=0]\n");
    assert_eq!(stored_map(&berth, "demo", "map").unwrap(), "http:80:5000\n");
}

#[test]
fn report_layout_and_json_flags() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["ports:set", "demo", "http:80:5000", "https:443:5000"])
        .succeeds();
    berth.cmd(["ports:report", "demo"]).succeeds().stdout_is(
        "=====> demo ports information
       Ports map:                     http:80:5000 https:443:5000
       Ports map detected:            
",
    );
    berth
        .cmd(["ports:report", "demo", "--ports-map-json"])
        .succeeds()
        .stdout_is("[{\"container_port\":5000,\"host_port\":80,\"scheme\":\"http\"},{\"container_port\":5000,\"host_port\":443,\"scheme\":\"https\"}]\n");
    berth
        .cmd(["ports:report", "demo", "--ports-map-detected-json"])
        .succeeds()
        .stdout_is("[]\n");
    berth
        .cmd(["ports:report", "demo", "--ports-map-json", "--ports-map"])
        .fails(1)
        .stderr_is(" !     ports:report command allows only a single flag\n");
    berth
        .cmd([
            "ports:report",
            "demo",
            "--ports-map-json",
            "--format",
            "json",
        ])
        .fails(1)
        .stderr_is(" !     --format flag cannot be specified when specifying an info flag\n");
    berth
        .cmd(["ports:report", "demo", "--format", "json"])
        .succeeds()
        .stdout_is("{\"map\":\"http:80:5000 https:443:5000\",\"map-detected\":\"\",\"ports-map\":\"http:80:5000 https:443:5000\",\"ports-map-detected\":\"\"}\n");
    berth
        .cmd(["ports:report", "demo", "--ports-bogus"])
        .fails(1)
        .stderr_is(" !     Invalid flag passed, valid flags: --ports-map, --ports-map-detected\n");
    berth
        .cmd(["ports:report", "ghost", "--ports-map-json"])
        .fails(20);
}

/// Detected maps (written by a build) show in `ports:list`; the user's
/// maps win; the default follows the proxy port.
#[test]
fn detected_and_default_maps() {
    let berth = Berth::new();
    berth.cmd(["domains:add-global", "example.com"]).succeeds();
    berth.app("demo");
    berth
        .cmd(["urls", "demo"])
        .succeeds()
        .stdout_is("http://demo.example.com\n");
    berth
        .cmd(["proxy:set", "--global", "proxy-port", "8080"])
        .succeeds();
    berth
        .cmd(["urls", "demo"])
        .succeeds()
        .stdout_is("http://demo.example.com:8080\n");
    let detected = berth.lib_root().join("config/ports/demo/map-detected");
    std::fs::create_dir_all(detected.parent().unwrap()).unwrap();
    std::fs::write(&detected, "http:3000:3000\n").unwrap();
    berth.cmd(["ports:list", "demo"]).succeeds().stdout_is(
        "-----> Port mappings for demo
    -----> scheme  host port  container port
    http           3000       3000
",
    );
    berth
        .cmd(["urls", "demo"])
        .succeeds()
        .stdout_is("http://demo.example.com:3000\n");
    berth.cmd(["ports:set", "demo", "http:80:5000"]).succeeds();
    berth
        .cmd(["urls", "demo"])
        .succeeds()
        .stdout_is("http://demo.example.com\n");
    berth
        .cmd(["ports:report", "demo", "--ports-map-detected"])
        .succeeds()
        .stdout_is("http:3000:3000\n");
    berth.cmd(["ports:clear", "demo"]).succeeds();
    assert!(!detected.exists());
}
