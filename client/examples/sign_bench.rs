//! What signing and verifying a report costs (client/src/signature.rs): the hub's intake must keep
//! ≥ 2,000 reports/s with every report verified, so a verification must stay well under 0.5 ms.
//! A CA, 200 county certificates and a revocation list of 100 entries are made as the PKI makes
//! them; each county signs a 20 KB report; the hub verifies them round-robin, once with the
//! chain cache (the intake's case: few signers, many reports) and once without it.
//!
//!   bench/sign.sh [ROUNDS]   (release; default 4000 verifications per case)

use std::time::{Duration as StdDuration, Instant};

use bangfu_client::crl::{self, Reason, RevocationList, RevocationLists, Revoked};
use bangfu_client::signature::{self, DetachedJws, Signer, Trust};
use chrono::{Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};

const COUNTIES: usize = 200;
const PAYLOAD: usize = 20 * 1024;

fn main() {
    let rounds: usize = std::env::args()
        .skip_while(|a| a != "--rounds")
        .nth(1)
        .map_or(4000, |n| n.parse().expect("--rounds N"));

    let (ca_pem, ca_key_pem, issuer) = ca();
    let trust = Trust::from_pem(&ca_pem).unwrap();
    let signers: Vec<Signer> = (0..COUNTIES).map(|i| leaf(&issuer, &county(i))).collect();
    let revoked: Vec<(String, Revoked)> = (0..100u32)
        .map(|i| {
            (
                format!("4{i:031x}"),
                Revoked {
                    at: Utc::now(),
                    reason: Some(Reason::KeyCompromise),
                    compromised_since: None,
                },
            )
        })
        .collect();
    let now = Utc::now();
    let pem = crl::make_crl(
        &ca_pem,
        &ca_key_pem,
        &revoked,
        1,
        now,
        now + Duration::days(7),
    )
    .unwrap();
    let mut lists = RevocationLists::new();
    lists.offer(RevocationList::from_pem(pem.as_bytes(), &trust).unwrap());

    let payloads: Vec<Vec<u8>> = (0..COUNTIES).map(report).collect();
    println!(
        "{COUNTIES} signers, {} KB reports, {} revoked serials, {rounds} operations per case",
        PAYLOAD / 1024,
        revoked.len()
    );

    let mut signed: Vec<DetachedJws> = Vec::new();
    let sign = time(rounds, |i| {
        let n = i % COUNTIES;
        let jws = signers[n].sign(&payloads[n], Utc::now()).unwrap();
        if signed.len() < COUNTIES {
            signed.push(jws);
        }
    });
    print("sign", sign, rounds);

    let at = Utc::now();
    let check = |trust: &Trust, i: usize| {
        let n = i % COUNTIES;
        signature::verify(&payloads[n], &signed[n], trust, &lists, at).unwrap();
    };
    let warm_trust = trust.clone();
    for i in 0..COUNTIES {
        check(&warm_trust, i);
    }
    let warm = time(rounds, |i| check(&warm_trust, i));
    print("verify, chain cached (intake)", warm, rounds);

    let cold_trust = trust.with_chain_cache(0);
    let cold = time(rounds, |i| check(&cold_trust, i));
    print("verify, chain checked each time", cold, rounds);

    // The part of both that RFC 7797's unencoded payload would save.
    let mut encoded = String::new();
    let base64 = time(rounds, |i| {
        encoded.clear();
        base64::Engine::encode_string(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &payloads[i % COUNTIES],
            &mut encoded,
        );
    });
    print("of which base64url of the report", base64, rounds);

    let jws_len = signed[0].as_str().len();
    println!("a signature is {jws_len} bytes");
}

/// Wall time of each operation, and the CPU time this thread spent on all of them: on a machine
/// shared with builds, the wall times include waiting for a core, the CPU time does not.
struct Timed {
    wall: Vec<StdDuration>,
    cpu: Option<StdDuration>,
}

fn time(rounds: usize, mut op: impl FnMut(usize)) -> Timed {
    let cpu_before = thread_cpu();
    let wall = (0..rounds)
        .map(|i| {
            let start = Instant::now();
            op(i);
            start.elapsed()
        })
        .collect();
    let cpu = thread_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    Timed { wall, cpu }
}

/// This thread's user + system time from /proc (Linux; clock ticks of 10 ms, so read over a whole
/// batch, not per operation).
fn thread_cpu() -> Option<StdDuration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command name: state is field 3, utime 14 and stime 15 (proc(5)).
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(StdDuration::from_millis(ticks * 10))
}

fn print(what: &str, timed: Timed, rounds: usize) {
    let mut times = timed.wall;
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    let us = |d: StdDuration| d.as_secs_f64() * 1e6;
    let cpu = timed.cpu.map_or("?".to_string(), |c| {
        format!("{:.0} µs", us(c) / rounds as f64)
    });
    println!(
        "{what:<34} wall min {:>6.1} µs  p50 {:>6.1} µs  p99 {:>7.1} µs   CPU per op {cpu:>7}",
        us(times[0]),
        us(pct(0.50)),
        us(pct(0.99)),
    );
}

/// The n-th county's org code: A01…A99, B01…
fn county(n: usize) -> String {
    format!("{}{:02}", char::from(b'A' + (n / 99) as u8), n % 99 + 1)
}

/// A `dangan`-like report of about 20 KB: synthetic cells, nothing of a household.
fn report(n: usize) -> Vec<u8> {
    let mut out = format!(
        r#"{{"org":"{}","template":"dangan","campaign":"bench","version":1,"threshold":5,"cells":{{"#,
        county(n)
    );
    let mut i = 0;
    while out.len() < PAYLOAD - 40 {
        out.push_str(&format!(
            r#""category.c{i}":{{"value":{}}},"#,
            (i * 37 + n) % 1000
        ));
        i += 1;
    }
    out.pop();
    out.push_str("}}");
    out.into_bytes()
}

fn base_params(org: &str, name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "bangfu");
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, org);
    params.subject_alt_names = vec![SanType::URI(
        format!("urn:bangfu:org:{org}").as_str().try_into().unwrap(),
    )];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(365);
    params
}

/// A CA as `pki init` makes it.
fn ca() -> (String, String, Issuer<'static, KeyPair>) {
    let mut params = base_params("HB", "湖北省总工会");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let key_pem = key.serialize_pem();
    (cert.pem(), key_pem, Issuer::new(params, key))
}

/// A county's certificate as `pki issue` makes it.
fn leaf(issuer: &Issuer<'static, KeyPair>, org: &str) -> Signer {
    let mut params = base_params(org, &format!("{org} 总工会"));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let mut serial = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial).unwrap();
    serial[0] = (serial[0] & 0x7f) | 0x40;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Signer::from_pem(&cert.pem(), &key.serialize_pem()).unwrap()
}
