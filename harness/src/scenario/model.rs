//! The validated values a suite and its scenarios compile into.
//!
//! Everything here has passed validation: addresses are well formed, lists
//! are resolved to full addresses, defaults are filled in. The runner never
//! needs to look at TOML again.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A position in a scenario or suite file; line and column are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// The suite file: the lists under test and where probe addresses live.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    pub path: PathBuf,
    pub probe_domain: String,
    pub lists: Vec<ListDecl>,
}

impl Suite {
    /// Finds a declared list by its name (`probe-test`) or its full address
    /// (`probe-test@lists.example.test`); both compare case-insensitively,
    /// as Mailman lowercases list names and domains.
    pub fn list(&self, name_or_address: &str) -> Option<&ListDecl> {
        let wanted = name_or_address;
        if wanted.contains('@') {
            self.lists
                .iter()
                .find(|list| list.address().eq_ignore_ascii_case(wanted))
        } else {
            self.lists
                .iter()
                .find(|list| list.name.eq_ignore_ascii_case(wanted))
        }
    }
}

/// One mailing list the suite expects on the server, with its members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListDecl {
    pub name: String,
    pub domain: String,
    pub members: Vec<String>,
    /// Members whose posts are held (`moderation_action = hold`); each is
    /// also in `members`.
    pub moderated: Vec<String>,
    /// Configuration applied through Mailman's REST API when the target is
    /// prepared; a key not written keeps Mailman's default.
    pub settings: ListSettings,
    /// Archivers switched on (`true`) or off for the list, by the name
    /// Mailman gives them (`hyperkitty`, `prototype`, `mail-archive`, ...).
    pub archivers: Vec<Setting>,
    /// Members whose delivery is not regular (digests, or disabled), each
    /// also in `members`; the others get every post as it is sent.
    pub delivery: Vec<(String, DeliveryMode)>,
    /// Owners (role `owner`): at probe-domain addresses, their notices are
    /// observed in the mailbox.
    pub owners: Vec<String>,
    /// Moderators (role `moderator`).
    pub moderators: Vec<String>,
}

/// What Mailman does with a post (`default_member_action`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostAction {
    Accept,
    Hold,
    Reject,
    Discard,
    Defer,
}

impl PostAction {
    pub const ALL: [PostAction; 5] = [
        PostAction::Accept,
        PostAction::Hold,
        PostAction::Reject,
        PostAction::Discard,
        PostAction::Defer,
    ];

    /// The name used in suite files and by Mailman's REST API.
    pub fn as_str(self) -> &'static str {
        match self {
            PostAction::Accept => "accept",
            PostAction::Hold => "hold",
            PostAction::Reject => "reject",
            PostAction::Discard => "discard",
            PostAction::Defer => "defer",
        }
    }
}

/// What a list does with a post whose sender's domain publishes a DMARC
/// policy of reject or quarantine (`dmarc_mitigate_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmarcAction {
    NoMitigation,
    /// Rewrite From to the list's address (the sender goes to Reply-To or Cc).
    MungeFrom,
    /// Send the post wrapped in a message from the list.
    WrapMessage,
    Reject,
    Discard,
}

impl DmarcAction {
    pub const ALL: [DmarcAction; 5] =
        [DmarcAction::NoMitigation, DmarcAction::MungeFrom, DmarcAction::WrapMessage, DmarcAction::Reject, DmarcAction::Discard];

    /// The name used in suite files and by Mailman's REST API.
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcAction::NoMitigation => "no_mitigation",
            DmarcAction::MungeFrom => "munge_from",
            DmarcAction::WrapMessage => "wrap_message",
            DmarcAction::Reject => "reject",
            DmarcAction::Discard => "discard",
        }
    }
}

/// List settings from `[list.settings]`: every key written, in file order.
/// Keys mailflow knows (`default_member_action`, `archive_policy`,
/// `max_num_recipients`, ...) were checked for type and value when the
/// suite was read; any other key of Mailman's list configuration is checked
/// by the server when the target applies it (or compares it, on real hosts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSettings {
    pub values: Vec<Setting>,
}

/// One list setting: a key of Mailman 3's list configuration
/// (`/3.1/lists/<id>/config`), or of its archivers (`/3.1/lists/<id>/archivers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: SettingValue,
    /// Where the value is written, for errors the server gives about it.
    pub at: Location,
}

/// A setting's value as written in the suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    Bool(bool),
    Integer(i64),
    Text(String),
    /// A list of strings (e.g. `acceptable_aliases`); sent as the key repeated.
    List(Vec<String>),
}

impl SettingValue {
    /// The value as form values of a REST call: one per item of a list.
    pub fn form_values(&self) -> Vec<String> {
        match self {
            SettingValue::Bool(b) => vec![if *b { "true" } else { "false" }.to_string()],
            SettingValue::Integer(n) => vec![n.to_string()],
            SettingValue::Text(t) => vec![t.clone()],
            SettingValue::List(items) => items.clone(),
        }
    }

    /// Whether Mailman's JSON value for the key (from `GET .../config`)
    /// says the same. Strings compare exactly; numbers as numbers; Mailman
    /// answers booleans as JSON booleans and lists as arrays.
    pub fn matches(&self, json: &serde_json::Value) -> bool {
        use serde_json::Value as J;
        match (self, json) {
            (SettingValue::Bool(b), J::Bool(j)) => b == j,
            (SettingValue::Integer(n), J::Number(j)) => j.as_i64() == Some(*n),
            (SettingValue::Integer(n), J::String(j)) => j.trim() == n.to_string(),
            (SettingValue::Text(t), J::String(j)) => t == j,
            (SettingValue::Text(t), J::Null) => t.is_empty(),
            (SettingValue::List(items), J::Array(js)) => {
                items.len() == js.len() && items.iter().zip(js).all(|(i, j)| j.as_str() == Some(i.as_str()))
            }
            _ => false,
        }
    }
}

impl fmt::Display for SettingValue {
    /// As a suite file writes it: `true`, `3`, `"private"`, `["a", "b"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::Bool(b) => write!(f, "{b}"),
            SettingValue::Integer(n) => write!(f, "{n}"),
            SettingValue::Text(t) => write!(f, "{t:?}"),
            SettingValue::List(items) => write!(f, "{items:?}"),
        }
    }
}

impl ListSettings {
    /// The settings as `PATCH /3.1/lists/<id>/config` form values, in file
    /// order; a list value repeats its key.
    pub fn rest_values(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .flat_map(|s| s.value.form_values().into_iter().map(|v| (s.key.clone(), v)))
            .collect()
    }

    /// The setting written for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.values.iter().find(|s| s.key == key)
    }
}

/// How a member gets the list's posts (Mailman's `delivery_mode`, or
/// delivery switched off: `delivery_status = by_user`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryMode {
    Regular,
    MimeDigests,
    PlaintextDigests,
    SummaryDigests,
    /// No mail ("nomail"): delivery disabled by the member.
    Disabled,
}

impl DeliveryMode {
    pub const ALL: [DeliveryMode; 5] =
        [DeliveryMode::Regular, DeliveryMode::MimeDigests, DeliveryMode::PlaintextDigests, DeliveryMode::SummaryDigests, DeliveryMode::Disabled];

    /// The name in suite files; Mailman's `delivery_mode` value but for `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMode::Regular => "regular",
            DeliveryMode::MimeDigests => "mime_digests",
            DeliveryMode::PlaintextDigests => "plaintext_digests",
            DeliveryMode::SummaryDigests => "summary_digests",
            DeliveryMode::Disabled => "disabled",
        }
    }

    /// A digest mode: the member gets the post in the list's digest.
    pub fn is_digest(self) -> bool {
        matches!(self, DeliveryMode::MimeDigests | DeliveryMode::PlaintextDigests | DeliveryMode::SummaryDigests)
    }
}

impl ListDecl {
    /// How `address` gets posts: regular unless the suite says otherwise.
    pub fn delivery_of(&self, address: &str) -> DeliveryMode {
        self.delivery.iter().find(|(a, _)| a.eq_ignore_ascii_case(address)).map(|(_, m)| *m).unwrap_or(DeliveryMode::Regular)
    }

    /// The members who get each post as it is sent.
    pub fn regular_members(&self) -> Vec<String> {
        self.members.iter().filter(|m| self.delivery_of(m) == DeliveryMode::Regular).cloned().collect()
    }

    /// The members who must not get a post as it is sent (digest or no mail).
    pub fn not_regular_members(&self) -> Vec<String> {
        self.members.iter().filter(|m| self.delivery_of(m) != DeliveryMode::Regular).cloned().collect()
    }

    /// The members who get the list's digest.
    pub fn digest_members(&self) -> Vec<String> {
        self.members.iter().filter(|m| self.delivery_of(m).is_digest()).cloned().collect()
    }

    /// The posting address, `name@domain`.
    pub fn address(&self) -> String {
        format!("{}@{}", self.name, self.domain)
    }

    /// Mailman 3's list id, `name.domain` (also the `List-Id` header's value).
    pub fn list_id(&self) -> String {
        format!("{}.{}", self.name, self.domain)
    }
}

/// One scenario file: a name and its steps in execution order.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub path: PathBuf,
    pub name: String,
    /// The scenario's default list, as a full address.
    pub list: Option<String>,
    pub steps: Vec<Step>,
}

/// One action or expectation. A `[[step]]` table with several keys yields
/// several steps that share its `group`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1-based index of the `[[step]]` table this step came from.
    pub group: usize,
    /// Where the step's key is written.
    pub location: Location,
    pub kind: StepKind,
}

impl Step {
    /// A short name for reports, e.g. `step 2 expect_delivered`.
    pub fn label(&self) -> String {
        format!("step {} {}", self.group, self.kind.key())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    Send(SendSpec),
    ExpectSmtp(SmtpExpectation),
    ExpectDelivered(DeliveryExpectation),
    ExpectArchived(ArchiveExpectation),
    SendRaw(RawSendSpec),
    ExpectHeld(HeldExpectation),
    Moderate(Moderation),
    ExpectNotDelivered(Window),
    ExpectNotArchived(NotArchivedExpectation),
    ExpectNotice(NoticeExpectation),
    ExpectShunted(Window),
    ExpectBounced(BounceExpectation),
    ExpectFate(FateExpectation),
    ExpectPage(PageExpectation),
    ExpectPrivate(PrivateExpectation),
    ExpectDigest(DigestExpectation),
    ExpectSettings(SettingsExpectation),
    ExpectPort(PortExpectation),
    ExpectPorts(super::ports::PortsExpectation),
    ExpectHttp(HttpExpectation),
    ExpectDns(DnsExpectation),
    Stop(super::faults::Service),
    Start(super::faults::Service),
    MtaQueueRun(super::faults::QueueRun),
    ExpectQueued(super::faults::QueuedExpectation),
    SinkFault(super::faults::SinkFault),
    ExpectEveryListAnswers(super::sweep::EveryListExpectation),
    ExpectMtaQueue(super::cutover::MtaQueueExpectation),
    ExpectMailmanQueues(super::cutover::MailmanQueuesExpectation),
    ExpectDnsTtl(super::cutover::DnsTtlExpectation),
    ExpectBanner(super::cutover::BannerExpectation),
    ExpectOldHost(super::cutover::OldHostExpectation),
    ExpectPermissionsClean,
    /// A domain whose mail exim holds in its queue from now on.
    MtaHold(String),
    /// A held domain released, and a forced queue run.
    MtaRelease(String),
}

impl StepKind {
    /// Whether the step changes the list server for everyone (stops a
    /// service, changes the sink's answers): its scenario runs alone.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            StepKind::Stop(_) | StepKind::Start(_) | StepKind::MtaQueueRun(_) | StepKind::SinkFault(_) | StepKind::MtaHold(_) | StepKind::MtaRelease(_)
        )
    }


    /// The TOML key this step is written with.
    pub fn key(&self) -> &'static str {
        match self {
            StepKind::Send(_) => "send",
            StepKind::ExpectSmtp(_) => "expect_smtp",
            StepKind::ExpectDelivered(_) => "expect_delivered",
            StepKind::ExpectArchived(_) => "expect_archived",
            StepKind::SendRaw(_) => "send_raw",
            StepKind::ExpectHeld(_) => "expect_held",
            StepKind::Moderate(_) => "moderate",
            StepKind::ExpectNotDelivered(_) => "expect_not_delivered",
            StepKind::ExpectNotArchived(_) => "expect_not_archived",
            StepKind::ExpectNotice(_) => "expect_notice",
            StepKind::ExpectShunted(_) => "expect_shunted",
            StepKind::ExpectBounced(_) => "expect_bounced",
            StepKind::ExpectFate(_) => "expect_fate",
            StepKind::ExpectPage(_) => "expect_page",
            StepKind::ExpectPrivate(_) => "expect_private",
            StepKind::ExpectDigest(_) => "expect_digest",
            StepKind::ExpectSettings(_) => "expect_settings",
            StepKind::ExpectPort(_) => "expect_port",
            StepKind::ExpectPorts(_) => "expect_ports",
            StepKind::ExpectHttp(_) => "expect_http",
            StepKind::ExpectDns(_) => "expect_dns",
            StepKind::Stop(_) => "stop",
            StepKind::Start(_) => "start",
            StepKind::MtaQueueRun(_) => "mta_queue_run",
            StepKind::ExpectQueued(_) => "expect_queued",
            StepKind::SinkFault(_) => "sink_fault",
            StepKind::ExpectEveryListAnswers(_) => "expect_every_list_answers",
            StepKind::ExpectMtaQueue(_) => "expect_mta_queue",
            StepKind::ExpectMailmanQueues(_) => "expect_mailman_queues",
            StepKind::ExpectDnsTtl(_) => "expect_dns_ttl",
            StepKind::ExpectBanner(_) => "expect_banner",
            StepKind::ExpectOldHost(_) => "expect_old_host",
            StepKind::ExpectPermissionsClean => "expect_permissions_clean",
            StepKind::MtaHold(_) => "mta_hold",
            StepKind::MtaRelease(_) => "mta_release",
        }
    }
}

/// A probe message to submit over SMTP.
///
/// Every text that becomes part of a header (addresses, subject, header
/// names and values, attachment names and types) was checked when the file
/// was loaded: one line, no NUL, header names of RFC 5322 `ftext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendSpec {
    /// Envelope sender and `From:` header: a bare address.
    pub from: String,
    /// Envelope recipients and `To:` header; never empty.
    pub to: Vec<String>,
    /// The Subject, unencoded (the probe builder encodes and folds it).
    pub subject: String,
    /// The text body; without it the probe says its own Message-ID.
    pub body: Option<String>,
    /// Extra headers in source order. Never contains Message-ID: the harness
    /// sets exactly one itself.
    pub headers: Vec<(String, String)>,
    /// Generated attachments, in source order; with any, the probe is
    /// `multipart/mixed` (the text body first).
    pub attachments: Vec<Attachment>,
}

/// An attachment of generated content, for size-limit and content-filter
/// scenarios.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name (`Content-Disposition: attachment; filename=...`).
    pub name: String,
    /// The MIME type, `type/subtype` without parameters; written as
    /// `application/octet-stream` when the file does not say.
    pub content_type: String,
    /// The content's size in bytes, before transfer encoding. On the wire
    /// base64 makes it about 37% larger (76 characters and CRLF for every
    /// 57 bytes); `text/*` content stays near its size.
    pub size: u64,
}

/// The most bytes one attachment may have: 100 MB (100 × 1024 × 1024).
pub const MAX_ATTACHMENT_SIZE: u64 = 100 * 1024 * 1024;

/// The SMTP reply an expectation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmtpStage {
    Connect,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    /// The reply after the message body's final dot.
    Message,
}

impl SmtpStage {
    pub const ALL: [SmtpStage; 6] = [
        SmtpStage::Connect,
        SmtpStage::Ehlo,
        SmtpStage::Mail,
        SmtpStage::Rcpt,
        SmtpStage::Data,
        SmtpStage::Message,
    ];

    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpStage::Connect => "connect",
            SmtpStage::Ehlo => "ehlo",
            SmtpStage::Mail => "mail",
            SmtpStage::Rcpt => "rcpt",
            SmtpStage::Data => "data",
            SmtpStage::Message => "message",
        }
    }
}

impl fmt::Display for SmtpStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An expected SMTP reply to the most recent `send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpExpectation {
    pub code: u16,
    pub text_contains: Option<String>,
    /// `None`: the transaction's final reply (the first that was not a
    /// success, or else the last one).
    pub at: Option<SmtpStage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderExpectation {
    /// Present, and its value contains this text.
    Contains(String),
    Present,
    Absent,
}

/// The most recent probe reaches these recipients through the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryExpectation {
    /// Never empty.
    pub to: Vec<String>,
    /// Members who must get no copy of the post as sent: those whose
    /// delivery is disabled or a digest (unless named in `to`).
    pub not_to: Vec<String>,
    pub headers: Vec<(String, HeaderExpectation)>,
    pub within: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    /// Mailman 3's prototype archiver (a maildir per list).
    Prototype,
    /// HyperKitty, read over HTTP (JSON API and message page).
    HyperKitty,
    /// Mailman 2.1's pipermail, read over HTTP (the month's text file and
    /// the message page).
    Pipermail,
}

impl ArchiveKind {
    pub const ALL: [ArchiveKind; 3] = [ArchiveKind::Prototype, ArchiveKind::HyperKitty, ArchiveKind::Pipermail];

    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveKind::Prototype => "prototype",
            ArchiveKind::HyperKitty => "hyperkitty",
            ArchiveKind::Pipermail => "pipermail",
        }
    }
}

impl fmt::Display for ArchiveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most recent probe shows up in a list's archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveExpectation {
    /// The list's full address.
    pub list: String,
    pub archive: ArchiveKind,
    pub within: Duration,
}

/// A message sent exactly as written (`send_raw`). Every `{message_id}` in
/// `data` is replaced by the probe's own Message-ID (with angle brackets),
/// and `{probe_header}` by the probe header (`X-Mailflow-Probe: ...`):
/// that is how the harness recognises the message later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSendSpec {
    pub from: String,
    /// Envelope recipients; never empty.
    pub to: Vec<String>,
    /// Contains `{message_id}`, or `{probe_header}` on a line of its own in
    /// the header section (at most once), or both.
    pub data: String,
}

/// The placeholder in `send_raw.data` for the probe's Message-ID.
pub const MESSAGE_ID_PLACEHOLDER: &str = "{message_id}";

/// The placeholder in `send_raw.data` for the probe header line
/// (`X-Mailflow-Probe: run=...; probe=...`), which follows the probe when
/// its Message-ID is odd, empty or missing.
pub const PROBE_HEADER_PLACEHOLDER: &str = "{probe_header}";

/// Where a probe ended (DESIGN.md, "Every probe has a fate"): exactly one
/// of these, for `expect_fate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fate {
    /// The MTA refused it during the SMTP conversation.
    Refused,
    /// A copy reached a subscriber.
    Delivered,
    /// Held for moderation.
    Held,
    /// Mailman moved it to its shunt queue.
    Shunted,
    /// Accepted, then a delivery status notification reached the sender.
    Bounced,
    /// None of the above within the deadline.
    Lost,
}

impl Fate {
    pub const ALL: [Fate; 6] = [Fate::Refused, Fate::Delivered, Fate::Held, Fate::Shunted, Fate::Bounced, Fate::Lost];

    /// The word used in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::Refused => "refused",
            Fate::Delivered => "delivered",
            Fate::Held => "held",
            Fate::Shunted => "shunted",
            Fate::Bounced => "bounced",
            Fate::Lost => "lost",
        }
    }

    /// A fate that cannot turn into another one on its own: refused,
    /// delivered, shunted and bounced. A held probe waits for a moderator,
    /// a lost one may still turn up.
    pub fn is_final(self) -> bool {
        matches!(self, Fate::Refused | Fate::Delivered | Fate::Shunted | Fate::Bounced)
    }
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most recent probe ends in `fate` within `within` of sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FateExpectation {
    pub fate: Fate,
    pub within: Duration,
}

/// An enhanced status code (RFC 3463) a bounce must carry: a class (`5`),
/// or `class.subject.detail` where subject and detail may be `x` (any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusPattern {
    /// 2, 4 or 5.
    pub class: u8,
    /// `None`: any subject (`x`, or a class alone).
    pub subject: Option<u16>,
    /// `None`: any detail.
    pub detail: Option<u16>,
}

impl StatusPattern {
    /// Whether an enhanced status code like `5.6.0` fits the pattern.
    pub fn matches(&self, code: &str) -> bool {
        let mut parts = code.trim().split('.');
        let (Some(class), Some(subject), Some(detail), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let fits = |want: Option<u16>, got: &str| want.is_none_or(|w| got.parse::<u16>().ok() == Some(w));
        class.parse::<u8>().ok() == Some(self.class) && fits(self.subject, subject) && fits(self.detail, detail)
    }
}

impl fmt::Display for StatusPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |p: Option<u16>| p.map_or("x".to_string(), |n| n.to_string());
        match (self.subject, self.detail) {
            (None, None) => write!(f, "{}.x.x", self.class),
            (s, d) => write!(f, "{}.{}.{}", self.class, part(s), part(d)),
        }
    }
}

/// A delivery status notification about the most recent probe reaches its
/// sender within `within`: accepted with 250, then bounced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceExpectation {
    pub status: Option<StatusPattern>,
    /// A substring of the DSN's diagnostic (its `Diagnostic-Code`, or the
    /// MTA's explanation when it has none).
    pub diagnostic_contains: Option<String>,
    pub within: Duration,
}

/// The most recent probe is held for moderation on `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldExpectation {
    /// The list's full address.
    pub list: String,
    /// A substring of Mailman's hold reason.
    pub reason_contains: Option<String>,
    pub within: Duration,
}

/// A moderator's decision on a held message (Mailman 3's REST actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModerationAction {
    Accept,
    Discard,
    Reject,
    Defer,
}

impl ModerationAction {
    pub const ALL: [ModerationAction; 4] = [
        ModerationAction::Accept,
        ModerationAction::Discard,
        ModerationAction::Reject,
        ModerationAction::Defer,
    ];

    /// The name used in scenario files and by Mailman's REST API.
    pub fn as_str(self) -> &'static str {
        match self {
            ModerationAction::Accept => "accept",
            ModerationAction::Discard => "discard",
            ModerationAction::Reject => "reject",
            ModerationAction::Defer => "defer",
        }
    }
}

impl fmt::Display for ModerationAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Moderate the most recent probe, held on `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moderation {
    /// The list's full address.
    pub list: String,
    pub action: ModerationAction,
    /// The reason given to the sender; only with `reject`.
    pub comment: Option<String>,
    /// How long to wait for the probe to be held.
    pub within: Duration,
}

/// A window in which something must not happen (or must happen), counted
/// from the start of the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub within: Duration,
}

/// A message to `to` about the most recent probe (a hold or rejection
/// notice) reaches the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeExpectation {
    /// Each must get one; empty: the probe's sender.
    pub to: Vec<String>,
    /// `owner` or `moderator` when `to` was written as a role: `to` then
    /// holds the list's owners or moderators from the suite.
    pub role: Option<String>,
    pub subject_contains: Option<String>,
    /// A substring of the notice's text (any text part).
    pub body_contains: Option<String>,
    pub within: Duration,
}

/// The most recent probe is in the list's private HyperKitty archive, seen
/// there by a member who is logged in, and by no anonymous visitor through
/// any way in (list page, message page, JSON API, mbox export, search,
/// Postorius' list page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateExpectation {
    /// The list's full address.
    pub list: String,
    /// The member whose web account sees the probe (default: the probe's
    /// sender); a member of the list in the suite.
    pub member: String,
    /// For the member to see it, counted from sending.
    pub within: Duration,
}

/// The list's digest is sent now (through the target's shell) and reaches
/// each of `to` with the most recent probe in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestExpectation {
    /// The list's id, `name.domain`.
    pub list_id: String,
    /// Default: the list's digest members from the suite; never empty.
    pub to: Vec<String>,
    /// Counted from the step's start.
    pub within: Duration,
}

/// The list's settings and archivers on the server are those the suite
/// declares for it (read through Mailman's REST API; changes nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsExpectation {
    /// The list's full address.
    pub list: String,
}

/// Everything a run needs: the suite and its scenarios, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub suite: Suite,
    pub scenarios: Vec<Scenario>,
}

/// The most recent probe does not show up in any of these archives of a
/// list before `within` has passed since it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotArchivedExpectation {
    /// The list's full address.
    pub list: String,
    /// Never empty; without `archive` in the file, every kind.
    pub archives: Vec<ArchiveKind>,
    pub within: Duration,
}

/// A named web page of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageKind {
    /// Postorius' list information (summary) page.
    ListInfo,
    /// HyperKitty's archive index of the list.
    ArchiveIndex,
    /// Mailman 2.1's list information page (`/mailman/listinfo/<list>`).
    Mailman21Listinfo,
    /// Mailman 2.1's public archive index (`/pipermail/<list>/`).
    PipermailIndex,
}

impl PageKind {
    pub const ALL: [PageKind; 4] = [PageKind::ListInfo, PageKind::ArchiveIndex, PageKind::Mailman21Listinfo, PageKind::PipermailIndex];

    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            PageKind::ListInfo => "list-info",
            PageKind::ArchiveIndex => "archive-index",
            PageKind::Mailman21Listinfo => "listinfo",
            PageKind::PipermailIndex => "pipermail-index",
        }
    }
}

impl fmt::Display for PageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A list's page answers with `status` and, when given, a body containing
/// `body_contains`, within `within` of the step's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageExpectation {
    /// The list's full address.
    pub list: String,
    pub page: PageKind,
    pub status: u16,
    pub body_contains: Option<String>,
    pub within: Duration,
}

/// The transport protocol of a reachability check. Only TCP for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
}

impl Protocol {
    pub const ALL: [Protocol; 1] = [Protocol::Tcp];

    /// The name used in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a connection attempt to a port finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortState {
    /// The connection was made.
    Open,
    /// The host answered with a reset: reachable, nothing listens (or a
    /// firewall rejects).
    Refused,
    /// No answer within the deadline: a firewall drops the packets.
    Filtered,
}

impl PortState {
    pub const ALL: [PortState; 3] = [PortState::Open, PortState::Refused, PortState::Filtered];

    /// The name used in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Refused => "refused",
            PortState::Filtered => "filtered",
        }
    }
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port of the lists host, tried from a vantage point, is in this state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortExpectation {
    pub port: u16,
    pub protocol: Protocol,
    /// A vantage point's name (`outside`, `inside`, `bastion`, `old-host`);
    /// checked against what the target offers when the step runs.
    pub vantage: String,
    pub verdict: PortState,
    /// How long a connection attempt may take; no answer by then is `filtered`.
    pub within: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub const ALL: [Scheme; 2] = [Scheme::Http, Scheme::Https];

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A GET of a path on the lists host's web server answers like this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpExpectation {
    pub scheme: Scheme,
    /// Starts with `/`; may carry a query.
    pub path: String,
    pub status: u16,
    pub body_contains: Option<String>,
    /// Where the `Location` header points, relative (`/hyperkitty/`) or absolute.
    pub redirect_to: Option<String>,
    /// Requests are repeated until one matches or this much time has passed.
    pub within: Duration,
}

/// The record types `expect_dns` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsType {
    A,
    Aaaa,
    Mx,
    Txt,
}

impl DnsType {
    pub const ALL: [DnsType; 4] = [DnsType::A, DnsType::Aaaa, DnsType::Mx, DnsType::Txt];

    pub fn as_str(self) -> &'static str {
        match self {
            DnsType::A => "A",
            DnsType::Aaaa => "AAAA",
            DnsType::Mx => "MX",
            DnsType::Txt => "TXT",
        }
    }
}

impl fmt::Display for DnsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name's records of one type, asked of a named DNS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsExpectation {
    /// Fully qualified, without the final dot.
    pub name: String,
    pub rtype: DnsType,
    /// The answer holds exactly these values (in any order), written as in a
    /// zone file: `192.0.2.25`, `10 lists.example.test`, `v=spf1 mx -all`.
    /// `None`: any non-empty answer.
    pub values: Option<Vec<String>>,
    /// Every record's TTL is at most this many seconds.
    pub ttl_at_most: Option<u32>,
    /// `IP` or `IP:port`; `None`: the target's own DNS server.
    pub server: Option<std::net::SocketAddr>,
    pub within: Duration,
}
