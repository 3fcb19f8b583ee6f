//! Personal data is stored only as a keyed hash, never in clear.
//!
//! Visit records name households (and cadres); the contract says these must
//! never be shown, exported or logged. Coverage metrics still need to know
//! whether two visits went to the same household, so each identifier is
//! replaced at ingestion by HMAC-SHA256 under a per-deployment secret. A
//! plain hash would not do: household identifiers (ID-card numbers, house
//! numbers, phone numbers) come from small, guessable spaces, and anyone
//! holding the data could hash every candidate and match. Without the secret
//! that dictionary attack is impossible, and the same secret keeps hashes
//! stable across imports so re-sent visits still match.
//!
//! # Examples
//!
//! ```
//! use wangge::ingest::privacy::KeyedHasher;
//!
//! let hasher = KeyedHasher::new([42; 32]);
//! let h = hasher.hash("3-2-501");
//! assert_eq!(h.len(), 32);
//! assert_eq!(h, hasher.hash(" 3-2-501 "));
//! assert!(!format!("{hasher:?}").contains("42"));
//! ```

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Environment variable that, when set, holds the secret as 64 hex chars.
pub const SECRET_ENV: &str = "WANGGE_SECRET";

/// Bytes of the HMAC output kept in a hash (see [`KeyedHasher::hash`]).
const HASH_BYTES: usize = 16;

/// A cell value as a rejected row's reason may show it. A value that
/// cannot be read lands in reasons, logs and reject files, and a row whose
/// columns slipped (an unquoted comma in an address) puts a name or a
/// household where a time or a state belongs: a value of digits and
/// punctuation (a time, a number) is shown whole; any other is masked as
/// personal data is on screens (脱敏: its first and last characters).
///
/// # Examples
///
/// ```
/// use wangge::ingest::privacy::shown;
///
/// assert_eq!(shown("2024-13-01 25:00"), r#""2024-13-01 25:00""#);
/// assert_eq!(shown("张三丰"), r#""张*丰" (3 characters, masked)"#);
/// assert_eq!(shown("closedd"), r#""c*****d" (7 characters, masked)"#);
/// assert_eq!(shown("王五"), r#""王*" (2 characters, masked)"#);
/// ```
pub fn shown(value: &str) -> String {
    let v = value.trim();
    let plain = |c: char| {
        c.is_ascii_digit()
            || c.is_ascii_punctuation()
            || c == ' '
            || matches!(c, 'T' | 'Z' | 't' | 'z')
    };
    let n = v.chars().count();
    if n <= 40 && v.chars().all(plain) {
        return format!("{v:?}");
    }
    let masked: String = v
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 || (i + 1 == n && n > 2) {
                c
            } else {
                '*'
            }
        })
        .take(40)
        .collect();
    format!("\"{masked}\" ({n} characters, masked)")
}

/// Why the hashing secret could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// The secret file exists but could not be read.
    #[error("{path}: cannot read the secret: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The secret file was missing and could not be created.
    #[error("{path}: cannot create the secret: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// No randomness for a new secret.
    #[error("cannot read /dev/urandom for a new secret: {source}")]
    Random {
        #[source]
        source: io::Error,
    },
    /// The secret is not 64 hexadecimal characters; `origin` is the file
    /// path or the environment variable it came from.
    #[error("{origin}: the secret must be 64 hex characters (32 bytes): {reason}")]
    Malformed { origin: String, reason: String },
}

/// Hashes personal identifiers with HMAC-SHA256 under a 32-byte secret.
///
/// `Debug` prints no part of the secret.
#[derive(Clone)]
pub struct KeyedHasher {
    /// The HMAC keyed with the secret, before any input: each hash starts
    /// from a copy (keying it again for every value cost more than hashing).
    keyed: Hmac<Sha256>,
}

impl fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedHasher")
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl KeyedHasher {
    /// A hasher with the given secret.
    ///
    /// # Examples
    ///
    /// ```
    /// use wangge::ingest::privacy::KeyedHasher;
    ///
    /// assert_ne!(KeyedHasher::new([1; 32]).hash("x"), KeyedHasher::new([2; 32]).hash("x"));
    /// ```
    pub fn new(secret: [u8; 32]) -> Self {
        KeyedHasher {
            keyed: <Hmac<Sha256> as Mac>::new_from_slice(&secret)
                .expect("HMAC accepts keys of any length"),
        }
    }

    /// Reads the secret from `path` (64 hex chars, surrounding whitespace
    /// ignored), or creates the file from `/dev/urandom` with mode 0600 (and
    /// its parent directories) when it does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use wangge::ingest::privacy::KeyedHasher;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("secret.hex");
    /// let first = KeyedHasher::load_or_create(&path).unwrap();
    /// let again = KeyedHasher::load_or_create(&path).unwrap();
    /// assert_eq!(first.hash("户1"), again.hash("户1"));
    /// ```
    pub fn load_or_create(path: &Path) -> Result<Self, PrivacyError> {
        match fs::read_to_string(path) {
            Ok(text) => parse_secret(&text, &path.display().to_string()).map(Self::new),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Self::create(path),
            Err(source) => Err(PrivacyError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Like [`load_or_create`](Self::load_or_create), but the environment
    /// variable `WANGGE_SECRET`, when set, wins: containers and CI inject
    /// secrets that way and must not need a writable file.
    ///
    /// # Examples
    ///
    /// ```
    /// use wangge::ingest::privacy::KeyedHasher;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// if std::env::var_os("WANGGE_SECRET").is_none() {
    ///     let hasher = KeyedHasher::from_env_or_file(&dir.path().join("s")).unwrap();
    ///     assert_eq!(hasher.hash("a").len(), 32);
    /// }
    /// ```
    pub fn from_env_or_file(path: &Path) -> Result<Self, PrivacyError> {
        from_env_value_or_file(std::env::var(SECRET_ENV).ok().as_deref(), path)
    }

    /// The keyed hash of `value` with surrounding whitespace trimmed: hex of
    /// the first 16 bytes of HMAC-SHA256, 32 characters.
    ///
    /// 128 bits are plenty: among even 10⁹ distinct households the chance of
    /// any collision is about 10⁻²¹ (birthday bound n²/2¹²⁹), and truncation
    /// does not weaken the key: without the secret no value can be tested
    /// against a hash at all. Shorter hashes keep the stored columns and the
    /// distinct-count sets small.
    ///
    /// Any string is hashed, even an empty one: whether a blank identifier
    /// means "unknown" is for the caller to decide before hashing.
    ///
    /// # Examples
    ///
    /// ```
    /// use wangge::ingest::privacy::KeyedHasher;
    ///
    /// let h = KeyedHasher::new([0; 32]);
    /// assert_eq!(h.hash("110105199001011234"), h.hash("110105199001011234\n"));
    /// assert!(h.hash("a").bytes().all(|b| b.is_ascii_hexdigit()));
    /// ```
    pub fn hash(&self, value: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(value.trim().as_bytes());
        let mut out = [0u8; 2 * HASH_BYTES];
        hex::encode_to_slice(&mac.finalize().into_bytes()[..HASH_BYTES], &mut out)
            .expect("the buffer holds two hex digits a byte");
        std::str::from_utf8(&out).expect("hex is ASCII").to_owned()
    }

    fn create(path: &Path) -> Result<Self, PrivacyError> {
        let mut secret = [0u8; 32];
        File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut secret))
            .map_err(|source| PrivacyError::Random { source })?;
        let create_err = |source| PrivacyError::Create {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(create_err)?;
        }
        let mut options = OpenOptions::new();
        // create_new: two processes starting together must not overwrite
        // each other's secret; the loser reads the winner's.
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                writeln!(file, "{}", hex::encode(secret))
                    .and_then(|()| file.sync_all())
                    .map_err(create_err)?;
                Ok(Self::new(secret))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Self::load_or_create(path),
            Err(source) => Err(create_err(source)),
        }
    }
}

/// [`KeyedHasher::from_env_or_file`] with the variable's value passed in, so
/// tests need not mutate the process environment.
fn from_env_value_or_file(env: Option<&str>, path: &Path) -> Result<KeyedHasher, PrivacyError> {
    match env {
        Some(value) => {
            parse_secret(value, &format!("environment variable {SECRET_ENV}")).map(KeyedHasher::new)
        }
        None => KeyedHasher::load_or_create(path),
    }
}

fn parse_secret(text: &str, origin: &str) -> Result<[u8; 32], PrivacyError> {
    let malformed = |reason: String| PrivacyError::Malformed {
        origin: origin.to_owned(),
        reason,
    };
    let text = text.trim();
    if text.len() != 64 {
        // The length only: the text itself may be a secret.
        return Err(malformed(format!(
            "found {} characters",
            text.chars().count()
        )));
    }
    let mut secret = [0u8; 32];
    hex::decode_to_slice(text, &mut secret).map_err(|e| malformed(e.to_string()))?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_input_same_hash_and_whitespace_does_not_matter() {
        let h = KeyedHasher::new([7; 32]);
        assert_eq!(h.hash("H-001"), h.hash("H-001"));
        assert_eq!(h.hash("H-001"), h.hash("\tH-001  "));
        assert_ne!(h.hash("H-001"), h.hash("H-002"));
        assert_eq!(h.hash("").len(), 32);
    }

    #[test]
    fn different_secrets_give_different_hashes() {
        assert_ne!(
            KeyedHasher::new([7; 32]).hash("H-001"),
            KeyedHasher::new([8; 32]).hash("H-001")
        );
    }

    // RFC 4231 §4.3, test case 2: key "Jefe", data "what do ya want for
    // nothing?", HMAC-SHA-256 = 5bdcc146bf60754e6a042426089575c7
    // 5a003f089d2739839dec58b964ec3843. HMAC zero-pads keys shorter than the
    // block, so "Jefe" + 28 zero bytes is the same key.
    #[test]
    fn rfc4231_test_case_2_truncated() {
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(b"Jefe");
        let h = KeyedHasher::new(secret);
        assert_eq!(
            h.hash("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c7"
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = [0xAB; 32];
        let shown = format!("{:?}", KeyedHasher::new(secret));
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn a_missing_secret_file_is_created_private_and_reloads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf").join("secret.hex");
        let created = KeyedHasher::load_or_create(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let reloaded = KeyedHasher::load_or_create(&path).unwrap();
        assert_eq!(created.hash("户-12"), reloaded.hash("户-12"));
        assert_ne!(
            created.hash("户-12"),
            KeyedHasher::new([0; 32]).hash("户-12")
        );
    }

    #[test]
    fn a_malformed_secret_file_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.hex");
        fs::write(&path, "not hex").unwrap();
        let err = KeyedHasher::load_or_create(&path).unwrap_err().to_string();
        assert!(
            err.contains(&path.display().to_string()) && err.contains("64 hex"),
            "{err}"
        );
        assert!(
            !err.contains("not hex"),
            "the bad secret must not be echoed: {err}"
        );
        fs::write(&path, "zz".repeat(32)).unwrap();
        assert!(matches!(
            KeyedHasher::load_or_create(&path),
            Err(PrivacyError::Malformed { .. })
        ));
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.hex");
        let from_env = from_env_value_or_file(Some(&"07".repeat(32)), &path).unwrap();
        assert_eq!(from_env.hash("x"), KeyedHasher::new([7; 32]).hash("x"));
        assert!(
            !path.exists(),
            "no file is created when the environment has the secret"
        );
        let err = from_env_value_or_file(Some("abc"), &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains(SECRET_ENV), "{err}");
        let from_file = from_env_value_or_file(None, &path).unwrap();
        assert!(path.exists());
        assert_eq!(
            from_file.hash("x"),
            KeyedHasher::load_or_create(&path).unwrap().hash("x")
        );
    }
}
