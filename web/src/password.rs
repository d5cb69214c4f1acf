//! Password hashing: Argon2id with the `argon2` crate's recommended parameters (OWASP's m=19 MiB,
//! t=2, p=1), a random salt per hash, stored as a PHC string so the parameters travel with the hash
//! and can be raised later without breaking old ones.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// The shortest password accepted.
pub const MIN_LEN: usize = 10;

/// Why a password is refused when it is set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Weak {
    #[error("the password is empty / 密码为空")]
    Empty,
    #[error("the password is shorter than {MIN_LEN} characters / 密码少于 {MIN_LEN} 个字符")]
    Short,
    #[error("the password is the user name / 密码不能与用户名相同")]
    SameAsName,
    #[error("the password is one character repeated / 密码不能是同一字符的重复")]
    Repeated,
}

/// Refuses passwords that a guess would find in the five tries before lock-out.
pub fn check_strength(username: &str, password: &str) -> Result<(), Weak> {
    let mut chars = password.chars();
    let Some(first) = chars.next() else {
        return Err(Weak::Empty);
    };
    if password.chars().count() < MIN_LEN {
        return Err(Weak::Short);
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(Weak::SameAsName);
    }
    if chars.all(|c| c == first) {
        return Err(Weak::Repeated);
    }
    Ok(())
}

/// Hashes `password` with a fresh salt; the PHC string (`$argon2id$v=19$…`).
pub fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 with default parameters and a generated salt cannot fail")
        .to_string()
}

/// Whether `password` matches the PHC string `stored`; an unreadable hash matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of no one's password, verified against when the user does not exist, so a login for an
/// unknown name takes as long as one with a wrong password (no telling names apart by timing).
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password that nobody has"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let h = hash("正确的马电池订书钉");
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify("正确的马电池订书钉", &h));
        assert!(!verify("正确的马电池订书针", &h));
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_their_salt() {
        assert_ne!(hash("same password 1"), hash("same password 1"));
    }

    #[test]
    fn weak_passwords_are_refused_saying_why() {
        assert_eq!(check_strength("zhang", ""), Err(Weak::Empty));
        assert_eq!(check_strength("zhang", "short1"), Err(Weak::Short));
        assert_eq!(
            check_strength("zhangsan01", "ZhangSan01"),
            Err(Weak::SameAsName)
        );
        assert_eq!(check_strength("zhang", "aaaaaaaaaaaa"), Err(Weak::Repeated));
        assert_eq!(check_strength("zhang", "绿水青山就是金山银山"), Ok(()));
    }
}
