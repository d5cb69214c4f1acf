//! Enrolment as deployed (issue 13), over real processes: the province runs the CA; prefecture H
//! runs without the CA's key; `bangfu-hub org add --enrol` at H prints a one-time code and the CA
//! fingerprint; `bangfu-node enrol` at county H01 makes its key on its own machine, sends a CSR to H
//! over TLS checked by the fingerprint, H relays it to the province, and the node connects with the
//! certificate it got. The same code typed at a second machine is refused with its reason.

use bangfu_e2e::{issue_identity, ok, pki_init, run, s, serve};

/// The value after `label` on the line of `stdout` that has it.
fn after<'a>(stdout: &'a str, label: &str) -> &'a str {
    let line = stdout
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no `{label}` in {stdout}"));
    line[line.find(label).unwrap() + label.len()..]
        .split_whitespace()
        .next()
        .unwrap()
}

#[test]
fn a_county_enrols_through_its_prefecture_and_a_reused_code_is_refused() {
    let dir = bangfu_e2e::federation::workdir();
    let dir = dir.path();
    let pki = dir.join("pki");
    pki_init(&pki, "HB", "湖北省总工会");
    let province = dir.join("hub-HB");
    let tls = issue_identity(&pki, dir, "HB", &["127.0.0.1"]);
    ok(
        "bangfu-hub",
        &[
            "init",
            "--data",
            s(&province),
            "--org",
            "HB",
            "--name",
            "湖北省总工会",
            "--level",
            "province",
            "--tls",
            s(&tls),
            "--pki",
            s(&pki),
        ],
    );
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&province),
            "--code",
            "H",
            "--name",
            "荆门市总工会",
        ],
    );
    let (_hb, hb_url) = serve(&province, &dir.join("hub-HB.log"), "127.0.0.1:0");

    // H holds no CA key: its identity was issued to it (`pki issue`, as for every hub).
    let prefecture = dir.join("hub-H");
    let tls = issue_identity(&pki, dir, "H", &["127.0.0.1"]);
    ok(
        "bangfu-hub",
        &[
            "init",
            "--data",
            s(&prefecture),
            "--org",
            "H",
            "--name",
            "荆门市总工会",
            "--level",
            "prefecture",
            "--tls",
            s(&tls),
            "--parent",
            &hb_url,
        ],
    );
    let printed = ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&prefecture),
            "--code",
            "H01",
            "--name",
            "京山县总工会",
            "--enrol",
        ],
    );
    let code = after(&printed, "enrolment code for H01: ").to_string();
    let fingerprint = after(&printed, "--ca-fingerprint ").to_string();
    let (_h, h_url) = serve(&prefecture, &dir.join("hub-H.log"), "127.0.0.1:0");

    let node = dir.join("node-H01");
    ok(
        "bangfu-node",
        &[
            "init",
            "--data",
            s(&node),
            "--org",
            "H01",
            "--name",
            "京山县总工会",
        ],
    );
    let out = ok(
        "bangfu-node",
        &[
            "enrol",
            "--data",
            s(&node),
            "--parent",
            &h_url,
            "--code",
            &code,
            "--ca-fingerprint",
            &fingerprint,
        ],
    );
    assert!(out.contains("enrolled: H01"), "{out}");
    let key = node.join("tls").join("key.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // The province's CA signed it, relayed by H.
    let listed = ok("bangfu-hub", &["pki", "list", "--dir", s(&pki)]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains(" H01 ") && l.contains("京山县总工会")),
        "{listed}"
    );
    // The node is connected with it: `status` asks H for reviews and reminders over mTLS.
    let status = ok("bangfu-node", &["status", "--data", s(&node)]);
    assert!(status.contains(&h_url), "{status}");
    assert!(!status.contains("as last fetched"), "{status}");

    // The code again, from another machine: refused, with the reason.
    let other = dir.join("node-H01-copy");
    ok(
        "bangfu-node",
        &[
            "init",
            "--data",
            s(&other),
            "--org",
            "H01",
            "--name",
            "京山县总工会",
        ],
    );
    let again = run(
        "bangfu-node",
        &[
            "enrol",
            "--data",
            s(&other),
            "--parent",
            &h_url,
            "--code",
            &code,
            "--ca-fingerprint",
            &fingerprint,
        ],
    );
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already used"), "{err}");
    assert!(!other.join("tls").join("key.pem").exists());
}
