//! "Would principal P be allowed action A on key K with context C, and which
//! statement or grant decides?" — the operator's question, answered by the
//! very code that authorizes requests (no second evaluator). Used by
//! `trent explain` and the `TrentAdmin.ExplainAuthorization` call.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::error::KmsError;
use crate::state::{AppState, Ctx, Principal};

/// The question.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Question {
    /// A user ARN, an account root ARN, or an assumed-role session ARN.
    pub principal: String,
    /// E.g. `kms:Decrypt`.
    pub action: String,
    /// The key's ARN.
    pub key_arn: String,
    #[serde(default)]
    pub encryption_context: BTreeMap<String, String>,
    /// Further condition keys of the imagined request (e.g. `kms:ViaService`).
    #[serde(default)]
    pub condition_keys: BTreeMap<String, String>,
}

/// The answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Answer {
    /// `Allow`, `ImplicitDeny` or `ExplicitDeny`.
    pub decision: String,
    /// Which statement or grant decided, and how.
    pub reason: String,
    /// What the caller would be told: AWS's AccessDeniedException text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Answers `q` against the deployment's current policies and grants.
pub async fn explain(state: Arc<AppState>, q: &Question) -> Result<Answer, KmsError> {
    let principal = Principal::from_arn(&q.principal).ok_or_else(|| KmsError::validation(format!("Principal '{}' is not an IAM user, account root or assumed-role ARN", q.principal)))?;
    let region = q.key_arn.split(':').nth(3).filter(|r| !r.is_empty()).ok_or_else(|| KmsError::validation(format!("KeyArn '{}' is not a key ARN", q.key_arn)))?.to_owned();
    let key_id = q.key_arn.rsplit('/').next().unwrap_or_default().to_owned();
    let key = state.store.get_key(&key_id, &region).await?.filter(|k| k.arn == q.key_arn).ok_or_else(|| KmsError::from(crate::protocol::catalogue::Error::KeyNotFound { arn: q.key_arn.clone() }))?;
    let ctx = Ctx { state, principal, region, request_id: "explain".into(), event_id: "explain".into(), audit: Default::default(), authz: Default::default() };
    let mut extra = crate::policy::Facts::default();
    super::supplied::add_context_facts(&mut extra, &q.encryption_context);
    for (k, v) in &q.condition_keys {
        extra.set(k, v.clone());
    }
    let (v, _) = super::verdict(&ctx, &key, &q.action, super::Supply::Given(&extra, &q.encryption_context)).await?;
    let decision = match v.decision {
        crate::policy::Decision::Allow => "Allow",
        crate::policy::Decision::ImplicitDeny => "ImplicitDeny",
        crate::policy::Decision::ExplicitDeny => "ExplicitDeny",
    };
    let message = (!v.allowed()).then(|| v.denial_message(&q.principal, &q.action, &key.arn));
    Ok(Answer { decision: decision.to_owned(), reason: v.reason, message })
}

/// The admin call's `X-Amz-Target` (on the KMS endpoint, SigV4-signed).
pub const ADMIN_TARGET: &str = "TrentAdmin.ExplainAuthorization";

/// The admin call: a body that is a [`Question`], answered as an [`Answer`].
/// Who may ask: a caller allowed `kms:GetKeyPolicy` on the key (the answer
/// reveals what the policy says), about principals of its own account (it
/// reveals their identity policies' effect too).
pub async fn handle(ctx: &Ctx, body: &[u8]) -> Result<Value, KmsError> {
    let q: Question = serde_json::from_slice(body).map_err(|e| KmsError::new(crate::protocol::error::ErrorCode::Serialization, format!("Cannot read the question: {e}")))?;
    let asked_account = q.principal.split(':').nth(4).unwrap_or_default();
    if asked_account != ctx.principal.account_id {
        return Err(KmsError::new(
            crate::protocol::error::ErrorCode::AccessDenied,
            format!("User: {} may only ask about principals of account {}", ctx.principal.arn, ctx.principal.account_id),
        ));
    }
    super::admin_key(ctx, &q.key_arn, trent_model::Operation::GetKeyPolicy).await?;
    let answer = explain(ctx.state.clone(), &q).await?;
    serde_json::to_value(answer).map_err(|e| KmsError::internal(format!("explain answer: {e}")))
}

/// `trent explain`: the same question from the command line, on the data
/// directory and store `trent serve` uses (running or not).
#[derive(clap::Args, Debug)]
pub struct ExplainOptions {
    #[command(flatten)]
    pub location: crate::serve::store_location::StoreLocation,
    /// Who asks: a user, root or assumed-role ARN.
    #[arg(long)]
    pub principal: String,
    /// What: e.g. `kms:Decrypt`.
    #[arg(long)]
    pub action: String,
    /// On which key: its ARN.
    #[arg(long)]
    pub key_arn: String,
    /// Encryption context pairs, `KEY=VALUE`, repeatable.
    #[arg(long = "context", value_parser = pair)]
    pub context: Vec<(String, String)>,
    /// Other condition keys of the request, `KEY=VALUE`, repeatable (e.g. `kms:ViaService=s3.us-east-1.amazonaws.com`).
    #[arg(long = "condition", value_parser = pair)]
    pub condition: Vec<(String, String)>,
}

fn pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("'{text}' is not KEY=VALUE"))
}

pub async fn run(options: ExplainOptions) -> Result<(), crate::serve::ServeError> {
    use crate::serve::ServeError;
    let setup = |what: &'static str| move |e: String| ServeError::Setup(format!("{what}: {e}"));
    let dir = &options.location.data_dir;
    // A sealed mode keeps no root.key, but every deployment has a database.
    if !dir.join("root.key").exists() && options.location.store == "sqlite" && !dir.join(crate::serve::DATABASE_FILE).exists() {
        return Err(ServeError::Setup(format!("{} has no root.key: is it the data directory of a Trent deployment?", dir.display())));
    }
    let store = options.location.open_store().await?;
    let root_key = crate::seal::open::open_for_operator(store.as_ref(), dir, false).await.map_err(setup("root key"))?;
    let root_key = crate::seal::generation::adopt(store.as_ref(), root_key).await.map_err(setup("root key"))?;
    let root_key = Arc::new(trent_crypto::LiveRootKey::new(root_key));
    let state = Arc::new(AppState {
        store,
        provider: Arc::new(trent_crypto::SoftwareProvider::new(root_key.clone())),
        root_key,
        clock: Arc::new(crate::clock::SystemClock { offset_millis: 0 }),
        auth: crate::state::AuthMode::Secure,
        usage: Default::default(),
        audit: Arc::new(crate::audit::Audit::none()),
        trusted_services: Vec::new(),
        key_stores: Arc::new(crate::keystores::runtime::KeyStoreRuntime::new(dir)),
        regions: Default::default(),
        sealer: std::sync::Weak::new(),
        throttle: None,
    });
    let q = Question {
        principal: options.principal,
        action: options.action,
        key_arn: options.key_arn,
        encryption_context: options.context.into_iter().collect(),
        condition_keys: options.condition.into_iter().collect(),
    };
    let answer = explain(state, &q).await.map_err(|e| ServeError::Setup(format!("{}: {}", e.code.name(), e.text())))?;
    let text = serde_json::to_string_pretty(&answer).map_err(|e| setup("printing the answer")(e.to_string()))?;
    println!("{text}");
    Ok(())
}
