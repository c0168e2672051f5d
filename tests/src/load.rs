//! A realistic load against a running server, and the check that nothing was lost: many users,
//! conversations submitted as jobs, searches and favourites reads in between. Each job tells
//! of a dog with a name no other job uses, so at the end every user's `pet.dog` facts must be
//! exactly the names of that user's accepted jobs: a lost job, a job applied twice or a fact
//! given to the wrong user all show.
//!
//! Used by `tests/examples/load.rs` (the command-line tool) and by the bounded CI run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

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
        }
    }
}

/// One window of a soak: what the clients saw and what the server process held.
#[derive(Debug, Clone, Default)]
pub struct TimelineRow {
    pub at_seconds: f64,
    /// Per operation: (requests, errors, p50 ms, p95 ms, p99 ms).
    pub operations: BTreeMap<&'static str, (usize, usize, f64, f64, f64)>,
    pub usage: ProcessUsage,
}

/// What the server process held at one moment, from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessUsage {
    pub rss_kib: Option<u64>,
    /// Every open descriptor: files, sockets, pipes, epoll.
    pub open_files: Option<usize>,
    /// The sockets among them: HTTP clients, database, Redis and broker connections.
    pub open_sockets: Option<usize>,
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
}

/// A span of a fault run shaded on its plot: a dependency cut, a process down, the time to
/// recover.
#[derive(Debug, Clone)]
pub struct FaultWindow {
    pub from: Instant,
    pub to: Instant,
    pub label: &'static str,
}

/// Where fault runs leave their timelines, when `scripts/fault-plots.sh` asks for them.
pub const TIMELINE_DIR_VARIABLE: &str = "PIKA_TIMELINE_DIR";

/// How finely a fault run's timeline is cut: a 1.5 s outage spans six windows.
pub const FAULT_SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// Writes the run's timeline (`NAME.csv`) and its fault windows (`NAME.csv.faults`, seconds
/// since the load began) into `$PIKA_TIMELINE_DIR` when it is set; does nothing otherwise.
pub fn save_fault_timeline(name: &str, report: &LoadReport, windows: &[FaultWindow]) {
    let Some(dir) = std::env::var_os(TIMELINE_DIR_VARIABLE) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("the timeline directory");
    let zero = report.started.expect("the load ran");
    let since = |at: Instant| at.saturating_duration_since(zero).as_secs_f64();
    let faults: String = windows
        .iter()
        .map(|w| format!("{:.3},{:.3},{}\n", since(w.from), since(w.to), w.label))
        .collect();
    let csv = dir.join(format!("{name}.csv"));
    std::fs::write(&csv, report.timeline_csv()).expect("the timeline");
    std::fs::write(dir.join(format!("{name}.csv.faults")), faults).expect("the fault windows");
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
type Samples = Vec<(&'static str, Duration, Result<Duration, String>)>;

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

/// The server's resident memory, open descriptors and open sockets, from /proc.
fn process_usage(pid: u32) -> ProcessUsage {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        });
    let descriptors: Option<Vec<std::path::PathBuf>> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|entries| {
            entries
                .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
                .collect()
        });
    ProcessUsage {
        rss_kib: rss,
        open_files: descriptors.as_ref().map(Vec::len),
        open_sockets: descriptors.as_ref().map(|targets| {
            targets
                .iter()
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count()
        }),
    }
}

fn percentiles(latencies: &mut [Duration]) -> (f64, f64, f64) {
    latencies.sort();
    let at = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[index].as_secs_f64() * 1e3
    };
    (at(0.50), at(0.95), at(0.99))
}

type Usage = Vec<(Duration, ProcessUsage)>;

/// Buckets the samples into windows of `every`, beside the process usage sampled meanwhile.
fn timeline(samples: &Samples, every: Duration, usage: &Usage) -> Vec<TimelineRow> {
    let end = samples
        .iter()
        .map(|(_, at, _)| *at)
        .max()
        .unwrap_or_default();
    let windows = (end.as_secs_f64() / every.as_secs_f64()).ceil().max(1.0) as u32;
    (0..windows)
        .map(|window| {
            let (from, to) = (every * window, every * (window + 1));
            let mut row = TimelineRow {
                at_seconds: to.as_secs_f64(),
                ..TimelineRow::default()
            };
            let mut by_operation: BTreeMap<&'static str, (Vec<Duration>, usize)> = BTreeMap::new();
            for (name, _, outcome) in samples.iter().filter(|(_, at, _)| *at >= from && *at < to) {
                let entry = by_operation.entry(name).or_default();
                match outcome {
                    Ok(latency) => entry.0.push(*latency),
                    Err(_) => entry.1 += 1,
                }
            }
            for (name, (mut latencies, errors)) in by_operation {
                let (p50, p95, p99) = percentiles(&mut latencies);
                row.operations
                    .insert(name, (latencies.len() + errors, errors, p50, p95, p99));
            }
            if let Some((_, sampled)) = usage.iter().rev().find(|(at, _)| *at < to) {
                row.usage = *sampled;
            }
            row
        })
        .collect()
}

impl LoadReport {
    /// The timeline as CSV, one row per window and operation, for plotting.
    pub fn timeline_csv(&self) -> String {
        let mut out = String::from(
            "seconds,operation,requests,errors,p50_ms,p95_ms,p99_ms,rss_kib,open_files,open_sockets\n",
        );
        let or_blank = |value: Option<usize>| value.map_or(String::new(), |v| v.to_string());
        for row in &self.timeline {
            for (name, (requests, errors, p50, p95, p99)) in &row.operations {
                out.push_str(&format!(
                    "{:.1},{name},{requests},{errors},{p50:.3},{p95:.3},{p99:.3},{},{},{}\n",
                    row.at_seconds,
                    row.usage.rss_kib.map_or(String::new(), |v| v.to_string()),
                    or_blank(row.usage.open_files),
                    or_blank(row.usage.open_sockets),
                ));
            }
        }
        out
    }
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
        report.timeline = timeline(&all_samples, every, &usage);
    }
    check(&target, settings, &accepted, &mut report).await;
    report
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

/// Every accepted job finished `completed`, and every user's dogs are exactly the names of
/// that user's accepted jobs, each once.
/// Waits for every accepted job to end, and returns those that did not as (job, status).
///
/// A busy machine drains a backlog slowly: the last of 200 jobs queued behind one worker may
/// wait well over a minute, which a fixed wait per job took for a stranded job. So the wait
/// goes on while jobs keep finishing: a job is reported only when a whole round of long-polls
/// (30 s each, many at a time) saw no job finish at all, or after ten minutes.
async fn wait_for_jobs(
    target: &Target,
    settings: &LoadSettings,
    accepted: &[(usize, String)],
) -> Vec<(String, String)> {
    use futures::StreamExt;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut waiting: Vec<String> = accepted.iter().map(|(_, job)| job.clone()).collect();
    loop {
        let statuses: Vec<(String, String)> = futures::stream::iter(waiting.clone())
            .map(|job| async move {
                let path = format!("/v1/jobs/{job}?wait=30");
                let status = match target.send(reqwest::Method::GET, &path, None).await {
                    Ok(view) => view["status"].as_str().unwrap_or("?").to_owned(),
                    Err(error) => error,
                };
                (job, status)
            })
            .buffer_unordered(settings.concurrency.max(1))
            .collect()
            .await;
        let before = waiting.len();
        let unfinished: Vec<(String, String)> = statuses
            .into_iter()
            .filter(|(_, status)| status != "completed")
            .collect();
        let progressed = unfinished.len() < before;
        if unfinished.is_empty() || !progressed || Instant::now() >= deadline {
            return unfinished;
        }
        waiting = unfinished.into_iter().map(|(job, _)| job).collect();
    }
}

async fn check(
    target: &Target,
    settings: &LoadSettings,
    accepted: &[(usize, String)],
    report: &mut LoadReport,
) {
    report
        .unfinished_jobs
        .extend(wait_for_jobs(target, settings, accepted).await);
    let mut expected: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for (n, _) in accepted {
        expected
            .entry(n % settings.users.max(1))
            .or_default()
            .insert(dog_name(*n));
    }
    for user in 0..settings.users {
        let path = format!("/v1/users/load-{user}/facts");
        let facts = target
            .send(reqwest::Method::GET, &path, None)
            .await
            .unwrap_or_default();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut things: BTreeMap<String, usize> = BTreeMap::new();
        for fact in facts["facts"].as_array().into_iter().flatten() {
            let value = fact["value"].as_str().unwrap_or_default().to_owned();
            if fact["key"] == "pet.dog" {
                *seen.entry(value).or_default() += 1;
            } else if fact["key"] == "likes.thing" {
                *things.entry(value).or_default() += 1;
            }
        }
        for i in 0..settings.facts_per_user {
            let count = things.get(&seeded_thing(i)).copied().unwrap_or(0);
            if count != 1 {
                report
                    .seeded_facts_wrong
                    .push(format!("load-{user}: {} ×{count}", seeded_thing(i)));
            }
        }
        let wanted = expected.remove(&user).unwrap_or_default();
        for name in &wanted {
            if !seen.contains_key(name) {
                report.lost_facts.push(format!("load-{user}: {name}"));
            }
        }
        for (name, count) in seen {
            if count > 1 {
                report
                    .duplicated_facts
                    .push(format!("load-{user}: {name} ×{count}"));
            }
            if !wanted.contains(&name) {
                report.unexpected_facts.push(format!("load-{user}: {name}"));
            }
        }
    }
}
