//! The cutover steps for the container target, through `docker exec`:
//! Mailman 3 in Debian's places, owned by `list`; the hold switch and the
//! old host's refusal through files the image's exim reads
//! (containers/lists/exim4.conf).

use std::net::SocketAddr;
use std::time::Duration;

use super::containers::ContainersTarget;
use super::cutover::{self, Cutover, MailmanLayout, Permissions, QueueFolder, QueueSummary};
use super::through_shell::ServerPaths;
use super::TargetError;
use crate::BoxFuture;

/// The file whose domains the image's exim refuses at RCPT TO.
const REFUSE_FILE: &str = "/etc/exim4/mailflow-refuse-domains";

fn layout() -> MailmanLayout {
    MailmanLayout::Three { var_dir: ServerPaths::DEBIAN_MAILMAN_VAR_DIR.into(), user: "list".into() }
}

impl ContainersTarget {
    /// Names the old host whose SMTP addresses `expect_old_host` tries
    /// (for a second container playing it: its [`ContainersTarget::smtp_addr`]).
    pub fn set_old_host(&mut self, smtp: Vec<SocketAddr>) {
        self.old_smtp = smtp;
    }

    /// Makes this container's exim refuse (`true`) or take again mail for
    /// `domain` at RCPT TO, as an old host does once the lists moved away.
    pub async fn refuse_domain(&self, domain: &str, refuse: bool) -> Result<(), TargetError> {
        let script = r#"file=$1; domain=$2
touch "$file" && grep -vixF -- "$domain" "$file" > "$file.new"; mv "$file.new" "$file" || exit 1
if [ "$3" = yes ]; then printf '%s\n' "$domain" >> "$file"; fi
chmod 644 "$file""#;
        let flag = if refuse { "yes" } else { "no" };
        let (code, _, err) = self.exec(&["sh", "-c", script, "sh", REFUSE_FILE, domain, flag]).await?;
        if code != 0 {
            return Err(TargetError::Exec(format!("editing {REFUSE_FILE} (exit status {code}): {}", err.trim())));
        }
        Ok(())
    }
}

impl Cutover for ContainersTarget {
    fn mta_queue_summary(&self) -> BoxFuture<'_, Result<QueueSummary, TargetError>> {
        Box::pin(cutover::queue_summary(self))
    }

    fn mailman_queue_files<'a>(&'a self, names: &'a [String]) -> BoxFuture<'a, Result<Vec<QueueFolder>, TargetError>> {
        Box::pin(async move { cutover::queue_folders(self, &layout(), names).await })
    }

    fn held_counts(&self) -> BoxFuture<'_, Result<Vec<(String, u64)>, TargetError>> {
        Box::pin(cutover::held_counts_mm3(self))
    }

    fn permissions(&self) -> BoxFuture<'_, Result<Permissions, TargetError>> {
        Box::pin(async move { cutover::permissions(self, &layout()).await })
    }

    fn old_smtp(&self) -> Vec<SocketAddr> {
        self.old_smtp.clone()
    }

    fn set_hold<'a>(&'a self, domain: &'a str, hold: bool, deadline: Duration) -> BoxFuture<'a, Result<String, TargetError>> {
        Box::pin(async move {
            // The release's queue run may take longer than an ordinary exec.
            let runner = WithDeadline { target: self, deadline: deadline + Duration::from_secs(10) };
            cutover::set_hold(&runner, domain, hold, deadline).await
        })
    }
}

/// The container's shell with a longer deadline per command.
struct WithDeadline<'t> {
    target: &'t ContainersTarget,
    deadline: Duration,
}

impl super::Shell for WithDeadline<'_> {
    fn exec<'a>(&'a self, argv: &'a [&'a str]) -> BoxFuture<'a, Result<(i64, String, String), TargetError>> {
        Box::pin(self.target.exec_within(argv, self.deadline))
    }
}
