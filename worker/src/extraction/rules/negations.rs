//! Statements that something no longer holds: a pet that died or ran away, a liking given up,
//! a place moved from, a dream job abandoned.

use regex::Regex;

use super::RulesExtractor;
use super::findings::{DIRECT, Finding, Shape, WEAK};
use super::patterns::{Templates, group};
use super::sentences::Clause;
use super::text::{
    bare, cut_at_stops, fold_case, is_capitalised, slug, starts_with_word, strip_leading,
};
use super::words::{LEADING_FILLERS, NAME_STOPS, PLACE_STOPS};

/// Pets gone, likings given up, things no longer done or wanted, in both languages.
#[derive(Debug)]
pub(super) struct NegationPatterns {
    pub(super) pet_gone_en: Regex,
    pub(super) someone_elses_pet: Vec<Regex>,
    pub(super) name_gone_en: Regex,
    pub(super) pet_given_away: Regex,
    pub(super) pet_gone_vi: Regex,
    pub(super) pet_lost_vi: Regex,
    pub(super) no_pet: Vec<Regex>,
    pub(super) anymore: Regex,
    pub(super) negated_en: Regex,
    pub(super) used_to_en: Regex,
    pub(super) used_to_vi: Regex,
    pub(super) quit_en: Regex,
    pub(super) not_favorite_en: Regex,
    pub(super) negated_vi: Regex,
}

impl NegationPatterns {
    pub(super) fn build(templates: &Templates<'_>) -> Result<Self, regex::Error> {
        Ok(Self {
            // "Tiger is my cousin's cat", "Mun là mèo của bạn em": a name the user took back.
            someone_elses_pet: templates.all(&[
                r"^(<CAP>[\p{L}'-]*) (?:is|was|'s) (?:actually |really )?(?:my (?:\p{L}+)'s|(?:\p{L}+)'s|not my) (?:<PETADJ>\s+)*(<ANIMAL>)\b",
                r"^(<CAP>[\p{L}'-]*) (?:là|thì là) (?:con |chú |bé )?(<ANIMAL>) của (?:bạn|anh họ|chị họ|em họ|hàng xóm|cô|chú|dì|bà|ông)\b",
            ])?,
            pet_gone_en: templates.one(
                r"^(?:my|our) (?:<PETADJ>\s+)*(<ANIMAL>)(?:'s name was| named| called|,)?(?:\s+(<CAP>[\p{L}'-]*))?,?\s+(?:(?:just|sadly|recently|suddenly|unfortunately|got|has|had|was|is)\s+)*(?:died|dead|passed away|ran away|run away|lost|went missing|missing|gone|went to heaven|sick and died|given away|hit by a car|moved away)\b",
            )?,
            // "We gave Pudding to a farm": a pet given away is gone too.
            pet_given_away: templates.one(
                r"^(?:i|we|my (?:mom|mum|dad|parents|family)) (?:(?:had to|have to|just|finally|sadly) )*(?:(?:gave|give|sold|rehomed) (<CAP>[\p{L}'-]*) (?:away|to|back)|(?:gave|give) away (<CAP>[\p{L}'-]*))\b",
            )?,
            name_gone_en: templates.one(
                r"^(<CAP>[\p{L}'-]*)\s+(?:(?:just|sadly|recently|suddenly|unfortunately|has|had)\s+)*(?:died|passed away|ran away|went missing|got lost)\b",
            )?,
            pet_gone_vi: templates.one(
                r"^(?:con |chú |bé )?(<ANIMAL>)\b(.*?)\s(?:(?:đã|bị|vừa|mới|đi)\s+)*(?:chết|qua đời|đi lạc|lạc mất|bị lạc|bỏ đi|bị bắt mất|chạy mất|mất tích|mất)\b",
            )?,
            pet_lost_vi: templates.one(
                r"^<SELF> (?:(?:bị|đã|vừa|mới) )*(?:mất|lạc mất|làm mất|làm lạc) (?:con |chú |bé )?(<ANIMAL>)\b(.*)$",
            )?,
            no_pet: templates.all(&[
                r"^(?:i|we) (?:(?:really|just|actually) )*(?:don't|do not|dont|no longer|doesn't|haven't got|have not got|have no|gave away|lost|sold) (?:have |own |keep |got )?(?:a |an |any |my |our |the )?(?:<PETADJ>\s+)*(<ANIMAL>|pets?)\b",
                r"^(?:nhà )?<SELF> (?:(?:cũng|đã|giờ) )*(?:(?:không|chẳng|ko|hông) còn|hết|thôi(?: không)?|không|chẳng|ko|hông) (?:nuôi|có) (?:con |chú |bé )?(<ANIMAL>|thú cưng|con vật|vật nuôi|con nào)\b",
            ])?,
            anymore: templates.one(r"\s*\b(?:anymore|any more|no more)\b")?,
            negated_en: templates.one(
                r"^(?:(?:i|we) (?:(?:really|just|actually|honestly) )*(?:don't|do not|dont|doesn't|no longer|never|can't|cannot)|(?:i'm|im|i am|we're|we are) (?:(?:really|just|actually|honestly) )*(?:not|no longer)) (?:really |even )?(like|love|enjoy|play|do|eat|drink|go to|go|watch|learn|take|practi[cs]e|live in|want to be|want to become|wanna be|into|a fan of|allergic to)\s+(.+)$",
            )?,
            used_to_en: templates.one(
                r"^(?:i|we) used to (like|love|enjoy|play|do|eat|drink|go to|go|watch|learn|take|practi[cs]e|live in|be allergic to|want to be|have|own)\s+(.+)$",
            )?,
            used_to_vi: templates.one(
                r"^(?:hồi trước|trước đây|ngày xưa|hồi nhỏ|lúc trước|hồi xưa|trước kia),? <SELF> (?:(?:rất|cũng|từng|đã từng) )*(thích|yêu|mê|khoái|nuôi|có|chơi|học|sống ở|muốn làm)\s+(.+)$",
            )?,
            quit_en: templates.one(
                r"^(?:i|we) (?:(?:just|already|finally|recently|have|'ve|had) )*(?:quit|stopped|gave up|given up|dropped out of|dropped)\s+(?:(?:on|playing|doing|learning|taking|going to|practi[cs]ing|eating|drinking)\s+)*(.+)$",
            )?,
            not_favorite_en: templates.one(
                r"^(.+?)\s+(?:is not|isn't|is no longer|'s not|'s no longer|are not|aren't|are no longer)\s+my favou?rite(?:\s+(.+?))?$",
            )?,
            negated_vi: templates.one(
                r"^<SELF> (?:(?:cũng|đã|thì|giờ|bây giờ) )*(không còn|chẳng còn|ko còn|hông còn|hết|thôi không|thôi|ngừng|bỏ|không|chẳng|ko|hông) (?:(?:còn|có|được|hay) )*(thích|mê|yêu|khoái|chơi|tập|đi học|đi tập|học|xem|ăn|uống|sống ở|ở|bị dị ứng với|bị dị ứng|dị ứng với|dị ứng|muốn làm|muốn trở thành|nuôi|có)?\s*(.+)$",
            )?,
        })
    }
}

impl RulesExtractor {
    /// Statements that something no longer holds. True when the clause was one, so nothing
    /// else is read from it ("My hamster Bean died" must not also add the hamster).
    pub(super) fn negations(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) -> bool {
        let text = clause.text;
        let patterns = &self.patterns.negations;
        if let Some(caps) = patterns.pet_gone_en.captures(text) {
            if let Some(slug) =
                group(&caps, 1).and_then(|a| self.lexicon.animal_of_word.get(&fold_case(a)))
            {
                let name = group(&caps, 2).map(str::to_owned);
                out.push(Finding::negate(format!("pet.{slug}"), name, DIRECT));
            }
            return true;
        }
        if let Some(name) = patterns
            .name_gone_en
            .captures(text)
            .or_else(|| patterns.pet_given_away.captures(text))
            .and_then(|c| group(&c, 1).or_else(|| group(&c, 2)))
            && !self.lexicon.is_known_word(name)
            && !self.lexicon.not_names.contains(&fold_case(name))
        {
            out.push(Finding::negate("pet", Some(name.to_owned()), WEAK));
            return true;
        }
        if let Some(caps) = patterns.pet_gone_vi.captures(text) {
            let middle = group(&caps, 2).unwrap_or_default();
            let mine = middle.split_whitespace().any(|w| {
                ["em", "con", "mình", "tớ", "tôi", "cháu"].contains(&fold_case(w).as_str())
            });
            let name = middle
                .split_whitespace()
                .map(bare)
                .find(|w| is_capitalised(w) && !NAME_STOPS.contains(&fold_case(w).as_str()))
                .map(str::to_owned);
            if let Some(slug) =
                group(&caps, 1).and_then(|a| self.lexicon.animal_of_word.get(&fold_case(a)))
                && (mine || name.is_some())
            {
                out.push(Finding::negate(format!("pet.{slug}"), name, DIRECT));
                return true;
            }
        }
        if let Some(caps) = patterns
            .someone_elses_pet
            .iter()
            .find_map(|re| re.captures(text))
            && let (Some(name), Some(animal)) = (group(&caps, 1), group(&caps, 2))
            && let Some(slug) = self.lexicon.animal_of_word.get(&fold_case(animal))
        {
            out.push(Finding::negate(
                format!("pet.{slug}"),
                Some(name.to_owned()),
                DIRECT,
            ));
            return true;
        }
        if let Some(caps) = patterns.pet_lost_vi.captures(text)
            && let Some(slug) =
                group(&caps, 1).and_then(|a| self.lexicon.animal_of_word.get(&fold_case(a)))
        {
            let name = group(&caps, 2).and_then(|rest| {
                let rest = strip_leading(rest.trim(), &["tên là", "tên", "của em", "của con"]);
                rest.split_whitespace()
                    .map(bare)
                    .next()
                    .filter(|w| is_capitalised(w))
                    .map(str::to_owned)
            });
            out.push(Finding::negate(format!("pet.{slug}"), name, DIRECT));
            return true;
        }
        if let Some(animal) = patterns
            .no_pet
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        {
            let key = match self.lexicon.animal_of_word.get(&fold_case(animal)) {
                Some(slug) => format!("pet.{slug}"),
                None => "pet".to_owned(),
            };
            out.push(Finding::negate(key, None, DIRECT));
            return true;
        }
        self.negated_statement(text, out)
    }

    /// "I don't play the piano anymore", "I quit football", "Em không chơi cờ vua nữa".
    fn negated_statement(&self, text: &str, out: &mut Vec<Finding>) -> bool {
        let patterns = &self.patterns.negations;
        let without_anymore = patterns.anymore.replace_all(text, "");
        let said_anymore = without_anymore.len() != text.len();
        let english = if said_anymore || starts_with_word(text, &["i no longer", "we no longer"]) {
            patterns
                .negated_en
                .captures(&without_anymore)
                .and_then(|caps| {
                    Some((group(&caps, 1)?.to_lowercase(), group(&caps, 2)?.to_owned()))
                })
                .map(|(verb, rest)| (verb, rest, DIRECT))
        } else {
            None
        };
        let statement = english
            .or_else(|| {
                patterns
                    .not_favorite_en
                    .captures(&without_anymore)
                    .and_then(|caps| {
                        let value = group(&caps, 1)?;
                        let topic = group(&caps, 2).unwrap_or("");
                        Some((format!("favorite {topic}"), value.to_owned(), DIRECT))
                    })
            })
            .or_else(|| {
                patterns.used_to_en.captures(text).and_then(|caps| {
                    Some((
                        group(&caps, 1)?.to_lowercase(),
                        group(&caps, 2)?.to_owned(),
                        WEAK,
                    ))
                })
            })
            .or_else(|| {
                patterns
                    .quit_en
                    .captures(text)
                    .and_then(|caps| Some(("quit".to_owned(), group(&caps, 1)?.to_owned(), DIRECT)))
            });
        let statement = statement.or_else(|| {
            patterns.used_to_vi.captures(text).and_then(|caps| {
                Some((
                    group(&caps, 1)?.to_lowercase(),
                    group(&caps, 2)?.to_owned(),
                    WEAK,
                ))
            })
        });
        if let Some((verb, rest, confidence)) = statement {
            self.push_negation(&verb, &rest, confidence, out);
            return true;
        }
        let Some(caps) = patterns.negated_vi.captures(text) else {
            return false;
        };
        let negator = group(&caps, 1).map(fold_case).unwrap_or_default();
        let verb = group(&caps, 2).map(fold_case).unwrap_or_default();
        let rest = group(&caps, 3).unwrap_or_default();
        let particles = ["ạ", "đâu", "rồi", "luôn", "nha", "nhé", "á"];
        let mut words: Vec<&str> = rest.split_whitespace().collect();
        while words
            .last()
            .is_some_and(|w| particles.contains(&fold_case(bare(w)).as_str()))
        {
            words.pop();
        }
        let said_nua = words.last().is_some_and(|w| fold_case(bare(w)) == "nữa");
        if said_nua {
            words.pop();
        }
        let plain_no = matches!(negator.as_str(), "không" | "chẳng" | "ko" | "hông");
        if plain_no && !said_nua {
            return false;
        }
        let rest = words.join(" ");
        let verb = match verb.as_str() {
            "" => "thích",
            v => v,
        };
        self.push_negation(verb, &rest, DIRECT, out);
        true
    }

    fn push_negation(&self, verb: &str, rest: &str, confidence: f64, out: &mut Vec<Finding>) {
        match verb {
            "have" | "own" | "nuôi" | "có" => {
                let mut owned = Vec::new();
                self.possession_list(rest, &mut owned);
                for pet in owned.into_iter().filter(|f| f.key.starts_with("pet.")) {
                    let name = (pet.shape == Shape::Named).then_some(pet.value).flatten();
                    out.push(Finding::negate(pet.key, name, confidence));
                }
            }
            "live in" | "sống ở" | "ở" => {
                if let Some(place) = self.place(rest) {
                    out.push(Finding::negate("location", Some(place), confidence));
                }
            }
            "allergic to"
            | "be allergic to"
            | "bị dị ứng với"
            | "bị dị ứng"
            | "dị ứng với"
            | "dị ứng" => {
                for piece in self.split_list(cut_at_stops(rest, PLACE_STOPS, true)) {
                    let value = fold_case(strip_leading(piece, LEADING_FILLERS));
                    out.push(Finding::negate("health.allergy", Some(value), confidence));
                }
            }
            "want to be" | "want to become" | "wanna be" | "muốn làm" | "muốn trở thành" => {
                let phrase = cut_at_stops(rest, PLACE_STOPS, true);
                let job = self.lexicon.job_in(phrase).unwrap_or_else(|| {
                    strip_leading(phrase, &["a", "an", "the", "một"]).to_lowercase()
                });
                if !job.is_empty() {
                    out.push(Finding::negate("goal.dream_job", Some(job), confidence));
                }
            }
            _ => {
                let only_favorite = verb.starts_with("favorite");
                let topic_phrase = verb.strip_prefix("favorite").map(str::trim);
                let verb_topic = match verb {
                    "eat" | "ăn" => Some("food"),
                    "drink" | "uống" => Some("drink"),
                    "play" | "do" | "go" | "go to" | "take" | "learn" | "practice" | "practise"
                    | "quit" | "chơi" | "tập" | "học" | "đi học" | "đi tập" => {
                        Some("activity")
                    }
                    _ => None,
                };
                for item in self.preference_items(rest, false) {
                    let topic = topic_phrase
                        .filter(|t| !t.is_empty())
                        .and_then(|t| self.lexicon.topic_named(t).or_else(|| slug(t)))
                        .unwrap_or_else(|| match (item.guessed, verb_topic) {
                            (true, Some(topic)) => topic.to_owned(),
                            _ => item.topic.clone(),
                        });
                    if !only_favorite {
                        out.push(Finding::negate(
                            format!("likes.{topic}"),
                            Some(item.value.clone()),
                            confidence,
                        ));
                    }
                    // "I don't like it anymore" says what the user thinks of it now: they
                    // dislike it. A habit given up ("I don't play the piano anymore") is no
                    // opinion, and "I used to like it" only ends the liking.
                    if !only_favorite && confidence == DIRECT && is_liking_verb(verb) {
                        out.push(Finding::assert(
                            format!("dislikes.{topic}"),
                            item.value.clone(),
                            WEAK,
                        ));
                    }
                    out.push(Finding::negate(
                        format!("favorite.{topic}"),
                        Some(item.value),
                        confidence,
                    ));
                }
            }
        }
    }
}

fn is_liking_verb(verb: &str) -> bool {
    matches!(
        verb,
        "like" | "love" | "enjoy" | "thích" | "yêu" | "mê" | "khoái" | "ưa" | "thich" | "yeu"
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn negations_and_dislikes_are_told_apart() {
        assert_eq!(says("I hate carrots."), ["dislikes.food=carrots"]);
        assert_eq!(says("Em không thích ăn cá."), ["dislikes.food=cá"]);
        assert_eq!(
            says("I don't like swimming anymore."),
            [
                "!likes.activity=swimming",
                "dislikes.activity=swimming",
                "!favorite.activity=swimming"
            ]
        );
        assert_eq!(
            says("Em không còn thích màu đỏ nữa."),
            ["!likes.color=đỏ", "dislikes.color=đỏ", "!favorite.color=đỏ"]
        );
        assert_eq!(says("Our cat ran away."), ["!pet.cat=-"]);
        assert_eq!(says("We don't have a dog anymore."), ["!pet.dog=-"]);
    }

    #[test]
    fn more_negations() {
        assert_eq!(
            says("I'm not into ballet anymore."),
            ["!likes.activity=ballet", "!favorite.activity=ballet"]
        );
        assert_eq!(says("I used to have a hamster."), ["!pet.hamster=-"]);
        assert_eq!(says("Bean passed away."), ["!pet=Bean"]);
        assert_eq!(says("We gave Pudding to a farm."), ["!pet=Pudding"]);
        assert!(says("I gave Lan a present.").is_empty());
        assert_eq!(
            says("Tiger is my cousin's cat. Mine is called Sushi."),
            ["!pet.cat=Tiger", "pet.cat=Sushi"]
        );
        assert_eq!(
            says("Em không muốn làm bác sĩ nữa."),
            ["!goal.dream_job=bác sĩ"]
        );
        assert!(says("I quit last month.").is_empty());
    }
}
