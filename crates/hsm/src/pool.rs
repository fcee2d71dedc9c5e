//! A bounded pool of logged-in sessions on one token, reused across calls:
//! a call takes an idle session, or opens one while fewer than the bound
//! are open, or waits for one to come back (for ever, or at most the
//! pool's wait bound: then [`HsmError::Busy`]). Sessions are never opened per
//! call. Once a call sees the token go away the pool is gone for good: its
//! idle sessions are closed and every later call fails at once (PKCS#11
//! closes all sessions of a removed token; SoftHSM2 keeps them open but
//! dead until the module is reloaded), so reconnecting is a new `Token`.

use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error, RvError};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::error::HsmError;

/// What the pool is doing, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// The most sessions the pool opens at once.
    pub max_sessions: usize,
    /// Sessions open now (idle or in use).
    pub open: usize,
    /// Sessions open and idle now.
    pub idle: usize,
    /// The most sessions that were ever open at once.
    pub peak_open: usize,
    /// Sessions opened since the pool was made (C_OpenSession calls).
    pub opened_total: usize,
}

struct State {
    idle: Vec<Session>,
    /// A call saw the token go away: no session is handed out again.
    gone: bool,
    open: usize,
    peak_open: usize,
    opened_total: usize,
}

/// Sessions on one token's slot, at most `max_sessions` open, each logged
/// in as the user (PKCS#11 login state is per application and token, so a
/// new session is usually logged in already; if not it logs in).
pub struct SessionPool {
    ctx: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    max_sessions: usize,
    /// How long a call waits for a busy pool's session; `None`: for ever.
    session_wait: Option<Duration>,
    state: Mutex<State>,
    returned: Condvar,
}

impl fmt::Debug for SessionPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionPool").field("slot", &self.slot).field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl SessionPool {
    /// A pool on `slot` logging in with `pin`; opens and logs in its first
    /// session now, so a wrong PIN or a missing token shows at once.
    pub(crate) fn new(ctx: Pkcs11, slot: Slot, pin: AuthPin, max_sessions: usize, session_wait: Option<Duration>) -> Result<Self, HsmError> {
        let pool = SessionPool {
            ctx,
            slot,
            pin,
            max_sessions: max_sessions.max(1),
            session_wait,
            state: Mutex::new(State { idle: Vec::new(), gone: false, open: 0, peak_open: 0, opened_total: 0 }),
            returned: Condvar::new(),
        };
        pool.with_session(|_| Ok(()))?;
        Ok(pool)
    }

    /// Counts of open, idle and ever-opened sessions.
    pub fn stats(&self) -> PoolStats {
        let s = self.lock();
        PoolStats { max_sessions: self.max_sessions, open: s.open, idle: s.idle.len(), peak_open: s.peak_open, opened_total: s.opened_total }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` with a session of the pool, waiting for one if all
    /// `max_sessions` are busy (at most the pool's wait bound).
    pub(crate) fn with_session<T>(&self, f: impl FnOnce(&Session) -> Result<T, HsmError>) -> Result<T, HsmError> {
        let lease = Lease { pool: self, session: Some(self.take()?) };
        self.run(lease, f)
    }

    fn run<T>(&self, mut lease: Lease<'_>, f: impl FnOnce(&Session) -> Result<T, HsmError>) -> Result<T, HsmError> {
        let result = match &lease.session {
            Some(session) => f(session),
            None => Err(HsmError::TokenNotPresent),
        };
        match &result {
            Err(e) if e.session_is_dead() => {
                lease.discard();
                self.mark_gone();
            }
            // A session whose login failed is not handed out again.
            Err(HsmError::PinIncorrect | HsmError::PinLocked) => lease.discard(),
            _ => {}
        }
        result
    }

    /// The token went away: close the idle sessions (they are on the same
    /// token) and refuse every later call, waking any waiting one.
    fn mark_gone(&self) {
        let idle = {
            let mut s = self.lock();
            s.gone = true;
            s.open -= s.idle.len();
            std::mem::take(&mut s.idle)
        };
        drop(idle);
        self.returned.notify_all();
    }

    /// `otherwise`, unless the token itself is gone: SoftHSM2 answers a
    /// removed token's calls with CKR_OBJECT_HANDLE_INVALID, an empty
    /// search or CKR_GENERAL_ERROR, and only C_GetTokenInfo tells them
    /// from a missing key or a bad tag.
    pub(crate) fn unless_gone(&self, otherwise: HsmError) -> HsmError {
        match self.ctx.get_token_info(self.slot) {
            Ok(_) => otherwise,
            Err(_) => HsmError::TokenNotPresent,
        }
    }

    /// Whether the token is still there and this application still logged
    /// in: C_GetTokenInfo (no session), then C_GetSessionInfo on an idle
    /// session, logging in again if the login was lost. Never waits: with
    /// every session busy, the busy calls report any fault themselves.
    pub(crate) fn check(&self, label: &str) -> Result<(), HsmError> {
        let info = match self.ctx.get_token_info(self.slot) {
            Ok(info) => info,
            Err(_) => return self.gone(),
        };
        if info.label().trim_end() != label {
            return self.gone();
        }
        if info.user_pin_locked() {
            return Err(HsmError::PinLocked);
        }
        let Some(lease) = self.try_take()? else { return Ok(()) };
        self.run(lease, |session| self.ensure_login(session))
    }

    fn gone(&self) -> Result<(), HsmError> {
        self.mark_gone();
        Err(HsmError::TokenNotPresent)
    }

    /// An idle session, or a new one if fewer than the bound are open;
    /// `None` when all are busy.
    fn try_take(&self) -> Result<Option<Lease<'_>>, HsmError> {
        let mut s = self.lock();
        if s.gone {
            return Err(HsmError::TokenNotPresent);
        }
        if let Some(session) = s.idle.pop() {
            return Ok(Some(Lease { pool: self, session: Some(session) }));
        }
        if s.open >= self.max_sessions {
            return Ok(None);
        }
        Ok(Some(Lease { pool: self, session: Some(self.open_counted(s)?) }))
    }

    fn take(&self) -> Result<Session, HsmError> {
        let deadline = self.session_wait.map(|wait| (wait, Instant::now() + wait));
        let mut s = self.lock();
        loop {
            if s.gone {
                return Err(HsmError::TokenNotPresent);
            }
            if let Some(session) = s.idle.pop() {
                return Ok(session);
            }
            if s.open < self.max_sessions {
                return self.open_counted(s);
            }
            s = match deadline {
                None => self.returned.wait(s).unwrap_or_else(|e| e.into_inner()),
                Some((wait, deadline)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(HsmError::Busy(wait));
                    }
                    self.returned.wait_timeout(s, left).map(|(s, _)| s).unwrap_or_else(|e| e.into_inner().0)
                }
            };
        }
    }

    /// Opens a session under the bound that `s` shows room for.
    fn open_counted(&self, mut s: MutexGuard<'_, State>) -> Result<Session, HsmError> {
        s.open += 1;
        s.opened_total += 1;
        s.peak_open = s.peak_open.max(s.open);
        drop(s);
        self.open_session().inspect_err(|e| {
            self.lock().open -= 1;
            self.returned.notify_one();
            if e.session_is_dead() {
                self.mark_gone();
            }
        })
    }

    fn open_session(&self) -> Result<Session, HsmError> {
        let session = self.ctx.open_rw_session(self.slot)?;
        self.ensure_login(&session)?;
        Ok(session)
    }

    fn ensure_login(&self, session: &Session) -> Result<(), HsmError> {
        if session.get_session_info()?.session_state() != SessionState::RwUser {
            match session.login(UserType::User, Some(&self.pin)) {
                Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// A session taken from the pool: back to the idle list when dropped (also
/// if the call panicked), or closed and uncounted when discarded or when
/// the token went away meanwhile.
struct Lease<'a> {
    pool: &'a SessionPool,
    session: Option<Session>,
}

impl Lease<'_> {
    fn discard(&mut self) {
        if let Some(session) = self.session.take() {
            self.pool.lock().open -= 1;
            drop(session);
            self.pool.returned.notify_one();
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let mut s = self.pool.lock();
            if s.gone {
                s.open -= 1;
                drop(s);
                drop(session);
            } else {
                s.idle.push(session);
                drop(s);
            }
            self.pool.returned.notify_one();
        }
    }
}
