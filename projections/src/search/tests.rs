//! Ranking rules, on small indexes built by hand.

use super::*;

/// A fact as a facts-only search ranks it.
struct Hit {
    fact: FactRecord,
    score: f64,
}

fn minilm(vector: &[f32]) -> QueryVector<'_> {
    QueryVector {
        vector,
        scale: SimilarityScale::MINILM,
    }
}

fn rank(
    index: &UserIndex,
    query: &str,
    vector: Option<&[f32]>,
    filter: &SearchFilter,
    limit: usize,
    min_score: f64,
) -> Vec<Hit> {
    super::rank(index, query, vector.map(minilm), filter, limit, min_score)
        .into_iter()
        .filter_map(|memory| match memory {
            ScoredMemory::Fact { fact, score } => Some(Hit { fact, score }),
            ScoredMemory::Episode { .. } => None,
        })
        .collect()
}
use crate::fact_record::FactSourceRecord;

fn fact(key: &str, value: &str, text: &str, embedding: Option<Vec<f32>>) -> IndexedFact {
    let record = FactRecord {
        fact_id: uuid::Uuid::now_v7(),
        user_id: "kid".into(),
        key: key.into(),
        kind: if key.starts_with("pet") {
            "relationship"
        } else {
            "preference"
        }
        .into(),
        value: value.into(),
        text: text.into(),
        confidence: 0.9,
        language: "en".into(),
        source: FactSourceRecord {
            job_id: None,
            message_indexes: vec![],
        },
        version: 1,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    };
    IndexedFact::new(record, embedding)
}

fn index(facts: Vec<IndexedFact>) -> UserIndex {
    UserIndex::new(facts, vec![])
}

fn many() -> Vec<IndexedFact> {
    let mut facts: Vec<IndexedFact> = (0..200)
        .map(|n| {
            fact(
                "likes.thing",
                &format!("thing {n}"),
                &format!("I like thing {n}"),
                None,
            )
        })
        .collect();
    facts.push(fact(
        "pet.dog",
        "Milu",
        "Em có một con chó tên là Milu",
        None,
    ));
    facts.push(fact(
        "favorite.food",
        "phở",
        "Món em thích nhất là phở",
        None,
    ));
    facts
}

#[test]
fn a_name_the_embedding_does_not_know_is_found_by_its_words() {
    let facts = index(many());
    let results = rank(&facts, "Milu", None, &SearchFilter::default(), 3, 0.0);
    assert_eq!(results[0].fact.value, "Milu");
    let results = rank(
        &facts,
        "con chó tên gì",
        None,
        &SearchFilter::default(),
        3,
        0.0,
    );
    assert_eq!(results[0].fact.value, "Milu");
    let results = rank(&facts, "PHO", None, &SearchFilter::default(), 3, 0.0);
    assert_eq!(results[0].fact.value, "phở", "accents and case folded");
}

#[test]
fn cosine_in_lanes_equals_the_plain_sum() {
    let a: Vec<f32> = (0..387).map(|i| ((i * 7) % 13) as f32 / 13.0).collect();
    let b: Vec<f32> = (0..387).map(|i| ((i * 5) % 11) as f32 / 11.0).collect();
    let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    assert!((cosine(&a, &b) - plain).abs() < 1e-3);
    assert_eq!(cosine(&a, &b[..10]), 0.0, "different lengths never match");
}

#[test]
fn a_filter_ranks_words_among_the_filtered_facts_only() {
    let facts = index(many());
    let filter = SearchFilter {
        kinds: Some(vec!["preference".into()]),
        ..SearchFilter::default()
    };
    let results = rank(&facts, "phở thing", None, &filter, 3, 0.0);
    assert!(results.iter().all(|r| r.fact.kind == "preference"));
    assert_eq!(
        results[0].fact.value, "phở",
        "the rarer word wins among the filtered"
    );
}

#[test]
fn meaning_ranks_when_no_word_is_shared() {
    let mut facts = many();
    facts.push(fact(
        "pet.cat",
        "Mochi",
        "I have a cat named Mochi",
        Some(vec![1.0, 0.0]),
    ));
    facts.push(fact(
        "likes.sport",
        "football",
        "I love football",
        Some(vec![0.0, 1.0]),
    ));
    let facts = index(facts);
    let results = rank(
        &facts,
        "kitty",
        Some(&[0.9, 0.1]),
        &SearchFilter::default(),
        3,
        0.0,
    );
    assert_eq!(results[0].fact.value, "Mochi");
    assert!(results[0].score > 0.0 && results[0].score <= 1.0);
}

#[test]
fn filters_limits_and_min_score_apply() {
    let facts = index(many());
    let filter = SearchFilter {
        keys: Some(vec!["pet.*".into()]),
        ..SearchFilter::default()
    };
    let results = rank(&facts, "thing 5 Milu", None, &filter, 10, 0.0);
    assert!(results.iter().all(|r| r.fact.key.starts_with("pet")));
    assert_eq!(
        rank(&facts, "thing", None, &SearchFilter::default(), 5, 0.0).len(),
        5
    );
    assert!(rank(&facts, "thing", None, &SearchFilter::default(), 5, 1.1).is_empty());
    assert!(rank(&facts, "", None, &SearchFilter::default(), 5, 0.0).is_empty());
}

fn values(index: &UserIndex) -> Vec<String> {
    let mut values: Vec<String> = index.facts().map(|f| f.record.value.clone()).collect();
    values.sort();
    values
}

#[test]
fn a_refresh_reads_only_new_and_changed_facts_and_drops_gone_ones() {
    let kept = fact("likes.food", "pho", "likes pho", None).at_position(1);
    let changed = fact("pet.dog", "Max", "dog Max", None).at_position(2);
    let gone = fact("likes.color", "blue", "likes blue", None).at_position(3);
    let ids = [
        kept.record.fact_id,
        changed.record.fact_id,
        gone.record.fact_id,
    ];
    let old = index(vec![kept, changed.clone(), gone]);
    let added = fact("pet.cat", "Mochi", "cat Mochi", None).at_position(6);
    let current = [(ids[0], 1), (ids[1], 5), (added.record.fact_id, 6)];

    let changes = old.changes(&current);
    assert_eq!(changes.kept, 1);
    assert_eq!(changes.to_read, vec![ids[1], added.record.fact_id]);

    let mut corrected = changed.record;
    corrected.value = "Maximus".into();
    let corrected = IndexedFact::new(corrected, None).at_position(5);
    let fresh = old.refreshed(
        &current,
        vec![corrected, added],
        EpisodeRefresh::Added(vec![]),
    );
    assert_eq!(values(&fresh), ["Maximus", "Mochi", "pho"]);
    let whole = UserIndex::new(fresh.facts().cloned().collect(), vec![]);
    assert_eq!(
        fresh.stats, whole.stats,
        "word counts adjusted, as if counted anew"
    );
    assert!(rank(&fresh, "blue", None, &SearchFilter::default(), 5, 0.0).is_empty());
    assert_eq!(
        rank(&fresh, "Maximus", None, &SearchFilter::default(), 5, 0.0)[0]
            .fact
            .value,
        "Maximus"
    );
}

#[test]
fn a_fact_read_newer_than_listed_is_served_as_read_and_one_gone_meanwhile_is_left_out() {
    let held = fact("pet.dog", "Max", "dog Max", None).at_position(2);
    let listed_only = fact("pet.cat", "Mochi", "cat Mochi", None).at_position(4);
    let old = index(vec![held.clone()]);
    let current = [(held.record.fact_id, 3), (listed_only.record.fact_id, 4)];
    let mut newer = held.record;
    newer.value = "Rex".into();
    // Changed again between the listing and the read; the new fact was retracted
    // between them, so the read did not return it.
    let read = vec![IndexedFact::new(newer, None).at_position(7)];
    let fresh = old.refreshed(&current, read, EpisodeRefresh::Added(vec![]));
    assert_eq!(values(&fresh), ["Rex"]);
}

fn turn(job: Uuid, index: i32, name: &str, content: &str, day: u32) -> IndexedEpisode {
    let record = EpisodeRecord {
        episode_id: crate::episodes::episode_id(job, index),
        job_id: job,
        message_index: index,
        role: "user".into(),
        name: Some(name.into()),
        content: content.into(),
        occurred_at: DateTime::parse_from_rfc3339(&format!("2023-05-{day:02}T10:00:00Z"))
            .unwrap()
            .with_timezone(&Utc),
    };
    IndexedEpisode::new(record, None, i64::from(day))
}

fn kinds(results: &[ScoredMemory]) -> Vec<&'static str> {
    results
        .iter()
        .map(|r| match r {
            ScoredMemory::Fact { .. } => "fact",
            ScoredMemory::Episode { .. } => "episode",
        })
        .collect()
}

#[test]
fn turns_rank_with_facts_by_their_words_and_speaker_and_answer_tagged() {
    let job = Uuid::now_v7();
    let turns = vec![
        turn(job, 0, "Caroline", "I went to a support group yesterday", 7),
        turn(job, 1, "Melanie", "I painted a sunrise by the lake", 8),
    ];
    let index = UserIndex::new(many(), turns);
    let all = super::rank(
        &index,
        "support group",
        None,
        &SearchFilter::default(),
        3,
        0.0,
    );
    assert_eq!(kinds(&all)[0], "episode");
    let json = serde_json::to_value(&all[0]).unwrap();
    assert_eq!(json["type"], "episode");
    assert_eq!(json["name"], "Caroline");
    assert_eq!(json["message_index"], 0);
    let by_speaker = super::rank(&index, "melanie", None, &SearchFilter::default(), 1, 0.0);
    assert!(
        matches!(&by_speaker[0], ScoredMemory::Episode { episode, .. }
        if episode.name.as_deref() == Some("Melanie"))
    );
}

#[test]
fn types_windows_and_fact_filters_choose_among_facts_and_turns() {
    let job = Uuid::now_v7();
    let turns = vec![
        turn(job, 0, "Caroline", "my dog Milu loves the park", 7),
        turn(job, 1, "Caroline", "Milu ran after a ball", 20),
    ];
    let index = UserIndex::new(many(), turns);
    let only_facts = SearchFilter {
        episodes: false,
        ..SearchFilter::default()
    };
    let facts = super::rank(&index, "Milu", None, &only_facts, 10, 0.0);
    assert!(kinds(&facts).iter().all(|k| *k == "fact"));
    let only_turns = SearchFilter {
        facts: false,
        since: Some(
            DateTime::parse_from_rfc3339("2023-05-10T00:00:00Z")
                .unwrap()
                .into(),
        ),
        ..SearchFilter::default()
    };
    let late = super::rank(&index, "Milu", None, &only_turns, 10, 0.0);
    assert_eq!(late.len(), 1, "one turn inside the window");
    let keyed = SearchFilter {
        keys: Some(vec!["pet.*".into()]),
        ..SearchFilter::default()
    };
    let pets = super::rank(&index, "Milu", None, &keyed, 10, 0.0);
    assert!(
        kinds(&pets).iter().all(|k| *k == "fact"),
        "keys ask for facts"
    );
}

#[test]
fn a_fact_and_the_turn_it_was_stated_in_are_not_both_shown() {
    let job = Uuid::now_v7();
    let mut dog = fact("pet.dog", "Milu", "has a dog called Milu", None);
    dog.record.source = FactSourceRecord {
        job_id: Some(job),
        message_indexes: vec![0],
    };
    let index = UserIndex::new(
        vec![dog],
        vec![
            turn(job, 0, "Caroline", "I have a dog called Milu", 7),
            turn(job, 1, "Caroline", "Milu is brown", 7),
        ],
    );
    let results = super::rank(&index, "dog Milu", None, &SearchFilter::default(), 10, 0.0);
    assert_eq!(
        results.len(),
        2,
        "the fact and its turn are shown once: {results:?}"
    );
    let shows_turn_0 = results
        .iter()
        .any(|r| matches!(r, ScoredMemory::Episode { episode, .. } if episode.message_index == 0));
    let shows_fact = kinds(&results).contains(&"fact");
    assert!(
        shows_turn_0 != shows_fact,
        "one of the two stands for the other"
    );
    let facts_only = SearchFilter {
        episodes: false,
        ..SearchFilter::default()
    };
    let facts = super::rank(&index, "dog Milu", None, &facts_only, 10, 0.0);
    assert_eq!(kinds(&facts), ["fact"], "without turns the fact is shown");
}

#[test]
fn the_reply_next_to_a_matching_question_ranks_above_an_unrelated_turn() {
    let (job, other) = (Uuid::now_v7(), Uuid::now_v7());
    let index = UserIndex::new(
        vec![],
        vec![
            turn(job, 0, "Melanie", "Did you go to the pottery class?", 7),
            turn(job, 1, "Caroline", "Yes, last Friday, it was lovely", 7),
            turn(other, 0, "Caroline", "Friday is my favourite day", 9),
        ],
    );
    let results = super::rank(
        &index,
        "pottery class",
        None,
        &SearchFilter::default(),
        3,
        0.0,
    );
    let order: Vec<i32> = results
        .iter()
        .map(|r| match r {
            ScoredMemory::Episode { episode, .. } if episode.job_id == job => episode.message_index,
            _ => -1,
        })
        .collect();
    assert_eq!(
        order,
        [0, 1],
        "the reply follows its question; the unrelated turn is out"
    );
}

#[test]
fn a_score_means_the_same_across_queries_and_never_rises_down_the_list() {
    let mut facts = many();
    facts.push(fact(
        "pet.cat",
        "Mochi",
        "I have a cat named Mochi",
        Some(vec![1.0, 0.0]),
    ));
    let index = index(facts);
    let named = super::rank(&index, "Mochi", None, &SearchFilter::default(), 5, 0.0);
    assert!(named[0].score() > 0.9, "{named:?}");
    let nonsense = super::rank(
        &index,
        "xyzzy plugh",
        Some(minilm(&[0.0, 1.0])),
        &SearchFilter::default(),
        5,
        0.0,
    );
    assert!(nonsense.iter().all(|r| r.score() < 0.1), "{nonsense:?}");
    let dropped = super::rank(
        &index,
        "xyzzy plugh",
        Some(minilm(&[0.0, 1.0])),
        &SearchFilter::default(),
        5,
        0.2,
    );
    assert!(dropped.is_empty(), "a threshold drops what is irrelevant");
    let some = super::rank(&index, "thing pho", None, &SearchFilter::default(), 10, 0.0);
    assert!(some.windows(2).all(|w| w[0].score() >= w[1].score()));
}

#[test]
fn a_turn_found_comes_with_the_turns_around_it_when_asked() {
    let job = Uuid::now_v7();
    let index = UserIndex::new(
        vec![],
        (0..5)
            .map(|i| turn(job, i, "Caroline", &format!("line {i} about kayaks{i}"), 7))
            .collect(),
    );
    let filter = SearchFilter {
        context: 1,
        ..SearchFilter::default()
    };
    let found = super::rank(&index, "kayaks2", None, &filter, 1, 0.0);
    let ScoredMemory::Episode { context, .. } = &found[0] else {
        panic!("a turn: {found:?}");
    };
    let around: Vec<i32> = context.iter().map(|t| t.message_index).collect();
    assert_eq!(around, [1, 3]);
    let plain = super::rank(&index, "kayaks2", None, &SearchFilter::default(), 1, 0.0);
    let json = serde_json::to_value(&plain[0]).unwrap();
    assert!(
        json.get("context").is_none(),
        "no context unless asked: {json}"
    );
}

#[test]
fn the_same_cosine_means_what_the_models_scale_says() {
    let index = index(vec![fact(
        "pet.cat",
        "Mochi",
        "I have a cat named Mochi",
        Some(vec![1.0, 0.0]),
    )]);
    // Cosine 0.75: a paraphrase for MiniLM, unrelated for multilingual-e5.
    let question = [0.75, (1.0f32 - 0.75 * 0.75).sqrt()];
    let search = |scale| {
        let vector = QueryVector {
            vector: &question,
            scale,
        };
        super::rank(
            &index,
            "xyzzy",
            Some(vector),
            &SearchFilter::default(),
            5,
            0.0,
        )
    };
    assert_eq!(search(SimilarityScale::MINILM)[0].score(), 1.0);
    let e5 = SimilarityScale {
        floor: 0.79,
        unrelated: 0.78,
        paraphrase: 0.88,
        key_lift: 0.0,
    };
    assert!(search(e5).iter().all(|r| r.score() == 0.0));
}

/// The values of the facts among ranked memories, in order.
fn fact_values(found: Vec<ScoredMemory>) -> Vec<String> {
    found
        .into_iter()
        .filter_map(|memory| match memory {
            ScoredMemory::Fact { fact, .. } => Some(fact.value),
            ScoredMemory::Episode { .. } => None,
        })
        .collect()
}

#[test]
fn words_typed_without_marks_match_and_other_marks_do_not() {
    assert_eq!(words("Phở!"), ["=phở", "~pho"]);
    assert_eq!(words("con thich an pho"), ["con", "thich", "an", "pho"]);
    assert_eq!(query_words("phở"), [vec!["=phở", "pho"]]);
    assert_eq!(query_words("pho"), [vec!["~pho", "pho"]]);
    let index = index(vec![
        fact("family.mother", "má", "Má của bé là bác sĩ", None),
        fact("habit", "mà", "Bé ăn mà không nói", None),
        fact("likes.food", "phở", "Con thích ăn phở", None),
        fact("likes.dance", "múa rối", "Thích xem múa rối", None),
        fact("note", "mua sam", "Di mua sam voi me", None),
    ]);
    let found = |query| super::rank(&index, query, None, &SearchFilter::default(), 3, 0.0);
    let first = |query| match &found(query)[0] {
        ScoredMemory::Fact { fact, .. } => fact.value.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(first("con thich an pho"), "phở");
    assert_eq!(first("má"), "má");
    assert_eq!(first("mà"), "mà");
    let values = |query| fact_values(found(query));
    assert_eq!(
        values("mưa"),
        ["mua sam"],
        "rain is not dance; a word typed without marks may be either"
    );
    let mut unmarked = values("mua");
    unmarked.sort();
    assert_eq!(unmarked, ["mua sam", "múa rối"]);
}

#[test]
fn an_english_function_word_in_an_english_question_is_not_a_vietnamese_word() {
    let index = index(vec![
        fact("likes.activity", "tô màu", "Thích tô màu", None),
        fact("family.sister", "bé Na", "Có em gái là bé Na", None),
        fact("goal", "bác sĩ", "Muốn làm bác sĩ", None),
    ]);
    let values = |query| {
        fact_values(super::rank(
            &index,
            query,
            None,
            &SearchFilter::default(),
            3,
            0.0,
        ))
    };
    assert!(
        values("what does she want to be").is_empty(),
        "\"to\" is not \"tô\", \"be\" not \"bé\""
    );
    assert_eq!(
        values("con thich to mau"),
        ["tô màu"],
        "Vietnamese typed without marks"
    );
    assert_eq!(
        values("be Na"),
        ["bé Na"],
        "too few words to call it English"
    );
}

#[test]
fn an_english_stem_never_meets_a_word_written_with_marks() {
    assert_eq!(query_words("doing"), [vec!["~doing", "do"]]);
    let index = index(vec![
        fact(
            "favorite.drink",
            "sinh tố",
            "Đồ uống yêu thích là sinh tố",
            None,
        ),
        fact(
            "dislikes.activity",
            "doing chores",
            "Hates doing chores",
            None,
        ),
    ]);
    let values = fact_values(super::rank(
        &index,
        "doing",
        None,
        &SearchFilter::default(),
        3,
        0.0,
    ));
    assert_eq!(values, ["doing chores"], "\"doing\" is not \"đồ\" (thing)");
}

#[test]
fn facts_changed_since_are_merged_in_when_they_and_the_held_ones_add_up_to_the_count() {
    let first = fact("likes.food", "pho", "likes pho", None).at_position(1);
    let second = fact("pet.dog", "Max", "dog Max", None).at_position(2);
    let old = index(vec![first.clone(), second.clone()]);
    assert_eq!(old.last_fact_position(), Some(2));
    let added = fact("pet.cat", "Mochi", "cat Mochi", None).at_position(5);
    let mut moved = second.record.clone();
    moved.value = "Rex".into();
    let moved = IndexedFact::new(moved, None).at_position(4);
    let changed = vec![moved, added];

    assert!(
        !old.adds_up(&changed, 2),
        "one held fact was retracted: which one needs the full listing"
    );
    assert!(old.adds_up(&changed, 3));
    let merged = old.merged(changed, EpisodeRefresh::Added(vec![]));
    assert_eq!(values(&merged), ["Mochi", "Rex", "pho"]);
    let whole = UserIndex::new(merged.facts().cloned().collect(), vec![]);
    assert_eq!(
        merged.stats, whole.stats,
        "word counts adjusted, as if counted anew"
    );
    let ids = |index: &UserIndex| index.facts().map(|f| f.record.fact_id).collect::<Vec<_>>();
    assert_eq!(ids(&merged), ids(&whole), "facts kept in id order");
}

#[test]
fn turns_added_by_a_refresh_count_in_the_word_statistics() {
    let job = Uuid::now_v7();
    let old = UserIndex::new(
        vec![fact("likes.food", "pho", "likes pho", None).at_position(1)],
        vec![turn(job, 0, "Mai", "we went to the zoo", 2)],
    );
    let added = vec![turn(job, 1, "Mai", "the zoo had pandas", 3)];
    let current = [(old.facts().next().unwrap().record.fact_id, 1)];
    let fresh = old.refreshed(&current, vec![], EpisodeRefresh::Added(added));
    let whole = UserIndex::new(
        fresh.facts().cloned().collect(),
        fresh.episodes().cloned().collect(),
    );
    assert_eq!(fresh.stats, whole.stats);
    assert_eq!(fresh.stats.document_frequency.get("zoo"), Some(&2));
}

#[test]
fn an_english_word_matches_in_its_other_forms() {
    assert_eq!(words("Painted"), words("paints"));
    let index = index(vec![
        fact(
            "hobby",
            "adoption agencies",
            "Has been researching adoption agencies",
            None,
        ),
        fact("likes.sport", "football", "Likes playing football", None),
        fact("likes.food", "noodles", "Likes noodles", None),
    ]);
    let results = rank(
        &index,
        "what did she research",
        None,
        &SearchFilter::default(),
        3,
        0.0,
    );
    assert_eq!(results[0].fact.value, "adoption agencies");
    let results = rank(&index, "who plays", None, &SearchFilter::default(), 3, 0.0);
    assert_eq!(results[0].fact.value, "football");
}
