//! A realistic load against a running server, and the check that nothing was lost: many users,
//! conversations submitted as jobs, searches and favourites reads in between. Each job tells
//! of a dog with a name no other job uses, so at the end every user's `pet.dog` facts must be
//! exactly the names of that user's accepted jobs: a lost job, a job applied twice or a fact
//! given to the wrong user all show.
//!
//! Used by `tests/examples/load.rs` (the command-line tool) and by the bounded CI run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod check;
mod timeline;

pub use timeline::{
    FAULT_SAMPLE_EVERY, FaultWindow, ProcessUsage, TIMELINE_DIR_VARIABLE, TimelineRow,
    save_fault_timeline,
};
use timeline::{Usage, process_usage};

#[derive(Debug, Clone)]
pub struct LoadSettings {
    pub users: usize,
    /// Jobs to submit in all (the run also stops at `duration`).
    pub jobs: usize,
    pub concurrency: usize,
    /// Searches sent after each job (for random users), and one favourites read.
    pub searches_per_job: usize,
    /// Jobs per second across all clients; `None` sends as fast as the clients can.
    pub rate: Option<f64>,
    pub duration: Option<Duration>,
    /// With a soak: how often to sample the timeline (latency per window, and the server's
    /// memory and open files when `server_pid` is given).
    pub sample_every: Option<Duration>,
    pub server_pid: Option<u32>,
    /// Facts each user holds before the run (`likes.thing`, added through the API), so search
    /// ranks over a memory of a realistic size and not only over what the run adds.
    pub facts_per_user: usize,
    /// With a `rate`: how much offered work (in seconds of it) the backlog may hold before the
    /// run counts as having fallen behind.
    pub max_backlog: Option<Duration>,
}

impl Default for LoadSettings {
    fn default() -> Self {
        Self {
            users: 20,
            jobs: 200,
            concurrency: 8,
            searches_per_job: 2,
            rate: None,
            duration: None,
            sample_every: None,
            server_pid: None,
            facts_per_user: 0,
            max_backlog: None,
        }
    }
}

/// Latencies of one kind of request.
#[derive(Debug, Clone, Default)]
pub struct OperationStats {
    pub latencies: Vec<Duration>,
    pub errors: usize,
    pub last_error: Option<String>,
}

impl OperationStats {
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return 0.0;
        }
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index].as_secs_f64() * 1e3
    }
}

/// What the run did and what the final check found.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub elapsed: Duration,
    pub operations: BTreeMap<&'static str, OperationStats>,
    pub accepted_jobs: usize,
    /// Accepted jobs not `completed` at the end (with their last status).
    pub unfinished_jobs: Vec<(String, String)>,
    /// Names of accepted jobs missing from their user's facts.
    pub lost_facts: Vec<String>,
    /// Names present more than once in their user's facts.
    pub duplicated_facts: Vec<String>,
    /// Dog names no accepted job of that user gave.
    pub unexpected_facts: Vec<String>,
    /// Facts added before the run that are missing at the end (or, were the domain ever to
    /// allow it, doubled).
    pub seeded_facts_wrong: Vec<String>,
    /// How long adding the facts before the run took.
    pub seeding: Duration,
    /// The soak's windows, when sampling was asked for.
    pub timeline: Vec<TimelineRow>,
    /// When the clients started (after any seeding): the timeline's zero.
    pub started: Option<Instant>,
    /// Jobs submitted, completed and waiting per window, from the server's own times.
    pub job_timeline: Vec<crate::backlog::JobWindow>,
    /// Why the run counts as having fallen behind its offered rate, if it did.
    pub fell_behind: Option<String>,
    /// Each operation's p95 at the end of the run over its p95 at the start.
    pub drift: BTreeMap<&'static str, f64>,
    /// The span `drift` compares.
    pub drift_span: Duration,
}

impl LoadReport {
    /// No job lost, doubled or unfinished, and no fact out of place.
    pub fn nothing_lost(&self) -> bool {
        self.unfinished_jobs.is_empty()
            && self.lost_facts.is_empty()
            && self.duplicated_facts.is_empty()
            && self.unexpected_facts.is_empty()
            && self.seeded_facts_wrong.is_empty()
    }

    /// A Markdown table of the operations and the check's verdict.
    pub fn render(&self) -> String {
        let seconds = self.elapsed.as_secs_f64().max(1e-9);
        let mut out = String::from(
            "| operation | requests | errors | p50 ms | p95 ms | p99 ms | per second |\n|---|---|---|---|---|---|---|\n",
        );
        for (name, stats) in &self.operations {
            out.push_str(&format!(
                "| {name} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} |\n",
                stats.latencies.len() + stats.errors,
                stats.errors,
                stats.percentile_ms(0.50),
                stats.percentile_ms(0.95),
                stats.percentile_ms(0.99),
                stats.latencies.len() as f64 / seconds,
            ));
        }
        if !self.job_timeline.is_empty() {
            let (backlog, at) = crate::backlog::max_backlog(&self.job_timeline);
            out.push_str(&format!(
                "\nlargest backlog {backlog} jobs (accepted, not completed) at {at:.0} s\n"
            ));
        }
        if !self.drift.is_empty() {
            let ratios: Vec<String> = self
                .drift
                .iter()
                .map(|(name, ratio)| format!("{name} {ratio:.2}×"))
                .collect();
            out.push_str(&format!(
                "p95 in the last {:.0} s over the first: {}\n",
                self.drift_span.as_secs_f64(),
                ratios.join(", ")
            ));
        }
        if let Some(reason) = &self.fell_behind {
            out.push_str(&format!("FELL BEHIND: {reason}\n"));
        }
        out.push_str(&format!(
            "\naccepted jobs {}; unfinished {}; lost facts {}; duplicated facts {}; unexpected facts {}; seeded facts wrong {}\n",
            self.accepted_jobs,
            self.unfinished_jobs.len(),
            self.lost_facts.len(),
            self.duplicated_facts.len(),
            self.unexpected_facts.len(),
            self.seeded_facts_wrong.len()
        ));
        if !self.seeding.is_zero() {
            out.push_str(&format!(
                "facts added before the run in {:.1} s\n",
                self.seeding.as_secs_f64()
            ));
        }
        for (name, stats) in &self.operations {
            if let Some(error) = &stats.last_error {
                out.push_str(&format!("last {name} error: {error}\n"));
            }
        }
        out
    }
}

/// A dog name unique to job `n`: letters only, which the rules extractor takes as a name.
pub fn dog_name(n: usize) -> String {
    let mut letters = String::new();
    let mut rest = n;
    loop {
        letters.insert(0, char::from(b'a' + (rest % 26) as u8));
        rest /= 26;
        if rest == 0 {
            break;
        }
    }
    format!("Ri{letters}")
}

struct Target {
    run: uuid::Uuid,
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Target {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        self.send_once(method, path, body, None).await
    }

    /// A job submission under an idempotency key: sent again with the same key, it is the
    /// same job, so a submission whose answer was lost can be settled without doubling it.
    async fn submit(&self, body: Value, idempotency_key: &str) -> Result<Value, String> {
        self.send_once(
            reqwest::Method::POST,
            "/v1/extractions",
            Some(body),
            Some(idempotency_key),
        )
        .await
    }

    async fn send_once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .timeout(Duration::from_secs(40));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
    }
}

/// (operation, when it started relative to the run, its latency or error).
pub(crate) type Samples = Vec<(&'static str, Duration, Result<Duration, String>)>;

async fn timed(
    samples: &mut Samples,
    run_started: Instant,
    name: &'static str,
    call: impl Future<Output = Result<Value, String>>,
) -> Option<Value> {
    let started = Instant::now();
    let result = call.await;
    let outcome = result
        .as_ref()
        .map(|_| started.elapsed())
        .map_err(Clone::clone);
    samples.push((name, started - run_started, outcome));
    result.ok()
}

/// Drives the server at `base` and checks the outcome.
pub async fn run_load(base: &str, key: &str, settings: &LoadSettings) -> LoadReport {
    let target = Arc::new(Target {
        run: uuid::Uuid::new_v4(),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(settings.concurrency.max(1))
            .build()
            .expect("an HTTP client"),
        base: base.trim_end_matches('/').to_owned(),
        key: key.to_owned(),
    });
    let mut report = LoadReport::default();
    let seeding = Instant::now();
    seed(&target, settings).await;
    report.seeding = seeding.elapsed();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let started_wall = chrono::Utc::now();
    report.started = Some(started);
    let mut clients = Vec::new();
    for client in 0..settings.concurrency.max(1) {
        let (target, next, settings) = (target.clone(), next.clone(), settings.clone());
        clients.push(tokio::spawn(async move {
            let mut samples: Samples = Vec::new();
            let mut accepted: Vec<(usize, String)> = Vec::new();
            // Submissions that failed: the server may still have taken them (it can commit
            // and die before answering), so they are settled after the run.
            let mut in_doubt: Vec<usize> = Vec::new();
            let mut dice = client;
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                let out_of_time = settings.duration.is_some_and(|d| started.elapsed() >= d);
                if n >= settings.jobs || out_of_time {
                    break;
                }
                if let Some(rate) = settings.rate {
                    let due = Duration::from_secs_f64(n as f64 / rate);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                let user = n % settings.users.max(1);
                let submitted = timed(
                    &mut samples,
                    started,
                    "submit",
                    target.submit(job_body(n, settings.users), &job_key(&target.run, n)),
                )
                .await;
                match submitted.and_then(|v| v["job_id"].as_str().map(str::to_owned)) {
                    Some(job) => accepted.push((n, job)),
                    None => in_doubt.push(n),
                }
                for _ in 0..settings.searches_per_job {
                    dice = dice
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let someone = (dice >> 33) % settings.users.max(1);
                    let body = json!({"user_id": format!("load-{someone}"),
                        "query": "what's my dog called", "limit": 5});
                    let answer = timed(
                        &mut samples,
                        started,
                        "search",
                        target.send(reqwest::Method::POST, "/v1/search", Some(body)),
                    )
                    .await;
                    // The same request again under the layer that answered: a drift in
                    // misses (ranking) and one in hits (the cache) have different causes.
                    if let (Some(answer), Some(last)) = (answer, samples.last().cloned()) {
                        let layer = if answer["served_from"] == "L4" {
                            "search_miss"
                        } else {
                            "search_hit"
                        };
                        samples.push((layer, last.1, last.2));
                    }
                }
                let path = format!("/v1/users/load-{user}/favorites");
                timed(
                    &mut samples,
                    started,
                    "favorites",
                    target.send(reqwest::Method::GET, &path, None),
                )
                .await;
            }
            (samples, accepted, in_doubt)
        }));
    }
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = settings.sample_every.map(|every| {
        let (pid, finished) = (settings.server_pid, finished.clone());
        tokio::spawn(async move {
            let mut usage: Usage = Vec::new();
            while !finished.load(Ordering::SeqCst) {
                usage.push((
                    started.elapsed(),
                    pid.map(process_usage).unwrap_or_default(),
                ));
                tokio::time::sleep(every.min(Duration::from_secs(1))).await;
            }
            usage
        })
    });
    let mut accepted = Vec::new();
    let mut in_doubt = Vec::new();
    let mut all_samples: Samples = Vec::new();
    for client in clients {
        let (samples, jobs, doubtful) = client.await.expect("a load client");
        accepted.extend(jobs);
        in_doubt.extend(doubtful);
        all_samples.extend(samples.iter().cloned());
        for (name, _, outcome) in samples {
            let stats = report.operations.entry(name).or_default();
            match outcome {
                Ok(latency) => stats.latencies.push(latency),
                Err(error) => {
                    stats.errors += 1;
                    stats.last_error = Some(error);
                }
            }
        }
    }
    report.elapsed = started.elapsed();
    accepted.extend(settle(&target, settings, &in_doubt).await);
    report.accepted_jobs = accepted.len();
    finished.store(true, Ordering::SeqCst);
    if let (Some(every), Some(sampler)) = (settings.sample_every, sampler) {
        let usage = sampler.await.unwrap_or_default();
        report.timeline = timeline::timeline(&all_samples, every, &usage);
    }
    let jobs = check::check(&target, settings, &accepted, &mut report).await;
    if let Some(every) = settings.sample_every {
        report.job_timeline = crate::backlog::job_windows(&jobs, started_wall, every);
        if let (Some(rate), Some(allowed)) = (settings.rate, settings.max_backlog) {
            report.fell_behind = crate::backlog::kept_up(&report.job_timeline, rate, allowed).err();
        }
    }
    record_jobs(&mut report, &jobs, started_wall, &all_samples);
    report
}

/// Adds submit→completed as the operation `job`, and each operation's p95 drift: the last
/// five minutes against the first (a third of the run for a shorter one).
fn record_jobs(
    report: &mut LoadReport,
    jobs: &[crate::backlog::JobTimes],
    zero: chrono::DateTime<chrono::Utc>,
    samples: &Samples,
) {
    let mut timed: BTreeMap<&'static str, crate::backlog::Timed> = BTreeMap::new();
    for (name, at, outcome) in samples {
        if let Ok(latency) = outcome {
            timed
                .entry(name)
                .or_default()
                .push((at.as_secs_f64(), *latency));
        }
    }
    let job_stats = report.operations.entry("job").or_default();
    for job in jobs {
        if let Some(finished) = job.finished_at
            && let Ok(latency) = (finished - job.submitted_at).to_std()
        {
            job_stats.latencies.push(latency);
            let at = (finished - zero).to_std().unwrap_or_default().as_secs_f64();
            timed.entry("job").or_default().push((at, latency));
        }
    }
    report.drift_span = (report.elapsed / 3).min(Duration::from_secs(300));
    report.drift = crate::backlog::p95_drift(&timed, report.drift_span);
}

fn job_body(n: usize, users: usize) -> Value {
    json!({"user_id": format!("load-{}", n % users.max(1)), "messages": [
        {"role": "user", "content": format!("I have a dog called {}.", dog_name(n))},
        {"role": "user", "content": "Today we played in the park."}
    ]})
}

/// Unique per run (a soak may run again against the same server), the same for each sending
/// of one job.
fn job_key(run: &uuid::Uuid, n: usize) -> String {
    format!("load-{run}-{n}")
}

/// What a careful client does with submissions whose answer it never got: sends each again
/// under the same idempotency key until the server answers. A job the server had taken comes
/// back as the same job (not a second one); one it never took is taken now. Either way it
/// is accepted, and the check expects its fact exactly once.
async fn settle(
    target: &Target,
    settings: &LoadSettings,
    in_doubt: &[usize],
) -> Vec<(usize, String)> {
    let mut settled = Vec::new();
    for &n in in_doubt {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match target
                .submit(job_body(n, settings.users), &job_key(&target.run, n))
                .await
            {
                Ok(answer) => {
                    if let Some(job) = answer["job_id"].as_str() {
                        settled.push((n, job.to_owned()));
                    }
                    break;
                }
                // Refused for what it is (not for load): sending it again cannot help.
                Err(error)
                    if error.starts_with('4')
                        && !error.starts_with("408")
                        && !error.starts_with("429") =>
                {
                    break;
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(_) => break,
            }
        }
    }
    settled
}

/// The value of seeded fact `i`: words only, so it never looks like a dog's name.
fn seeded_thing(i: usize) -> String {
    format!(
        "thing number {} of the collection",
        dog_name(i).to_lowercase()
    )
}

/// Gives every user `facts_per_user` facts through the API, before the clock starts.
async fn seed(target: &Arc<Target>, settings: &LoadSettings) {
    use futures::StreamExt;
    // Users vary fastest: concurrent adds go to different users, not queue on one aggregate.
    let facts: Vec<(usize, usize)> = (0..settings.facts_per_user)
        .flat_map(|i| (0..settings.users).map(move |user| (user, i)))
        .collect();
    let adds = facts.into_iter().map(|(user, i)| {
        let target = Arc::clone(target);
        async move {
            let path = format!("/v1/users/load-{user}/facts");
            let body = json!({"key": "likes.thing", "value": seeded_thing(i)});
            if let Err(error) = target.send(reqwest::Method::POST, &path, Some(body)).await {
                panic!("seeding load-{user}: {error}");
            }
        }
    });
    futures::stream::iter(adds)
        .buffer_unordered(settings.concurrency.max(1))
        .collect::<Vec<()>>()
        .await;
}
