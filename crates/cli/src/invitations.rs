//! `keyzone invitations …`: invitations of emails to sign up in a zone (a
//! Keyzone extension of the management API, `…/user-invitations`; see
//! docs/sign-in.md). A child module of `commands`, for its `Ctx`.

use super::{Ctx, Kind};
use crate::args::ListArgs;
use crate::Failure;
use clap::Subcommand;
use serde_json::{json, Map};

#[derive(Subcommand, Debug)]
pub enum InvitationCommand {
    /// List the zone's invitations (pending, accepted, expired).
    List(ListArgs),
    /// Invite an email. Prints the invitation with its link
    /// (invitation_url), which is mailed when the server has SMTP: the link
    /// is a secret, pass it only to the person invited.
    Create {
        /// The address to invite.
        email: String,
    },
    /// Revoke an invitation: its link stops working.
    Delete {
        /// The invitation's id.
        id: String,
    },
}

const INVITATIONS: Kind = Kind {
    singular: "invitation",
    segment: "user-invitations",
    columns: &[
        ("id", "id"),
        ("email", "email"),
        ("status", "status"),
        ("expires", "expires_at"),
    ],
};

pub(super) async fn run(ctx: Ctx, command: InvitationCommand) -> Result<(), Failure> {
    let k = &INVITATIONS;
    match command {
        InvitationCommand::List(page) => ctx.list(k, &ctx.zoned(&[k.segment]), vec![], &page).await,
        InvitationCommand::Create { email } => {
            let mut body = Map::new();
            body.insert("email".into(), json!(email));
            ctx.create(&ctx.zoned(&[k.segment]), body).await
        }
        InvitationCommand::Delete { id } => ctx.delete(k, &ctx.zoned(&[k.segment, &id]), &id).await,
    }
}
