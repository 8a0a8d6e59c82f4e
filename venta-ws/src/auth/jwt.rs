//! JSON Web Token verification with `jsonwebtoken`.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{AuthError, AuthRegistry, Authenticator, ConnectRequest, Identity};
use crate::error::ModuleError;

/// The leeway allowed for clock skew when checking `exp` and `nbf`, in seconds. A socket is
/// held to its token's `exp` plus the leeway ([`Identity::expires_at`]).
pub const DEFAULT_LEEWAY_SECS: u64 = 5;

/// How tokens are verified: one key with the one algorithm it is for, and the claims required.
///
/// An HMAC secret must be at least as long as the algorithm's hash output (RFC 7518 §3.2):
/// 32 bytes for HS256, 48 for HS384, 64 for HS512. [`JwtConfig::hmac`] and
/// [`JwtConfig::hs256_from_env`] refuse a shorter one; [`JwtConfig::hs256`], which cannot
/// fail, leaves it to [`WebSocketModuleBuilder::build`](crate::WebSocketModuleBuilder::build)
/// to refuse with [`ModuleError::ShortJwtSecret`].
///
/// ```
/// use venta_ws::auth::JwtConfig;
///
/// let config = JwtConfig::hs256("a long random development secret")
///     .issuer("https://auth.example.com")
///     .audience("location-api")
///     .leeway_secs(2);
/// ```
#[derive(Clone)]
pub struct JwtConfig {
    key: DecodingKey,
    algorithm: Algorithm,
    /// The length of an HMAC secret; `None` for a public key.
    secret_len: Option<usize>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: u64,
    required_claims: Vec<String>,
    entity_claim: String,
}

/// Why a [`JwtConfig`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// The environment variable is not set or not valid UTF-8.
    #[error("environment variable `{0}` is not set; set it to the token signing secret or key")]
    MissingEnv(String),
    /// An HMAC secret is shorter than the algorithm's hash output (RFC 7518 §3.2).
    #[error(
        "the {algorithm:?} secret{} is {len} bytes; HMAC keys must be at least {min} bytes (RFC 7518 §3.2): set a longer secret, for example `openssl rand -base64 {min}`",
        in_variable(.var.as_deref())
    )]
    ShortSecret {
        /// The algorithm the secret was meant for.
        algorithm: Algorithm,
        /// The secret's length, in bytes.
        len: usize,
        /// The shortest secret the algorithm allows, in bytes.
        min: usize,
        /// The environment variable the secret was read from, if any.
        var: Option<String>,
    },
    /// The key file could not be read.
    #[error("cannot read key file `{path}`: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The PEM does not hold a key of the kind the algorithm needs.
    #[error("invalid {algorithm:?} public key: {source}")]
    InvalidKey {
        /// The algorithm the key was meant for.
        algorithm: Algorithm,
        /// What `jsonwebtoken` reported.
        source: jsonwebtoken::errors::Error,
    },
    /// The algorithm is not one of the public-key algorithms.
    #[error("{0:?} is not a public-key algorithm; use `JwtConfig::hmac` for HS256, HS384 and HS512")]
    NotAPublicKeyAlgorithm(Algorithm),
    /// The algorithm given to [`JwtConfig::hmac`] is not HS256, HS384 or HS512.
    #[error("{0:?} is not an HMAC algorithm; use `JwtConfig::public_key_pem` for RS*, PS*, ES256, ES384 and EdDSA")]
    NotAnHmacAlgorithm(Algorithm),
    /// A private key was given where the public key belongs.
    #[error(
        "the {algorithm:?} key is a private key; give its public key instead (`openssl pkey -in private.pem -pubout -out public.pem`)"
    )]
    PrivateKey {
        /// The algorithm the key was meant for.
        algorithm: Algorithm,
    },
    /// The public key parses, but the algorithm cannot verify with it: an RSA key shorter
    /// than 2048 bits (RFC 7518 §3.3) or longer than 4096, or an EC key on another curve.
    #[error("the {algorithm:?} key cannot be used: {reason}")]
    UnusableKey {
        /// The algorithm the key was meant for.
        algorithm: Algorithm,
        /// What is wrong with the key.
        reason: String,
    },
}

fn in_variable(var: Option<&str>) -> String {
    var.map(|var| format!(" in `{var}`")).unwrap_or_default()
}

/// The shortest secret RFC 7518 §3.2 allows for an HMAC algorithm: its hash output.
fn min_secret_len(algorithm: Algorithm) -> Option<usize> {
    match algorithm {
        Algorithm::HS256 => Some(32),
        Algorithm::HS384 => Some(48),
        Algorithm::HS512 => Some(64),
        _ => None,
    }
}

/// How the label of a private key's PEM ends (`PRIVATE KEY`, `RSA PRIVATE KEY`,
/// `EC PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`).
const PRIVATE_KEY_LABEL: &[u8] = b"PRIVATE KEY-----";

/// The RSA key sizes venta-ws verifies with: RFC 7518 §3.3 asks for 2048 bits or more, and the
/// RSA implementation refuses keys over 4096.
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// Why `algorithm` cannot verify with `key`, a public key `jsonwebtoken` parsed.
fn check_public_key(algorithm: Algorithm, key: &DecodingKey) -> Result<(), String> {
    use Algorithm::*;
    let Ok(bytes) = key.try_get_as_bytes() else { return Ok(()) };
    match algorithm {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => match rsa_modulus_bits(bytes) {
            None => Err("it is not an RSA public key".to_owned()),
            Some(bits) if bits < *RSA_BITS.start() => Err(format!(
                "it is a {bits}-bit RSA key; RSA keys must be at least {} bits (RFC 7518 §3.3)",
                RSA_BITS.start()
            )),
            Some(bits) if bits > *RSA_BITS.end() => {
                Err(format!("it is a {bits}-bit RSA key; venta-ws verifies RSA keys of up to {} bits", RSA_BITS.end()))
            }
            Some(_) => Ok(()),
        },
        // An EC point in SEC 1 form: uncompressed (0x04, x, y) or compressed (0x02/0x03, x).
        ES256 | ES384 => {
            let curve = match bytes.len() {
                65 | 33 => "P-256",
                97 | 49 => "P-384",
                _ => return Err("it is not a P-256 or P-384 public key".to_owned()),
            };
            let wanted = if algorithm == ES256 { "P-256" } else { "P-384" };
            if curve == wanted {
                Ok(())
            } else {
                Err(format!("it is a {curve} key; {algorithm:?} needs a {wanted} key"))
            }
        }
        _ => Ok(()),
    }
}

/// One DER element at the start of `input`: its tag, its content and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (len, rest) = rest.split_at(count);
        (len.iter().fold(0usize, |len, &byte| (len << 8) | usize::from(byte)), rest)
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The size in bits of the modulus of a PKCS#1 `RSAPublicKey`, `SEQUENCE { n INTEGER,
/// e INTEGER }`; `None` for anything else (a private key has more integers).
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    let (SEQUENCE, body, []) = der_element(der)? else { return None };
    let (INTEGER, modulus, rest) = der_element(body)? else { return None };
    let (INTEGER, _exponent, []) = der_element(rest)? else { return None };
    let start = modulus.iter().position(|&byte| byte != 0)?;
    let modulus = &modulus[start..];
    Some(modulus.len() * 8 - modulus[0].leading_zeros() as usize)
}

impl JwtConfig {
    fn with_key(key: DecodingKey, algorithm: Algorithm) -> Self {
        Self {
            key,
            algorithm,
            secret_len: None,
            issuer: None,
            audience: None,
            leeway: DEFAULT_LEEWAY_SECS,
            required_claims: vec!["exp".to_owned()],
            entity_claim: "sub".to_owned(),
        }
    }

    fn with_secret(secret: &[u8], algorithm: Algorithm) -> Self {
        Self { secret_len: Some(secret.len()), ..Self::with_key(DecodingKey::from_secret(secret), algorithm) }
    }

    /// HS256 with a shared secret of at least 32 bytes. A shorter one makes
    /// [`WebSocketModuleBuilder::build`](crate::WebSocketModuleBuilder::build) fail with
    /// [`ModuleError::ShortJwtSecret`], and a [`Jwt`] made from it verifies no token.
    pub fn hs256(secret: impl AsRef<[u8]>) -> Self {
        Self::with_secret(secret.as_ref(), Algorithm::HS256)
    }

    /// HS256 with the secret in the environment variable `var`; a missing variable, or a
    /// secret shorter than 32 bytes, is refused with an error naming `var`.
    pub fn hs256_from_env(var: &str) -> Result<Self, JwtConfigError> {
        Self::hmac_from_var(Algorithm::HS256, var, std::env::var(var).ok())
    }

    fn hmac_from_var(algorithm: Algorithm, var: &str, secret: Option<String>) -> Result<Self, JwtConfigError> {
        let secret = secret.ok_or_else(|| JwtConfigError::MissingEnv(var.to_owned()))?;
        Self::hmac(algorithm, secret).map_err(|err| match err {
            JwtConfigError::ShortSecret { algorithm, len, min, var: None } => {
                JwtConfigError::ShortSecret { algorithm, len, min, var: Some(var.to_owned()) }
            }
            other => other,
        })
    }

    /// HS256, HS384 or HS512 with a shared secret at least as long as the hash output
    /// (32, 48 or 64 bytes, RFC 7518 §3.2); a shorter one, or another algorithm, is refused.
    pub fn hmac(algorithm: Algorithm, secret: impl AsRef<[u8]>) -> Result<Self, JwtConfigError> {
        if min_secret_len(algorithm).is_none() {
            return Err(JwtConfigError::NotAnHmacAlgorithm(algorithm));
        }
        let config = Self::with_secret(secret.as_ref(), algorithm);
        config.short_secret().map_or(Ok(config), Err)
    }

    /// The error for an HMAC secret shorter than its algorithm allows.
    fn short_secret(&self) -> Option<JwtConfigError> {
        let (len, min) = (self.secret_len?, min_secret_len(self.algorithm)?);
        (len < min).then_some(JwtConfigError::ShortSecret { algorithm: self.algorithm, len, min, var: None })
    }

    /// Whether the key can verify tokens; `build` refuses a configuration whose key cannot.
    pub(crate) fn check_key(&self) -> Result<(), ModuleError> {
        match self.short_secret() {
            Some(JwtConfigError::ShortSecret { algorithm, len, min, .. }) => {
                Err(ModuleError::ShortJwtSecret { algorithm, len, min })
            }
            _ => Ok(()),
        }
    }

    /// An asymmetric algorithm (RS256..RS512, PS256..PS512, ES256, ES384, EdDSA) with its
    /// public key in PEM form (`-----BEGIN PUBLIC KEY-----` or `RSA PUBLIC KEY`).
    ///
    /// Refuses a key the algorithm could not verify a token with: a private key, an RSA key
    /// shorter than 2048 bits (RFC 7518 §3.3) or longer than 4096, an EC key on another
    /// curve than the algorithm's (P-256 for ES256, P-384 for ES384).
    pub fn public_key_pem(algorithm: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, JwtConfigError> {
        use Algorithm::*;
        let pem = pem.as_ref();
        if pem.windows(PRIVATE_KEY_LABEL.len()).any(|window| window == PRIVATE_KEY_LABEL) {
            return Err(JwtConfigError::PrivateKey { algorithm });
        }
        let key = match algorithm {
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => DecodingKey::from_rsa_pem(pem),
            ES256 | ES384 => DecodingKey::from_ec_pem(pem),
            EdDSA => DecodingKey::from_ed_pem(pem),
            _ => return Err(JwtConfigError::NotAPublicKeyAlgorithm(algorithm)),
        }
        .map_err(|source| JwtConfigError::InvalidKey { algorithm, source })?;
        check_public_key(algorithm, &key).map_err(|reason| JwtConfigError::UnusableKey { algorithm, reason })?;
        Ok(Self::with_key(key, algorithm))
    }

    /// RS256 with an RSA public key in PEM form.
    pub fn rs256_pem(pem: impl AsRef<[u8]>) -> Result<Self, JwtConfigError> {
        Self::public_key_pem(Algorithm::RS256, pem)
    }

    /// EdDSA (Ed25519) with a public key in PEM form.
    pub fn eddsa_pem(pem: impl AsRef<[u8]>) -> Result<Self, JwtConfigError> {
        Self::public_key_pem(Algorithm::EdDSA, pem)
    }

    /// An asymmetric algorithm with its public key read from a PEM file.
    pub fn public_key_pem_file(algorithm: Algorithm, path: impl AsRef<Path>) -> Result<Self, JwtConfigError> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|source| JwtConfigError::KeyFile { path: path.display().to_string(), source })?;
        Self::public_key_pem(algorithm, pem)
    }

    /// Requires `iss` to be present and to equal `issuer`; a token without `iss` is refused.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires `aud` to be present and to contain `audience`; a token without `aud` is
    /// refused.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The clock skew allowed for `exp` and `nbf` (default 5 seconds). No value overflows:
    /// the times are compared in saturating arithmetic.
    #[must_use]
    pub fn leeway_secs(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Requires these claims to be present and not `null` (`exp` always is): registered ones
    /// (`nbf`, `iat`, `iss`, `aud`, `sub`) or any other (`jti`, `tenant`).
    #[must_use]
    pub fn required_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_claims.extend(claims.into_iter().map(Into::into));
        self.required_claims.sort();
        self.required_claims.dedup();
        self
    }

    /// The claim that holds the entity id (default `sub`): a string, or an integer, which
    /// becomes its decimal text (`42` is the entity `"42"`). Any other value is refused.
    #[must_use]
    pub fn entity_claim(mut self, claim: impl Into<String>) -> Self {
        self.entity_claim = claim.into();
        self
    }

    /// The algorithm tokens must be signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// What `jsonwebtoken` checks: the signature, with this algorithm only. The claims are
    /// checked by [`JwtConfig::check_claims`].
    fn validation(&self) -> Validation {
        let mut validation = Validation::new(self.algorithm);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation
    }

    /// Checks the claims of a token whose signature verified, at `now` (seconds since the Unix
    /// epoch); returns the deadline the socket is held to, `exp` plus the leeway.
    ///
    /// A registered claim of the wrong type is refused whether it is required or not; a
    /// required claim is one present and not `null`; `exp` and `nbf` are compared with the
    /// leeway in saturating arithmetic, so no value of theirs or of the leeway overflows; a
    /// configured issuer or audience must be present and match.
    ///
    /// A token is accepted only while `now` is before its deadline, and the socket is closed
    /// when the deadline comes: one the server accepts inside the leeway is therefore not
    /// closed as expired the moment it connects.
    fn check_claims(&self, claims: &Map<String, Value>, now: u64) -> Result<Option<u64>, AuthError> {
        let exp = numeric_date(claims, "exp")?;
        let nbf = numeric_date(claims, "nbf")?;
        numeric_date(claims, "iat")?;
        check_string_or_integer(claims, "sub")?;
        check_string_or_integer(claims, &self.entity_claim)?;
        let present = |claim: &str| claims.get(claim).is_some_and(|value| !value.is_null());
        if let Some(missing) = self.required_claims.iter().find(|claim| !present(claim)) {
            return Err(AuthError::MissingClaim(missing.clone()));
        }
        let deadline = exp.map(|exp| exp.saturating_add(self.leeway));
        if deadline.is_some_and(|deadline| deadline <= now) {
            return Err(AuthError::Expired);
        }
        if nbf.is_some_and(|nbf| nbf > now.saturating_add(self.leeway)) {
            return Err(AuthError::NotYetValid);
        }
        let invalid = |claim: &str, reason| AuthError::InvalidClaim { claim: claim.to_owned(), reason };
        if let Some(issuer) = &self.issuer {
            match claims.get("iss") {
                None | Some(Value::Null) => return Err(AuthError::MissingClaim("iss".to_owned())),
                Some(Value::String(iss)) if iss == issuer => {}
                Some(Value::String(_)) => return Err(AuthError::InvalidIssuer),
                Some(_) => return Err(invalid("iss", "must be a string")),
            }
        }
        if let Some(audience) = &self.audience {
            let listed = match claims.get("aud") {
                None | Some(Value::Null) => return Err(AuthError::MissingClaim("aud".to_owned())),
                Some(Value::String(aud)) => aud == audience,
                Some(Value::Array(auds)) if auds.iter().all(Value::is_string) => {
                    auds.iter().any(|aud| aud.as_str() == Some(audience))
                }
                Some(_) => return Err(invalid("aud", "must be a string or an array of strings")),
            };
            if !listed {
                return Err(AuthError::InvalidAudience);
            }
        }
        Ok(deadline)
    }
}

impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfig")
            .field("algorithm", &self.algorithm)
            .field("key", &"<redacted>")
            .field("secret_len", &self.secret_len)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("required_claims", &self.required_claims)
            .field("entity_claim", &self.entity_claim)
            .finish()
    }
}

/// The registered claims of a token, plus every other claim in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StandardClaims {
    /// Subject: by default the entity id. A string, or an integer held as its decimal text.
    #[serde(default, deserialize_with = "string_or_integer", skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Not before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience: one string or an array of strings in the token.
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub aud: Vec<String>,
    /// Every other claim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a time claim (`exp`, `nbf`, `iat`) must be.
const NUMERIC_DATE: &str = "must be a whole number of seconds since the Unix epoch";

/// Reads a time claim: `None` when absent or `null`. A fractional, negative or non-numeric
/// value is refused, whatever the claims type, so that no claims type can take a token with a
/// fractional `exp` for one that never expires.
fn numeric_date(claims: &Map<String, Value>, claim: &str) -> Result<Option<u64>, AuthError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| AuthError::InvalidClaim { claim: claim.to_owned(), reason: NUMERIC_DATE }),
    }
}

/// What a string-or-integer claim (`sub`, the entity claim) must be.
const STRING_OR_INTEGER: &str = "must be a string or an integer";

/// The text of a string-or-integer claim: a string as it is, an integer in decimal; `None`
/// for `null`.
fn string_or_integer_text(value: &Value) -> Result<Option<String>, &'static str> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text.clone())),
        Value::Number(number) if number.is_i64() || number.is_u64() => Ok(Some(number.to_string())),
        _ => Err(STRING_OR_INTEGER),
    }
}

fn string_or_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    string_or_integer_text(&Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

/// Refuses a string-or-integer claim of another type, with the claim's name, without copying
/// its text.
fn check_string_or_integer(claims: &Map<String, Value>, claim: &str) -> Result<(), AuthError> {
    match claims.get(claim) {
        None | Some(Value::Null | Value::String(_)) => Ok(()),
        Some(Value::Number(number)) if number.is_i64() || number.is_u64() => Ok(()),
        Some(_) => Err(AuthError::InvalidClaim { claim: claim.to_owned(), reason: STRING_OR_INTEGER }),
    }
}

/// Reads a string-or-integer claim, refusing any other value with the claim's name.
fn string_or_integer_claim(claims: &Map<String, Value>, claim: &str) -> Result<Option<String>, AuthError> {
    claims.get(claim).map_or(Ok(None), |value| {
        string_or_integer_text(value).map_err(|reason| AuthError::InvalidClaim { claim: claim.to_owned(), reason })
    })
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// The JWT authenticator: `#[gateway(auth = Jwt)]` for [`StandardClaims`], or
/// `#[gateway(auth = Jwt<MyClaims>)]` for a claims type of your own.
///
/// Configured once per module with
/// [`WebSocketModuleBuilder::jwt`](crate::WebSocketModuleBuilder::jwt).
pub struct Jwt<C = StandardClaims> {
    config: JwtConfig,
    /// Whether the key can verify tokens at all (an HMAC secret long enough).
    usable: bool,
    validation: Validation,
    claims: PhantomData<fn() -> C>,
}

impl<C> Jwt<C> {
    /// An authenticator verifying tokens as `config` says. One made from a configuration
    /// whose key `build` would refuse (an HMAC secret that is too short) verifies no token:
    /// every one fails with [`AuthError::Unavailable`].
    pub fn new(config: &JwtConfig) -> Self {
        Self {
            config: config.clone(),
            usable: config.check_key().is_ok(),
            validation: config.validation(),
            claims: PhantomData,
        }
    }
}

impl<C> fmt::Debug for Jwt<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwt")
            .field("algorithms", &self.validation.algorithms)
            .field("entity_claim", &self.config.entity_claim)
            .finish_non_exhaustive()
    }
}

impl<C> Jwt<C>
where
    C: DeserializeOwned,
{
    /// Verifies `token` and reads its claims. The identity's
    /// [`expires_at`](Identity::expires_at) is the token's `exp` plus the leeway.
    pub fn verify(&self, token: &str) -> Result<Identity<C>, AuthError> {
        self.verify_at(token, unix_now())
    }

    /// Verifies `token` as of `now`, in seconds since the Unix epoch.
    fn verify_at(&self, token: &str, now: u64) -> Result<Identity<C>, AuthError> {
        if !self.usable {
            return Err(AuthError::Unavailable);
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.config.key, &self.validation)
            .map_err(|err| map_error(err.kind()))?;
        // RFC 7515 §4.1.11: a recipient must refuse a token whose `crit` lists an extension it
        // does not understand, and venta-ws understands none (an empty list is invalid too).
        if data.header.crit.is_some() {
            return Err(AuthError::CriticalExtension);
        }
        let expires_at = self.config.check_claims(&data.claims, now)?;
        let entity_id = string_or_integer_claim(&data.claims, &self.config.entity_claim)?.filter(|id| !id.is_empty());
        // By value: the gateway's claims take the decoded strings over instead of copying them.
        let claims = C::deserialize(Value::Object(data.claims)).map_err(|_| AuthError::InvalidClaims)?;
        Ok(Identity { entity_id, claims, expires_at })
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

fn map_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::InvalidSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm | ErrorKind::InvalidAlgorithmName => {
            AuthError::AlgorithmNotAllowed
        }
        _ => AuthError::Malformed,
    }
}

impl<C> Authenticator for Jwt<C>
where
    C: DeserializeOwned + Send + Sync + 'static,
{
    type Claims = C;

    const SETUP_HINT: &'static str =
        "call `.jwt(JwtConfig::hs256_from_env(\"JWT_SECRET\")?)` (or another `JwtConfig`) on the module builder";

    async fn authenticate(&self, request: &ConnectRequest) -> Result<Identity<C>, AuthError> {
        let token = request.token().ok_or(AuthError::MissingToken)?;
        self.verify(token.expose())
    }

    async fn reauthenticate(&self, token: &super::Token) -> Result<Identity<C>, AuthError> {
        self.verify(token.expose())
    }

    fn from_registry(registry: &AuthRegistry) -> Option<Arc<Self>> {
        registry.jwt().map(|config| Arc::new(Self::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    use super::*;

    const SECRET: &str = "a unit-test secret of at least 32 bytes";

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn sign(claims: &Value, secret: &str) -> String {
        encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).expect("signs")
    }

    #[test]
    fn a_valid_token_yields_its_subject_and_expiry() {
        let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET));
        let exp = now() + 60;
        let identity = jwt.verify(&sign(&json!({"sub": "u1", "exp": exp, "role": "admin"}), SECRET)).expect("valid");
        assert_eq!(identity.entity_id.as_deref(), Some("u1"));
        assert_eq!(identity.expires_at, Some(exp + DEFAULT_LEEWAY_SECS), "`exp` plus the leeway");
        assert_eq!(identity.claims.exp, Some(exp), "the claim as the token has it");
        assert_eq!(identity.claims.extra.get("role"), Some(&json!("admin")));
    }

    #[test]
    fn each_kind_of_bad_token_is_named() {
        let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET).issuer("me").audience("api"));
        let good = json!({"sub": "u1", "exp": now() + 60, "iss": "me", "aud": "api"});
        let mut expired = good.clone();
        expired["exp"] = json!(now() - 60);
        let mut early = good.clone();
        early["nbf"] = json!(now() + 60);
        let mut other_issuer = good.clone();
        other_issuer["iss"] = json!("them");
        let mut other_audience = good.clone();
        other_audience["aud"] = json!(["web"]);
        let mut no_exp = good.clone();
        no_exp.as_object_mut().expect("object").remove("exp");

        assert_eq!(jwt.verify(&sign(&good, "other")).err(), Some(AuthError::InvalidSignature));
        assert_eq!(jwt.verify(&sign(&expired, SECRET)).err(), Some(AuthError::Expired));
        assert_eq!(jwt.verify(&sign(&early, SECRET)).err(), Some(AuthError::NotYetValid));
        assert_eq!(jwt.verify(&sign(&other_issuer, SECRET)).err(), Some(AuthError::InvalidIssuer));
        assert_eq!(jwt.verify(&sign(&other_audience, SECRET)).err(), Some(AuthError::InvalidAudience));
        assert_eq!(jwt.verify(&sign(&no_exp, SECRET)).err(), Some(AuthError::MissingClaim("exp".into())));
        assert_eq!(jwt.verify("not-a-jwt").err(), Some(AuthError::Malformed));
        assert!(jwt.verify(&sign(&good, SECRET)).is_ok());
    }

    #[test]
    fn a_token_with_critical_header_extensions_is_refused() {
        let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET));
        let claims = json!({"sub": "u1", "exp": now() + 60});
        for crit in [vec!["urn:example:ext".to_owned()], vec!["exp".to_owned()], vec![]] {
            let mut header = Header::new(Algorithm::HS256);
            header.crit = Some(crit.clone());
            header.extras.insert("urn:example:ext", true);
            let token = encode(&header, &claims, &EncodingKey::from_secret(SECRET.as_bytes())).expect("signs");
            assert_eq!(jwt.verify(&token).err(), Some(AuthError::CriticalExtension), "{crit:?}");
        }
        let mut header = Header::new(Algorithm::HS256);
        header.extras.insert("urn:example:ext", true);
        let token = encode(&header, &claims, &EncodingKey::from_secret(SECRET.as_bytes())).expect("signs");
        assert!(jwt.verify(&token).is_ok(), "an extension not marked critical may be ignored");
    }

    #[test]
    fn a_configured_issuer_or_audience_must_be_present() {
        let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET).issuer("me").audience("api"));
        let good = json!({"sub": "u1", "exp": now() + 60, "iss": "me", "aud": "api"});
        for claim in ["iss", "aud"] {
            let mut without = good.clone();
            without.as_object_mut().expect("object").remove(claim);
            assert_eq!(jwt.verify(&sign(&without, SECRET)).err(), Some(AuthError::MissingClaim(claim.into())));
            let mut null = good.clone();
            null[claim] = Value::Null;
            assert_eq!(jwt.verify(&sign(&null, SECRET)).err(), Some(AuthError::MissingClaim(claim.into())));
        }
        // Neither is required when not configured.
        let open: Jwt = Jwt::new(&JwtConfig::hs256(SECRET));
        assert!(open.verify(&sign(&json!({"sub": "u1", "exp": now() + 60}), SECRET)).is_ok());
    }

    #[test]
    fn another_hmac_algorithm_and_the_none_algorithm_are_refused() {
        let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET));
        let claims = json!({"sub": "u1", "exp": now() + 60});
        let hs512 = encode(&Header::new(Algorithm::HS512), &claims, &EncodingKey::from_secret(SECRET.as_bytes()))
            .expect("signs");
        assert_eq!(jwt.verify(&hs512).err(), Some(AuthError::AlgorithmNotAllowed));

        // {"alg":"none"} over {"sub":"u1","exp":4102444800}, with an empty signature.
        let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1MSIsImV4cCI6NDEwMjQ0NDgwMH0.";
        assert_eq!(jwt.verify(unsigned).err(), Some(AuthError::Malformed), "`none` is no algorithm at all");
    }

    #[test]
    fn the_entity_claim_can_be_another_claim_holding_a_number() {
        let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET).entity_claim("vendor_id"));
        let identity = jwt.verify(&sign(&json!({"vendor_id": 42, "exp": now() + 60}), SECRET)).expect("valid");
        assert_eq!(identity.entity_id.as_deref(), Some("42"));
    }

    #[test]
    fn a_numeric_subject_is_the_entity_id_in_decimal() {
        let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET));
        for (sub, text) in [(json!(42), "42"), (json!(-7), "-7"), (json!(u64::MAX), "18446744073709551615")] {
            let identity = jwt.verify(&sign(&json!({"sub": sub, "exp": now() + 60}), SECRET)).expect("valid");
            assert_eq!(identity.entity_id.as_deref(), Some(text));
            assert_eq!(identity.claims.sub.as_deref(), Some(text));
        }
    }

    #[test]
    fn a_subject_or_entity_claim_that_is_neither_a_string_nor_an_integer_is_refused() {
        let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET));
        let vendor: Jwt = Jwt::new(&JwtConfig::hs256(SECRET).entity_claim("vendor_id"));
        for bad in [json!(4.5), json!(1.0), json!(true), json!(["u1"]), json!({"id": 1})] {
            let refused = jwt.verify(&sign(&json!({"sub": bad, "exp": now() + 60}), SECRET)).err();
            let expected = AuthError::InvalidClaim { claim: "sub".into(), reason: "must be a string or an integer" };
            if bad.is_array() || bad.is_object() {
                // `jsonwebtoken` cannot read the claims past a `sub` that is not a scalar.
                assert_eq!(refused, Some(AuthError::Malformed), "sub {bad}");
            } else {
                assert_eq!(refused, Some(expected), "sub {bad}");
            }
            let refused = vendor.verify(&sign(&json!({"vendor_id": bad, "exp": now() + 60}), SECRET)).err();
            assert_eq!(
                refused.map(|err| err.to_string()),
                Some("invalid claim `vendor_id`: must be a string or an integer".to_owned()),
                "vendor_id {bad}"
            );
        }
    }

    #[test]
    fn times_must_be_whole_non_negative_seconds() {
        // A claims type without `exp` must not let a fractional `exp` slip through as no expiry.
        let jwt: Jwt<Map<String, Value>> = Jwt::new(&JwtConfig::hs256(SECRET));
        let exp = now() + 60;
        let reason = "must be a whole number of seconds since the Unix epoch";
        for (claim, time) in [("exp", exp), ("nbf", now() - 10), ("iat", now() - 10)] {
            for bad in [json!(time as f64 + 0.5), json!(-1), json!("soon"), json!(true)] {
                let mut claims = json!({"sub": "u1", "exp": exp});
                claims[claim] = bad.clone();
                let refused = jwt.verify(&sign(&claims, SECRET)).err();
                assert_eq!(refused, Some(AuthError::InvalidClaim { claim: claim.into(), reason }), "{claim} {bad}");
            }
        }
        let identity = jwt.verify(&sign(&json!({"sub": "u1", "exp": exp, "iat": exp - 60}), SECRET)).expect("valid");
        assert!(identity.expires_at.is_some());
    }

    #[test]
    fn every_required_claim_is_enforced_not_only_the_registered_ones() {
        let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET).required_claims(["jti", "iat", "sub"]));
        let good = json!({"sub": "u1", "exp": now() + 60, "iat": now(), "jti": "t-1"});
        assert!(jwt.verify(&sign(&good, SECRET)).is_ok());
        for claim in ["jti", "iat", "sub", "exp"] {
            let mut without = good.clone();
            without.as_object_mut().expect("object").remove(claim);
            assert_eq!(jwt.verify(&sign(&without, SECRET)).err(), Some(AuthError::MissingClaim(claim.into())));
            let mut null = good.clone();
            null[claim] = Value::Null;
            assert_eq!(jwt.verify(&sign(&null, SECRET)).err(), Some(AuthError::MissingClaim(claim.into())), "{claim}");
        }
        let mut numeric_sub = good.clone();
        numeric_sub["sub"] = json!(42);
        assert!(jwt.verify(&sign(&numeric_sub, SECRET)).is_ok(), "a required `sub` may be an integer");
    }

    #[test]
    fn an_issuer_or_audience_of_the_wrong_type_is_refused() {
        let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET).issuer("me").audience("api"));
        let good = json!({"sub": "u1", "exp": now() + 60, "iss": "me", "aud": "api"});
        let verify = |claim: &str, value: Value| {
            let mut claims = good.clone();
            claims[claim] = value;
            jwt.verify(&sign(&claims, SECRET)).err()
        };
        let not_a_string = AuthError::InvalidClaim { claim: "iss".into(), reason: "must be a string" };
        assert_eq!(verify("iss", json!(42)), Some(not_a_string.clone()));
        assert_eq!(verify("iss", json!(["me"])), Some(not_a_string), "`iss` is one string (RFC 7519 §4.1.1)");
        let not_strings =
            AuthError::InvalidClaim { claim: "aud".into(), reason: "must be a string or an array of strings" };
        assert_eq!(verify("aud", json!(42)), Some(not_strings.clone()));
        assert_eq!(verify("aud", json!(["api", 1])), Some(not_strings));
        assert_eq!(verify("aud", json!([])), Some(AuthError::InvalidAudience));
        assert_eq!(verify("aud", json!(["web", "api"])), None);
    }

    #[test]
    fn a_token_is_accepted_only_before_exp_plus_the_leeway_which_is_its_deadline() {
        let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET).leeway_secs(5));
        let at = 1_700_000_000;
        let token = |exp: u64| sign(&json!({"sub": "u1", "exp": exp}), SECRET);
        let inside = jwt.verify_at(&token(at - 2), at).expect("inside the leeway");
        assert_eq!(inside.expires_at, Some(at + 3), "held to exp + leeway, after now");
        let last = jwt.verify_at(&token(at - 4), at).expect("the last second of the leeway");
        assert_eq!(last.expires_at, Some(at + 1));
        assert_eq!(jwt.verify_at(&token(at - 5), at).err(), Some(AuthError::Expired), "a deadline of now is past");
        let strict: Jwt = Jwt::new(&JwtConfig::hs256(SECRET).leeway_secs(0));
        assert_eq!(
            strict.verify_at(&token(at), at).err(),
            Some(AuthError::Expired),
            "RFC 7519: now must be before exp"
        );
        assert_eq!(strict.verify_at(&token(at + 1), at).expect("valid").expires_at, Some(at + 1));
        let far = jwt.verify_at(&token(u64::MAX), at).expect("valid");
        assert_eq!(far.expires_at, Some(u64::MAX), "saturates");
    }

    #[test]
    fn no_time_or_leeway_overflows() {
        let at = now();
        let forever: Jwt = Jwt::new(&JwtConfig::hs256(SECRET).leeway_secs(u64::MAX));
        let identity = forever.verify(&sign(&json!({"sub": "u1", "exp": 0, "nbf": at}), SECRET)).expect("in leeway");
        assert!(identity.expires_at.is_some());
        let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET));
        let far = jwt.verify(&sign(&json!({"sub": "u1", "exp": u64::MAX}), SECRET)).expect("valid");
        assert!(far.expires_at.is_some());
        let never = sign(&json!({"sub": "u1", "exp": u64::MAX, "nbf": u64::MAX}), SECRET);
        assert_eq!(jwt.verify(&never).err(), Some(AuthError::NotYetValid));
        assert_eq!(
            jwt.verify_at(&sign(&json!({"sub": "u1", "exp": 1}), SECRET), u64::MAX).err(),
            Some(AuthError::Expired)
        );
    }

    #[test]
    fn custom_claims_types_are_deserialized_and_checked() {
        #[derive(Deserialize)]
        struct VendorClaims {
            sub: String,
            shop: u32,
        }
        let jwt: Jwt<VendorClaims> = Jwt::new(&JwtConfig::hs256(SECRET));
        let identity = jwt.verify(&sign(&json!({"sub": "v1", "shop": 7, "exp": now() + 60}), SECRET)).expect("valid");
        assert_eq!((identity.claims.sub.as_str(), identity.claims.shop), ("v1", 7));
        let missing_shop = sign(&json!({"sub": "v1", "exp": now() + 60}), SECRET);
        assert_eq!(jwt.verify(&missing_shop).err(), Some(AuthError::InvalidClaims));
    }

    #[test]
    fn an_hmac_secret_must_be_as_long_as_the_hash_output() {
        for (algorithm, min) in [(Algorithm::HS256, 32), (Algorithm::HS384, 48), (Algorithm::HS512, 64)] {
            for len in [0, 1, min - 1] {
                match JwtConfig::hmac(algorithm, vec![b'k'; len]) {
                    Err(JwtConfigError::ShortSecret { algorithm: a, len: l, min: m, var: None }) => {
                        assert_eq!((a, l, m), (algorithm, len, min));
                    }
                    other => panic!("{algorithm:?} with {len} bytes: {other:?}"),
                }
            }
            assert!(JwtConfig::hmac(algorithm, vec![b'k'; min]).is_ok(), "{algorithm:?} with {min} bytes");
        }
        let err = JwtConfig::hmac(Algorithm::HS512, "secret").expect_err("short");
        assert_eq!(
            err.to_string(),
            "the HS512 secret is 6 bytes; HMAC keys must be at least 64 bytes (RFC 7518 §3.2): \
             set a longer secret, for example `openssl rand -base64 64`"
        );
    }

    #[test]
    fn a_short_secret_from_the_environment_names_the_variable() {
        let err =
            JwtConfig::hmac_from_var(Algorithm::HS256, "JWT_SECRET", Some("short".to_owned())).expect_err("short");
        assert_eq!(
            err.to_string(),
            "the HS256 secret in `JWT_SECRET` is 5 bytes; HMAC keys must be at least 32 bytes (RFC 7518 §3.2): \
             set a longer secret, for example `openssl rand -base64 32`"
        );
        let err = JwtConfig::hmac_from_var(Algorithm::HS256, "JWT_SECRET", Some(String::new())).expect_err("empty");
        assert!(matches!(err, JwtConfigError::ShortSecret { len: 0, var: Some(ref var), .. } if var == "JWT_SECRET"));
        let err = JwtConfig::hmac_from_var(Algorithm::HS256, "JWT_SECRET", None).expect_err("unset");
        assert!(matches!(err, JwtConfigError::MissingEnv(ref var) if var == "JWT_SECRET"), "{err:?}");
    }

    #[test]
    fn a_short_hs256_secret_verifies_no_token() {
        let config = JwtConfig::hs256("");
        assert!(config.check_key().is_err());
        let jwt: Jwt = Jwt::new(&config);
        let token = sign(&json!({"sub": "u1", "exp": now() + 60}), "");
        assert_eq!(jwt.verify(&token).err(), Some(AuthError::Unavailable));
    }

    #[test]
    fn a_missing_variable_or_a_wrong_kind_of_key_is_a_configuration_error() {
        assert!(matches!(
            JwtConfig::hs256_from_env("VENTA_WS_TEST_UNSET_VARIABLE"),
            Err(JwtConfigError::MissingEnv(_))
        ));
        assert!(matches!(
            JwtConfig::public_key_pem(Algorithm::HS256, "x"),
            Err(JwtConfigError::NotAPublicKeyAlgorithm(_))
        ));
        assert!(matches!(JwtConfig::rs256_pem("not a pem"), Err(JwtConfigError::InvalidKey { .. })));
    }

    /// A 1024-bit RSA public key: too short for RS256 (RFC 7518 §3.3).
    const RSA_1024_PUBLIC: &str = r"-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDBtPW3eUeunFBD3A6Op5yBYN/7
j1MKXDsIUw8S5ecntXHOQN8vcjZS6cI36jahv8sO5cef9pg6olUB+8F0IaEwz7cn
AQ+YCtNh6nAGcmjB8aQVGJWNZOk0f7me9hYgaFV1GeMDR8rppePINe46RxhrqNqm
y/Allf13lkdiniGYfQIDAQAB
-----END PUBLIC KEY-----";

    /// A P-384 public key, for ES384.
    const P384_PUBLIC: &str = r"-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEr4/T5mc9wVI0Fi/QFiV+d+FOUNU181Xh
xrJf7BFS3qAyjfZmLBgbtKGkqWfD8UIGX0kqAPTwwFP17RiiCJDuTRs38W3we9jh
As5H06Ljzq1XAOxAMGIjBVQ1o12n01aA
-----END PUBLIC KEY-----";

    /// A P-256 public key, for ES256.
    const P256_PUBLIC: &str = r"-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAExNVrfmvJQMAN8pvUN+kEZWQZXvlV
Qqf/yEE34wRT5nsHUtB/GFCbyO+AP9fXB8TKrZZl5BOOCUw6Fo6AutLVqw==
-----END PUBLIC KEY-----";

    #[test]
    fn hmac_takes_hmac_algorithms_only() {
        for algorithm in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            let err = JwtConfig::hmac(algorithm, [b'k'; 64]).expect_err("not an HMAC algorithm");
            assert!(matches!(err, JwtConfigError::NotAnHmacAlgorithm(a) if a == algorithm), "{err:?}");
            assert!(err.to_string().contains("JwtConfig::public_key_pem"), "{err}");
        }
    }

    #[test]
    fn an_rsa_key_shorter_than_2048_bits_is_refused() {
        let err = JwtConfig::rs256_pem(RSA_1024_PUBLIC).expect_err("1024 bits");
        assert_eq!(
            err.to_string(),
            "the RS256 key cannot be used: it is a 1024-bit RSA key; RSA keys must be at least 2048 bits (RFC 7518 §3.3)"
        );
        let err = JwtConfig::public_key_pem(Algorithm::PS512, RSA_1024_PUBLIC).expect_err("1024 bits");
        assert!(matches!(err, JwtConfigError::UnusableKey { algorithm: Algorithm::PS512, .. }), "{err:?}");
    }

    #[test]
    fn an_rsa_key_longer_than_the_rsa_implementation_verifies_with_is_refused() {
        let der = |modulus_bytes: usize| {
            let mut modulus = vec![0x02, 0x82];
            modulus.extend(u16::try_from(modulus_bytes + 1).expect("small").to_be_bytes());
            modulus.push(0x00);
            modulus.extend(std::iter::repeat_n(0xc5, modulus_bytes));
            modulus.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
            let mut der = vec![0x30, 0x82];
            der.extend(u16::try_from(modulus.len()).expect("small").to_be_bytes());
            der.extend(modulus);
            DecodingKey::from_rsa_der(&der)
        };
        assert_eq!(check_public_key(Algorithm::RS256, &der(512)), Ok(()), "4096 bits");
        assert_eq!(
            check_public_key(Algorithm::RS256, &der(513)),
            Err("it is a 4104-bit RSA key; venta-ws verifies RSA keys of up to 4096 bits".to_owned())
        );
        assert_eq!(check_public_key(Algorithm::RS256, &der(256)), Ok(()), "2048 bits");
    }

    #[test]
    fn an_ec_key_must_be_on_the_algorithms_curve() {
        assert!(JwtConfig::public_key_pem(Algorithm::ES256, P256_PUBLIC).is_ok());
        assert!(JwtConfig::public_key_pem(Algorithm::ES384, P384_PUBLIC).is_ok());
        let err = JwtConfig::public_key_pem(Algorithm::ES256, P384_PUBLIC).expect_err("P-384 for ES256");
        assert_eq!(err.to_string(), "the ES256 key cannot be used: it is a P-384 key; ES256 needs a P-256 key");
        let err = JwtConfig::public_key_pem(Algorithm::ES384, P256_PUBLIC).expect_err("P-256 for ES384");
        assert_eq!(err.to_string(), "the ES384 key cannot be used: it is a P-256 key; ES384 needs a P-384 key");
    }

    #[test]
    fn rsa_modulus_sizes_are_read_from_the_der() {
        // SEQUENCE { INTEGER 0x00 0x80 0x01 (a 16-bit modulus), INTEGER 3 }
        assert_eq!(rsa_modulus_bits(&[0x30, 0x08, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x01, 0x03]), Some(16));
        // Long-form length: a 2048-bit modulus.
        let mut der = vec![0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00];
        der.extend([0xc5; 256]);
        der.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        assert_eq!(rsa_modulus_bits(&der), Some(2048));
        // Truncated, trailing bytes, three integers (a private key), or not DER at all.
        assert_eq!(rsa_modulus_bits(&der[..der.len() - 1]), None);
        assert_eq!(rsa_modulus_bits(&[0x30, 0x03, 0x02, 0x01, 0x05, 0x00]), None);
        assert_eq!(rsa_modulus_bits(&[0x30, 0x09, 0x02, 0x01, 0x00, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03]), None);
        assert_eq!(rsa_modulus_bits(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(rsa_modulus_bits(b""), None);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn random_token_strings_are_refused_without_panicking(token in "\\PC{0,200}") {
                let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET));
                prop_assert!(jwt.verify(&token).is_err());
            }

            #[test]
            fn tampered_tokens_are_refused(position in 0usize..200, byte in any::<u8>()) {
                let jwt: Jwt = Jwt::new(&JwtConfig::hs256(SECRET));
                let token = sign(&json!({"sub": "u1", "exp": now() + 60}), SECRET);
                let mut bytes = token.clone().into_bytes();
                let at = position % bytes.len();
                prop_assume!(bytes[at] != byte);
                bytes[at] = byte;
                let tampered = String::from_utf8_lossy(&bytes).into_owned();
                prop_assume!(tampered != token);
                prop_assert!(jwt.verify(&tampered).is_err(), "{tampered}");
            }
        }
    }
}
