//! argon2id password hashing, off the async workers.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use omni_identity::{IdentityError, Password, PasswordHash, PasswordHasher};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane).
///
/// Hashing and verifying run on the blocking pool: at tens of milliseconds each, they
/// would otherwise stall every request sharing the worker.
///
/// At most `permits` hashes run at once (each borrows 19 MiB and a core for tens of
/// milliseconds); a request that cannot start one within `wait` is refused as unavailable
/// (503 with `Retry-After`) instead of piling up behind the others.
#[derive(Clone)]
pub struct Argon2Hasher {
    argon: Argon2<'static>,
    permits: Arc<Semaphore>,
    wait: Duration,
    /// A hash of a random password, verified against when the e-mail is unknown so that
    /// unknown and known accounts cost the same time.
    stand_in: String,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher").finish_non_exhaustive()
    }
}

impl Argon2Hasher {
    /// The OWASP parameters: m = 19456 KiB, t = 2, p = 1.
    pub fn new() -> Result<Self, IdentityError> {
        Self::with_params(19_456, 2, 1)
    }

    /// Explicit parameters (memory in KiB, passes, lanes).
    pub fn with_params(memory_kib: u32, passes: u32, lanes: u32) -> Result<Self, IdentityError> {
        let params = Params::new(memory_kib, passes, lanes, None).map_err(unknown)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let stand_in = argon
            .hash_password(salt.as_str().as_bytes(), &salt)
            .map_err(unknown)?
            .to_string();
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Ok(Self {
            argon,
            stand_in,
            permits: Arc::new(Semaphore::new(cores)),
            wait: Duration::from_secs(2),
        })
    }

    /// At most `permits` hashes at once; a caller waits up to `wait` for its turn.
    pub fn limited(mut self, permits: usize, wait: Duration) -> Self {
        self.permits = Arc::new(Semaphore::new(permits.max(1)));
        self.wait = wait;
        self
    }

    /// A turn at hashing, or `Unavailable` when none comes in time.
    async fn turn(&self) -> Result<OwnedSemaphorePermit, IdentityError> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(unknown("the hashing limiter is closed")),
            Err(_) => {
                metrics::counter!("omni_password_hash_refused_total").increment(1);
                Err(IdentityError::Unavailable(
                    "too many password checks at once; retry shortly".into(),
                ))
            }
        }
    }
}

fn unknown(e: impl std::fmt::Display) -> IdentityError {
    IdentityError::Unknown(format!("password hashing failed: {e}"))
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, IdentityError> {
        let permit = self.turn().await?;
        let argon = self.argon.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let salt = SaltString::generate(&mut OsRng);
            argon
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|hash| PasswordHash::new(hash.to_string()))
                .map_err(unknown)
        })
        .await
        .map_err(unknown)?
    }

    async fn verify(
        &self,
        candidate: &str,
        hash: Option<PasswordHash>,
    ) -> Result<bool, IdentityError> {
        let permit = self.turn().await?;
        let argon = self.argon.clone();
        let candidate = candidate.to_owned();
        let known = hash.is_some();
        let phc = hash.map_or_else(|| self.stand_in.clone(), |h| h.as_str().to_owned());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // The stored hash names its own parameters, so hashes made with older ones
            // still verify.
            let parsed = argon2::PasswordHash::new(&phc).map_err(unknown)?;
            let matches = argon.verify_password(candidate.as_bytes(), &parsed).is_ok();
            Ok(known && matches)
        })
        .await
        .map_err(unknown)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let hasher = Argon2Hasher::with_params(1024, 1, 1).unwrap();
        let password = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_ne!(
            hasher.hash(&password).await.unwrap(),
            hash,
            "a fresh salt each time"
        );
        assert!(
            hasher
                .verify("correct horse", Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("wrong horse", Some(hash)).await.unwrap());
        assert!(!hasher.verify("correct horse", None).await.unwrap());
        let stand_in = hasher.stand_in.clone();
        // Even the stand-in's own password does not log anyone in.
        let salt = stand_in.rsplit('$').nth(1).unwrap().to_owned();
        assert!(!hasher.verify(&salt, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_hash_that_cannot_start_in_time_is_refused_as_unavailable() {
        let hasher = Argon2Hasher::with_params(1024, 1, 1)
            .unwrap()
            .limited(1, Duration::from_millis(50));
        let held = hasher.turn().await.unwrap();
        let password = Password::parse("correct horse").unwrap();
        assert!(matches!(
            hasher.hash(&password).await,
            Err(IdentityError::Unavailable(_))
        ));
        drop(held);
        assert!(hasher.hash(&password).await.is_ok());
    }

    #[test]
    fn the_default_parameters_are_owasps() {
        let hasher = Argon2Hasher::new().unwrap();
        assert!(
            hasher
                .stand_in
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
    }
}
