//! Deadlines and retries for every network call shipit makes: the registry and its token service
//! (reqwest), AWS (the SDK's timeout and retry configuration, see [`crate::aws`]) and the Docker
//! engine (bollard's request timeout).
//!
//! One knob, `SHIPIT_HTTP_TIMEOUT` (default 60s), says how long shipit waits for any one answer;
//! every other deadline derives from it.

use std::sync::OnceLock;
use std::time::Duration;

use crate::env_vars;
use crate::github::Env;

/// How long shipit waits for one answer unless `SHIPIT_HTTP_TIMEOUT` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Attempts of an idempotent registry call that met a 429, a 5xx or a dropped connection.
pub const ATTEMPTS: u32 = 4;

static TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// Reads `SHIPIT_HTTP_TIMEOUT` once, at the top; a value that is not a duration is bad input.
pub fn configure(env: &Env) -> Result<(), crate::Error> {
    let timeout = match env.get(env_vars::SHIPIT_HTTP_TIMEOUT) {
        None => DEFAULT_TIMEOUT,
        Some(text) => humantime::parse_duration(text.trim())
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                crate::Error::bad_input(
                    format!(
                        "{}=`{text}` is not a duration",
                        env_vars::SHIPIT_HTTP_TIMEOUT
                    ),
                    Some("write it like 30s, 2m or 500ms".to_string()),
                )
            })?,
    };
    let _ = TIMEOUT.set(timeout);
    Ok(())
}

/// How long to wait for one answer (a read, an AWS attempt).
pub fn timeout() -> Duration {
    TIMEOUT.get().copied().unwrap_or(DEFAULT_TIMEOUT)
}

/// How long to wait for a connection.
pub fn connect_timeout() -> Duration {
    timeout().min(Duration::from_secs(10))
}

/// The deadline of one whole request, its body included.
pub fn request_timeout() -> Duration {
    timeout().saturating_mul(5)
}

/// The deadline of reading one repository's tags from a registry, every page and digest: ten
/// answers' worth, ten minutes by default. Each request has its own deadline; this one bounds a
/// registry that answers every request in time but never stops (a `Link` to page after page).
pub fn listing_timeout() -> Duration {
    timeout().saturating_mul(10)
}

/// The deadline of a whole `git fetch` (history can be large): ten answers' worth.
pub fn fetch_timeout() -> Duration {
    timeout().saturating_mul(10)
}

/// The deadline of a whole image push by the engine (layers can be large): thirty answers' worth,
/// half an hour by default.
pub fn push_timeout() -> Duration {
    timeout().saturating_mul(30)
}

/// The deadline of one AWS operation, its retries included.
pub fn operation_timeout() -> Duration {
    timeout().saturating_mul(3)
}

/// The deadline of a Docker engine call (its answer, not a build's or a push's stream): never less
/// than bollard's default of two minutes, which an engine under load needs.
pub fn engine_timeout() -> Duration {
    timeout().saturating_mul(2).max(Duration::from_secs(120))
}

/// The wait before attempt `attempt + 1` (1-based): exponential from 200ms, capped at 5s, with
/// full jitter so that concurrent callers do not retry in step.
pub fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let cap = Duration::from_millis(200)
        .saturating_mul(1u32 << attempt.min(5))
        .min(Duration::from_secs(5));
    let factor: f64 = rand::thread_rng().gen_range(0.5..1.0);
    cap.mul_f64(factor)
}

/// A `Retry-After` in seconds, capped so that a registry cannot stall shipit for long.
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    let secs: u64 = value?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(Duration::from_secs(10)))
}

/// True for an HTTP status that a retry may fix.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// True for a connection dropped or refused before an answer: a retry may fix it.
pub fn retryable_io(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionReset
                    | ConnectionAborted
                    | ConnectionRefused
                    | BrokenPipe
                    | UnexpectedEof
            ) {
                return true;
            }
        }
        // hyper's "connection closed before message completed" carries no io::Error.
        if c.to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Why an answer's body was not read whole.
#[derive(Debug)]
pub enum CappedRead {
    /// It is longer than the limit (said by `Content-Length`, or found while reading).
    TooLarge,
    /// The connection failed or timed out while reading.
    Failed(reqwest::Error),
}

/// An answer's body, never more than `limit` bytes of it held: a server that answers without end
/// cannot fill memory.
pub async fn read_capped(
    resp: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, CappedRead> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(CappedRead::TooLarge);
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(CappedRead::Failed)? {
        if out.len() + chunk.len() > limit {
            return Err(CappedRead::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..10 {
            let b = backoff(attempt);
            assert!(b <= Duration::from_secs(5), "{b:?}");
            assert!(b >= Duration::from_millis(100), "{b:?}");
        }
    }

    #[test]
    fn retry_after_is_capped() {
        assert_eq!(retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(Some("86400")), Some(Duration::from_secs(10)));
        assert_eq!(retry_after(Some("soon")), None);
    }
}
