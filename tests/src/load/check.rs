//! The end of a load run: waiting for every accepted job, and checking that every user's
//! facts are exactly what the accepted jobs imply.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::{LoadReport, LoadSettings, Target, dog_name, seeded_thing};
use crate::backlog::JobTimes;

/// Waits for every accepted job to end: those that did not as (job, status), and the
/// completed ones' server-side times.
///
/// A busy machine drains a backlog slowly: the last of 200 jobs queued behind one worker may
/// wait well over a minute, which a fixed wait per job took for a stranded job. So the wait
/// goes on while jobs keep finishing: a job is reported only when a whole round of long-polls
/// (30 s each, many at a time) saw no job finish at all, or after ten minutes.
async fn wait_for_jobs(
    target: &Target,
    settings: &LoadSettings,
    accepted: &[(usize, String)],
) -> (Vec<(String, String)>, Vec<JobTimes>) {
    use futures::StreamExt;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut waiting: Vec<String> = accepted.iter().map(|(_, job)| job.clone()).collect();
    let mut times = Vec::with_capacity(waiting.len());
    loop {
        let statuses: Vec<(String, String, Option<JobTimes>)> =
            futures::stream::iter(waiting.clone())
                .map(|job| async move {
                    let path = format!("/v1/jobs/{job}?wait=30");
                    match target.send(reqwest::Method::GET, &path, None).await {
                        Ok(view) => {
                            let status = view["status"].as_str().unwrap_or("?").to_owned();
                            (job, status, JobTimes::from_view(&view))
                        }
                        Err(error) => (job, error, None),
                    }
                })
                .buffer_unordered(settings.concurrency.max(1))
                .collect()
                .await;
        let before = waiting.len();
        let mut unfinished = Vec::new();
        for (job, status, job_times) in statuses {
            if status == "completed" {
                times.extend(job_times);
            } else {
                unfinished.push((job, status));
            }
        }
        let progressed = unfinished.len() < before;
        if unfinished.is_empty() || !progressed || Instant::now() >= deadline {
            return (unfinished, times);
        }
        waiting = unfinished.into_iter().map(|(job, _)| job).collect();
    }
}

/// Every accepted job finished `completed`, and every user's dogs are exactly the names of
/// that user's accepted jobs, each once. Returns the completed jobs' server-side times.
pub(super) async fn check(
    target: &Target,
    settings: &LoadSettings,
    accepted: &[(usize, String)],
    report: &mut LoadReport,
) -> Vec<JobTimes> {
    let (unfinished, times) = wait_for_jobs(target, settings, accepted).await;
    report.unfinished_jobs.extend(unfinished);
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
    times
}
