//! `nginx:set`: values are checked by shape before they are stored, so
//! nothing a user types can carry a directive into a config.

use crate::harness::Berth;

#[test]
fn set_checks_values_and_properties() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["nginx:set", "demo", "client-max-body-size", "10m"])
        .succeeds()
        .stdout_is("=====> Setting client-max-body-size to 10m\n");
    berth
        .cmd([
            "nginx:report",
            "demo",
            "--nginx-computed-client-max-body-size",
        ])
        .succeeds()
        .stdout_is("10m\n");
    berth
        .cmd([
            "nginx:set",
            "demo",
            "client-max-body-size",
            "10m;return 200",
        ])
        .fails(1)
        .stderr_is(" !     Invalid value for client-max-body-size: 10m;return 200\n");
    berth
        .cmd(["nginx:set", "demo", "no-such-thing", "1"])
        .fails(1)
        .stderr_has(
            " !     Invalid property specified, valid properties include: access-log-format, ",
        );
    berth
        .cmd(["nginx:set", "--global", "proxy-read-timeout", "120s"])
        .succeeds();
    berth
        .cmd([
            "nginx:report",
            "demo",
            "--nginx-computed-proxy-read-timeout",
        ])
        .succeeds()
        .stdout_is("120s\n");
    berth
        .cmd(["nginx:set", "demo", "client-max-body-size"])
        .succeeds()
        .stdout_is("=====> Unsetting client-max-body-size\n");
    assert!(
        !berth
            .lib_root()
            .join("config/nginx/demo/client-max-body-size")
            .exists()
    );
}

#[test]
fn stop_keeps_nginx_down_until_start() {
    let berth = Berth::new();
    let server = crate::ssh_server::SshServer::start(&berth);
    let addr = format!("127.0.0.1:{}", server.http_port());
    let answers = || crate::source::http_get(&addr, "nothing.invalid", "/").is_ok();
    let wait_until = |want: bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while answers() != want {
            assert!(std::time::Instant::now() < deadline, "nginx up: {}", !want);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    wait_until(true);
    berth
        .cmd(["nginx:stop"])
        .succeeds()
        .stdout_has("Stopping nginx");
    assert!(!answers());
    // The server's supervisor leaves it stopped.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(!answers());
    berth
        .cmd(["nginx:start"])
        .succeeds()
        .stdout_has("Starting nginx");
    wait_until(true);
    berth.cmd(["nginx:stop", "now"]).fails(1);
}
