//! Accounts through their store: lock-out, session expiry, disabling, on SQLite and (when
//! BANGFU_TEST_DATABASE_URL names a server) PostgreSQL.

use std::sync::Arc;

use bangfu_shared::time::TestClock;
use bangfu_web::accounts::LoginRefused;
use bangfu_web::{Accounts, Error, roles};
use chrono::{Duration, TimeZone, Utc};

const PASSWORD: &str = "clerk password 2026";

/// An SQLite database with the accounts tables, and a clock the test moves.
async fn sqlite() -> (tempfile::TempDir, Accounts, TestClock) {
    let dir = tempfile::tempdir().unwrap();
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::raw_sql(bangfu_web::SCHEMA)
        .execute(&pool)
        .await
        .unwrap();
    let clock = TestClock::at(Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap());
    let accounts = Accounts::new(pool, roles::NODE).with_clock(Arc::new(clock.clone()));
    (dir, accounts, clock)
}

#[tokio::test]
async fn a_user_logs_in_with_the_right_password_and_not_with_a_wrong_one() {
    let (_d, a, _c) = sqlite().await;
    a.add_user("wang", "clerk", PASSWORD).await.unwrap();
    assert_eq!(
        a.login("wang", "wrong password!", "10.0.0.1")
            .await
            .unwrap()
            .unwrap_err(),
        LoginRefused::Wrong
    );
    let s = a
        .login("wang", PASSWORD, "10.0.0.1")
        .await
        .unwrap()
        .unwrap();
    let live = a.session(&s.id).await.unwrap().expect("a live session");
    assert_eq!(
        (live.username.as_str(), live.role.as_str()),
        ("wang", "clerk")
    );
    assert_eq!(live.csrf, s.csrf);
    assert!(a.session("not a session id").await.unwrap().is_none());
}

#[tokio::test]
async fn five_failures_lock_the_name_even_for_the_right_password_until_the_window_passes() {
    let (_d, a, clock) = sqlite().await;
    a.add_user("wang", "clerk", PASSWORD).await.unwrap();
    for i in 0..5 {
        let client = format!("10.0.0.{i}");
        assert_eq!(
            a.login("wang", "guess", &client)
                .await
                .unwrap()
                .unwrap_err(),
            LoginRefused::Wrong
        );
    }
    assert_eq!(
        a.login("wang", PASSWORD, "10.9.9.9")
            .await
            .unwrap()
            .unwrap_err(),
        LoginRefused::LockedOut
    );
    clock.advance(Duration::minutes(16));
    assert!(a.login("wang", PASSWORD, "10.9.9.9").await.unwrap().is_ok());
    let actions: Vec<String> = a
        .audit_log(100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"lockout".to_string()), "{actions:?}");
    assert!(actions.contains(&"login_locked".to_string()), "{actions:?}");
}

#[tokio::test]
async fn one_address_trying_many_names_is_locked_out() {
    let (_d, a, _c) = sqlite().await;
    a.add_user("wang", "clerk", PASSWORD).await.unwrap();
    for i in 0..20 {
        let _ = a
            .login(&format!("user{i}"), "guess", "10.0.0.7")
            .await
            .unwrap();
    }
    assert_eq!(
        a.login("wang", PASSWORD, "10.0.0.7")
            .await
            .unwrap()
            .unwrap_err(),
        LoginRefused::LockedOut
    );
    assert!(a.login("wang", PASSWORD, "10.0.0.8").await.unwrap().is_ok());
}

#[tokio::test]
async fn a_session_ends_when_idle_too_long() {
    let (_d, a, clock) = sqlite().await;
    a.add_user("wang", "clerk", PASSWORD).await.unwrap();
    let s = a.login("wang", PASSWORD, "c").await.unwrap().unwrap();
    clock.advance(Duration::minutes(29));
    assert!(
        a.session(&s.id).await.unwrap().is_some(),
        "used within the idle time"
    );
    clock.advance(Duration::minutes(29));
    assert!(
        a.session(&s.id).await.unwrap().is_some(),
        "idle time counts from the last use"
    );
    clock.advance(Duration::minutes(31));
    assert!(
        a.session(&s.id).await.unwrap().is_none(),
        "idle for 31 minutes"
    );
}

#[tokio::test]
async fn a_session_ends_twelve_hours_after_login_however_busy() {
    let (_d, a, clock) = sqlite().await;
    a.add_user("wang", "clerk", PASSWORD).await.unwrap();
    let s = a.login("wang", PASSWORD, "c").await.unwrap().unwrap();
    for _ in 0..24 {
        clock.advance(Duration::minutes(29));
        assert!(a.session(&s.id).await.unwrap().is_some());
    }
    clock.advance(Duration::minutes(29));
    assert!(
        a.session(&s.id).await.unwrap().is_none(),
        "12h05m after login"
    );
}

#[tokio::test]
async fn disabling_a_user_or_changing_the_password_ends_their_sessions() {
    let (_d, a, _c) = sqlite().await;
    a.add_user("wang", "clerk", PASSWORD).await.unwrap();
    let s = a.login("wang", PASSWORD, "c").await.unwrap().unwrap();
    a.set_password("wang", "a new password 2027").await.unwrap();
    assert!(a.session(&s.id).await.unwrap().is_none());
    let s = a
        .login("wang", "a new password 2027", "c")
        .await
        .unwrap()
        .unwrap();
    a.disable("wang").await.unwrap();
    assert!(a.session(&s.id).await.unwrap().is_none());
    assert_eq!(
        a.login("wang", "a new password 2027", "c")
            .await
            .unwrap()
            .unwrap_err(),
        LoginRefused::Wrong
    );
    assert!(a.list().await.unwrap()[0].disabled);
}

#[tokio::test]
async fn logout_ends_the_session_and_is_audited() {
    let (_d, a, _c) = sqlite().await;
    a.add_user("wang", "admin", PASSWORD).await.unwrap();
    let s = a.login("wang", PASSWORD, "c").await.unwrap().unwrap();
    a.logout(&s.id, "c").await.unwrap();
    assert!(a.session(&s.id).await.unwrap().is_none());
    assert_eq!(a.audit_log(1).await.unwrap()[0].action, "logout");
}

#[tokio::test]
async fn the_session_id_is_not_stored_in_the_clear() {
    let (_d, a, _c) = sqlite().await;
    a.add_user("wang", "clerk", PASSWORD).await.unwrap();
    let s = a.login("wang", PASSWORD, "c").await.unwrap().unwrap();
    assert_eq!(s.id.len(), 64, "256 bits, hex");
    let stored: String = sqlx::query_scalar("SELECT id_hash FROM web_sessions")
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert_ne!(stored, s.id);
}

#[tokio::test]
async fn bad_input_is_refused_naming_what_is_wrong() {
    let (_d, a, _c) = sqlite().await;
    let e = a.add_user("wang", "reviewer", PASSWORD).await.unwrap_err();
    assert!(matches!(e, Error::UnknownRole { .. }), "{e}");
    assert!(e.to_string().contains("clerk|admin"), "{e}");
    let e = a.add_user("wang", "clerk", "short").await.unwrap_err();
    assert!(e.to_string().contains("shorter than 10"), "{e}");
    let e = a.add_user("wang li", "clerk", PASSWORD).await.unwrap_err();
    assert!(matches!(e, Error::BadUsername(_)), "{e}");
    a.add_user("wang", "clerk", PASSWORD).await.unwrap();
    assert!(matches!(
        a.add_user("wang", "admin", PASSWORD).await,
        Err(Error::UserExists(_))
    ));
    assert!(matches!(a.disable("li").await, Err(Error::UnknownUser(_))));
    assert!(matches!(
        a.set_password("li", PASSWORD).await,
        Err(Error::UnknownUser(_))
    ));
}

#[tokio::test]
async fn the_same_queries_run_on_postgresql() {
    let Ok(admin) = std::env::var("BANGFU_TEST_DATABASE_URL") else {
        println!("skipping PostgreSQL: set BANGFU_TEST_DATABASE_URL");
        return;
    };
    sqlx::any::install_default_drivers();
    let name = format!(
        "bangfu_web_{}_{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap()
    );
    let server = sqlx::AnyPool::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&server)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let pool = sqlx::AnyPool::connect(&format!("{base}/{name}"))
        .await
        .unwrap();
    sqlx::raw_sql(bangfu_web::SCHEMA)
        .execute(&pool)
        .await
        .unwrap();
    let a = Accounts::new(pool.clone(), roles::HUB);
    a.add_user("li", "reviewer", PASSWORD).await.unwrap();
    assert_eq!(
        a.login("li", "nope", "c").await.unwrap().unwrap_err(),
        LoginRefused::Wrong
    );
    let s = a.login("li", PASSWORD, "c").await.unwrap().unwrap();
    assert_eq!(a.session(&s.id).await.unwrap().unwrap().role, "reviewer");
    a.record_decision("li", "c", "2026-songnuan H01 v1 accepted")
        .await
        .unwrap();
    a.logout(&s.id, "c").await.unwrap();
    assert_eq!(a.list().await.unwrap().len(), 1);
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&server)
    .await
    .unwrap();
    server.close().await;
}
