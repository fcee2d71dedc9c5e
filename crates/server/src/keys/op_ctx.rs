//! What a KMS operation's handler (`crate::ops`) holds instead of the
//! request's [`Ctx`]: who is calling, where and when, and nothing else.
//!
//! The [`Ctx`] inside is visible only to `crate::keys`, so a handler has no
//! path to `AppState`: not to the store, the key provider or the root key.
//! Everything it does with them goes through a function of `crate::keys`
//! that takes the [`crate::authz::Authorized`] value it acts on, which only
//! `crate::authz` can make. So the compiler, not review, keeps a handler
//! from acting on anything authorization did not hand it.

use trent_store::{Millis, Store};

use crate::state::{AppState, Ctx, Principal};

/// One request, as its handler sees it. A reference: cheap to pass around.
#[derive(Clone, Copy)]
pub struct OpCtx<'a> {
    pub(in crate::keys) ctx: &'a Ctx,
}

impl<'a> OpCtx<'a> {
    /// For `crate::dispatch`, after `crate::authz::authorize`: whoever has
    /// the full [`Ctx`] may narrow it; nothing widens it back.
    pub fn new(ctx: &'a Ctx) -> Self {
        OpCtx { ctx }
    }

    pub fn principal(&self) -> &'a Principal {
        &self.ctx.principal
    }

    /// From the SigV4 credential scope; keys and aliases live in one region.
    pub fn region(&self) -> &'a str {
        &self.ctx.region
    }

    pub fn request_id(&self) -> &'a str {
        &self.ctx.request_id
    }

    pub fn now(&self) -> Millis {
        self.ctx.now()
    }

    /// The store, for the functions of `crate::keys` that take an
    /// `Authorized` value.
    pub(in crate::keys) fn store(&self) -> &'a dyn Store {
        self.ctx.state.store.as_ref()
    }

    pub(in crate::keys) fn state(&self) -> &'a AppState {
        &self.ctx.state
    }
}
