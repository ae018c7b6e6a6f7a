//! librdkafka's SASL calls that rust-rdkafka lacks, behind a safe interface:
//!
//! * [`set_credentials`]: a live client's new SASL username and password, used the next time it
//!   authenticates (a new or re-made connection). How the stage follows a rotated Kafka password
//!   without being restarted, which would cost its consumer group a rebalance.
//! * [`upsert_scram_credential`]: a user's SCRAM credential set on the cluster through the Kafka
//!   admin API (`AlterUserScramCredentials`, KIP-554), what the key core's `kafka-scram-user`
//!   rotator changes a password with. librdkafka salts and hashes the password itself, so the
//!   password never reaches the broker, only the salted one.
//!
//! A password is copied twice across the FFI boundary: into a zeroized, NUL-terminated buffer
//! here, and by librdkafka into its own memory (the client's configuration, or the request),
//! which it frees without wiping — the copies ARCHITECTURE.md lists.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int};
use std::fmt;
use std::ptr;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::client::{Client, ClientContext};
use zeroize::Zeroizing;

/// Why a call failed: librdkafka's or the broker's description, which never holds a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslError(String);

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SaslError {}

/// A SCRAM mechanism, as `sasl.mechanism` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramMechanism {
    /// `SCRAM-SHA-256`.
    Sha256,
    /// `SCRAM-SHA-512`.
    Sha512,
}

impl ScramMechanism {
    /// The mechanism `sasl.mechanism` names (`SCRAM-SHA-256` or `SCRAM-SHA-512`), if a SCRAM one.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "SCRAM-SHA-256" => Some(Self::Sha256),
            "SCRAM-SHA-512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn native(self) -> rd::rd_kafka_ScramMechanism_t {
        match self {
            Self::Sha256 => rd::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_256,
            Self::Sha512 => rd::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_512,
        }
    }
}

/// Gives `client` a new SASL username and password. Connections already authenticated go on as
/// they are; librdkafka uses the new ones for the next authentication of any connection.
pub fn set_credentials<C: ClientContext>(
    client: &Client<C>,
    username: &str,
    password: &str,
) -> Result<(), SaslError> {
    let username = c_string(username, "the username")?;
    let password = secret_c_string(password.as_bytes())?;
    // SAFETY: the client handle is alive while `client` is borrowed; both strings are
    // NUL-terminated and outlive the call, which copies them.
    let error = unsafe {
        rd::rd_kafka_sasl_set_credentials(
            client.native_ptr(),
            username.as_ptr(),
            password.as_ptr().cast::<c_char>(),
        )
    };
    match OwnedError::new(error) {
        None => Ok(()),
        Some(error) => Err(SaslError(format!(
            "librdkafka refused the new credentials: {}",
            error.describe()
        ))),
    }
}

/// Sets `user`'s SCRAM credential for `mechanism` to `password`, salted with a fresh random
/// salt and `iterations` rounds, on the cluster `admin` is connected to; waits for the broker's
/// answer at most `timeout`. `admin` is any client (a producer will do) whose own credentials
/// the broker lets alter users.
///
/// Blocks the calling thread: call it from a blocking task.
pub fn upsert_scram_credential<C: ClientContext>(
    admin: &Client<C>,
    user: &str,
    mechanism: ScramMechanism,
    iterations: i32,
    password: &[u8],
    timeout: Duration,
) -> Result<(), SaslError> {
    let name = c_string(user, "the user name")?;
    let password = Zeroizing::new(password.to_vec());
    let timeout_ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
    let rk = admin.native_ptr();
    // SAFETY: `rk` is alive while `admin` is borrowed; the queue is destroyed by its guard.
    let queue = Queue(unsafe { rd::rd_kafka_queue_new(rk) });
    // SAFETY: as above; the options are destroyed by their guard after the call, which copies
    // them.
    let options = Options(unsafe {
        rd::rd_kafka_AdminOptions_new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_ALTERUSERSCRAMCREDENTIALS,
        )
    });
    let mut errstr = [0 as c_char; 256];
    // SAFETY: the options handle is valid and `errstr` is writable for its length.
    let set = unsafe {
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options.0,
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if set != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka wrote a NUL-terminated message into `errstr`.
        let why = unsafe { CStr::from_ptr(errstr.as_ptr()) };
        return Err(SaslError(why.to_string_lossy().into_owned()));
    }
    // SAFETY: `name` is NUL-terminated; the password is `password.len()` bytes; a null salt asks
    // librdkafka for a random one. The alteration is copied by the call and destroyed by its
    // guard.
    let alteration = Alteration(unsafe {
        rd::rd_kafka_UserScramCredentialUpsertion_new(
            name.as_ptr(),
            mechanism.native(),
            iterations,
            password.as_ptr(),
            password.len(),
            ptr::null(),
            0,
        )
    });
    let mut alterations = [alteration.0];
    // SAFETY: every handle is alive; the array holds one alteration, which the call copies.
    unsafe {
        rd::rd_kafka_AlterUserScramCredentials(
            rk,
            alterations.as_mut_ptr(),
            alterations.len(),
            options.0,
            queue.0,
        );
    }
    drop(alteration);
    drop(password);
    // The answer comes as one event on `queue`, or librdkafka's own timeout error: a little more
    // than the request's timeout covers both.
    let wait = timeout_ms.saturating_add(1000);
    // SAFETY: the queue is alive; the event, if any, is destroyed by its guard.
    let event = Event(unsafe { rd::rd_kafka_queue_poll(queue.0, wait) });
    if event.0.is_null() {
        return Err(SaslError(format!(
            "the broker did not answer AlterUserScramCredentials within {timeout:?}"
        )));
    }
    event.check()
}

/// `value` as a C string, refused if it holds a NUL (named `what`, never shown).
fn c_string(value: &str, what: &str) -> Result<CString, SaslError> {
    CString::new(value).map_err(|_| SaslError(format!("{what} holds a NUL byte")))
}

/// A secret as a NUL-terminated buffer that is wiped when dropped.
fn secret_c_string(value: &[u8]) -> Result<Zeroizing<Vec<u8>>, SaslError> {
    if value.contains(&0) {
        return Err(SaslError("the password holds a NUL byte".into()));
    }
    let mut buffer = Zeroizing::new(Vec::with_capacity(value.len() + 1));
    buffer.extend_from_slice(value);
    buffer.push(0);
    Ok(buffer)
}

/// An error librdkafka handed over, destroyed when dropped.
struct OwnedError(*mut rd::rd_kafka_error_t);

impl OwnedError {
    fn new(error: *mut rd::rd_kafka_error_t) -> Option<Self> {
        (!error.is_null()).then_some(Self(error))
    }

    fn describe(&self) -> String {
        describe(self.0)
    }
}

impl Drop for OwnedError {
    fn drop(&mut self) {
        // SAFETY: the error is non-null and owned by this guard.
        unsafe { rd::rd_kafka_error_destroy(self.0) }
    }
}

/// librdkafka's description of `error` (non-null).
fn describe(error: *const rd::rd_kafka_error_t) -> String {
    // SAFETY: `error` is a live error; its string lives as long as it does and is copied here.
    unsafe { CStr::from_ptr(rd::rd_kafka_error_string(error)) }
        .to_string_lossy()
        .into_owned()
}

struct Queue(*mut rd::rd_kafka_queue_t);

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: the queue was made by `rd_kafka_queue_new` and is owned by this guard.
        unsafe { rd::rd_kafka_queue_destroy(self.0) }
    }
}

struct Options(*mut rd::rd_kafka_AdminOptions_t);

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: the options were made by `rd_kafka_AdminOptions_new`, owned by this guard.
        unsafe { rd::rd_kafka_AdminOptions_destroy(self.0) }
    }
}

struct Alteration(*mut rd::rd_kafka_UserScramCredentialAlteration_t);

impl Drop for Alteration {
    fn drop(&mut self) {
        // SAFETY: the alteration was made by `..._Upsertion_new` and is owned by this guard.
        unsafe { rd::rd_kafka_UserScramCredentialAlteration_destroy(self.0) }
    }
}

struct Event(*mut rd::rd_kafka_event_t);

impl Event {
    /// Whether the event is a successful `AlterUserScramCredentials` result for every user.
    fn check(&self) -> Result<(), SaslError> {
        // SAFETY: the event is non-null (checked by the caller) and alive while `self` is.
        let code = unsafe { rd::rd_kafka_event_error(self.0) };
        if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            // SAFETY: as above; the string lives with the event and is copied here.
            let why = unsafe { CStr::from_ptr(rd::rd_kafka_event_error_string(self.0)) };
            return Err(SaslError(format!(
                "AlterUserScramCredentials failed: {}",
                why.to_string_lossy()
            )));
        }
        // SAFETY: as above; null when the event is of another type.
        let result = unsafe { rd::rd_kafka_event_AlterUserScramCredentials_result(self.0) };
        if result.is_null() {
            return Err(SaslError(
                "AlterUserScramCredentials: librdkafka answered with another event".into(),
            ));
        }
        let mut count = 0usize;
        // SAFETY: `result` belongs to the live event; the array has `count` entries.
        let responses =
            unsafe { rd::rd_kafka_AlterUserScramCredentials_result_responses(result, &mut count) };
        if count == 0 || responses.is_null() {
            return Err(SaslError(
                "AlterUserScramCredentials: the broker answered for no user".into(),
            ));
        }
        for i in 0..count {
            // SAFETY: `i < count`; each response and its error belong to the event.
            let error = unsafe {
                rd::rd_kafka_AlterUserScramCredentials_result_response_error(*responses.add(i))
            };
            if error.is_null() {
                continue;
            }
            // SAFETY: a non-null error is alive with the event.
            let code = unsafe { rd::rd_kafka_error_code(error) };
            if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Err(SaslError(format!(
                    "the broker refused the SCRAM credential: {}",
                    describe(error)
                )));
            }
        }
        Ok(())
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the event came from `rd_kafka_queue_poll` and is owned by this guard.
            unsafe { rd::rd_kafka_event_destroy(self.0) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms_are_read_by_their_sasl_names() {
        assert_eq!(
            ScramMechanism::from_name("SCRAM-SHA-512"),
            Some(ScramMechanism::Sha512)
        );
        assert_eq!(
            ScramMechanism::from_name("scram-sha-256"),
            Some(ScramMechanism::Sha256)
        );
        assert_eq!(ScramMechanism::from_name("PLAIN"), None);
    }

    #[test]
    fn a_nul_in_a_password_is_refused_without_showing_it() {
        let err = secret_c_string(b"hunt\0er2").unwrap_err();
        assert!(!err.to_string().contains("hunt"), "{err}");
        assert_eq!(secret_c_string(b"abc").unwrap().as_slice(), b"abc\0");
    }
}
