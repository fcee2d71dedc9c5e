//! IAM over the Query protocol: users, roles, managed and inline policies,
//! tags and access keys, for the subset of IAM a KMS deployment needs.
//! IAM is global: an account's users and roles are the same in every region.
//!
//! - [`entity`]: what IAM keeps about a user, role or policy, and its XML.
//! - [`access`]: who may call an IAM or STS action (identity policies).
//! - [`shared`]: what the user and role variants of an operation share.
//! - [`ops`]: one file per operation.
//!
//! Every operation answers the inner XML of its `<ActionResult>` element, or
//! `None` for the operations whose answer has no result.

pub mod access;
pub mod entity;
pub mod ops;
pub mod shared;

use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

/// The IAM actions Trent implements.
pub const ACTIONS: &[&str] = &[
    "AttachRolePolicy",
    "AttachUserPolicy",
    "CreateAccessKey",
    "CreatePolicy",
    "CreateRole",
    "CreateUser",
    "DeleteAccessKey",
    "DeletePolicy",
    "DeleteRole",
    "DeleteRolePolicy",
    "DeleteUser",
    "DeleteUserPolicy",
    "DetachRolePolicy",
    "DetachUserPolicy",
    "GetPolicy",
    "GetPolicyVersion",
    "GetRole",
    "GetRolePolicy",
    "GetUser",
    "GetUserPolicy",
    "ListAccessKeys",
    "ListAttachedRolePolicies",
    "ListAttachedUserPolicies",
    "ListPolicies",
    "ListRolePolicies",
    "ListRoleTags",
    "ListRoles",
    "ListUserPolicies",
    "ListUserTags",
    "ListUsers",
    "PutRolePolicy",
    "PutUserPolicy",
    "TagRole",
    "TagUser",
    "UntagRole",
    "UntagUser",
    "UpdateAccessKey",
    "UpdateAssumeRolePolicy",
];

pub async fn call(ctx: &Ctx, action: &str, p: &Params) -> Result<Option<String>, QueryError> {
    match action {
        "AttachRolePolicy" => ops::attach_role_policy::handle(ctx, p).await,
        "AttachUserPolicy" => ops::attach_user_policy::handle(ctx, p).await,
        "CreateAccessKey" => ops::create_access_key::handle(ctx, p).await,
        "CreatePolicy" => ops::create_policy::handle(ctx, p).await,
        "CreateRole" => ops::create_role::handle(ctx, p).await,
        "CreateUser" => ops::create_user::handle(ctx, p).await,
        "DeleteAccessKey" => ops::delete_access_key::handle(ctx, p).await,
        "DeletePolicy" => ops::delete_policy::handle(ctx, p).await,
        "DeleteRole" => ops::delete_role::handle(ctx, p).await,
        "DeleteRolePolicy" => ops::delete_role_policy::handle(ctx, p).await,
        "DeleteUser" => ops::delete_user::handle(ctx, p).await,
        "DeleteUserPolicy" => ops::delete_user_policy::handle(ctx, p).await,
        "DetachRolePolicy" => ops::detach_role_policy::handle(ctx, p).await,
        "DetachUserPolicy" => ops::detach_user_policy::handle(ctx, p).await,
        "GetPolicy" => ops::get_policy::handle(ctx, p).await,
        "GetPolicyVersion" => ops::get_policy_version::handle(ctx, p).await,
        "GetRole" => ops::get_role::handle(ctx, p).await,
        "GetRolePolicy" => ops::get_role_policy::handle(ctx, p).await,
        "GetUser" => ops::get_user::handle(ctx, p).await,
        "GetUserPolicy" => ops::get_user_policy::handle(ctx, p).await,
        "ListAccessKeys" => ops::list_access_keys::handle(ctx, p).await,
        "ListAttachedRolePolicies" => ops::list_attached_role_policies::handle(ctx, p).await,
        "ListAttachedUserPolicies" => ops::list_attached_user_policies::handle(ctx, p).await,
        "ListPolicies" => ops::list_policies::handle(ctx, p).await,
        "ListRolePolicies" => ops::list_role_policies::handle(ctx, p).await,
        "ListRoleTags" => ops::list_role_tags::handle(ctx, p).await,
        "ListRoles" => ops::list_roles::handle(ctx, p).await,
        "ListUserPolicies" => ops::list_user_policies::handle(ctx, p).await,
        "ListUserTags" => ops::list_user_tags::handle(ctx, p).await,
        "ListUsers" => ops::list_users::handle(ctx, p).await,
        "PutRolePolicy" => ops::put_role_policy::handle(ctx, p).await,
        "PutUserPolicy" => ops::put_user_policy::handle(ctx, p).await,
        "TagRole" => ops::tag_role::handle(ctx, p).await,
        "TagUser" => ops::tag_user::handle(ctx, p).await,
        "UntagRole" => ops::untag_role::handle(ctx, p).await,
        "UntagUser" => ops::untag_user::handle(ctx, p).await,
        "UpdateAccessKey" => ops::update_access_key::handle(ctx, p).await,
        "UpdateAssumeRolePolicy" => ops::update_assume_role_policy::handle(ctx, p).await,
        other => Err(QueryError::new(crate::query::error::QueryCode::InvalidAction, format!("Could not find operation {other} for version 2010-05-08"))),
    }
}

/// `UserName` -> `userName`, as IAM's validation messages name parameters.
pub(crate) fn lower(name: &str) -> String {
    crate::query::form::lower_first(name)
}
