//! The proxy plugin: properties, enable/disable, report.

use crate::harness::Berth;

const DEFAULT_REPORT: &str = "=====> demo proxy information
       Proxy computed disabled:       false
       Proxy computed proxy port:     80
       Proxy computed proxy ssl port: 443
       Proxy computed type:           nginx
       Proxy disabled:                
       Proxy enabled:                 true
       Proxy global proxy port:       
       Proxy global proxy ssl port:   
       Proxy global type:             
       Proxy proxy port:              
       Proxy proxy ssl port:          
       Proxy type:                    
";

#[test]
fn report_layout() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["proxy:report", "demo"])
        .succeeds()
        .stdout_is(DEFAULT_REPORT);
    berth
        .cmd(["proxy:report", "demo", "--proxy-computed-type"])
        .succeeds()
        .stdout_is("nginx\n");
    let json = berth
        .cmd(["proxy:report", "demo", "--format", "json"])
        .succeeds()
        .stdout();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["enabled"], "true");
    assert_eq!(value["proxy-enabled"], "true");
    assert_eq!(value["computed-proxy-port"], "80");
    berth.cmd(["proxy:report", "ghost"]).fails(20);
}

#[test]
fn set_properties() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["proxy:set", "demo", "type", "nginx"])
        .succeeds()
        .stdout_is("=====> Setting type to nginx\n");
    berth
        .cmd(["proxy:set", "--global", "proxy-port", "8080"])
        .succeeds()
        .stdout_is("=====> Setting proxy-port to 8080\n");
    berth
        .cmd(["proxy:set", "demo", "proxy-ssl-port", "8443"])
        .succeeds();
    berth
        .cmd(["proxy:report", "demo", "--proxy-computed-proxy-port"])
        .succeeds()
        .stdout_is("8080\n");
    berth
        .cmd(["proxy:report", "demo", "--proxy-computed-proxy-ssl-port"])
        .succeeds()
        .stdout_is("8443\n");
    berth
        .cmd(["proxy:set", "demo", "proxy-ssl-port"])
        .succeeds()
        .stdout_is("=====> Unsetting proxy-ssl-port\n");
    berth
        .cmd(["proxy:report", "demo", "--proxy-proxy-ssl-port"])
        .succeeds()
        .stdout_is("\n");
}

#[test]
fn legacy_form_and_refusals() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["proxy:set", "demo", "nginx"])
        .succeeds()
        .stdout_is("=====> Setting type to nginx\n");
    berth
        .cmd(["proxy:report", "demo", "--proxy-type"])
        .succeeds()
        .stdout_is("nginx\n");
    berth
        .cmd(["proxy:set", "demo", "http:80:5000"])
        .fails(1)
        .stderr_is(" !     Consider using ports:set command or specifying a valid proxy\n");
    berth
        .cmd(["proxy:set", "demo", "type", "caddy"])
        .fails(1)
        .stderr_is(" !     Invalid proxy type caddy: berth implements the nginx proxy only\n");
    berth
        .cmd(["proxy:set", "--global", "traefik"])
        .fails(1)
        .stderr_is(" !     Invalid proxy type traefik: berth implements the nginx proxy only\n");
    berth
        .cmd(["proxy:set", "demo", "proxy-port", "70000"])
        .fails(1)
        .stderr_is(" !     Invalid port specified: 70000 (valid: 1 to 65535)\n");
    berth
        .cmd(["proxy:set", "demo", "disabled", "yes"])
        .fails(1)
        .stderr_is(" !     Invalid value specified: yes (valid: true, false)\n");
    berth
        .cmd(["proxy:set", "--global", "disabled", "true"])
        .fails(1)
        .stderr_is(" !     Property cannot be specified globally\n");
    berth
        .cmd(["proxy:set", "demo"])
        .fails(1)
        .stderr_is(" !     No property specified\n");
    berth.cmd(["proxy:set", "ghost", "nginx"]).fails(20);
    // Nothing but the first `type` was stored.
    let config = berth.lib_root().join("config/proxy");
    assert_eq!(
        std::fs::read_to_string(config.join("demo/type")).unwrap(),
        "nginx"
    );
    assert!(!config.join("demo/proxy-port").exists());
    assert!(!config.join("--global").exists());
}

#[test]
fn enable_and_disable() {
    let berth = Berth::new();
    berth.app("demo");
    let out = berth.cmd(["proxy:disable", "demo"]).succeeds().stdout();
    assert!(out.starts_with("-----> Disabling proxy for app\n"), "{out}");
    berth
        .cmd(["proxy:report", "demo", "--proxy-enabled"])
        .succeeds()
        .stdout_is("false\n");
    berth
        .cmd(["proxy:report", "demo", "--proxy-disabled"])
        .succeeds()
        .stdout_is("true\n");
    let out = berth.cmd(["proxy:enable", "demo"]).succeeds().stdout();
    assert!(out.starts_with("-----> Enabling proxy for app\n"), "{out}");
    berth
        .cmd(["proxy:report", "demo"])
        .succeeds()
        .stdout_is(DEFAULT_REPORT);
    berth.cmd(["proxy:enable", "ghost"]).fails(20);
    berth
        .cmd(["proxy:disable"])
        .fails(1)
        .stderr_is(" !     Please specify an app to run the command on\n");
}

#[test]
fn all_apps_and_parallel() {
    let berth = Berth::new();
    berth
        .cmd(["proxy:build-config", "--all"])
        .succeeds()
        .stderr_is(" !     You haven't deployed any applications yet\n");
    berth.app("a").app("b");
    let out = berth
        .cmd(["proxy:disable", "--parallel", "-1", "--all"])
        .succeeds()
        .stdout();
    assert_eq!(
        out.matches("-----> Disabling proxy for app\n").count(),
        2,
        "{out}"
    );
    for app in ["a", "b"] {
        berth
            .cmd(["proxy:report", app, "--proxy-enabled"])
            .succeeds()
            .stdout_is("false\n");
    }
    berth
        .cmd(["proxy:build-config", "--parallel", "0", "a"])
        .fails(1)
        .stderr_is(" !     Invalid value for --parallel: 0 (valid: -1 or a positive count)\n");
    berth
        .cmd(["proxy:build-config", "--parallel", "2", "a"])
        .succeeds();
    berth.cmd(["proxy:clear-config", "--all"]).succeeds();
    berth.cmd(["proxy:clear-config", "ghost"]).fails(20);
}
