//! The ticket desk's state machine and recognition, with an in-memory
//! ledger that keeps the DynamoDB ledger's rules (the real one is exercised
//! on the emulator with HTTP stand-ins in tools/devstack/tests/tickets.rs).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use community_aws::AwsError;
use community_aws::recognition::{Claim, Recognitions};
use community_aws::tickets::{
    self as ledger, LedgerTicket, RequestState, TicketLedger, TicketPlan, TicketRequest,
};
use time::OffsetDateTime;
use trackers::{SinkError, TicketDraft, TicketRef, TicketSink, Tracker};

use super::*;

#[derive(Default)]
pub(super) struct MemoryTickets {
    requests: Mutex<HashMap<String, TicketRequest>>,
    tickets: Mutex<HashMap<String, LedgerTicket>>,
    threads: Mutex<HashMap<String, String>>,
    telling: Mutex<BTreeSet<String>>,
}

impl MemoryTickets {
    /// What route's store writes with a product-backlog event.
    fn pending(&self, event: &CanonicalEvent) {
        let request = TicketRequest {
            event_id: event.event_id.to_string(),
            state: RequestState::Pending,
            title: community_aws::outbox::ticket_title(event),
            category: event
                .classification
                .as_ref()
                .map(|c| c.category.as_str().to_owned()),
            member_id: event.user_id.clone(),
            reporter: event.actor.handle.clone(),
            platform: event.platform.as_str().to_owned(),
            source_url: event.source.url.clone(),
            excerpt: event.content.excerpt.clone(),
            signal_score: event.signal_score,
            reasons: Vec::new(),
            labels: Vec::new(),
            reported_at: event.timestamp,
            thread_key: event.source.thread_id.as_ref().map(|t| {
                community_aws::memory::thread_key(
                    event.platform.as_str(),
                    event.source.repository.as_deref().unwrap_or(""),
                    t,
                )
            }),
            reply: event.event_type.is_reply(),
        };
        self.requests
            .lock()
            .unwrap()
            .entry(request.event_id.clone())
            .or_insert(request);
    }

    fn state(&self, event_id: &str) -> RequestState {
        self.requests.lock().unwrap()[event_id].state.clone()
    }
}

#[async_trait]
impl TicketLedger for MemoryTickets {
    async fn request(&self, event_id: &str) -> Result<Option<TicketRequest>, AwsError> {
        Ok(self.requests.lock().unwrap().get(event_id).cloned())
    }
    async fn open_tickets(
        &self,
        category: &str,
        _limit: i32,
    ) -> Result<Vec<LedgerTicket>, AwsError> {
        let mut open: Vec<LedgerTicket> = self
            .tickets
            .lock()
            .unwrap()
            .values()
            .filter(|t| t.open && t.category == category)
            .cloned()
            .collect();
        open.sort_by_key(|t| std::cmp::Reverse(t.first_report_at));
        Ok(open)
    }
    async fn ticket(&self, pk: &str) -> Result<Option<LedgerTicket>, AwsError> {
        Ok(self.tickets.lock().unwrap().get(pk).cloned())
    }
    async fn thread_ticket(&self, thread_key: &str) -> Result<Option<String>, AwsError> {
        Ok(self.threads.lock().unwrap().get(thread_key).cloned())
    }
    async fn begin(
        &self,
        event_id: &str,
        plan: &TicketPlan,
        now: OffsetDateTime,
    ) -> Result<bool, AwsError> {
        let mut requests = self.requests.lock().unwrap();
        let request = requests.get_mut(event_id).unwrap();
        if request.state != RequestState::Pending {
            return Ok(false);
        }
        request.state = RequestState::Attempting {
            plan: plan.clone(),
            since: now,
        };
        Ok(true)
    }
    async fn complete(
        &self,
        request: &TicketRequest,
        ticket: &ledger::TicketRef,
        plan: &TicketPlan,
        _now: OffsetDateTime,
    ) -> Result<(), AwsError> {
        let pk = ledger::ticket_pk(&ticket.tracker, &ticket.id);
        let mut requests = self.requests.lock().unwrap();
        let stored = requests.get_mut(&request.event_id).unwrap();
        if matches!(stored.state, RequestState::Complete { .. }) {
            return Ok(());
        }
        stored.state = RequestState::Complete {
            ticket_pk: pk.clone(),
        };
        if let (TicketPlan::Create, Some(thread)) = (plan, &request.thread_key) {
            self.threads
                .lock()
                .unwrap()
                .entry(thread.clone())
                .or_insert_with(|| pk.clone());
        }
        let mut tickets = self.tickets.lock().unwrap();
        let entry = tickets.entry(pk.clone()).or_insert_with(|| {
            assert_eq!(
                *plan,
                TicketPlan::Create,
                "joined a ticket that is not in the ledger"
            );
            LedgerTicket {
                pk,
                ticket: ticket.clone(),
                title: request.title.clone(),
                category: request.category.clone().unwrap_or_default(),
                open: true,
                askers: BTreeSet::new(),
                reporter_handles: BTreeSet::new(),
                first_report_at: request.reported_at,
                resolved_at: None,
                resolution_seconds: None,
                reporters_told: false,
            }
        });
        entry.askers.insert(request.member_id.clone());
        entry.reporter_handles.insert(request.reporter.clone());
        Ok(())
    }
    async fn settle(
        &self,
        event_id: &str,
        ticket_pk: &str,
        _now: OffsetDateTime,
    ) -> Result<(), AwsError> {
        let mut requests = self.requests.lock().unwrap();
        let request = requests.get_mut(event_id).unwrap();
        if !matches!(request.state, RequestState::Complete { .. }) {
            request.state = RequestState::Complete {
                ticket_pk: ticket_pk.to_owned(),
            };
        }
        Ok(())
    }
    async fn fail(
        &self,
        event_id: &str,
        reason: &str,
        _now: OffsetDateTime,
    ) -> Result<(), AwsError> {
        let mut requests = self.requests.lock().unwrap();
        let request = requests.get_mut(event_id).unwrap();
        if let RequestState::Attempting { plan, since } = request.state.clone() {
            request.state = RequestState::Failed {
                plan,
                since,
                reason: reason.to_owned(),
            };
        }
        Ok(())
    }
    async fn resolve(
        &self,
        tracker: &str,
        ticket_id: &str,
        resolved_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> Result<Option<LedgerTicket>, AwsError> {
        let mut tickets = self.tickets.lock().unwrap();
        let Some(ticket) = tickets.get_mut(&ledger::ticket_pk(tracker, ticket_id)) else {
            return Ok(None);
        };
        if ticket.open {
            ticket.open = false;
            ticket.resolved_at = Some(resolved_at);
            ticket.resolution_seconds =
                Some((resolved_at - ticket.first_report_at).whole_seconds());
        }
        Ok((!ticket.reporters_told).then(|| ticket.clone()))
    }
    async fn begin_telling(&self, pk: &str, _now: OffsetDateTime) -> Result<bool, AwsError> {
        let mut telling = self.telling.lock().unwrap();
        let told = self.tickets.lock().unwrap()[pk].reporters_told;
        Ok(!told && telling.insert(pk.to_owned()))
    }
    async fn not_told(&self, pk: &str) -> Result<(), AwsError> {
        self.telling.lock().unwrap().remove(pk);
        Ok(())
    }
    async fn reporters_told(&self, pk: &str, _now: OffsetDateTime) -> Result<(), AwsError> {
        self.tickets
            .lock()
            .unwrap()
            .get_mut(pk)
            .unwrap()
            .reporters_told = true;
        Ok(())
    }
}

#[derive(Default)]
pub(super) struct MemoryRecognitions {
    statuses: Mutex<HashMap<String, String>>,
    last: Mutex<HashMap<String, OffsetDateTime>>,
    /// Pending milestone claims' texts, and the settled ids.
    pub(super) texts: Mutex<HashMap<String, String>>,
    pub(super) settled: Mutex<BTreeSet<String>>,
}

#[async_trait]
impl Recognitions for MemoryRecognitions {
    async fn claim(
        &self,
        member_id: &str,
        event_id: &str,
        cooldown: time::Duration,
        now: OffsetDateTime,
    ) -> Result<Claim, AwsError> {
        let mut statuses = self.statuses.lock().unwrap();
        match statuses.get(event_id).map(String::as_str) {
            Some("pending") | None => {}
            Some("retry") => {
                statuses.insert(event_id.to_owned(), "posting".to_owned());
                return Ok(Claim::Post);
            }
            Some("cooldown") => return Ok(Claim::Cooldown),
            Some(_) => return Ok(Claim::Done),
        }
        let mut last = self.last.lock().unwrap();
        if last.get(member_id).is_some_and(|at| *at >= now - cooldown) {
            statuses.insert(event_id.to_owned(), "cooldown".to_owned());
            return Ok(Claim::Cooldown);
        }
        last.insert(member_id.to_owned(), now);
        statuses.insert(event_id.to_owned(), "posting".to_owned());
        Ok(Claim::Post)
    }
    async fn posted(&self, event_id: &str, _now: OffsetDateTime) -> Result<(), AwsError> {
        self.statuses
            .lock()
            .unwrap()
            .insert(event_id.to_owned(), "posted".to_owned());
        Ok(())
    }
    async fn not_posted(&self, event_id: &str, _now: OffsetDateTime) -> Result<(), AwsError> {
        self.statuses
            .lock()
            .unwrap()
            .insert(event_id.to_owned(), "retry".to_owned());
        Ok(())
    }
    async fn pending_text(&self, event_id: &str) -> Result<Option<String>, AwsError> {
        Ok(self.texts.lock().unwrap().get(event_id).cloned())
    }
    async fn settled(&self, _member_id: &str, event_id: &str) -> Result<(), AwsError> {
        self.settled.lock().unwrap().insert(event_id.to_owned());
        Ok(())
    }
}

/// A tracker in memory that can lose answers, refuse, or be rate limited.
#[derive(Default)]
struct FakeTracker {
    issues: Mutex<Vec<(TicketDraft, TicketRef)>>,
    comments: Mutex<Vec<(String, String)>>,
    /// The next create lands but its answer is lost (a crash or timeout).
    lose_next_answer: Mutex<bool>,
    refuse: Mutex<bool>,
    rate_limited: Mutex<bool>,
}

#[async_trait]
impl TicketSink for FakeTracker {
    fn tracker(&self) -> Tracker {
        Tracker::Github
    }
    async fn create(
        &self,
        draft: &TicketDraft,
        _deadline: tokio::time::Instant,
    ) -> Result<TicketRef, SinkError> {
        if *self.refuse.lock().unwrap() {
            return Err(SinkError::Rejected {
                tracker: "github",
                status: 410,
                detail: "issues are disabled".into(),
            });
        }
        if *self.rate_limited.lock().unwrap() {
            return Err(SinkError::RateLimited {
                tracker: "github",
                retry_after: None,
                detail: "secondary rate limit".into(),
            });
        }
        let mut issues = self.issues.lock().unwrap();
        let number = issues.len() + 1;
        let ticket = TicketRef {
            tracker: Tracker::Github,
            id: format!("o/r#{number}"),
            key: format!("#{number}"),
            url: format!("https://github.com/o/r/issues/{number}"),
        };
        issues.push((draft.clone(), ticket.clone()));
        let mut lose = self.lose_next_answer.lock().unwrap();
        if *lose {
            *lose = false;
            return Err(SinkError::Unavailable {
                tracker: "github",
                detail: "connection reset".into(),
            });
        }
        Ok(ticket)
    }
    async fn find(
        &self,
        draft: &TicketDraft,
        _since: OffsetDateTime,
        _deadline: tokio::time::Instant,
    ) -> Result<Option<TicketRef>, SinkError> {
        Ok(self
            .issues
            .lock()
            .unwrap()
            .iter()
            .find(|(d, _)| d.event_id == draft.event_id)
            .map(|(_, t)| t.clone()))
    }
    async fn comment(
        &self,
        ticket: &TicketRef,
        marker: &str,
        _body: &str,
        _deadline: tokio::time::Instant,
    ) -> Result<(), SinkError> {
        self.comments
            .lock()
            .unwrap()
            .push((ticket.id.clone(), marker.to_owned()));
        Ok(())
    }
    async fn has_comment(
        &self,
        ticket: &TicketRef,
        marker: &str,
        _deadline: tokio::time::Instant,
    ) -> Result<bool, SinkError> {
        Ok(self
            .comments
            .lock()
            .unwrap()
            .iter()
            .any(|(t, m)| *t == ticket.id && m == marker))
    }
}

struct Desk {
    route: Route,
    ledger: Arc<MemoryTickets>,
    tracker: Arc<FakeTracker>,
    dlq: Arc<MemoryQueue>,
    reporters: Arc<MemoryNotifier>,
}

fn desk() -> Desk {
    let ledger = Arc::new(MemoryTickets::default());
    let tracker = Arc::new(FakeTracker::default());
    let reporters = Arc::new(MemoryNotifier::default());
    let dlq = Arc::new(MemoryQueue::default());
    let mut route = route(Arc::new(MemoryStore::default()), dlq.clone());
    route.tickets = TicketDesk {
        ledger: ledger.clone(),
        sink: Some(tracker.clone()),
        similarity_threshold: 0.6,
        reporters: reporters.clone(),
        adopt_repository: None,
    };
    Desk {
        route,
        ledger,
        tracker,
        dlq,
        reporters,
    }
}

/// A bug report from member `member` with the given text.
fn report(delivery: &str, member: &str, text: &str) -> (String, CanonicalEvent) {
    let json = event_json(delivery, member)
        .replace("\"userId\":\"m1\"", &format!("\"userId\":\"{member}\""))
        .replace("\"content\":{\"labels\":[]}", &format!("\"content\":{{\"excerpt\":\"{text}\",\"labels\":[]}}"))
        .replace(
            "\"routingTarget\"",
            r#""classification":{"category":"bug_report","score":0.8,"weightsVersion":"categories@1"},"routingTarget""#,
        );
    let event = decode(&json).unwrap();
    (json, event)
}

fn received(body: &str, receive_count: u32) -> SqsEvent {
    let mut event = batch(&[body.to_owned()]);
    event.records[0]
        .attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    event
}

#[tokio::test]
async fn a_report_delivered_many_times_opens_one_ticket() {
    let d = desk();
    let (json, event) = report("r1", "m1", "CSV export crashes with a stack trace");
    d.ledger.pending(&event);
    for n in 1..=3 {
        let response = d.route.handle(received(&json, n)).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
    }
    assert_eq!(d.tracker.issues.lock().unwrap().len(), 1);
    let (draft, _) = &d.tracker.issues.lock().unwrap()[0];
    assert_eq!(draft.title, "CSV export crashes with a stack trace");
    assert!(draft.body.contains("community-event:"), "{}", draft.body);
    assert!(draft.body.contains("bug_report"), "{}", draft.body);
    assert!(matches!(
        d.ledger.state(&event.event_id.to_string()),
        RequestState::Complete { .. }
    ));
}

#[tokio::test]
async fn a_lost_answer_is_reconciled_without_a_second_ticket() {
    let d = desk();
    let (json, event) = report("r1", "m1", "CSV export crashes with a stack trace");
    d.ledger.pending(&event);
    *d.tracker.lose_next_answer.lock().unwrap() = true;
    let first = d.route.handle(received(&json, 1)).await.unwrap();
    assert_eq!(
        first.batch_item_failures.len(),
        1,
        "the lost answer is retried"
    );
    assert!(matches!(
        d.ledger.state(&event.event_id.to_string()),
        RequestState::Attempting { .. }
    ));
    let second = d.route.handle(received(&json, 2)).await.unwrap();
    assert!(second.batch_item_failures.is_empty());
    assert_eq!(
        d.tracker.issues.lock().unwrap().len(),
        1,
        "found by its marker, not created again"
    );
    assert!(matches!(
        d.ledger.state(&event.event_id.to_string()),
        RequestState::Complete { .. }
    ));
}

#[tokio::test]
async fn a_similar_report_joins_the_open_ticket_once() {
    let d = desk();
    let (first, e1) = report("r1", "m1", "CSV export crashes with a stack trace");
    let (second, e2) = report("r2", "m2", "Export to CSV is crashing for me too");
    let (other, e3) = report("r3", "m3", "Login page rejects valid passwords");
    for e in [&e1, &e2, &e3] {
        d.ledger.pending(e);
    }
    for body in [&first, &second, &second, &other] {
        d.route.handle(received(body, 1)).await.unwrap();
    }
    let issues = d.tracker.issues.lock().unwrap();
    assert_eq!(issues.len(), 2, "the login report is its own ticket");
    let comments = d.tracker.comments.lock().unwrap();
    assert_eq!(
        comments.len(),
        1,
        "one +1, even when the second report is redelivered"
    );
    assert_eq!(comments[0].0, "o/r#1");
    let open = d.ledger.tickets.lock().unwrap()[&ledger::ticket_pk("github", "o/r#1")].clone();
    assert_eq!(
        open.askers,
        BTreeSet::from(["m1".to_owned(), "m2".to_owned()])
    );
}

#[tokio::test]
async fn a_refused_ticket_is_dead_lettered_with_the_reason_and_a_redrive_files_it() {
    let d = desk();
    let (json, event) = report("r1", "m1", "CSV export crashes");
    d.ledger.pending(&event);
    *d.tracker.refuse.lock().unwrap() = true;
    let response = d.route.handle(received(&json, 1)).await.unwrap();
    assert!(
        response.batch_item_failures.is_empty(),
        "acknowledged: it is in the DLQ"
    );
    let letters = d.dlq.0.lock().unwrap().clone();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0]
            .attributes
            .values()
            .any(|v| v.contains("ticket refused") && v.contains("410")),
        "{:?}",
        letters[0].attributes
    );
    assert!(matches!(
        d.ledger.state(&event.event_id.to_string()),
        RequestState::Failed { .. }
    ));
    // The operator fixes the tracker and redrives.
    *d.tracker.refuse.lock().unwrap() = false;
    d.route.handle(received(&json, 1)).await.unwrap();
    assert_eq!(d.tracker.issues.lock().unwrap().len(), 1);
    assert!(matches!(
        d.ledger.state(&event.event_id.to_string()),
        RequestState::Complete { .. }
    ));
}

#[tokio::test]
async fn a_rate_limit_is_retried_by_sqs_and_dead_lettered_with_a_reason_on_the_last_receive() {
    let d = desk();
    let (json, event) = report("r1", "m1", "CSV export crashes");
    d.ledger.pending(&event);
    *d.tracker.rate_limited.lock().unwrap() = true;
    let early = d.route.handle(received(&json, 1)).await.unwrap();
    assert_eq!(early.batch_item_failures.len(), 1, "back to the queue");
    assert!(d.dlq.0.lock().unwrap().is_empty());
    let last = d.route.handle(received(&json, 3)).await.unwrap();
    assert!(last.batch_item_failures.is_empty());
    let letters = d.dlq.0.lock().unwrap().clone();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0]
            .attributes
            .values()
            .any(|v| v.contains("not filed after 3 attempts") && v.contains("rate limit")),
        "{:?}",
        letters[0].attributes
    );
}

#[tokio::test]
async fn a_closed_github_issue_resolves_its_ticket_and_tells_the_reporters_once() {
    let d = desk();
    let (json, event) = report("r1", "m1", "CSV export crashes");
    d.ledger.pending(&event);
    d.route.handle(received(&json, 1)).await.unwrap();
    let closed = typed_event("c1", "issue_closed", "analytics")
        .replace(
            "\"source\":{\"repository\":\"o/r\"}",
            "\"source\":{\"repository\":\"o/r\",\"url\":\"https://github.com/o/r/issues/1\"}",
        )
        .replace(
            "\"timestamp\":\"2026-11-23T10:00:00Z\"",
            "\"timestamp\":\"2026-11-24T16:00:00Z\"",
        );
    d.route.handle(received(&closed, 1)).await.unwrap();
    d.route.handle(received(&closed, 2)).await.unwrap();
    let ticket = d.ledger.tickets.lock().unwrap()[&ledger::ticket_pk("github", "o/r#1")].clone();
    assert!(!ticket.open);
    assert_eq!(ticket.resolution_seconds, Some(30 * 3600));
    let told = d.reporters.texts.lock().unwrap().clone();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("#1") && told[0].contains("m1") && told[0].contains("1 d 6 h"),
        "{}",
        told[0]
    );
}

#[tokio::test]
async fn a_tracker_resolution_message_resolves_and_a_malformed_one_is_dead_lettered() {
    let d = desk();
    let (json, event) = report("r1", "m1", "CSV export crashes");
    d.ledger.pending(&event);
    d.route.handle(received(&json, 1)).await.unwrap();
    let with_kind = |body: &str| {
        let mut e = received(body, 1);
        let mut kind = aws_lambda_events::event::sqs::SqsMessageAttribute::default();
        kind.string_value = Some(RESOLUTION_KIND.to_owned());
        kind.data_type = Some("String".to_owned());
        e.records[0].message_attributes.insert("kind".into(), kind);
        e
    };
    d.route
        .handle(with_kind(
            r#"{"tracker":"github","ticketId":"o/r#1","resolvedAt":"2026-11-23T11:00:00Z"}"#,
        ))
        .await
        .unwrap();
    assert_eq!(d.reporters.texts.lock().unwrap().len(), 1);
    d.route
        .handle(with_kind("{\"tracker\":\"asana\"}"))
        .await
        .unwrap();
    let letters = d.dlq.0.lock().unwrap().clone();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0]
            .attributes
            .values()
            .any(|v| v.contains("not a ticket resolution"))
    );
    // It keeps its kind, so a redrive after a fix is read as a resolution.
    assert_eq!(letters[0].attributes["kind"], RESOLUTION_KIND);
}

#[tokio::test]
async fn without_a_tracker_requests_stay_pending_in_the_ledger() {
    let mut d = desk();
    d.route.tickets.sink = None;
    let (json, event) = report("r1", "m1", "CSV export crashes");
    d.ledger.pending(&event);
    d.route.handle(received(&json, 1)).await.unwrap();
    assert_eq!(
        d.ledger.state(&event.event_id.to_string()),
        RequestState::Pending
    );
}

#[tokio::test]
async fn recognition_posts_once_per_event_and_once_per_member_per_cooldown() {
    let d = desk();
    let recognizer = Arc::new(MemoryNotifier::default());
    let mut route = d.route.clone();
    route.recognizer = recognizer.clone();
    let merged = |delivery: &str| typed_event(delivery, "pull_request_merged", "recognition");
    for body in [merged("p1"), merged("p1"), merged("p2")] {
        let response = route.handle(received(&body, 1)).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
    }
    let posts = recognizer.texts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(posts[0].contains("Thanks alice"), "{}", posts[0]);
}

#[tokio::test]
async fn a_recognition_slack_refused_for_now_is_posted_on_the_retry_once() {
    let d = desk();
    let recognizer = Arc::new(MemoryNotifier {
        failures_left: Mutex::new(1),
        ..MemoryNotifier::default()
    });
    let mut route = d.route.clone();
    route.recognizer = recognizer.clone();
    route.lifecycle = Arc::new(MemoryLifecycle::default());
    let body = typed_event("p1", "pull_request_merged", "recognition");
    let first = route.handle(received(&body, 1)).await.unwrap();
    assert_eq!(first.batch_item_failures.len(), 1);
    route.handle(received(&body, 2)).await.unwrap();
    route.handle(received(&body, 3)).await.unwrap();
    assert_eq!(recognizer.texts.lock().unwrap().len(), 1);
}

/// `report` in the thread of GitHub issue #12 of o/r (`issue_opened`, or a
/// reply to it).
fn in_issue_thread(
    delivery: &str,
    member: &str,
    event_type: &str,
    text: &str,
) -> (String, CanonicalEvent) {
    let (json, _) = report(delivery, member, text);
    let json = json
        .replace("\"issue_opened\"", &format!("\"{event_type}\""))
        .replace(
            "\"source\":{\"repository\":\"o/r\"}",
            "\"source\":{\"repository\":\"o/r\",\"threadId\":\"12\",\"url\":\"https://github.com/o/r/issues/12\"}",
        );
    let event = decode(&json).unwrap();
    (json, event)
}

/// A bug report opens issue #12's thread and another member replies "same
/// here"; both routed. Returns the reply.
async fn report_and_reply(d: &Desk) -> CanonicalEvent {
    let (opened, e1) = in_issue_thread(
        "t1",
        "m1",
        "issue_opened",
        "CSV export crashes on empty columns",
    );
    let (reply, e2) = in_issue_thread("t2", "m2", "issue_commented", "Same here on 2.3");
    for e in [&e1, &e2] {
        d.ledger.pending(e);
    }
    d.route.handle(received(&opened, 1)).await.unwrap();
    d.route.handle(received(&reply, 1)).await.unwrap();
    e2
}

#[tokio::test]
async fn a_reply_in_a_reported_thread_joins_its_ticket_whatever_its_words() {
    let d = desk();
    report_and_reply(&d).await;
    assert_eq!(
        d.tracker.issues.lock().unwrap().len(),
        1,
        "no ticket titled 'Same here on 2.3'"
    );
    assert_eq!(d.tracker.comments.lock().unwrap().len(), 1);
    let ticket = d.ledger.tickets.lock().unwrap()[&ledger::ticket_pk("github", "o/r#1")].clone();
    assert_eq!(ticket.askers.len(), 2);
}

#[tokio::test]
async fn an_issue_in_the_tracker_repository_is_its_own_ticket() {
    let mut d = desk();
    d.route.tickets.adopt_repository = Some("o/r".to_owned());
    let reply = report_and_reply(&d).await;
    assert!(
        d.tracker.issues.lock().unwrap().is_empty(),
        "never copied into itself"
    );
    assert!(
        d.tracker.comments.lock().unwrap().is_empty(),
        "the reply is already on the issue"
    );
    let ticket = d.ledger.tickets.lock().unwrap()[&ledger::ticket_pk("github", "o/r#12")].clone();
    assert_eq!(ticket.ticket.key, "#12");
    assert_eq!(ticket.askers.len(), 2);
    assert!(matches!(
        d.ledger.state(&reply.event_id.to_string()),
        RequestState::Complete { .. }
    ));
    // The same issue arriving again as a new event (an edit, or the echo of
    // an issue the pipeline opened, by its bot account): settled, no asker.
    let (again, echo) = in_issue_thread("t3", "bot1", "issue_opened", "CSV export crashes");
    d.ledger.pending(&echo);
    d.route.handle(received(&again, 1)).await.unwrap();
    let ticket = d.ledger.tickets.lock().unwrap()[&ledger::ticket_pk("github", "o/r#12")].clone();
    assert_eq!(ticket.askers.len(), 2, "{:?}", ticket.askers);
    assert!(matches!(
        d.ledger.state(&echo.event_id.to_string()),
        RequestState::Complete { .. }
    ));
}

#[tokio::test]
async fn reporters_refused_for_now_are_told_on_the_retry_and_only_once() {
    let d = desk();
    let (json, event) = report("r1", "m1", "CSV export crashes");
    d.ledger.pending(&event);
    d.route.handle(received(&json, 1)).await.unwrap();
    *d.reporters.failures_left.lock().unwrap() = 1;
    let closed = typed_event("c1", "issue_closed", "analytics").replace(
        "\"source\":{\"repository\":\"o/r\"}",
        "\"source\":{\"repository\":\"o/r\",\"url\":\"https://github.com/o/r/issues/1\"}",
    );
    let first = d.route.handle(received(&closed, 1)).await.unwrap();
    assert_eq!(
        first.batch_item_failures.len(),
        1,
        "Slack said 503: retried"
    );
    for n in 2..=3 {
        let again = d.route.handle(received(&closed, n)).await.unwrap();
        assert!(again.batch_item_failures.is_empty());
    }
    assert_eq!(d.reporters.texts.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn records_past_the_deadline_go_back_to_the_queue_untouched() {
    let d = desk();
    let (json, event) = report("r1", "m1", "CSV export crashes");
    d.ledger.pending(&event);
    let response = d
        .route
        .handle_until(received(&json, 1), tokio::time::Instant::now())
        .await
        .unwrap();
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(d.tracker.issues.lock().unwrap().is_empty());
    assert_eq!(
        d.ledger.state(&event.event_id.to_string()),
        RequestState::Pending
    );
}

#[tokio::test]
async fn a_milestone_recognition_refused_for_now_is_posted_on_the_retry_once() {
    let lifecycle = Arc::new(MemoryLifecycle::default());
    let store = Arc::new(MemoryStore {
        lifecycle: Some(lifecycle.clone()),
        ..Default::default()
    });
    let mut r = route(store, Arc::new(MemoryQueue::default()));
    r.lifecycle = lifecycle.clone();
    r.recognitions = lifecycle.recognitions.clone();
    let recognizer = Arc::new(MemoryNotifier {
        failures_left: Mutex::new(1),
        ..MemoryNotifier::default()
    });
    r.recognizer = recognizer.clone();
    let merged = typed_event("d1", "pull_request_merged", "recognition");
    let first = r.handle(received(&merged, 1)).await.unwrap();
    assert_eq!(first.batch_item_failures.len(), 1, "Slack said 503");
    // The retry derives no milestone again, but the pending claim waits.
    for n in 2..=3 {
        let again = r.handle(received(&merged, n)).await.unwrap();
        assert!(again.batch_item_failures.is_empty());
    }
    let posts = recognizer.texts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(posts[0].contains("first contribution"), "{}", posts[0]);
    assert!(
        lifecycle.members.lock().unwrap()["m1"]
            .pending_recognitions
            .iter()
            .all(|id| lifecycle.recognitions.settled.lock().unwrap().contains(id)),
        "every milestone settled"
    );
}
