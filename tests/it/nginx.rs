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
